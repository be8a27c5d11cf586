using System.Net;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Server.Security;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 19, REQUIRETLS (RFC 8689) with the real server: the EHLO keyword and the MAIL parameter on the listeners, and
/// relay of a REQUIRETLS message to aiosmtpd receivers on loopback, some offering REQUIRETLS, one not, behind MTA-STS
/// policies, DNSSEC-authenticated MX answers (the loopback DNS server's AD bit) or neither. Also <c>TLS-Required: No</c>.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class RequireTlsTests
{
    private const string Password = "a long test password 4 requiretls";
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

    private static MimeMessage Message(string to, string subject, bool tlsRequiredNo = false)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice", "alice@example.test"));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        if (tlsRequiredNo)
            message.Headers.Add("TLS-Required", "No");
        message.Body = new TextPart("plain") { Text = "The secret body " + subject + ".\r\n" };
        return message;
    }

    private static async Task<SmtpClient> SubmitClientAsync(ServerProcess server)
    {
        var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", server.ListenerPorts.Submission, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync("alice@example.test", Password);
        return client;
    }

    [Test]
    public async Task REQUIRETLS_is_offered_and_accepted_only_under_TLS_on_the_MX_and_submission_ports()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();

        // Plaintext on the MX port: not offered, and MAIL with it is refused (RFC 8689 §4.1: TLS is the precondition).
        var (plain, _) = await SmtpLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Smtp));
        await using (plain)
        {
            var ehlo = await plain.CommandAsync("EHLO client.test");
            Assert.That(ehlo.Lines, Has.Some.Contains("STARTTLS").And.None.Contains("REQUIRETLS"));
            var mail = await plain.CommandAsync("MAIL FROM:<someone@remote.test> REQUIRETLS");
            Assert.That(mail.ToString(), Does.StartWith("530 5.7.10"));
            // The transaction did not start: RCPT needs a MAIL first.
            Assert.That((await plain.CommandAsync("RCPT TO:<bob@example.test>")).Code, Is.EqualTo(503));
        }

        // Under TLS, on the MX port and on submission: offered, and the parameter is taken.
        foreach (var port in new[] { server.ListenerPorts.Smtp, server.ListenerPorts.Submission })
        {
            using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
            await client.ConnectAsync("127.0.0.1", port, SecureSocketOptions.StartTls);
            Assert.That(client.Capabilities.HasFlag(SmtpCapabilities.RequireTLS), Is.True, $"port {port}");
            await client.DisconnectAsync(true);
        }
        using (var mx = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true, RequireTLS = true })
        {
            await mx.ConnectAsync("127.0.0.1", server.ListenerPorts.Smtp, SecureSocketOptions.StartTls);
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse("someone@remote.test"));
            message.To.Add(MailboxAddress.Parse("bob@example.test"));
            message.Subject = "over TLS";
            message.Body = new TextPart("plain") { Text = "hello\r\n" };
            Assert.That(await mx.SendAsync(message), Does.StartWith("2.0.0"));
            await mx.DisconnectAsync(true);
        }
        Assert.That(await server.WaitForOutputAsync("REQUIRETLS outside TLS", Wait), server.Output);
    }

    [Test]
    public async Task A_REQUIRETLS_message_goes_only_to_authenticated_hosts_that_offer_REQUIRETLS_and_bounces_without_its_body_otherwise()
    {
        using var ca = new TestCa();
        var folder = Path.Combine(Path.GetTempPath(), "rtls-" + Guid.NewGuid().ToString("N")[..8]);
        await using var dns = LoopbackDnsServer.Start();
        await using var web = new PolicyHttpsServer(ca.Issue("mta-sts.sts.test", "mta-sts.norequire.test"));
        using var certificate = ca.Issue("mx.rtls.test", "mx.dnssec.test", "mx.insecure.test", "mx.rtls2.test");
        // 127.0.0.1 offers REQUIRETLS; 127.0.0.2, on the same port, offers STARTTLS with the same certificate but not REQUIRETLS.
        await using var capable = await SmtpReceiver.StartAsync(tempFailures: 0, certificate: certificate, requireTls: true);
        await using var incapable = await SmtpReceiver.StartAsync(tempFailures: 0, port: capable.Port, certificate: certificate, address: "127.0.0.2");
        // MTA-STS authenticates the MX name (RFC 8689 §4.2.1).
        dns.AddMx("sts.test", 10, "mx.rtls.test").AddA("mx.rtls.test", "127.0.0.1");
        dns.AddTxt("_mta-sts.sts.test", "v=STSv1; id=1").AddA("mta-sts.sts.test", "127.0.0.1");
        web.Serve("sts.test", "version: STSv1", "mode: testing", "mx: mx.rtls.test", "max_age: 86400");
        // So does a DNSSEC-authenticated MX answer (then the certificate is checked against the MX name).
        dns.AddMx("dnssec.test", 10, "mx.dnssec.test").AddA("mx.dnssec.test", "127.0.0.1").Authenticated("dnssec.test");
        // Neither: the MX name could be an attacker's.
        dns.AddMx("insecure.test", 10, "mx.insecure.test").AddA("mx.insecure.test", "127.0.0.1");
        // Authenticated by its policy, but the host does not offer REQUIRETLS.
        dns.AddMx("norequire.test", 10, "mx.rtls2.test").AddA("mx.rtls2.test", "127.0.0.2");
        dns.AddTxt("_mta-sts.norequire.test", "v=STSv1; id=1").AddA("mta-sts.norequire.test", "127.0.0.1");
        web.Serve("norequire.test", "version: STSv1", "mode: enforce", "mx: mx.rtls2.test", "max_age: 86400");
        await using var server = Create(dns, capable.Port, web.Port, ca.WriteTrustBundle(folder));
        await server.StartAsync();

        using (var client = await SubmitClientAsync(server))
        {
            Assert.That(client.Capabilities.HasFlag(SmtpCapabilities.RequireTLS), Is.True);
            client.RequireTLS = true;
            foreach (var to in new[] { "friend@sts.test", "friend@dnssec.test", "friend@insecure.test", "friend@norequire.test" })
                await client.SendAsync(Message(to, "for " + to));
            await client.DisconnectAsync(true);
        }

        IReadOnlyList<ReceivedMessage> received = [];
        try { received = await capable.WaitForAsync(2, Wait); } catch (TimeoutException e) { Assert.Fail($"{e.Message}\n{server.Output}"); }
        // Delivered over TLS with REQUIRETLS passed on, to the two authenticated destinations.
        Assert.That(received.Select(m => (m.RcptTos.Single(), m.Tls)),
            Is.EquivalentTo(new[] { ("friend@sts.test", true), ("friend@dnssec.test", true) }));
        Assert.That(capable.MailOptions(), Has.All.Contains("REQUIRETLS"));

        // Bounced (RFC 8689 §5: 5.7.30), never sent: the DSNs reach alice with the headers only, not the body.
        Assert.That(await server.WaitForOutputAsync("<friend@insecure.test> bounced", Wait), server.Output);
        Assert.That(await server.WaitForOutputAsync("<friend@norequire.test> bounced", Wait), server.Output);
        Assert.That(server.Output, Does.Contain("REQUIRETLS: the MX hosts of insecure.test are neither DNSSEC-authenticated nor listed by an MTA-STS policy"));
        Assert.That(server.Output, Does.Contain("REQUIRETLS: mx.rtls2.test [127.0.0.2]").And.Contain("REQUIRETLS not offered"));
        Assert.That(incapable.Messages(), Is.Empty);
        Assert.That(capable.Messages().Select(m => m.RcptTos.Single()), Has.No.Member("friend@insecure.test"));

        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imap, SecureSocketOptions.StartTls);
        await imap.AuthenticateAsync("alice@example.test", Password);
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var deadline = DateTime.UtcNow + Wait;
        while (imap.Inbox.Count < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            await imap.NoOpAsync();
        }
        Assert.That(imap.Inbox.Count, Is.EqualTo(2), server.Output);
        for (var i = 0; i < 2; i++)
        {
            var dsn = await imap.Inbox.GetMessageAsync(i);
            using var text = new MemoryStream();
            await dsn.WriteToAsync(text);
            var all = System.Text.Encoding.UTF8.GetString(text.ToArray());
            Assert.That(all, Does.Contain("5.7.30").And.Contain("text/rfc822-headers"));
            Assert.That(all, Does.Contain("Subject: for friend@"));
            Assert.That(all, Does.Not.Contain("The secret body"));
        }
        await imap.DisconnectAsync(true);
    }

    [Test]
    public async Task A_REQUIRETLS_message_forwarded_or_redirected_by_a_mailbox_rule_keeps_REQUIRETLS_on_the_way_out()
    {
        using var ca = new TestCa();
        var folder = Path.Combine(Path.GetTempPath(), "rtls-" + Guid.NewGuid().ToString("N")[..8]);
        await using var dns = LoopbackDnsServer.Start();
        await using var web = new PolicyHttpsServer(ca.Issue("mta-sts.sts.test"));
        await using var receiver = await SmtpReceiver.StartAsync(tempFailures: 0, certificate: ca.Issue("mx.rtls.test", "mx.insecure.test"), requireTls: true);
        // sts.test: its MX name authenticated by an MTA-STS policy; insecure.test: neither a policy nor DNSSEC.
        dns.AddMx("sts.test", 10, "mx.rtls.test").AddA("mx.rtls.test", "127.0.0.1");
        dns.AddTxt("_mta-sts.sts.test", "v=STSv1; id=1").AddA("mta-sts.sts.test", "127.0.0.1");
        web.Serve("sts.test", "version: STSv1", "mode: testing", "mx: mx.rtls.test", "max_age: 86400");
        dns.AddMx("insecure.test", 10, "mx.insecure.test").AddA("mx.insecure.test", "127.0.0.1");
        await using var server = Create(dns, receiver.Port, web.Port, ca.WriteTrustBundle(folder));
        // Bob's mailbox rule: redirect everything to friend@sts.test and someone@insecure.test, forward it to pal@sts.test.
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(server.ConfigPath))!;
        config["MailServer"]!["Organizations"]![0]!["Users"]![1]!["MailboxRules"] = System.Text.Json.Nodes.JsonNode.Parse("""
            [ { "Name": "pass it on", "Conditions": [ { "Field": "Sender", "Contains": "@" } ], "StopProcessingRules": false,
                "Actions": [ { "Type": "Redirect", "To": "friend@sts.test" }, { "Type": "Forward", "To": "pal@sts.test" },
                             { "Type": "Redirect", "To": "someone@insecure.test" } ] } ]
            """);
        File.WriteAllText(server.ConfigPath, config.ToJsonString());
        await server.StartAsync();

        // Two messages reach bob on the MX port under TLS: one with REQUIRETLS on MAIL FROM, one without.
        var secret = "secret-" + Guid.NewGuid().ToString("N")[..8];
        var ordinary = "ordinary-" + Guid.NewGuid().ToString("N")[..8];
        foreach (var (subject, requireTls) in new[] { (secret, true), (ordinary, false) })
        {
            using var mx = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true, RequireTLS = requireTls, Timeout = 30_000 };
            await mx.ConnectAsync("127.0.0.1", server.ListenerPorts.Smtp, SecureSocketOptions.StartTls);
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse("carol@remote.test"));
            message.To.Add(MailboxAddress.Parse("bob@example.test"));
            message.Subject = subject;
            message.Body = new TextPart("plain") { Text = "for bob\r\n" };
            await mx.SendAsync(message);
            await mx.DisconnectAsync(true);
        }

        // The ordinary message goes on three times; the REQUIRETLS one twice, to the authenticated domain only, with
        // REQUIRETLS on its MAIL FROM; its redirect to insecure.test bounces (5.7.30) to bob instead of going out.
        try { await receiver.WaitForAsync(5, Wait); } catch (TimeoutException e) { Assert.Fail($"{e.Message}\n{server.Output}"); }
        Assert.That(await server.WaitForOutputAsync("<someone@insecure.test> bounced", Wait), server.Output);
        await Task.Delay(500); // nothing more arrives
        var sent = receiver.Messages().Zip(receiver.MailOptions(), (m, options) => (To: m.RcptTos.Single(), m.Tls, m.Text, Options: options)).ToList();
        Assert.That(sent, Has.Count.EqualTo(5));
        var ofSecret = sent.Where(m => m.Text.Contains(secret, StringComparison.Ordinal)).ToList();
        var ofOrdinary = sent.Where(m => m.Text.Contains(ordinary, StringComparison.Ordinal)).ToList();
        Assert.That(ofSecret.Select(m => m.To), Is.EquivalentTo(new[] { "friend@sts.test", "pal@sts.test" }));
        Assert.That(ofSecret, Has.All.Matches<(string To, bool Tls, string Text, IReadOnlyList<string> Options)>(m => m.Tls && m.Options.Contains("REQUIRETLS")),
            "the redirect and the forward of a REQUIRETLS message are relayed with REQUIRETLS");
        Assert.That(ofOrdinary.Select(m => m.To), Is.EquivalentTo(new[] { "friend@sts.test", "pal@sts.test", "someone@insecure.test" }));
        Assert.That(ofOrdinary, Has.None.Matches<(string To, bool Tls, string Text, IReadOnlyList<string> Options)>(m => m.Options.Contains("REQUIRETLS")),
            "a message received without REQUIRETLS is not given it");
        Assert.That(server.Output, Does.Contain("REQUIRETLS: the MX hosts of insecure.test are neither DNSSEC-authenticated nor listed by an MTA-STS policy"));
    }

    [Test]
    public async Task TLS_Required_No_delivers_where_the_recipient_domain_s_policy_would_refuse_the_host()
    {
        using var ca = new TestCa();
        var folder = Path.Combine(Path.GetTempPath(), "rtls-" + Guid.NewGuid().ToString("N")[..8]);
        await using var dns = LoopbackDnsServer.Start();
        await using var web = new PolicyHttpsServer(ca.Issue("mta-sts.wrongname.test"));
        // The certificate names another host than the MX: MTA-STS enforce refuses it.
        await using var receiver = await SmtpReceiver.StartAsync(tempFailures: 0, certificate: ca.Issue("mx.sts.test"));
        dns.AddMx("wrongname.test", 10, "other.sts.test").AddA("other.sts.test", "127.0.0.1");
        dns.AddTxt("_mta-sts.wrongname.test", "v=STSv1; id=1").AddA("mta-sts.wrongname.test", "127.0.0.1");
        web.Serve("wrongname.test", "version: STSv1", "mode: enforce", "mx: *.sts.test", "max_age: 86400");
        await using var server = Create(dns, receiver.Port, web.Port, ca.WriteTrustBundle(folder));
        await server.StartAsync();

        using (var client = await SubmitClientAsync(server))
        {
            await client.SendAsync(Message("first@wrongname.test", "policy applies"));
            await client.SendAsync(Message("second@wrongname.test", "policy waived", tlsRequiredNo: true));
            await client.DisconnectAsync(true);
        }

        IReadOnlyList<ReceivedMessage> received = [];
        try { received = await receiver.WaitForAsync(1, Wait); } catch (TimeoutException e) { Assert.Fail($"{e.Message}\n{server.Output}"); }
        Assert.That(received.Single().RcptTos.Single(), Is.EqualTo("second@wrongname.test"));
        Assert.That(received.Single().Tls, Is.True, "STARTTLS is still used");
        Assert.That(received.Single().Text, Does.Contain("TLS-Required: No"), "the field travels on (RFC 8689 §4.2.2)");
        Assert.That(server.Output, Does.Contain("TLS-Required: No: the MTA-STS and DANE policies of wrongname.test are not enforced"));
        Assert.That(await server.WaitForOutputAsync("<first@wrongname.test> deferred", Wait), server.Output);
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.That(receiver.Messages(), Has.Count.EqualTo(1));
    }
}
