using System.Diagnostics;
using System.Text.Json;

namespace MailServer.Tests.Support;

/// <summary>One message as the third-party receiver got it.</summary>
public sealed record ReceivedMessage(string MailFrom, IReadOnlyList<string> RcptTos, IReadOnlyList<string> RcptOptions, bool Tls, byte[] Content)
{
    public string Text => System.Text.Encoding.UTF8.GetString(Content);
}

/// <summary>
/// <c>python3 -m aiosmtpd</c>-based SMTP receiver on loopback (Tests/Support/smtp_receiver.py; Debian package
/// python3-aiosmtpd). Recipients named reject* get 550, tempfail* get 451 for the first N tries.
/// </summary>
public sealed class SmtpReceiver : IAsyncDisposable
{
    private readonly Process _process;

    private SmtpReceiver(Process process, int port, string folder)
    {
        _process = process;
        Port = port;
        Folder = folder;
    }

    public int Port { get; }
    public string Folder { get; }

    /// <summary>
    /// Starts a receiver; with <paramref name="certificate"/> (and its private key) it offers STARTTLS with it, and with
    /// <paramref name="requireTls"/> also REQUIRETLS (RFC 8689) once TLS is up. <paramref name="address"/> is the loopback
    /// address it listens on (127.0.0.2 lets a second receiver share the port of a first, as remote MX hosts share port 25).
    /// </summary>
    public static async Task<SmtpReceiver> StartAsync(int tempFailures = 2, int port = 0, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null,
        bool requireTls = false, string address = "127.0.0.1")
    {
        var folder = Path.Combine(Path.GetTempPath(), "smtp-receiver-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        port = port == 0 ? ServerProcess.FreePort() : port;
        var script = Path.Combine(AppContext.BaseDirectory, "Support", "smtp_receiver.py");
        // The Debian package installs into the system interpreter; a python3 earlier on PATH (pyenv) would not see it.
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var info = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        if (requireTls)
            info.Environment["RECEIVER_REQUIRETLS"] = "1";
        info.Environment["RECEIVER_HOST"] = address;
        foreach (var argument in new[] { script, port.ToString(System.Globalization.CultureInfo.InvariantCulture), folder, tempFailures.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            info.ArgumentList.Add(argument);
        if (certificate is not null)
        {
            File.WriteAllText(Path.Combine(folder, "tls-cert.pem"), certificate.ExportCertificatePem());
            File.WriteAllText(Path.Combine(folder, "tls-key.pem"), TestCa.PrivateKeyPem(certificate));
            info.ArgumentList.Add(Path.Combine(folder, "tls-cert.pem"));
            info.ArgumentList.Add(Path.Combine(folder, "tls-key.pem"));
        }
        var process = Process.Start(info)!;
        var ready = process.StandardOutput.ReadLineAsync();
        if (await Task.WhenAny(ready, Task.Delay(TimeSpan.FromSeconds(20))) != ready || ready.Result != "READY")
        {
            process.Kill();
            throw new InvalidOperationException("smtp_receiver.py did not start: " + await process.StandardError.ReadToEndAsync());
        }
        return new SmtpReceiver(process, port, folder);
    }

    /// <summary>The MAIL parameters of each message, in order (upper case, as the receiver kept them).</summary>
    public IReadOnlyList<IReadOnlyList<string>> MailOptions() =>
        Directory.GetFiles(Folder, "*.eml").Order(StringComparer.Ordinal)
            .Select(eml => (IReadOnlyList<string>)JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(eml, ".json"))).RootElement
                .GetProperty("mail_options").EnumerateArray().Select(e => e.GetString() ?? "").ToList())
            .ToList();

    /// <summary>Messages received so far, in order.</summary>
    public IReadOnlyList<ReceivedMessage> Messages()
    {
        var result = new List<ReceivedMessage>();
        foreach (var eml in Directory.GetFiles(Folder, "*.eml").Order(StringComparer.Ordinal))
        {
            using var json = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(eml, ".json")));
            var root = json.RootElement;
            result.Add(new ReceivedMessage(
                root.GetProperty("mail_from").GetString() ?? "",
                root.GetProperty("rcpt_tos").EnumerateArray().Select(e => e.GetString() ?? "").ToList(),
                root.GetProperty("rcpt_options").EnumerateArray().Select(e => e.GetString() ?? "").ToList(),
                root.GetProperty("tls").GetBoolean(),
                File.ReadAllBytes(eml)));
        }
        return result;
    }

    /// <summary>Waits until at least <paramref name="count"/> messages arrived.</summary>
    /// <exception cref="TimeoutException">They did not arrive within <paramref name="timeout"/>.</exception>
    public async Task<IReadOnlyList<ReceivedMessage>> WaitForAsync(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var messages = Messages();
            if (messages.Count >= count)
                return messages;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{messages.Count} of {count} message(s) arrived at the receiver");
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await _process.WaitForExitAsync(grace.Token); }
            catch (OperationCanceledException) { } // a receiver that will not die must not hold the run
        }
        _process.Dispose();
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { }
    }
}
