using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Server.Security;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 19: outbound transport security on remote delivery. Recipient domains publish MTA-STS policies (RFC 8461)
/// in a loopback DNS zone and on a loopback HTTPS server whose certificate, like the receiver's, comes from a test
/// CA the server trusts (SSL_CERT_FILE); the receiving MTA is aiosmtpd, with or without STARTTLS.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class OutboundTransportSecurityTests
{
    private const string Password = "a long test password 4 transport security";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static ServerProcess Create(LoopbackDnsServer dns, int remotePort, int policyPort, string trustFile)
    {
        var server = ServerProcess.Create();
        File.WriteAllText(server.ConfigPath, File.ReadAllText(server.ConfigPath)
            .Replace(ServerProcess.DefaultDns + ",", "")
            .Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{PasswordHasher.Hash(Password, iterations: 1000)}\"")
            .Replace("\"DataDirectory\": \"data\",", $$"""
                "DataDirectory": "data",
                "Dns": { "Servers": [ "127.0.0.1" ], "Port": {{dns.Port}} },
                "Delivery": { "RemotePort": {{remotePort}}, "MtaStsPolicyPort": {{policyPort}}, "RetryMinimumSeconds": 1, "RetryMaximumSeconds": 2 },
                """));
        server.Environment["SSL_CERT_FILE"] = trustFile;
        return server;
    }

    /// <summary>A domain with its MX, and its MTA-STS TXT record and policy host when <paramref name="policy"/> is given.</summary>
    private static void Domain(LoopbackDnsServer dns, PolicyHttpsServer web, string domain, string mx, params string[] policy)
    {
        dns.AddMx(domain, 10, mx).AddA(mx, "127.0.0.1");
        if (policy.Length == 0)
            return;
        dns.AddTxt("_mta-sts." + domain, "v=STSv1; id=20261206T000000");
        dns.AddA("mta-sts." + domain, "127.0.0.1");
        web.Serve(domain, policy);
    }

    private static async Task SubmitAsync(ServerProcess server, params string[] to)
    {
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", server.ListenerPorts.Submission, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync("alice@example.test", Password);
        foreach (var address in to)
        {
            var message = new MimeMessage();
            message.From.Add(new MailboxAddress("Alice", "alice@example.test"));
            message.To.Add(MailboxAddress.Parse(address));
            message.Subject = "to " + address;
            message.Body = new TextPart("plain") { Text = "Transport security test.\r\n" };
            await client.SendAsync(message);
        }
        await client.DisconnectAsync(true);
    }

    [Test]
    public async Task Enforce_delivers_over_verified_TLS_to_a_listed_MX_and_defers_a_wrong_certificate_or_an_unlisted_MX_while_testing_only_reports()
    {
        using var ca = new TestCa();
        var folder = Path.Combine(Path.GetTempPath(), "sts-" + Guid.NewGuid().ToString("N")[..8]);
        await using var dns = LoopbackDnsServer.Start();
        await using var web = new PolicyHttpsServer(ca.Issue("mta-sts.enforce.test", "mta-sts.wrongname.test", "mta-sts.unlisted.test", "mta-sts.testing.test"));
        // The receiver's certificate names mx.sts.test only; other.sts.test reaches the same receiver.
        await using var receiver = await SmtpReceiver.StartAsync(tempFailures: 0, certificate: ca.Issue("mx.sts.test"));
        Domain(dns, web, "enforce.test", "mx.sts.test", "version: STSv1", "mode: enforce", "mx: mx.sts.test", "max_age: 86400");
        Domain(dns, web, "wrongname.test", "other.sts.test", "version: STSv1", "mode: enforce", "mx: *.sts.test", "max_age: 86400");
        Domain(dns, web, "unlisted.test", "mx.sts.test", "version: STSv1", "mode: enforce", "mx: mail.elsewhere.test", "max_age: 86400");
        Domain(dns, web, "testing.test", "other.sts.test", "version: STSv1", "mode: testing", "mx: mx.sts.test", "max_age: 86400");
        await using var server = Create(dns, receiver.Port, web.Port, ca.WriteTrustBundle(folder));
        await server.StartAsync();

        await SubmitAsync(server, "friend@enforce.test", "friend@wrongname.test", "friend@unlisted.test", "friend@testing.test");

        // Delivered: the enforced domain over TLS with a verified certificate, and the testing domain despite its failures.
        IReadOnlyList<ReceivedMessage> received = [];
        try { received = await receiver.WaitForAsync(2, Wait); } catch (TimeoutException e) { Assert.Fail($"{e.Message}\n{server.Output}"); }
        Assert.That(received.Select(m => (m.RcptTos.Single(), m.Tls)),
            Is.EquivalentTo(new[] { ("friend@enforce.test", true), ("friend@testing.test", true) }));
        // Deferred, never sent in the clear or to an unlisted host: a temporary failure the queue retries.
        Assert.That(await server.WaitForOutputAsync("<friend@wrongname.test> deferred", Wait), server.Output);
        Assert.That(await server.WaitForOutputAsync("<friend@unlisted.test> deferred", Wait), server.Output);
        Assert.Multiple(() =>
        {
            Assert.That(server.Output, Does.Contain("MTA-STS policy of wrongname.test (enforce): other.sts.test [127.0.0.1]"));
            Assert.That(server.Output, Does.Contain("the certificate is not valid for other.sts.test"));
            Assert.That(server.Output, Does.Contain("MTA-STS policy of unlisted.test (enforce) lists none of its MX hosts (mx.sts.test)"));
            Assert.That(server.Output, Does.Contain("MTA-STS (testing): delivery to testing.test via other.sts.test would have been refused under enforce"));
            Assert.That(receiver.Messages().Select(m => m.RcptTos.Single()), Has.No.Member("friend@wrongname.test").And.No.Member("friend@unlisted.test"));
        });

        // The policies are cached for max_age: retries of the deferred recipients fetch nothing again.
        var fetches = web.Fetches;
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.That(web.Fetches, Is.EqualTo(fetches));
        Assert.That(File.ReadAllText(Path.Combine(server.DataDirectory, "mta-sts", "policies.json")), Does.Contain("wrongname.test"));
    }

    [Test]
    public async Task Enforce_refuses_a_receiver_without_STARTTLS_and_a_domain_without_a_policy_still_gets_plaintext()
    {
        using var ca = new TestCa();
        var folder = Path.Combine(Path.GetTempPath(), "sts-" + Guid.NewGuid().ToString("N")[..8]);
        await using var dns = LoopbackDnsServer.Start();
        await using var web = new PolicyHttpsServer(ca.Issue("mta-sts.enforce.test"));
        await using var receiver = await SmtpReceiver.StartAsync(tempFailures: 0); // no STARTTLS
        Domain(dns, web, "enforce.test", "mx.sts.test", "version: STSv1", "mode: enforce", "mx: mx.sts.test", "max_age: 86400");
        Domain(dns, web, "plain.test", "mx.sts.test");
        await using var server = Create(dns, receiver.Port, web.Port, ca.WriteTrustBundle(folder));
        await server.StartAsync();

        await SubmitAsync(server, "friend@enforce.test", "friend@plain.test");

        var received = await receiver.WaitForAsync(1, Wait);
        Assert.That(received.Single().RcptTos.Single(), Is.EqualTo("friend@plain.test"));
        Assert.That(received.Single().Tls, Is.False);
        Assert.That(await server.WaitForOutputAsync("<friend@enforce.test> deferred", Wait), server.Output);
        Assert.That(server.Output, Does.Contain("MTA-STS policy of enforce.test (enforce): mx.sts.test [127.0.0.1]").And.Contain("STARTTLS not offered"));
        await Task.Delay(TimeSpan.FromSeconds(3)); // retries go on refusing
        Assert.That(receiver.Messages(), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Dane_requires_a_certificate_matching_authenticated_TLSA_records_under_an_authenticated_MX_and_ignores_the_others()
    {
        using var untrusted = new TestCa("Not a public CA"); // DANE-EE needs no CA the system trusts
        using var other = new TestCa("Another key");
        var folder = Path.Combine(Path.GetTempPath(), "dane-" + Guid.NewGuid().ToString("N")[..8]);
        await using var dns = LoopbackDnsServer.Start();
        using var certificate = untrusted.Issue("mx.dane.test");
        await using var receiver = await SmtpReceiver.StartAsync(tempFailures: 0, certificate: certificate);
        var spki = System.Security.Cryptography.SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo());
        var otherSpki = System.Security.Cryptography.SHA256.HashData(other.Root.PublicKey.ExportSubjectPublicKeyInfo());
        // RFC 7672 §3.1.1: "3 1 1" (DANE-EE, SubjectPublicKeyInfo, SHA-256), the usual record for SMTP.
        dns.AddMx("dane.test", 10, "mx.dane.test").AddA("mx.dane.test", "127.0.0.1").Authenticated("dane.test")
            .AddTlsa($"_{receiver.Port}._tcp.mx.dane.test", 3, 1, 1, spki).Authenticated($"_{receiver.Port}._tcp.mx.dane.test");
        dns.AddMx("wrongkey.test", 10, "mx2.dane.test").AddA("mx2.dane.test", "127.0.0.1").Authenticated("wrongkey.test")
            .AddTlsa($"_{receiver.Port}._tcp.mx2.dane.test", 3, 1, 1, otherSpki).Authenticated($"_{receiver.Port}._tcp.mx2.dane.test");
        dns.AddMx("unsigned.test", 10, "mx3.dane.test").AddA("mx3.dane.test", "127.0.0.1").Authenticated("unsigned.test")
            .AddTlsa($"_{receiver.Port}._tcp.mx3.dane.test", 3, 1, 1, otherSpki); // no AD: not DNSSEC-validated, ignored
        // RFC 7672 §2.2.1: authenticated TLSA records under an MX name from an insecure MX answer count for nothing
        // (whoever forged the MX answer could publish them), so the wrong key here does not stop delivery.
        dns.AddMx("insecuremx.test", 10, "mx4.dane.test").AddA("mx4.dane.test", "127.0.0.1")
            .AddTlsa($"_{receiver.Port}._tcp.mx4.dane.test", 3, 1, 1, otherSpki).Authenticated($"_{receiver.Port}._tcp.mx4.dane.test");
        await using var server = Create(dns, receiver.Port, 443, other.WriteTrustBundle(folder));
        await server.StartAsync();

        await SubmitAsync(server, "friend@dane.test", "friend@wrongkey.test", "friend@unsigned.test", "friend@insecuremx.test");

        IReadOnlyList<ReceivedMessage> received = [];
        try { received = await receiver.WaitForAsync(3, Wait); } catch (TimeoutException e) { Assert.Fail($"{e.Message}\n{server.Output}"); }
        Assert.That(received.Select(m => (m.RcptTos.Single(), m.Tls)),
            Is.EquivalentTo(new[] { ("friend@dane.test", true), ("friend@unsigned.test", true), ("friend@insecuremx.test", true) }));
        Assert.That(server.Output, Does.Contain("DANE: the MX answer of insecuremx.test is not DNSSEC-authenticated"));
        Assert.That(await server.WaitForOutputAsync("<friend@wrongkey.test> deferred", Wait), server.Output);
        Assert.That(server.Output, Does.Contain($"DANE: mx2.dane.test [127.0.0.1]:{receiver.Port}: the certificate matches none of the TLSA records"));
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.That(receiver.Messages().Select(m => m.RcptTos.Single()), Has.No.Member("friend@wrongkey.test"));
    }
}
