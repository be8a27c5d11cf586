using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 19: certificates from ACME (RFC 8555) with the real pebble CA on loopback. The server starts on its
/// self-signed certificate, obtains one from pebble over HTTP-01 (pebble resolves the name in a loopback zone and
/// fetches the challenge from the server's HTTP listener), and new TLS connections to IMAPS, SMTP submissions,
/// SMTP STARTTLS and HTTPS see it without a restart; the renewal (two thirds into pebble's short lifetime) swaps
/// it again while a session opened on the first one goes on; a restart presents the stored certificate at once.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class AcmeTests
{
    private const string Name = "mail.acme-test.example";

    [Test]
    public async Task Server_starts_self_signed_obtains_from_pebble_and_every_listener_presents_it_then_renews_without_restart()
    {
        var pebble = await Pebble.InstanceAsync();
        pebble.Dns.AddA(Name, "127.0.0.1");
        using var root = await pebble.IssuingRootAsync();
        await using var server = ServerProcess.Create();
        File.WriteAllText(server.ConfigPath, File.ReadAllText(server.ConfigPath)
            .Replace("\"ServerName\": \"mx.example.test\",", $$"""
                "ServerName": "{{Name}}",
                "Tls": { "Acme": { "DirectoryUrl": "{{pebble.DirectoryUrl}}", "Email": "postmaster@example.test", "Domains": [ "{{Name}}" ] } },
                """)
            .Replace("\"Https\": ", $"\"Http\": {pebble.HttpPort}, \"Https\": "));
        server.Environment["SSL_CERT_FILE"] = pebble.TrustFile; // the server trusts pebble's API certificate like a system CA
        await server.StartAsync();

        // 1. At start: the generated self-signed certificate, said so in the log.
        Assert.That(await server.WaitForOutputAsync("self-signed, generated, until ACME issues one", TimeSpan.FromSeconds(10)), server.Output);
        var selfSigned = await ImapsCertificateAsync(server);
        Assert.That(selfSigned.Subject, Is.EqualTo(selfSigned.Issuer));

        // 2. Issued by pebble, without a restart: every listener's next handshake presents it.
        Assert.That(await server.WaitForOutputAsync($"ACME: certificate for {Name} issued by", TimeSpan.FromSeconds(60)), server.Output);
        var issued = await ImapsCertificateAsync(server);
        AssertIssuedByPebble(issued, root);
        Assert.That(Thumbprint(await SubmissionsCertificateAsync(server)), Is.EqualTo(Thumbprint(issued)));
        Assert.That(Thumbprint(await StartTlsCertificateAsync(server)), Is.EqualTo(Thumbprint(issued)));
        Assert.That(Thumbprint(await HttpsCertificateAsync(server)), Is.EqualTo(Thumbprint(issued)));
        Assert.That(File.Exists(Path.Combine(server.DataDirectory, "acme", "cert.pem")), Is.True);
        if (!OperatingSystem.IsWindows())
            Assert.That(File.GetUnixFileMode(Path.Combine(server.DataDirectory, "acme", "key.pem")),
                Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));

        // 3. Renewal two thirds into the lifetime, while a session opened on the first certificate stays usable.
        var (open, _) = await ImapLineClient.OpenAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, server.ListenerPorts.Imaps), tls: true);
        var issuedLines = Regex.Matches(server.Output, "ACME: certificate for").Count;
        var deadline = DateTime.UtcNow.AddSeconds(Pebble.ValiditySeconds + 30);
        while (Regex.Matches(server.Output, "ACME: certificate for").Count == issuedLines && DateTime.UtcNow < deadline)
            await Task.Delay(250);
        Assert.That(Regex.Matches(server.Output, "ACME: certificate for").Count, Is.GreaterThan(issuedLines), server.Output);
        var renewed = await ImapsCertificateAsync(server);
        AssertIssuedByPebble(renewed, root);
        Assert.That(Thumbprint(renewed), Is.Not.EqualTo(Thumbprint(issued)));
        Assert.That(Thumbprint(await SubmissionsCertificateAsync(server)), Is.EqualTo(Thumbprint(renewed)));
        // The session negotiated on the first certificate goes on.
        Assert.That((await open.CommandAsync("a1", "NOOP")).Last(), Does.StartWith("a1 OK"));
        await open.DisposeAsync();

        // 4. A restart presents the stored certificate from the first handshake.
        await server.StopAsync();
        var before = Thumbprint(Load(Path.Combine(server.DataDirectory, "acme", "cert.pem")));
        await server.StartAsync();
        Assert.That(Thumbprint(await ImapsCertificateAsync(server)), Is.EqualTo(before), server.Output);
    }

    private static X509Certificate2 Load(string pem) => X509Certificate2.CreateFromPem(File.ReadAllText(pem));

    private static string Thumbprint(X509Certificate2 certificate) => Convert.ToHexString(certificate.GetCertHash(HashAlgorithmName.SHA256));

    private static void AssertIssuedByPebble(X509Certificate2 certificate, X509Certificate2 root)
    {
        Assert.That(certificate.Issuer, Does.Contain("Pebble Intermediate CA"));
        Assert.That(certificate.MatchesHostname(Name), Is.True);
        // The chain the server sent (leaf and intermediate) ends at pebble's root.
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ExtraStore.AddRange(LastChain);
        Assert.That(chain.Build(certificate), Is.True, string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
    }

    // What the last handshake sent: SslStream hands the callback the chain it built from the server's certificates.
    private static X509Certificate2Collection LastChain = [];

    private static bool Capture(X509Certificate? certificate, X509Chain? chain, out X509Certificate2? captured)
    {
        captured = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        LastChain = [];
        if (chain is not null)
            foreach (var element in chain.ChainElements)
                LastChain.Add(X509CertificateLoader.LoadCertificate(element.Certificate.RawData));
        return true;
    }

    private static async Task<X509Certificate2> ImapsCertificateAsync(ServerProcess server)
    {
        X509Certificate2? seen = null;
        using var client = new ImapClient { ServerCertificateValidationCallback = (_, c, ch, _) => Capture(c, ch, out seen) };
        await client.ConnectAsync("127.0.0.1", server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
        await client.DisconnectAsync(true);
        return seen!;
    }

    private static async Task<X509Certificate2> SubmissionsCertificateAsync(ServerProcess server)
    {
        X509Certificate2? seen = null;
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, c, ch, _) => Capture(c, ch, out seen) };
        await client.ConnectAsync("127.0.0.1", server.ListenerPorts.Submissions, SecureSocketOptions.SslOnConnect);
        await client.DisconnectAsync(true);
        return seen!;
    }

    private static async Task<X509Certificate2> StartTlsCertificateAsync(ServerProcess server)
    {
        X509Certificate2? seen = null;
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, c, ch, _) => Capture(c, ch, out seen) };
        await client.ConnectAsync("127.0.0.1", server.ListenerPorts.Smtp, SecureSocketOptions.StartTls);
        await client.DisconnectAsync(true);
        return seen!;
    }

    private static async Task<X509Certificate2> HttpsCertificateAsync(ServerProcess server)
    {
        X509Certificate2? seen = null;
        using var http = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, c, ch, _) => Capture(c, ch, out seen) });
        using var _ = await http.GetAsync($"https://127.0.0.1:{server.ListenerPorts.Https}/.well-known/mta-sts.txt");
        return seen!;
    }
}
