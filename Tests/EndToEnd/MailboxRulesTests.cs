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
/// Issue 5 item 5 against the real server process: a user's mailbox rules (§9.8, MAILBOX_RULE) applied when mail
/// reaches the mailbox over SMTP, checked the way the user sees it over IMAP (folders, flags), the way a
/// forward's recipient sees it, and in the email event log.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class MailboxRulesTests
{
    private const string Password = "Mailbox-Rules-Tests-1";
    private const string Alice = "alice@example.test";
    private const string Bob = "bob@example.test";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    /// <summary>The sample organization with Alice's (and Bob's) rules as JSON, plus any other change to the MailServer section.</summary>
    private static string Config(ServerProcess server, string aliceRules, string? bobRules = null, Action<JsonNode>? configure = null)
    {
        var root = JsonNode.Parse(File.ReadAllText(server.ConfigPath))!;
        var users = root["MailServer"]!["Organizations"]![0]!["Users"]!;
        users[0]!["MailboxRules"] = JsonNode.Parse(aliceRules);
        if (bobRules is not null)
            users[1]!["MailboxRules"] = JsonNode.Parse(bobRules);
        configure?.Invoke(root["MailServer"]!);
        return root.ToJsonString().Replace("\"PasswordHash\":null", $"\"PasswordHash\":\"{PasswordHasher.Hash(Password, iterations: 1000)}\"");
    }

    private static async Task<ServerProcess> StartAsync(string aliceRules, string? bobRules = null, Action<JsonNode>? configure = null)
    {
        var server = ServerProcess.Create();
        await File.WriteAllTextAsync(server.ConfigPath, Config(server, aliceRules, bobRules, configure));
        await server.StartAsync();
        return server;
    }

    /// <summary>DNS on loopback: remote.test's MX is the loopback receiver; quarantine.test fails SPF under p=quarantine.</summary>
    private static LoopbackDnsServer Dns() => LoopbackDnsServer.Start()
        .AddMx("remote.test", 10, "mx.remote.test").AddA("mx.remote.test", "127.0.0.1")
        .AddTxt("quarantine.test", "v=spf1 ip4:192.0.2.10 -all")
        .AddTxt("_dmarc.quarantine.test", "v=DMARC1; p=quarantine");

    private static Action<JsonNode> Sending(LoopbackDnsServer dns, int remotePort, Action<JsonNode>? more = null) => mailServer =>
    {
        mailServer["Dns"] = JsonNode.Parse($$"""{ "Servers": [ "127.0.0.1" ], "Port": {{dns.Port}} }""");
        mailServer["Delivery"] = JsonNode.Parse($$"""{ "RemotePort": {{remotePort}}, "RetryMinimumSeconds": 1, "RetryMaximumSeconds": 2 }""");
        more?.Invoke(mailServer);
    };

    private static MimeMessage Message(string subject, string from = "Carol <carol@partner.test>", string to = Alice)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "Hello from outside.\r\n" };
        return message;
    }

    /// <summary>Sends over the MX port, as another server would; returns the reply to the end of DATA.</summary>
    private static async Task<string> ReceiveAsync(ServerProcess server, MimeMessage message)
    {
        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", server.ListenerPorts.Smtp, SecureSocketOptions.None);
        var reply = await client.SendAsync(message);
        await client.DisconnectAsync(true);
        return reply;
    }

    private static async Task<ImapClient> ImapAsync(ServerProcess server, string user)
    {
        var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 15000 };
        await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
        await imap.AuthenticateAsync(user, Password);
        return imap;
    }

    /// <summary>The messages of one folder with their flags, read without changing them.</summary>
    private static async Task<List<(MimeMessage Message, MessageFlags Flags)>> FolderAsync(ServerProcess server, string user, string name)
    {
        using var imap = await ImapAsync(server, user);
        var folder = name == "INBOX" ? imap.Inbox : await imap.GetFolderAsync(name);
        await folder.OpenAsync(FolderAccess.ReadOnly);
        var messages = new List<(MimeMessage, MessageFlags)>();
        if (folder.Count > 0)
            foreach (var summary in await folder.FetchAsync(0, -1, MessageSummaryItems.Flags | MessageSummaryItems.UniqueId))
                messages.Add((await folder.GetMessageAsync(summary.UniqueId), summary.Flags ?? MessageFlags.None));
        await imap.DisconnectAsync(true);
        return messages;
    }

    private static async Task<List<string>> FolderNamesAsync(ServerProcess server, string user)
    {
        using var imap = await ImapAsync(server, user);
        var names = (await imap.GetFoldersAsync(imap.PersonalNamespaces[0])).Select(f => f.FullName).ToList();
        await imap.DisconnectAsync(true);
        return names;
    }

    private static IEnumerable<string> Subjects(IEnumerable<(MimeMessage Message, MessageFlags Flags)> messages) => messages.Select(m => m.Message.Subject ?? "");

    private static string Rule(string name, string condition, string actions, bool stop = false) =>
        $$"""{ "Name": "{{name}}", "Conditions": [ {{condition}} ], "Actions": [ {{actions}} ], "StopProcessingRules": {{(stop ? "true" : "false")}} }""";

    private const string Everything = """{ "Field": "Sender", "Contains": "@" }""";

    [Test]
    public async Task Move_files_the_message_into_a_nested_folder_it_creates_parents_first()
    {
        await using var server = await StartAsync($$"""[ {{Rule("invoices", """{ "Field": "Subject", "Contains": "invoice" }""", """{ "Type": "Move", "Folder": "Finance/2026" }""")}} ]""");

        await ReceiveAsync(server, Message("Invoice 42"));
        await ReceiveAsync(server, Message("Lunch?"));

        Assert.That(await FolderNamesAsync(server, Alice), Does.Contain("Finance").And.Contain("Finance/2026"));
        Assert.That(Subjects(await FolderAsync(server, Alice, "Finance/2026")), Is.EqualTo(new[] { "Invoice 42" }));
        Assert.That(Subjects(await FolderAsync(server, Alice, "INBOX")), Is.EqualTo(new[] { "Lunch?" }), "a message no rule matches stays in the Inbox");
    }

    [Test]
    public async Task Copy_stores_a_second_copy_and_leaves_the_first_in_the_Inbox()
    {
        await using var server = await StartAsync($$"""[ {{Rule("archive", Everything, """{ "Type": "Copy", "Folder": "Archive" }""")}} ]""");

        await ReceiveAsync(server, Message("Keep this"));

        Assert.That(Subjects(await FolderAsync(server, Alice, "INBOX")), Is.EqualTo(new[] { "Keep this" }));
        Assert.That(Subjects(await FolderAsync(server, Alice, "Archive")), Is.EqualTo(new[] { "Keep this" }));
    }

    [Test]
    public async Task A_Copy_that_would_take_the_mailbox_over_its_quota_is_not_made_and_the_message_is_delivered()
    {
        await using var server = await StartAsync($$"""[ {{Rule("archive", Everything, """{ "Type": "Copy", "Folder": "Archive" }""")}} ]""",
            configure: s => s["Organizations"]![0]!["Users"]![0]!["MailboxQuotaMiB"] = 1);
        var big = Message("Big attachment");
        big.Body = new TextPart("plain") { Text = string.Concat(Enumerable.Repeat(new string('x', 76) + "\r\n", 8000)) }; // ~600 KiB: one fits in 1 MiB, two do not

        await ReceiveAsync(server, big);

        Assert.That(Subjects(await FolderAsync(server, Alice, "INBOX")), Is.EqualTo(new[] { "Big attachment" }));
        Assert.That(await FolderAsync(server, Alice, "Archive"), Is.Empty, "the folder is there, the copy is not");
        Assert.That(server.Output, Does.Contain("1 rule copies for alice@example.test not made"));
    }

    [Test]
    public async Task MarkRead_delivers_the_message_already_seen()
    {
        await using var server = await StartAsync($$"""[ {{Rule("quiet", """{ "Field": "Subject", "Contains": "fyi" }""", """{ "Type": "MarkRead" }""")}} ]""");

        await ReceiveAsync(server, Message("FYI: build green"));
        await ReceiveAsync(server, Message("Question"));

        var inbox = await FolderAsync(server, Alice, "INBOX");
        Assert.That(inbox.Single(m => m.Message.Subject == "FYI: build green").Flags.HasFlag(MessageFlags.Seen), Is.True);
        Assert.That(inbox.Single(m => m.Message.Subject == "Question").Flags.HasFlag(MessageFlags.Seen), Is.False);
    }

    [Test]
    public async Task Delete_files_the_message_into_Deleted_Items()
    {
        await using var server = await StartAsync($$"""[ {{Rule("no-ads", """{ "Field": "Sender", "Contains": "ads@" }""", """{ "Type": "Delete" }""")}} ]""");

        await ReceiveAsync(server, Message("Buy now", from: "ads@shop.test"));

        Assert.That(await FolderAsync(server, Alice, "INBOX"), Is.Empty);
        Assert.That(Subjects(await FolderAsync(server, Alice, "Deleted Items")), Is.EqualTo(new[] { "Buy now" }));
    }

    [Test]
    public async Task A_Move_to_a_folder_that_cannot_be_created_delivers_to_the_Inbox_and_says_why()
    {
        await using var server = await StartAsync($$"""[ {{Rule("broken", Everything, """{ "Type": "Move", "Folder": "Projects//Old" }""")}} ]""");

        var reply = await ReceiveAsync(server, Message("Still arrives"));

        Assert.That(reply, Does.StartWith("2.0.0"));
        Assert.That(Subjects(await FolderAsync(server, Alice, "INBOX")), Is.EqualTo(new[] { "Still arrives" }));
        Assert.That(server.Output, Does.Contain("folder Projects//Old of alice@example.test could not be created (not a valid folder name)"));
    }

    [Test]
    public async Task Forward_sends_Bob_a_new_message_from_Alice_with_the_original_attached()
    {
        await using var server = await StartAsync($$"""[ {{Rule("to-bob", Everything, $$"""{ "Type": "Forward", "To": "{{Bob}}" }""")}} ]""");

        await ReceiveAsync(server, Message("Quarterly plan"));

        Assert.That(Subjects(await FolderAsync(server, Alice, "INBOX")), Is.EqualTo(new[] { "Quarterly plan" }), "the original is delivered too");
        var forward = (await FolderAsync(server, Bob, "INBOX")).Single().Message;
        Assert.Multiple(() =>
        {
            Assert.That(forward.Subject, Is.EqualTo("FW: Quarterly plan"));
            Assert.That(forward.From.Mailboxes.Single().Address, Is.EqualTo(Alice));
            Assert.That(forward.To.Mailboxes.Single().Address, Is.EqualTo(Bob));
            Assert.That(forward.Headers["Auto-Submitted"], Is.EqualTo("auto-forwarded"), "RFC 3834 §5");
            Assert.That(forward.Headers["X-MailServer-Forwarded-By"], Is.EqualTo(Alice));
            var attached = forward.Attachments.OfType<MessagePart>().Single();
            Assert.That(attached.ContentType.MimeType, Is.EqualTo("message/rfc822"));
            Assert.That(attached.Message!.Subject, Is.EqualTo("Quarterly plan"));
            Assert.That(attached.Message!.From.Mailboxes.Single().Address, Is.EqualTo("carol@partner.test"));
        });
    }

    [Test]
    public async Task Redirect_resends_the_original_to_a_remote_address_through_the_outbound_queue_with_Resent_headers()
    {
        await using var dns = Dns();
        await using var receiver = await SmtpReceiver.StartAsync(tempFailures: 0);
        await using var server = await StartAsync($$"""[ {{Rule("away", Everything, """{ "Type": "Redirect", "To": "friend@remote.test" }""")}} ]""",
            configure: Sending(dns, receiver.Port));

        await ReceiveAsync(server, Message("Contract draft"));

        var received = (await receiver.WaitForAsync(1, Wait)).Single();
        var resent = MimeMessage.Load(new MemoryStream(received.Content));
        Assert.Multiple(() =>
        {
            Assert.That(received.MailFrom, Is.EqualTo(Alice), "the envelope sender is the mailbox that redirected it");
            Assert.That(received.RcptTos, Is.EqualTo(new[] { "friend@remote.test" }));
            Assert.That(resent.Subject, Is.EqualTo("Contract draft"), "a redirect leaves the message as it was");
            Assert.That(resent.From.Mailboxes.Single().Address, Is.EqualTo("carol@partner.test"));
            Assert.That(resent.ResentFrom.Mailboxes.Single().Address, Is.EqualTo(Alice), "RFC 5322 §3.6.6");
            Assert.That(resent.ResentTo.Mailboxes.Single().Address, Is.EqualTo("friend@remote.test"));
            Assert.That(resent.Headers.Contains(HeaderId.ResentDate), Is.True);
            Assert.That(resent.ResentMessageId, Is.Not.Null.And.EndWith("@example.test"));
            Assert.That(resent.Headers["X-MailServer-Forwarded-By"], Is.EqualTo(Alice));
        });
        Assert.That(Subjects(await FolderAsync(server, Alice, "INBOX")), Is.EqualTo(new[] { "Contract draft" }));
    }

    [Test]
    public async Task StopProcessingRules_keeps_later_rules_from_applying()
    {
        await using var server = await StartAsync($$"""
            [ {{Rule("first", Everything, """{ "Type": "Move", "Folder": "First" }""", stop: true)}},
              {{Rule("second", Everything, """{ "Type": "Copy", "Folder": "Second" }""")}} ]
            """);

        await ReceiveAsync(server, Message("Only once"));

        Assert.That(Subjects(await FolderAsync(server, Alice, "First")), Is.EqualTo(new[] { "Only once" }));
        Assert.That(await FolderNamesAsync(server, Alice), Does.Not.Contain("Second"), "the second rule never ran");
        Assert.That(server.EventLogLines().Select(e => (string?)e["event"]!["ruleName"]).Where(n => n is not null), Is.EqualTo(new[] { "first" }));
    }

    [Test]
    public async Task Two_users_forwarding_to_each_other_stop_when_the_message_comes_back()
    {
        await using var server = await StartAsync(
            $$"""[ {{Rule("to-bob", Everything, $$"""{ "Type": "Forward", "To": "{{Bob}}" }""")}} ]""",
            $$"""[ {{Rule("to-alice", Everything, $$"""{ "Type": "Forward", "To": "{{Alice}}" }""")}} ]""");

        var reply = await ReceiveAsync(server, Message("Ping"));

        Assert.That(reply, Does.StartWith("2.0.0"));
        Assert.That(Subjects(await FolderAsync(server, Alice, "INBOX")), Is.EquivalentTo(new[] { "Ping", "FW: FW: Ping" }),
            "Alice gets the original and Bob's forward of her forward, and forwards nothing more");
        Assert.That(Subjects(await FolderAsync(server, Bob, "INBOX")), Is.EqualTo(new[] { "FW: Ping" }));
        Assert.That(server.Output, Does.Contain("forwarding by alice@example.test suppressed"));
    }

    [Test]
    public async Task A_forward_to_one_of_the_mailboxs_own_aliases_is_not_sent()
    {
        await using var server = await StartAsync($$"""[ {{Rule("self", Everything, """{ "Type": "Forward", "To": "a.liddell@example.test" }""")}} ]""");

        await ReceiveAsync(server, Message("Just once"));

        Assert.That(Subjects(await FolderAsync(server, Alice, "INBOX")), Is.EqualTo(new[] { "Just once" }));
        Assert.That(server.Output, Does.Contain("to a.liddell@example.test not sent: that is an address of the mailbox itself"));
    }

    [Test]
    public async Task A_forward_past_the_daily_external_recipient_limit_is_refused_and_the_original_still_delivered()
    {
        await using var dns = Dns();
        await using var receiver = await SmtpReceiver.StartAsync(tempFailures: 0);
        await using var server = await StartAsync($$"""[ {{Rule("out", Everything, """{ "Type": "Forward", "To": "friend@remote.test" }""")}} ]""",
            configure: Sending(dns, receiver.Port, s => s["Limits"] = JsonNode.Parse("""{ "ExternalRecipientsPerUserPerDay": 1 }""")));

        await ReceiveAsync(server, Message("One"));
        await ReceiveAsync(server, Message("Two"));

        Assert.That(Subjects(await FolderAsync(server, Alice, "INBOX")), Is.EqualTo(new[] { "One", "Two" }));
        Assert.That((await receiver.WaitForAsync(1, Wait)).Select(m => MimeMessage.Load(new MemoryStream(m.Content)).Subject), Is.EqualTo(new[] { "FW: One" }));
        Assert.That(server.Output, Does.Contain("Forward of a message for alice@example.test to friend@remote.test refused: the daily external recipient limit of 1 is reached"));
        Assert.That(receiver.Messages(), Has.Count.EqualTo(1), "the second forward never left");
    }

    [Test]
    public async Task A_message_DMARC_quarantined_into_Junk_is_not_forwarded()
    {
        await using var dns = Dns();
        await using var server = await StartAsync($$"""[ {{Rule("to-bob", Everything, $$"""{ "Type": "Forward", "To": "{{Bob}}" }""")}} ]""",
            configure: s =>
            {
                s["Dns"] = JsonNode.Parse($$"""{ "Servers": [ "127.0.0.1" ], "Port": {{dns.Port}} }""");
                s["Organizations"]![0]!["Dmarc"] = JsonNode.Parse("""{ "Enforce": true }""");
            });

        await ReceiveAsync(server, Message("Suspicious", from: "news@quarantine.test"));
        await ReceiveAsync(server, Message("Genuine"));

        Assert.That(Subjects(await FolderAsync(server, Alice, "Junk E-mail")), Is.EqualTo(new[] { "Suspicious" }));
        Assert.That(Subjects(await FolderAsync(server, Bob, "INBOX")), Is.EqualTo(new[] { "FW: Genuine" }), "only the message that passed is forwarded");
    }

    [Test]
    public async Task Each_rule_that_applied_writes_RULE_APPLIED_with_its_actions_target_folder_and_recipient_under_the_messages_trace()
    {
        await using var server = await StartAsync($$"""
            [ {{Rule("file-and-tell", Everything, $$"""{ "Type": "Move", "Folder": "Projects" }, { "Type": "Forward", "To": "{{Bob}}" }""")}},
              {{Rule("never", """{ "Field": "Subject", "Contains": "no such text" }""", """{ "Type": "Delete" }""")}} ]
            """);

        await ReceiveAsync(server, Message("Status report"));

        var events = server.EventLogLines();
        var applied = events.Where(e => (string)e["event"]!["eventName"]! == "RULE_APPLIED").ToArray();
        Assert.That(applied, Has.Length.EqualTo(1), "the rule whose condition failed writes nothing");
        var rule = applied[0]["event"]!;
        Assert.Multiple(() =>
        {
            Assert.That((string)rule["ruleName"]!, Is.EqualTo("file-and-tell"));
            Assert.That((string)rule["ruleType"]!, Is.EqualTo("MAILBOX_RULE"));
            Assert.That(rule["ruleActions"]!.AsArray().Select(a => ((string)a!["action"]!, a["recipients"]!.AsArray().Select(r => (string)r!).Single())),
                Is.EqualTo(new[] { ("MOVE", Alice), ("FORWARD", Alice) }));
            Assert.That((string)rule["targetFolder"]!, Is.EqualTo("Projects"));
            Assert.That((string)rule["targetRecipient"]!, Is.EqualTo(Bob));
        });
        var received = events.Single(e => (string)e["event"]!["eventName"]! == "ORGANIZATION_EMAIL_RECEIVED" && (string?)e["event"]!["subject"] == "Status report");
        Assert.That((string)applied[0]["traceId"]!, Is.EqualTo((string)received["traceId"]!), "one trace per message (§18.2)");
        var delivered = events.Where(e => (string)e["traceId"]! == (string)received["traceId"]! && (string)e["event"]!["eventName"]! == "MAILBOX_EMAIL_DELIVERED");
        Assert.That(delivered.Select(e => (string)e["event"]!["folder"]!), Is.EqualTo(new[] { "Projects" }), "delivered where the rule filed it");
    }

    [Test]
    public async Task A_rule_added_by_a_config_reload_applies_to_the_next_message()
    {
        await using var server = await StartAsync("[]");
        await ReceiveAsync(server, Message("Before"));

        await File.WriteAllTextAsync(server.ConfigPath,
            Config(server, $$"""[ {{Rule("later", Everything, """{ "Type": "Move", "Folder": "Later" }""")}} ]"""));
        Assert.That(await server.WaitForOutputAsync("reloaded", Wait), Is.True, server.Output);
        await ReceiveAsync(server, Message("After"));

        Assert.That(Subjects(await FolderAsync(server, Alice, "INBOX")), Is.EqualTo(new[] { "Before" }));
        Assert.That(Subjects(await FolderAsync(server, Alice, "Later")), Is.EqualTo(new[] { "After" }));
    }
}
