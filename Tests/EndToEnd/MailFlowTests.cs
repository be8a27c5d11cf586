using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Server.Security;
using MailServer.Storage;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// The mail-flow core seen from outside, on the real executable with its resolver on a loopback DNS server: one id
/// for the client, the Received field, the queue and the event log; a rule's partial bounce notifies only a sender
/// that passed SPF or DMARC; BypassSpamCheck against DMARC quarantine; OUTGOING_EMAIL_SUBMITTED for every submission.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class MailFlowTests
{
    private const string Org = ServerProcess.OrganizationId;
    private const string Password = "Mail-Flow-Test-1";
    private LoopbackDnsServer _dns = null!;
    private ServerProcess _server = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        // The test client connects from 127.0.0.1: spf-pass.test allows it, spf-fail.test does not.
        _dns = LoopbackDnsServer.Start()
            .AddTxt("spf-pass.test", "v=spf1 ip4:127.0.0.0/8 -all")
            .AddTxt("spf-fail.test", "v=spf1 ip4:192.0.2.10 -all")
            .AddTxt("trusted.test", "v=spf1 ip4:192.0.2.10 -all").AddTxt("_dmarc.trusted.test", "v=DMARC1; p=quarantine")
            .AddTxt("untrusted.test", "v=spf1 ip4:192.0.2.10 -all").AddTxt("_dmarc.untrusted.test", "v=DMARC1; p=quarantine");
        var hash = PasswordHasher.Hash(Password, iterations: 1000);
        _server = ServerProcess.Create(ports => TestConfig.Create().Listeners(ports).Dns(_dns)
            .Organization(Org, "example", "example.test", o => o
                .User("alice", hash).User("bob", hash)
                .InboundRule("no-bob", "Bounce", "*", "bob@example.test")
                .InboundRule("trust-partner", "BypassSpamCheck", "trusted.test")));
        await _server.StartAsync(TimeSpan.FromSeconds(90));
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _server.DisposeAsync();
        await _dns.DisposeAsync();
    }

    private static string Message(string from, string subject, params string[] to) =>
        $"From: <{from}>\r\nTo: {string.Join(", ", to.Select(t => $"<{t}>"))}\r\nSubject: {subject}\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n" +
        $"Message-ID: <{Guid.NewGuid():N}@{from.Split('@')[1]}>\r\n\r\nHello.\r\n";

    private async Task<List<SmtpLineReply>> SendAsync(string from, string subject, params string[] to)
    {
        var (client, _) = await SmtpLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, _server.ListenerPorts.Smtp));
        await using var _client = client;
        var replies = new List<SmtpLineReply> { await client.CommandAsync("EHLO client.test"), await client.CommandAsync($"MAIL FROM:<{from}>") };
        foreach (var recipient in to)
            replies.Add(await client.CommandAsync($"RCPT TO:<{recipient}>"));
        replies.Add(await client.CommandAsync("DATA"));
        await client.SendRawAsync(Encoding.ASCII.GetBytes(Message(from, subject, to) + ".\r\n"));
        replies.Add(await client.ReadReplyAsync());
        await client.CommandAsync("QUIT");
        return replies;
    }

    /// <summary>The subjects in a folder, read from the store through the admin-free path: the IMAP server.</summary>
    private Task<IReadOnlyList<string>> SubjectsAsync(string user, string folder = "INBOX") =>
        FlowRulesInboundTests.SubjectsAsync(_server, user, Password, folder);

    [Test]
    public async Task The_id_in_the_250_reply_names_the_message_in_its_Received_field_and_in_the_event_log()
    {
        var subject = "one-id-" + Guid.NewGuid().ToString("N")[..8];
        var replies = await SendAsync("x@spf-pass.test", subject, "alice@example.test");

        var id = Regex.Match(replies[^1].Text, @"queued as ([0-9a-f]{32})$").Groups[1].Value;
        Assert.That(id, Is.Not.Empty, replies[^1].Text);
        var received = _server.EventLogLines().Where(e => (string)e["event"]!["eventName"]! == "ORGANIZATION_EMAIL_RECEIVED"
                                                          && ((string?)e["event"]!["subject"] ?? "") == subject).ToList();
        Assert.That(received, Has.Count.EqualTo(1));
        Assert.That(Guid.Parse((string)received[0]["traceId"]!), Is.EqualTo(Guid.Parse(id)), "the event log's trace id is the id the client saw");
        using var imap = new MailKit.Net.Imap.ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await imap.ConnectAsync("127.0.0.1", _server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
        await imap.AuthenticateAsync("alice@example.test", Password);
        var inbox = imap.Inbox;
        await inbox.OpenAsync(MailKit.FolderAccess.ReadOnly);
        var message = await inbox.GetMessageAsync(inbox.Count - 1);
        Assert.That(message.Headers[0].Value, Does.Contain($"id {id}"), "our Received field carries it too");
    }

    [Test]
    public async Task A_partial_bounce_notifies_a_sender_that_passed_SPF_and_no_other()
    {
        var passed = "bounce-pass-" + Guid.NewGuid().ToString("N")[..8];
        var failed = "bounce-fail-" + Guid.NewGuid().ToString("N")[..8];

        var passReplies = await SendAsync("x@spf-pass.test", passed, "alice@example.test", "bob@example.test");
        var failReplies = await SendAsync("x@spf-fail.test", failed, "alice@example.test", "bob@example.test");
        var pass = Regex.Match(passReplies[^1].Text, "queued as ([0-9a-f]{32})").Groups[1].Value;
        var fail = Regex.Match(failReplies[^1].Text, "queued as ([0-9a-f]{32})").Groups[1].Value;

        Assert.Multiple(async () =>
        {
            Assert.That(passReplies[^1].Code, Is.EqualTo(250), "alice takes it");
            Assert.That(failReplies[^1].Code, Is.EqualTo(250));
            Assert.That(await SubjectsAsync("alice@example.test"), Does.Contain(passed).And.Contain(failed));
            Assert.That(await SubjectsAsync("bob@example.test"), Does.Not.Contain(passed).And.Not.Contain(failed), "bounced by the rule");
            Assert.That(await _server.WaitForOutputAsync($"Message {pass}: bounce notice for 1 recipient(s) sent to x@spf-pass.test", TimeSpan.FromSeconds(5)),
                Is.True, "SPF passed: the sender is told (docs/decisions.md, \"Bounce without backscatter\")");
            Assert.That(_server.Output, Does.Contain($"Message {fail}: 1 recipient(s) bounced by a rule; no notice"), "SPF failed: no backscatter");
        });
        Assert.That(_server.Output, Does.Contain("failed DSN sent to <x@spf-pass.test>").And.Not.Contain("DSN sent to <x@spf-fail.test>"),
            "one DSN went out, to the sender that passed");
    }

    [Test]
    public async Task BypassSpamCheck_delivers_a_DMARC_quarantined_message_to_the_inbox()
    {
        // §9.2: BYPASS_SPAM_CHECK is "always delivered to users' inboxes, even if it is identified as spam"; §12: a DMARC
        // quarantine marks it as spam. Without the rule, the same failure lands in Junk E-mail.
        var trusted = "trusted-" + Guid.NewGuid().ToString("N")[..8];
        var untrusted = "untrusted-" + Guid.NewGuid().ToString("N")[..8];
        await SendAsync("x@trusted.test", trusted, "alice@example.test");
        await SendAsync("x@untrusted.test", untrusted, "alice@example.test");

        Assert.Multiple(async () =>
        {
            Assert.That(await SubjectsAsync("alice@example.test"), Does.Contain(trusted).And.Not.Contain(untrusted));
            Assert.That(await SubjectsAsync("alice@example.test", "Junk E-mail"), Does.Contain(untrusted).And.Not.Contain(trusted));
        });
    }

    [Test]
    public async Task Every_submission_is_logged_as_OUTGOING_EMAIL_SUBMITTED_with_all_its_recipients()
    {
        var subject = "submitted-" + Guid.NewGuid().ToString("N")[..8];
        using (var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true })
        {
            await client.ConnectAsync("127.0.0.1", _server.ListenerPorts.Submission, SecureSocketOptions.StartTls);
            await client.AuthenticateAsync("alice@example.test", Password);
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse("alice@example.test"));
            message.To.Add(MailboxAddress.Parse("bob@example.test"));
            message.Bcc.Add(MailboxAddress.Parse("alice@example.test"));
            message.Subject = subject;
            message.Body = new TextPart("plain") { Text = "Local only.\r\n" };
            await client.SendAsync(message);
            await client.DisconnectAsync(true);
        }

        var submitted = _server.EventLogLines().Where(e => (string)e["event"]!["eventName"]! == "OUTGOING_EMAIL_SUBMITTED"
                                                           && ((string?)e["event"]!["subject"] ?? "") == subject).ToList();
        Assert.That(submitted, Has.Count.EqualTo(1), "logged once, though no recipient is remote");
        Assert.That(submitted[0]["event"]!["recipients"]!.AsArray().Select(r => (string)r!),
            Is.EquivalentTo(new[] { "bob@example.test", "alice@example.test" }), "To and Bcc recipients alike");
    }
}
