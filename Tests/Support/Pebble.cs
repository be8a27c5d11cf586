using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using NUnit.Framework;

namespace MailServer.Tests.Support;

/// <summary>
/// Let's Encrypt's ACME test CA, <c>pebble</c> (Debian package), started once per test run on loopback and stopped
/// when the run ends. It validates HTTP-01 challenges for real: it resolves the names through <see cref="Dns"/> (its
/// <c>-dnsserver</c>, a loopback zone tests add their names to) and fetches the answer from 127.0.0.1 on
/// <see cref="HttpPort"/> (its <c>httpPort</c>), so the server under test listens for ACME there. Its own API
/// certificate is made here; the server under test trusts it through <see cref="TrustFile"/> (<c>SSL_CERT_FILE</c>).
/// Certificates it issues live <see cref="ValiditySeconds"/> seconds, so a renewal happens within a test.
/// </summary>
public sealed class Pebble
{
    /// <summary>The lifetime of issued certificates (renewed at two thirds: every 30 s).</summary>
    public const int ValiditySeconds = 45;

    private static readonly Lazy<Task<Pebble>> Shared = new(StartAsync);
    private static Process? _process;

    private Pebble(LoopbackDnsServer dns, Uri directoryUrl, int managementPort, int httpPort, string trustFile)
    {
        Dns = dns;
        DirectoryUrl = directoryUrl;
        ManagementPort = managementPort;
        HttpPort = httpPort;
        TrustFile = trustFile;
    }

    /// <summary>The zone pebble resolves names in.</summary>
    public LoopbackDnsServer Dns { get; }

    /// <summary>The ACME directory URL.</summary>
    public Uri DirectoryUrl { get; }

    /// <summary>The management API (issuing roots and intermediates).</summary>
    public int ManagementPort { get; }

    /// <summary>The port pebble connects to for HTTP-01; one server at a time may listen there.</summary>
    public int HttpPort { get; }

    /// <summary>A CA bundle with the system's roots and pebble's API certificate, for <c>SSL_CERT_FILE</c>.</summary>
    public string TrustFile { get; }

    /// <summary>The run's pebble, started on first use.</summary>
    public static Task<Pebble> InstanceAsync() => Shared.Value;

    /// <summary>Stops pebble if this run started it.</summary>
    internal static void Stop()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            p.WaitForExit(5000);
        }
    }

    /// <summary>The root that signs what pebble issues (generated anew at every pebble start).</summary>
    public async Task<X509Certificate2> IssuingRootAsync()
    {
        using var http = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true });
        var pem = await http.GetStringAsync($"https://127.0.0.1:{ManagementPort}/roots/0");
        return X509Certificate2.CreateFromPem(pem);
    }

    private static async Task<Pebble> StartAsync()
    {
        if (!File.Exists("/usr/bin/pebble"))
            Assert.Ignore("pebble is not installed (test.sh installs the Debian package)");
        var folder = Path.Combine(Path.GetTempPath(), "pebble-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        using (var key = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            var request = new CertificateRequest("CN=pebble test API", key, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName("localhost");
            san.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(2));
            File.WriteAllText(Path.Combine(folder, "cert.pem"), certificate.ExportCertificatePem());
            File.WriteAllText(Path.Combine(folder, "key.pem"), key.ExportPkcs8PrivateKeyPem());
            var system = File.Exists("/etc/ssl/certs/ca-certificates.crt") ? File.ReadAllText("/etc/ssl/certs/ca-certificates.crt") : "";
            File.WriteAllText(Path.Combine(folder, "trust.pem"), system + "\n" + certificate.ExportCertificatePem() + "\n");
        }
        var dns = LoopbackDnsServer.Start();
        var ports = ServerProcess.FreePorts(4);
        var config = $$"""
            { "pebble": {
                "listenAddress": "127.0.0.1:{{ports[0]}}", "managementListenAddress": "127.0.0.1:{{ports[1]}}",
                "certificate": "{{folder}}/cert.pem", "privateKey": "{{folder}}/key.pem",
                "httpPort": {{ports[2]}}, "tlsPort": {{ports[3]}}, "ocspResponderURL": "", "externalAccountBindingRequired": false,
                "certificateValidityPeriod": {{ValiditySeconds}} } }
            """;
        File.WriteAllText(Path.Combine(folder, "config.json"), config);
        var info = new ProcessStartInfo("/usr/bin/pebble")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = folder,
        };
        foreach (var a in new[] { "-config", Path.Combine(folder, "config.json"), "-dnsserver", $"127.0.0.1:{dns.Port}" })
            info.ArgumentList.Add(a);
        info.Environment["PEBBLE_VA_NOSLEEP"] = "1"; // validate at once instead of after a random pause
        var output = new StringBuilder();
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, ports[0]);
                return new Pebble(dns, new Uri($"https://127.0.0.1:{ports[0]}/dir"), ports[1], ports[2], Path.Combine(folder, "trust.pem"));
            }
            catch (SocketException)
            {
                if (process.HasExited)
                    break;
                await Task.Delay(100);
            }
        }
        lock (output)
            throw new InvalidOperationException($"pebble did not start:\n{output}");
    }
}
