using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Smtp;

/// <summary>
/// The listener replaces SmtpServer's duplex pipe with its own guarded one, so the STARTTLS properties
/// measured for SmtpServer (docs/dependencies.md, "SmtpServer") are re-checked here against ours.
/// </summary>
[TestFixture]
public sealed class SmtpTlsTests
{
    [Test]
    public async Task Plaintext_pipelined_after_STARTTLS_is_discarded_and_TLS_1_3_is_negotiated()
    {
        await using var server = await SmtpTestServer.StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Mx);
        var plain = tcp.GetStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        Assert.That(await ReadLineAsync(plain, timeout.Token), Does.StartWith("220 "));
        await plain.WriteAsync(Encoding.ASCII.GetBytes("EHLO client.example.net\r\n"), timeout.Token);
        while (!(await ReadLineAsync(plain, timeout.Token)).StartsWith("250 ", StringComparison.Ordinal))
        {
        }

        // RFC 3207 §6: anything the client sent after STARTTLS in plaintext must not be executed.
        await plain.WriteAsync(Encoding.ASCII.GetBytes("STARTTLS\r\nMAIL FROM:<injected@example.net>\r\n"), timeout.Token);
        Assert.That(await ReadLineAsync(plain, timeout.Token), Does.StartWith("220 2.0.0"));
        await using var tls = new SslStream(plain, leaveInnerStreamOpen: true, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }, timeout.Token);
        Assert.That(tls.SslProtocol, Is.EqualTo(SslProtocols.Tls13));

        await tls.WriteAsync(Encoding.ASCII.GetBytes("RCPT TO:<alice@example.test>\r\n"), timeout.Token);

        // Had the injected MAIL run, this RCPT would be accepted.
        Assert.That(await ReadLineAsync(tls, timeout.Token), Does.StartWith("503 5.5.1 Bad sequence of commands"));
    }

    [Test]
    public async Task Plaintext_pipelined_after_STARTTLS_is_discarded_and_TLS_1_3_is_negotiated_even_behind_a_DATA_line()
    {
        await using var server = await SmtpTestServer.StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Mx);
        var plain = tcp.GetStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        Assert.That(await ReadLineAsync(plain, timeout.Token), Does.StartWith("220 "));
        await plain.WriteAsync(Encoding.ASCII.GetBytes("EHLO client.example.net\r\n"), timeout.Token);
        while (!(await ReadLineAsync(plain, timeout.Token)).StartsWith("250 ", StringComparison.Ordinal))
        {
        }

        // RFC 3207 §6, again, with a DATA line between: the guard holds back what follows a DATA line for the message
        // (ConnectionGuard.EndOfDataLine); held-back plaintext must go with the plaintext transport.
        await plain.WriteAsync(Encoding.ASCII.GetBytes("STARTTLS\r\nDATA\r\nMAIL FROM:<injected@example.net>\r\n"), timeout.Token);
        Assert.That(await ReadLineAsync(plain, timeout.Token), Does.StartWith("220 2.0.0"));
        await using var tls = new SslStream(plain, leaveInnerStreamOpen: true, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }, timeout.Token);
        Assert.That(tls.SslProtocol, Is.EqualTo(SslProtocols.Tls13));

        await tls.WriteAsync(Encoding.ASCII.GetBytes("RCPT TO:<alice@example.test>\r\n"), timeout.Token);

        // Had the injected MAIL run, this RCPT would be accepted.
        Assert.That(await ReadLineAsync(tls, timeout.Token), Does.StartWith("503 5.5.1 Bad sequence of commands"));
    }

    private static async Task<string> ReadLineAsync(Stream stream, CancellationToken cancellationToken)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (true)
        {
            if (await stream.ReadAsync(one, cancellationToken) == 0)
                throw new EndOfStreamException(line.ToString());
            if (one[0] == '\n')
                return line.ToString().TrimEnd('\r');
            line.Append((char)one[0]);
        }
    }
}
