using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Server.Security;
using MailServer.Tests.Rules.Hooks;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Synchronous hooks with a durable held state (WorkMail Administrator Guide, "Lambda integration"; docs/decisions.md, "Hooks are HTTP webhooks"): the message is accepted
/// (250) and held, a worker calls the hook with backoff until the rule timeout, then the decision (or the fallback)
/// applies; the held message survives a kill -9. Real SMTP, a real HTTP hook server on loopback.
/// The hook's answer is scripted by the subject's prefix, so the tests share one server.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class HeldHooksTests
{
    private const string Password = "Held-Hooks-Test-1";
    private const string FlowToken = "0123456789abcdef0123456789abcdef-held-flow";
    private const string Default = """{"actions":[{"action":{"type":"DEFAULT"},"allRecipients":true}]}""";
    private ServerProcess _server = null!;
    private LoopbackHookReceiver _hook = null!;
    private readonly ConcurrentDictionary<string, int> _callsBySubject = new();
    private readonly ManualResetEventSlim _gate = new(false);
    private volatile bool _restartHookUp;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _hook = new LoopbackHookReceiver((_, request) => Answer(request));
        _server = await CreateServerAsync();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _gate.Set();
        await _server.DisposeAsync();
        _hook.Dispose();
        _gate.Dispose();
    }

    private LoopbackHookReceiver.Reply Answer(LoopbackHookReceiver.Received request)
    {
        using var e = JsonDocument.Parse(request.Body);
        var subject = e.RootElement.GetProperty("subject").GetString() ?? "";
        var call = _callsBySubject.AddOrUpdate(subject, 1, (_, n) => n + 1);
        return subject.Split('-')[0] switch
        {
            "flaky" => call <= 2 ? new(503, "") : new(200, Default),
            "down" => new(500, ""),
            "blocking" => _gate.Wait(TimeSpan.FromSeconds(10)) ? new(200, Default) : new(500, ""),
            "bounce" => new(200, """{"actions":[{"action":{"type":"BOUNCE"},"allRecipients":true}]}"""),
            "drop" => new(200, """{"actions":[{"action":{"type":"DROP"},"recipients":["bob@example.test"]},{"action":{"type":"DEFAULT"},"allRecipients":true}]}"""),
            "restart" => _restartHookUp ? new(200, Default) : new(503, ""),
            "bouncetext" => new(200, """{"actions":[{"action":{"type":"BOUNCE","parameters":{"bounceMessage":"Email in breach of company policy."}},"recipients":["bob@example.test"]},{"action":{"type":"DEFAULT"},"allRecipients":true}]}"""),
            "addrcpt" => new(200, """{"actions":[{"action":{"type":"DEFAULT"},"recipients":["bob@example.test"]},{"action":{"type":"DEFAULT"},"allRecipients":true}]}"""),
            _ => new(200, Default),
        };
    }

    private async Task<ServerProcess> CreateServerAsync()
    {
        var server = ServerProcess.Create();
        var root = JsonNode.Parse(File.ReadAllText(server.ConfigPath))!;
        root["MailServer"]!["Delivery"] = JsonNode.Parse("""{ "HookRetryMinimumSeconds": 1, "HookRetryMaximumSeconds": 1 }""");
        var organization = root["MailServer"]!["Organizations"]![0]!;
        organization["FlowRules"] = JsonNode.Parse($$"""
            {
              "Inbound": [
                { "Name": "held-scanner", "Action": "RunHook", "SenderPatterns": [ "held.test" ], "RecipientPatterns": [ "*" ],
                  "Hook": { "Url": "{{_hook.Url}}", "Synchronous": true, "FallbackAction": "MoveToJunk", "RuleTimeoutMinutes": 5, "Secret": "held-secret" } },
                { "Name": "impatient", "Action": "RunHook", "SenderPatterns": [ "impatient.test" ], "RecipientPatterns": [ "*" ],
                  "Hook": { "Url": "{{_hook.Url}}", "Synchronous": true, "FallbackAction": "MoveToJunk", "RuleTimeoutMinutes": 0 } }
              ],
              "Outbound": [
                { "Name": "out-scanner", "Action": "RunHook", "SenderPatterns": [ "alice@example.test" ], "RecipientPatterns": [ "*" ],
                  "Hook": { "Url": "{{_hook.Url}}", "Synchronous": true, "FallbackAction": "Default", "RuleTimeoutMinutes": 5 } }
              ]
            }
            """);
        organization["MessageFlowApi"] = JsonNode.Parse($$"""{ "Tokens": [ { "Token": "{{FlowToken}}", "Contexts": [ "incoming", "outgoing" ], "AllowUpdate": true } ] }""");
        File.WriteAllText(server.ConfigPath, root.ToJsonString()
            .Replace("\"PasswordHash\":null", $"\"PasswordHash\":\"{PasswordHasher.Hash(Password, iterations: 1000)}\""));
        await server.StartAsync();
        return server;
    }

    private static Task<IReadOnlyList<string>> SubjectsAsync(ServerProcess server, string user, string folder = "INBOX") =>
        FlowRulesInboundTests.SubjectsAsync(server, user, Password, folder);

    /// <summary>Polls until <paramref name="user"/>'s <paramref name="folder"/> has <paramref name="subject"/> (at most ~20 s).</summary>
    private static async Task<bool> ArrivesAsync(ServerProcess server, string user, string subject, string folder = "INBOX")
    {
        for (var i = 0; i < 100; i++)
        {
            if ((await SubjectsAsync(server, user, folder)).Contains(subject))
                return true;
            await Task.Delay(200);
        }
        return false;
    }

    private List<LoopbackHookReceiver.Received> CallsFor(string subject) =>
        _hook.Requests.Where(r => System.Text.Encoding.UTF8.GetString(r.Body).Contains(subject)).ToList();

    private static async Task<string> SubmitAsync(ServerProcess server, string subject, params string[] to)
    {
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", server.ListenerPorts.Submission, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync("alice@example.test", Password);
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice", "alice@example.test"));
        foreach (var address in to)
            message.To.Add(MailboxAddress.Parse(address));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "Held outbound.\r\n" };
        var reply = await client.SendAsync(message);
        await client.DisconnectAsync(true);
        return reply;
    }

    [Test]
    public async Task A_hook_that_is_down_then_up_keeps_the_message_held_and_listed_and_a_PUT_meanwhile_is_what_gets_delivered()
    {
        var subject = "flaky-" + Guid.NewGuid().ToString("N")[..8];
        var replies = await FlowRulesInboundTests.SendAsync(_server, "x@held.test", subject, "alice@example.test");
        Assert.That(replies[^2].Code, Is.EqualTo(250), "accepted before the hook decided");

        // While the hook fails the message is held: the admin sees it, and the hook's content can still be replaced.
        for (var i = 0; i < 100 && CallsFor(subject).Count < 1; i++)
            await Task.Delay(50);
        var held = await SendingEndToEndTests.CliAsync(_server, "queue", "held");
        using var anonymous = await new HttpClient().GetAsync($"http://127.0.0.1:{_server.ListenerPorts.Admin}/admin/queue/held");
        using var first = JsonDocument.Parse(CallsFor(subject)[0].Body);
        var url = $"http://127.0.0.1:{_server.ListenerPorts.Admin}/messageflow/{first.RootElement.GetProperty("messageId").GetString()}";
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", FlowToken);
        var original = await http.GetStringAsync(url);
        using var put = await http.PutAsync(url, new StringContent(original.Replace("Subject: flaky-", "Subject: replaced-"), System.Text.Encoding.ASCII, "message/rfc822"));

        var delivered = await ArrivesAsync(_server, "alice@example.test", subject.Replace("flaky-", "replaced-"));
        using var late = await http.PutAsync(url, new StringContent(original, System.Text.Encoding.ASCII, "message/rfc822"));
        var calls = CallsFor(subject);
        Assert.Multiple(() =>
        {
            Assert.That(held.Code, Is.Zero);
            Assert.That(held.Out, Does.Contain("inbound").And.Contain("rule held-scanner").And.Contain("<alice@example.test>").And.Contain("1 message(s) held"));
            Assert.That(held.Out, Does.Not.Contain("held-secret"));
            Assert.That(anonymous.StatusCode, Is.EqualTo(System.Net.HttpStatusCode.Unauthorized), "the held list needs the admin token");
            Assert.That(put.StatusCode, Is.EqualTo(System.Net.HttpStatusCode.NoContent), "PUT is allowed while the message is held");
            Assert.That(delivered, Is.True, "delivered after the hook came back, with the replaced content");
            Assert.That(late.StatusCode, Is.EqualTo(System.Net.HttpStatusCode.Conflict), "once decided, the content is final");
            Assert.That(calls, Has.Count.EqualTo(3), "two failures, then the answer");
            Assert.That(calls.Select(c => c.InvocationId).Distinct().Count(), Is.EqualTo(1), "one invocation id across retries");
            Assert.That(calls.All(c => c.Signature == MailServer.Server.Hooks.HookClient.Sign(c.Body, "held-secret")), Is.True);
            Assert.That(_server.Output, Does.Not.Contain("held-secret"));
        });
    }

    [Test]
    public async Task When_the_rule_timeout_passes_the_fallback_applies_to_every_recipient()
    {
        var subject = "down-" + Guid.NewGuid().ToString("N")[..8];
        var replies = await FlowRulesInboundTests.SendAsync(_server, "x@impatient.test", subject, "alice@example.test", "bob@example.test");

        Assert.That(replies[^2].Code, Is.EqualTo(250));
        Assert.That(await ArrivesAsync(_server, "alice@example.test", subject, "Junk E-mail"), Is.True, "MoveToJunk, the fallback");
        Assert.That(await ArrivesAsync(_server, "bob@example.test", subject, "Junk E-mail"), Is.True, "for every recipient");
        Assert.That(CallsFor(subject), Has.Count.EqualTo(1), "RuleTimeoutMinutes 0: no retries (§10.4)");
        Assert.That(await SubjectsAsync(_server, "alice@example.test"), Does.Not.Contain(subject));
    }

    [Test]
    public async Task The_client_gets_250_while_the_hook_has_not_answered_and_the_message_arrives_once_it_does()
    {
        var subject = "blocking-" + Guid.NewGuid().ToString("N")[..8];
        _gate.Reset();
        var replies = await FlowRulesInboundTests.SendAsync(_server, "x@held.test", subject, "alice@example.test");
        var beforeAnswer = await SubjectsAsync(_server, "alice@example.test");
        _gate.Set();

        Assert.That(replies[^2].Code, Is.EqualTo(250), "250 came while the hook was still blocked");
        Assert.That(beforeAnswer, Does.Not.Contain(subject), "held, not delivered, until the hook answers");
        Assert.That(await ArrivesAsync(_server, "alice@example.test", subject), Is.True);
    }

    [Test]
    public async Task An_outbound_hook_that_answers_BOUNCE_sends_the_sender_a_DSN_and_nothing_to_the_recipient()
    {
        var subject = "bounce-" + Guid.NewGuid().ToString("N")[..8];
        var reply = await SubmitAsync(_server, subject, "bob@example.test");

        Assert.That(reply, Does.StartWith("2.0.0"), "accepted and held; the hook decides later");
        // Other tests of this fixture bounce to alice too: wait for the DSN that names this message, not for any DSN.
        var texts = new List<string>();
        for (var attempt = 0; attempt < 60 && !texts.Any(t => t.Contains(subject) && t.Contains("Undelivered Mail Returned to Sender")); attempt++)
        {
            if (attempt > 0)
                await Task.Delay(500);
            using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
            await imap.ConnectAsync("127.0.0.1", _server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
            await imap.AuthenticateAsync("alice@example.test", Password);
            await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
            texts.Clear();
            for (var i = 0; i < imap.Inbox.Count; i++)
                texts.Add((await imap.Inbox.GetMessageAsync(i)).ToString());
            await imap.DisconnectAsync(true);
        }
        Assert.That(texts.Where(t => t.Contains(subject)), Has.Some.Contain("blocked by your organization's administrator (email flow rule out-scanner)")
            .And.Some.Contain("bob@example.test"));
        Assert.That(await SubjectsAsync(_server, "bob@example.test"), Does.Not.Contain(subject));
    }

    [Test]
    public async Task An_outbound_hook_that_answers_DROP_for_one_recipient_sends_to_the_others_only()
    {
        var subject = "drop-" + Guid.NewGuid().ToString("N")[..8];
        var reply = await SubmitAsync(_server, subject, "bob@example.test", "alice@example.test");

        Assert.That(reply, Does.StartWith("2.0.0"));
        Assert.That(await ArrivesAsync(_server, "alice@example.test", subject), Is.True, "DEFAULT for alice");
        Assert.That(await SubjectsAsync(_server, "bob@example.test"), Does.Not.Contain(subject), "DROP for bob, the sender not told");
    }

    [Test]
    public async Task A_held_message_survives_kill_9_and_is_resumed_with_the_same_invocation_id_and_trace()
    {
        await using var server = await CreateServerAsync();
        var subject = "restart-" + Guid.NewGuid().ToString("N")[..8];
        _restartHookUp = false;
        var replies = await FlowRulesInboundTests.SendAsync(server, "x@held.test", subject, "alice@example.test");
        for (var i = 0; i < 100 && CallsFor(subject).Count < 1; i++)
            await Task.Delay(50);
        await server.KillAsync();
        _restartHookUp = true;
        await server.StartAsync();

        var delivered = await ArrivesAsync(server, "alice@example.test", subject);
        var calls = CallsFor(subject);
        var events = server.EventLogLines();
        var ruleApplied = events.Single(e => (string)e["event"]!["eventName"]! == "RULE_APPLIED");
        var trace = (string)ruleApplied["traceId"]!;
        Assert.Multiple(() =>
        {
            Assert.That(replies[^2].Code, Is.EqualTo(250));
            Assert.That(delivered, Is.True, "resumed after the restart");
            Assert.That(calls, Has.Count.GreaterThanOrEqualTo(2), "a failed call before the kill, the answer after it");
            Assert.That(calls.Select(c => c.InvocationId).Distinct().Count(), Is.EqualTo(1), "the same invocation id across the restart");
            Assert.That(server.Output, Does.Contain("Resumed 1 message(s) held for synchronous hooks"));
            Assert.That(events.Where(e => (string)e["event"]!["eventName"]! == "MAILBOX_EMAIL_DELIVERED").Select(e => (string)e["traceId"]!),
                Is.EqualTo(new[] { trace }), "the delivery after the restart shares the message's trace id");
        });
    }

    [Test]
    public async Task A_hooks_bounceMessage_is_the_text_of_the_bounce_the_sender_gets()
    {
        // §10.3: "This bounce message is used to create the bounce email message."
        var subject = "bouncetext-" + Guid.NewGuid().ToString("N")[..8];
        var reply = await SubmitAsync(_server, subject, "bob@example.test", "alice@example.test");

        Assert.That(reply, Does.StartWith("2.0.0"));
        Assert.That(await ArrivesAsync(_server, "alice@example.test", subject), Is.True, "DEFAULT for the other recipient");
        Assert.That(await ArrivesAsync(_server, "alice@example.test", "Undelivered Mail Returned to Sender"), Is.True);
        var texts = await InboxTextsAsync("alice@example.test");
        Assert.Multiple(() =>
        {
            Assert.That(texts.Where(t => t.Contains(subject) && t.Contains("Undelivered")), Has.Some.Contain("Email in breach of company policy.")
                .And.None.Contain("blocked by your organization's administrator"), "the hook's text, not the rule's default");
        });
        Assert.That(await SubjectsAsync(_server, "bob@example.test"), Does.Not.Contain(subject));
    }

    [Test]
    public async Task Recipients_an_outbound_hook_adds_are_delivered()
    {
        // §10.3: new recipients may be added; only inbound additions are restricted to the organization (as BCC).
        var subject = "addrcpt-" + Guid.NewGuid().ToString("N")[..8];
        var reply = await SubmitAsync(_server, subject, "alice@example.test");

        Assert.That(reply, Does.StartWith("2.0.0"));
        Assert.That(await ArrivesAsync(_server, "alice@example.test", subject), Is.True, "the original recipient");
        Assert.That(await ArrivesAsync(_server, "bob@example.test", subject), Is.True, "the recipient the hook added");
    }

    private async Task<List<string>> InboxTextsAsync(string user)
    {
        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await imap.ConnectAsync("127.0.0.1", _server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
        await imap.AuthenticateAsync(user, Password);
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var texts = new List<string>();
        for (var i = 0; i < imap.Inbox.Count; i++)
            texts.Add((await imap.Inbox.GetMessageAsync(i)).ToString());
        await imap.DisconnectAsync(true);
        return texts;
    }
}
