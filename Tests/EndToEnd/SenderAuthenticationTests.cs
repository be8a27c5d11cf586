using System.Net;
using System.Text;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using MailServer.Server.Dkim;
using MailServer.Server.Security;
using MailServer.Tests.Support;
using MimeKit;
using MimeKit.Cryptography;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 6, "done when": the real server, its resolver pointed at a real DNS server on loopback publishing the
/// senders' SPF, DKIM and DMARC records. With enforcement on, p=reject is refused in the session with 550 5.7.1,
/// p=quarantine lands in Junk E-mail, an aligned DKIM pass is delivered to the Inbox; with enforcement off the
/// reject policy is only logged. Every delivered message carries our Authentication-Results, forged ones removed.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class SenderAuthenticationTests
{
    private const string Password = "correct horse battery staple 6";

    private LoopbackDnsServer _dns = null!;
    private string _keys = null!;
    private DkimKeyFile _key = null!;

    [OneTimeSetUp]
    public void Zone()
    {
        _keys = Path.Combine(Path.GetTempPath(), "sa-e2e-" + Guid.NewGuid().ToString("N"));
        _key = DkimKeyFile.Generate(_keys, "signed.test", "s2026", DkimSignatureAlgorithm.RsaSha256);
        // The test client connects from 127.0.0.1, which no sender's SPF record allows.
        _dns = LoopbackDnsServer.Start()
            .AddTxt("reject.test", "v=spf1 ip4:192.0.2.10 -all")
            .AddTxt("_dmarc.reject.test", "v=DMARC1; p=reject; rua=mailto:dmarc@reject.test")
            .AddTxt("quarantine.test", "v=spf1 ip4:192.0.2.10 -all")
            .AddTxt("_dmarc.quarantine.test", "v=DMARC1; p=quarantine")
            .AddTxt("signed.test", "v=spf1 ip4:192.0.2.10 -all")
            .AddTxt("_dmarc.signed.test", "v=DMARC1; p=reject")
            .AddTxt("s2026._domainkey.signed.test", _key.DnsRecordText)
            .AddTxt("allowed.test", "v=spf1 ip4:127.0.0.0/8 -all")
            .AddTxt("_dmarc.allowed.test", "v=DMARC1; p=reject; aspf=s");
    }

    [OneTimeTearDown]
    public async Task Cleanup()
    {
        await _dns.DisposeAsync();
        System.IO.Directory.Delete(_keys, recursive: true);
    }

    private async Task<ServerProcess> StartAsync(bool enforce)
    {
        var server = ServerProcess.Create();
        var config = ServerProcess.SampleConfig(server.ListenerPorts)
            .Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{PasswordHasher.Hash(Password, iterations: 1000)}\"")
            .Replace(ServerProcess.DefaultDns, $"\"Dns\": {{ \"Servers\": [ \"127.0.0.1\" ], \"Port\": {_dns.Port} }}")
            .Replace("\"MasterKeyPath\": \"keys/example.key\",", $"\"MasterKeyPath\": \"keys/example.key\", \"Dmarc\": {{ \"Enforce\": {(enforce ? "true" : "false")} }},");
        await File.WriteAllTextAsync(server.ConfigPath, config);
        await server.StartAsync();
        return server;
    }

    private static string Message(string from, string subject, string extraHeaders = "") =>
        $"{extraHeaders}From: Sender <{from}>\r\nTo: Alice <alice@example.test>\r\nSubject: {subject}\r\n" +
        $"Date: Sat, 28 Nov 2026 02:00:00 +0000\r\nMessage-ID: <{Guid.NewGuid():N}@{from.Split('@')[1]}>\r\n" +
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello Alice.\r\n";

    /// <summary>One SMTP transaction as a transcript: the replies to EHLO, MAIL, RCPT and the end of DATA.</summary>
    private static async Task<List<SmtpLineReply>> SendAsync(ServerProcess server, string mailFrom, string message)
    {
        var (client, greeting) = await SmtpLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Smtp));
        await using var _ = client;
        var replies = new List<SmtpLineReply> { greeting };
        replies.Add(await client.CommandAsync("EHLO client." + mailFrom.Split('@')[1]));
        replies.Add(await client.CommandAsync($"MAIL FROM:<{mailFrom}>"));
        replies.Add(await client.CommandAsync("RCPT TO:<alice@example.test>"));
        replies.Add(await client.CommandAsync("DATA"));
        await client.SendRawAsync(Encoding.ASCII.GetBytes(message + ".\r\n"));
        replies.Add(await client.ReadReplyAsync());
        await client.CommandAsync("QUIT");
        return replies;
    }

    private static async Task<IReadOnlyList<MimeMessage>> FolderAsync(ServerProcess server, string folderName)
    {
        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 15000 };
        await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imap, SecureSocketOptions.StartTls);
        await imap.AuthenticateAsync("alice@example.test", Password);
        var folder = folderName == "INBOX" ? imap.Inbox : await imap.GetFolderAsync(folderName);
        await folder.OpenAsync(FolderAccess.ReadOnly);
        var messages = new List<MimeMessage>();
        for (var i = 0; i < folder.Count; i++)
            messages.Add(await folder.GetMessageAsync(i));
        await imap.DisconnectAsync(true);
        return messages;
    }

    private static string AuthenticationResults(MimeMessage message) =>
        string.Join("\n", message.Headers.Where(h => h.Field.Equals("Authentication-Results", StringComparison.OrdinalIgnoreCase))
            .Select(h => h.Value.Replace("\r\n", "").Replace("\t", " ")));

    [Test]
    public async Task Enforcement_rejects_quarantines_and_delivers_by_the_senders_policy()
    {
        await using var server = await StartAsync(enforce: true);

        // p=reject, SPF fails and nothing is signed: refused at the end of DATA, for the whole transaction.
        var reject = await SendAsync(server, "news@reject.test", Message("news@reject.test", "rejected"));
        Assert.That(reject.Select(r => r.Code), Is.EqualTo(new[] { 220, 250, 250, 250, 354, 550 }), string.Join("\n", reject));
        Assert.That(reject[^1].Text, Does.StartWith("5.7.1 ").And.Contain("DMARC"));

        // p=quarantine: accepted, in Junk E-mail.
        var quarantine = await SendAsync(server, "news@quarantine.test", Message("news@quarantine.test", "quarantined"));
        Assert.That(quarantine[^1].Code, Is.EqualTo(250), string.Join("\n", quarantine));

        // p=reject, SPF fails but an aligned DKIM signature passes: DMARC passes, Inbox. The sender forged a result
        // in our name, which must not survive; another receiver's result stays.
        var signed = MimeMessage.Load(new MemoryStream(Encoding.ASCII.GetBytes(Message("ceo@signed.test", "signed"))));
        new DkimSigner(_key.PrivateKey, "signed.test", "s2026", DkimSignatureAlgorithm.RsaSha256)
        {
            HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
        }.Sign(signed, ["From", "To", "Subject", "Date", "Message-ID"]);
        using var wire = new MemoryStream();
        signed.WriteTo(wire);
        var signedText = "Authentication-Results: MX.EXAMPLE.TEST; dmarc=pass header.from=forged.test\r\n" +
                         "Authentication-Results: relay.example.net; spf=pass smtp.mailfrom=ceo@signed.test\r\n" +
                         Encoding.ASCII.GetString(wire.ToArray()).Replace("\n", "\r\n").Replace("\r\r\n", "\r\n");
        var delivered = await SendAsync(server, "bounces@signed.test", signedText);
        Assert.That(delivered[^1].Code, Is.EqualTo(250), string.Join("\n", delivered));

        // SPF passes for allowed.test with strict SPF alignment: Inbox.
        var allowed = await SendAsync(server, "alerts@allowed.test", Message("alerts@allowed.test", "allowed"));
        Assert.That(allowed[^1].Code, Is.EqualTo(250), string.Join("\n", allowed));

        var junk = await FolderAsync(server, "Junk E-mail");
        var inbox = await FolderAsync(server, "INBOX");
        Assert.That(junk.Select(m => m.Subject), Is.EqualTo(new[] { "quarantined" }));
        Assert.That(inbox.Select(m => m.Subject), Is.EqualTo(new[] { "signed", "allowed" }));

        var quarantined = AuthenticationResults(junk[0]);
        Assert.That(quarantined, Does.StartWith("mx.example.test;"));
        Assert.That(quarantined, Does.Contain("spf=fail smtp.mailfrom=news@quarantine.test;"));
        Assert.That(quarantined, Does.Contain("dkim=none;"));
        Assert.That(quarantined, Does.Contain("dmarc=fail (p=QUARANTINE dis=QUARANTINE) header.from=quarantine.test;"));
        Assert.That(quarantined, Does.EndWith("arc=none"));

        var results = AuthenticationResults(inbox[0]).Split('\n');
        Assert.That(results, Has.Length.EqualTo(2), "ours, and the other receiver's; the forged claim is gone");
        Assert.That(results[0], Does.StartWith("mx.example.test;"));
        Assert.That(results[0], Does.Contain("spf=fail smtp.mailfrom=bounces@signed.test;"));
        Assert.That(results[0], Does.Contain("dkim=pass header.d=signed.test header.s=s2026 header.a=rsa-sha256"));
        Assert.That(results[0], Does.Contain("dmarc=pass (p=REJECT) header.from=signed.test;"));
        Assert.That(results[1], Does.StartWith("relay.example.net;"));
        Assert.That(inbox[0].Headers[0].Field, Is.EqualTo("Received"), "our trace header first, our results right below it");
        Assert.That(inbox[0].Headers[1].Field, Is.EqualTo("Authentication-Results"));
        Assert.That(AuthenticationResults(inbox[1]), Does.Contain("spf=pass smtp.mailfrom=alerts@allowed.test;").And.Contain("dmarc=pass"));

        // The verdicts are logged with the event log's field values (§18), and so is every applied policy.
        Assert.That(server.Output, Does.Contain("spf=FAIL (reject.test) dkim=NONE dmarc=FAIL dmarcPolicy=REJECT arc=NONE from=reject.test"));
        Assert.That(server.Output, Does.Contain("DMARC policy REJECT of reject.test applied"));
        Assert.That(server.Output, Does.Contain("DMARC policy QUARANTINE of quarantine.test applied"));
        Assert.That(server.Output, Does.Contain("dkim=PASS dmarc=PASS dmarcPolicy=- arc=NONE from=signed.test"));

        // §18: DMARC_POLICY_APPLIED when enforcement changed delivery (refused, or to Junk), and the verdicts on
        // the received event of the quarantined message.
        var events = Events(server);
        var applied = events.Where(e => (string)e["eventName"]! == "DMARC_POLICY_APPLIED").ToList();
        Assert.That(applied.Select(e => ((string)e["policy"]!, (string)e["from"]!)), Is.EquivalentTo(new[]
            { ("REJECT", "news@reject.test"), ("QUARANTINE", "news@quarantine.test") }));
        Assert.That(applied.Select(e => (string)e["recipients"]![0]!), Has.All.EqualTo("alice@example.test"));
        var received = events.Single(e => (string)e["eventName"]! == "ORGANIZATION_EMAIL_RECEIVED" && (string?)e["subject"] == "quarantined");
        Assert.That(((string)received["spfVerdict"]!, (string)received["dmarcVerdict"]!, (string)received["dmarcPolicy"]!),
            Is.EqualTo(("FAIL", "FAIL", "QUARANTINE")));
    }

    private static List<System.Text.Json.Nodes.JsonNode> Events(ServerProcess server) =>
        server.EventLogLines().Select(l => l["event"]!).ToList();

    [Test]
    public async Task Enforcement_off_delivers_a_failing_message_to_the_inbox_and_logs_the_verdict()
    {
        await using var server = await StartAsync(enforce: false);

        var replies = await SendAsync(server, "news@reject.test", Message("news@reject.test", "not enforced"));
        Assert.That(replies.Select(r => r.Code), Is.EqualTo(new[] { 220, 250, 250, 250, 354, 250 }), string.Join("\n", replies));

        var inbox = await FolderAsync(server, "INBOX");
        Assert.That(inbox.Select(m => m.Subject), Is.EqualTo(new[] { "not enforced" }));
        Assert.That(AuthenticationResults(inbox[0]), Does.Contain("dmarc=fail (p=REJECT dis=REJECT) header.from=reject.test;"));
        Assert.That(server.Output, Does.Contain("dmarc=FAIL dmarcPolicy=REJECT"));
        Assert.That(server.Output, Does.Contain("does not enforce; delivered as usual"));
        Assert.That(server.Output, Does.Not.Contain("applied for organization"));
    }
}
