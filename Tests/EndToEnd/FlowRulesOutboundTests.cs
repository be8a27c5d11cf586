using System.Text.Json.Nodes;
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
/// Issue 5 against the real server process: outbound email flow rules as the host wires them (rules in front of
/// the delivery pipeline on the submission port), applied to local recipients too, with RULE_APPLIED
/// (OUTBOUND_RULE) in the email event log.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class FlowRulesOutboundTests
{
    private const string Password = "Flow-Rules-Outbound-1";

    private static async Task<ServerProcess> StartAsync(Action<JsonNode>? configure = null)
    {
        var server = ServerProcess.Create();
        var root = JsonNode.Parse(File.ReadAllText(server.ConfigPath))!;
        configure?.Invoke(root["MailServer"]!["Organizations"]![0]!);
        root["MailServer"]!["Organizations"]![0]!["FlowRules"] = JsonNode.Parse("""
            {
              "Inbound": [
                { "Name": "drop-spam", "Action": "Drop", "SenderPatterns": [ "spam.test" ], "RecipientPatterns": [ "*" ] }
              ],
              "Outbound": [
                { "Name": "quiet-bob", "Action": "Drop", "SenderPatterns": [ "example.test" ], "RecipientPatterns": [ "bob@example.test" ] },
                { "Name": "no-team", "Action": "Bounce", "SenderPatterns": [ "alice@example.test" ], "RecipientPatterns": [ "team@example.test" ] }
              ]
            }
            """);
        File.WriteAllText(server.ConfigPath, root.ToJsonString()
            .Replace("\"PasswordHash\":null", $"\"PasswordHash\":\"{PasswordHasher.Hash(Password, iterations: 1000)}\""));
        await server.StartAsync();
        return server;
    }

    private static async Task<SmtpClient> SubmitterAsync(ServerProcess server)
    {
        var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", server.ListenerPorts.Submission, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync("alice@example.test", Password);
        return client;
    }

    private static MimeMessage Message(params string[] to)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice", "alice@example.test"));
        foreach (var address in to)
            message.To.Add(MailboxAddress.Parse(address));
        message.Subject = "outbound " + Guid.NewGuid().ToString("N");
        message.Body = new TextPart("plain") { Text = "Outbound flow rules.\r\n" };
        return message;
    }

    private static async Task<int> InboxCountAsync(ServerProcess server, string user)
    {
        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
        await imap.AuthenticateAsync(user, Password);
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var count = imap.Inbox.Count;
        await imap.DisconnectAsync(true);
        return count;
    }

    private static JsonObject[] Events(ServerProcess server) => server.EventLogLines();

    [Test]
    public async Task A_Drop_rule_keeps_the_message_from_a_local_recipient_and_is_logged_as_an_outbound_RULE_APPLIED()
    {
        await using var server = await StartAsync();
        using var client = await SubmitterAsync(server);

        var reply = await client.SendAsync(Message("bob@example.test", "alice@example.test"));

        Assert.That(reply, Does.StartWith("2.0.0"), "dropped: accepted, the sender not told");
        Assert.That(await InboxCountAsync(server, "alice@example.test"), Is.EqualTo(1), "the recipient no rule names gets it");
        Assert.That(await InboxCountAsync(server, "bob@example.test"), Is.Zero, "outbound rules apply to local recipients");
        var applied = Events(server).Select(e => e["event"]!).Where(e => (string)e["eventName"]! == "RULE_APPLIED").ToArray();
        Assert.That(applied, Has.Length.EqualTo(1));
        Assert.That((string)applied[0]["ruleName"]!, Is.EqualTo("quiet-bob"));
        Assert.That((string)applied[0]["ruleType"]!, Is.EqualTo("OUTBOUND_RULE"));
        Assert.That((string)applied[0]["ruleActions"]![0]!["action"]!, Is.EqualTo("DROP"));
        Assert.That(applied[0]["ruleActions"]![0]!["recipients"]!.AsArray().Select(r => (string)r!), Is.EqualTo(new[] { "bob@example.test" }));
    }

    [Test]
    public async Task Every_event_of_one_submitted_message_carries_the_same_trace_id_rule_received_delivered_and_journaled()
    {
        // §18.2: the trace id correlates every event of a message, whichever part of the server writes it.
        await using var server = await StartAsync(organization => organization["Journaling"] = JsonNode.Parse(
            """{ "Enabled": true, "JournalingAddress": "bob@example.test", "ReportAddress": "bob@example.test" }"""));
        using var client = await SubmitterAsync(server);

        await client.SendAsync(Message("bob@example.test", "alice@example.test"));
        await client.SendAsync(Message("alice@example.test"));

        var byTrace = Events(server).GroupBy(e => (string)e["traceId"]!).ToList();
        Assert.That(byTrace, Has.Count.EqualTo(2), "two messages, two traces; the journal records are the server's own");
        var first = byTrace.Single(g => g.Any(e => (string)e["event"]!["eventName"]! == "RULE_APPLIED"));
        Assert.That(first.Select(e => (string)e["event"]!["eventName"]!), Is.EquivalentTo(new[]
            { "RULE_APPLIED", "ORGANIZATION_EMAIL_RECEIVED", "MAILBOX_EMAIL_DELIVERED", "OUTGOING_EMAIL_SUBMITTED", "JOURNALING_INITIATED" }),
            "a submission is logged as submitted even when every recipient is local (§18.3)");
        Assert.That(byTrace.Single(g => g != first).Select(e => (string)e["event"]!["eventName"]!), Is.EquivalentTo(new[]
            { "ORGANIZATION_EMAIL_RECEIVED", "MAILBOX_EMAIL_DELIVERED", "OUTGOING_EMAIL_SUBMITTED", "JOURNALING_INITIATED" }));
    }

    [Test]
    public async Task A_Bounce_rule_for_every_recipient_refuses_the_submission_with_550_5_7_1()
    {
        await using var server = await StartAsync();
        using var client = await SubmitterAsync(server);

        var refused = Assert.ThrowsAsync<SmtpCommandException>(async () => await client.SendAsync(Message("team@example.test")));

        Assert.That((int)refused!.StatusCode, Is.EqualTo(550));
        Assert.That(refused.Message, Does.StartWith("5.7.1").And.Contain("administrator").And.Contain("no-team"));
        await client.NoOpAsync();
        Assert.That(await InboxCountAsync(server, "alice@example.test"), Is.Zero, "refused in the session: no DSN, no copy");
    }

    [Test]
    public async Task An_inbound_rule_on_the_MX_port_is_logged_as_an_inbound_RULE_APPLIED()
    {
        await using var server = await StartAsync();
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", server.ListenerPorts.Smtp, SecureSocketOptions.None);
        var message = Message("alice@example.test");
        message.From.Clear();
        message.From.Add(MailboxAddress.Parse("sam@spam.test"));

        var reply = await client.SendAsync(message);

        Assert.That(reply, Does.StartWith("2.0.0"));
        Assert.That(await InboxCountAsync(server, "alice@example.test"), Is.Zero, "dropped");
        var applied = Events(server).Select(e => e["event"]!).Single(e => (string)e["eventName"]! == "RULE_APPLIED");
        Assert.That((string)applied["ruleName"]!, Is.EqualTo("drop-spam"));
        Assert.That((string)applied["ruleType"]!, Is.EqualTo("INBOUND_RULE"));
        Assert.That((string)applied["ruleActions"]![0]!["action"]!, Is.EqualTo("DROP"));
        Assert.That(applied["ruleActions"]![0]!["recipients"]!.AsArray().Select(r => (string)r!), Is.EqualTo(new[] { "alice@example.test" }));
    }
}
