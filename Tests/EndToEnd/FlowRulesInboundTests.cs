using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using MailServer.Server.Security;
using MailServer.Tests.Rules.Hooks;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Inbound flow rules through the real server: SMTP transcripts on the MX port, then what the store holds.
/// One server per fixture; each test uses its own sender domain so rules do not interfere.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class FlowRulesInboundTests
{
    private const string Password = "Flow-Rules-Test-1";
    private const string ReadToken = "0123456789abcdef0123456789abcdef-incoming";
    private const string OutgoingToken = "0123456789abcdef0123456789abcdef-outgoing";
    private ServerProcess _server = null!;
    private LoopbackHookReceiver _hook = null!;
    private LoopbackHookReceiver _syncHook = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _hook = new LoopbackHookReceiver((_, _) => new LoopbackHookReceiver.Reply(200, "{}"));
        // The synchronous hook rewrites the subject through the message flow API, then drops bob.
        _syncHook = new LoopbackHookReceiver((_, request) =>
        {
            using var e = JsonDocument.Parse(request.Body);
            var url = $"http://127.0.0.1:{_server.ListenerPorts.Admin}/messageflow/{e.RootElement.GetProperty("messageId").GetString()}";
            using var http = new HttpClient();
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ReadToken);
            var original = http.GetStringAsync(url).GetAwaiter().GetResult();
            var rewritten = original.Replace("Subject: synced-", "Subject: rewritten-");
            using var put = http.PutAsync(url, new StringContent(rewritten, System.Text.Encoding.ASCII, "message/rfc822")).GetAwaiter().GetResult();
            return put.StatusCode == HttpStatusCode.NoContent
                ? new LoopbackHookReceiver.Reply(200, """{"actions":[{"action":{"type":"DROP"},"recipients":["bob@example.test"]},{"action":{"type":"DEFAULT"},"allRecipients":true}]}""")
                : new LoopbackHookReceiver.Reply(500, "");
        });
        _server = ServerProcess.Create();
        var root = JsonNode.Parse(File.ReadAllText(_server.ConfigPath))!;
        root["MailServer"]!["Organizations"]![0]!["FlowRules"] = JsonNode.Parse($$"""
            {
              "Inbound": [
                { "Name": "drop-spam", "Action": "Drop", "SenderPatterns": [ "*.drop.test" ], "RecipientPatterns": [ "*" ] },
                { "Name": "boss-ok", "Action": "Default", "SenderPatterns": [ "boss@x.drop.test" ], "RecipientPatterns": [ "*" ] },
                { "Name": "bounce-all", "Action": "Bounce", "SenderPatterns": [ "bounce.test" ], "RecipientPatterns": [ "*" ] },
                { "Name": "bounce-bob", "Action": "Bounce", "SenderPatterns": [ "split.test" ], "RecipientPatterns": [ "bob@example.test" ] },
                { "Name": "junk", "Action": "MoveToJunk", "SenderPatterns": [ "junk.test" ], "RecipientPatterns": [ "*" ] },
                { "Name": "vip", "Action": "BypassSpamCheck", "SenderPatterns": [ "vip.test" ], "RecipientPatterns": [ "alice@example.test" ] },
                { "Name": "scanner", "Action": "RunHook", "SenderPatterns": [ "synced.test" ], "RecipientPatterns": [ "*" ],
                  "Hook": { "Url": "{{_syncHook.Url}}", "Synchronous": true, "FallbackAction": "MoveToJunk", "RuleTimeoutMinutes": 5 } },
                { "Name": "metrics", "Action": "RunHook", "SenderPatterns": [ "hooked.test" ], "RecipientPatterns": [ "*" ],
                  "Hook": { "Url": "{{_hook.Url}}", "Synchronous": false, "Secret": "shh" } }
              ],
              "Outbound": []
            }
            """);
        root["MailServer"]!["Organizations"]![0]!["MessageFlowApi"] = JsonNode.Parse($$"""
            { "Tokens": [ { "Token": "{{ReadToken}}", "Contexts": [ "incoming" ], "AllowUpdate": true },
                          { "Token": "{{OutgoingToken}}", "Contexts": [ "outgoing" ] } ] }
            """);
        File.WriteAllText(_server.ConfigPath, root.ToJsonString()
            .Replace("\"PasswordHash\":null", $"\"PasswordHash\":\"{PasswordHasher.Hash(Password, iterations: 1000)}\""));
        await _server.StartAsync();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _server.DisposeAsync();
        _hook.Dispose();
        _syncHook.Dispose();
    }

    private Task<IReadOnlyList<SmtpLineReply>> SendAsync(string from, string subject, params string[] recipients) =>
        SendAsync(_server, from, subject, recipients);

    private Task<IReadOnlyList<string>> SubjectsAsync(string user, string folder) => SubjectsAsync(_server, user, Password, folder);

    /// <summary>One message to <paramref name="server"/>'s MX port, EHLO to QUIT; the replies in order.</summary>
    internal static async Task<IReadOnlyList<SmtpLineReply>> SendAsync(ServerProcess server, string from, string subject, params string[] recipients)
    {
        var (client, _) = await SmtpLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Smtp));
        await using var _c = client;
        var replies = new List<SmtpLineReply>
        {
            await client.CommandAsync("EHLO client.test"),
            await client.CommandAsync($"MAIL FROM:<{from}>"),
        };
        foreach (var r in recipients)
            replies.Add(await client.CommandAsync($"RCPT TO:<{r}>"));
        replies.Add(await client.CommandAsync("DATA"));
        replies.Add(await client.CommandAsync(
            $"From: <{from}>\r\nDate: {DateTimeOffset.UtcNow.ToString("ddd, dd MMM yyyy HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture)} +0000\r\nTo: {string.Join(", ", recipients.Select(r => $"<{r}>"))}\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@client.test>\r\n\r\nbody\r\n."));
        replies.Add(await client.CommandAsync("QUIT"));
        return replies;
    }

    /// <summary>The subjects in <paramref name="folder"/> of <paramref name="user"/>'s mailbox, over IMAP.</summary>
    internal static async Task<IReadOnlyList<string>> SubjectsAsync(ServerProcess server, string user, string password, string folder)
    {
        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 15000 };
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imap, SecureSocketOptions.StartTls);
                break;
            }
            catch (System.Net.Sockets.SocketException) when (attempt < 100)
            {
                await Task.Delay(100);
            }
        }
        await imap.AuthenticateAsync(user, password);
        var f = folder == "INBOX" ? imap.Inbox : await imap.GetFolderAsync(folder);
        await f.OpenAsync(FolderAccess.ReadOnly);
        IReadOnlyList<string> subjects = f.Count == 0 ? [] : (await f.FetchAsync(0, -1, MessageSummaryItems.Envelope)).Select(m => m.Envelope?.Subject ?? "").ToList();
        await imap.DisconnectAsync(true);
        return subjects;
    }

    [Test]
    public async Task Drop_accepts_and_stores_nothing_while_a_more_specific_Default_delivers()
    {
        var dropped = await SendAsync("x@a.drop.test", "dropped-" + Guid.NewGuid().ToString("N")[..6], "alice@example.test");
        var boss = "boss-" + Guid.NewGuid().ToString("N")[..6];
        var delivered = await SendAsync("boss@x.drop.test", boss, "alice@example.test");
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(dropped[^2].Code, Is.EqualTo(250), "the sender is not told (§9.2 Drop)");
            Assert.That(delivered[^2].Code, Is.EqualTo(250));
            Assert.That(await SubjectsAsync("alice@example.test", "INBOX"), Does.Contain(boss).And.None.StartsWith("dropped-"));
        });
    }

    [Test]
    public async Task Bounce_for_every_recipient_is_refused_in_the_session()
    {
        var replies = await SendAsync("x@bounce.test", "bounced", "alice@example.test", "bob@example.test");
        Assert.That(replies.Select(r => r.Code), Is.EqualTo(new[] { 250, 250, 250, 250, 354, 550, 221 }));
        Assert.That(replies[^2].Text, Does.StartWith("5.7.1 Message refused"));
    }

    [Test]
    public async Task Bounce_for_some_recipients_delivers_to_the_others_and_sends_no_backscatter()
    {
        var subject = "split-" + Guid.NewGuid().ToString("N")[..6];
        var replies = await SendAsync("x@split.test", subject, "alice@example.test", "bob@example.test");
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(replies[^2].Code, Is.EqualTo(250));
            Assert.That(await SubjectsAsync("alice@example.test", "INBOX"), Does.Contain(subject));
            Assert.That(await SubjectsAsync("bob@example.test", "INBOX"), Does.Not.Contain(subject));
        });
    }

    [Test]
    public async Task MoveToJunk_files_in_Junk_Email_and_BypassSpamCheck_in_the_Inbox()
    {
        var junk = "junk-" + Guid.NewGuid().ToString("N")[..6];
        var vip = "vip-" + Guid.NewGuid().ToString("N")[..6];
        await SendAsync("x@junk.test", junk, "alice@example.test");
        await SendAsync("x@vip.test", vip, "alice@example.test");
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(await SubjectsAsync("alice@example.test", "Junk E-mail"), Does.Contain(junk));
            Assert.That(await SubjectsAsync("alice@example.test", "INBOX"), Does.Contain(vip).And.Not.Contain(junk));
        });
    }

    [Test]
    public async Task An_async_hook_gets_the_signed_event_and_delivery_goes_on()
    {
        var subject = "hooked-" + Guid.NewGuid().ToString("N")[..6];
        var replies = await SendAsync("x@hooked.test", subject, "alice@example.test", "team@example.test");
        Assert.That(replies[^2].Code, Is.EqualTo(250));
        LoopbackHookReceiver.Received? request = null;
        for (var i = 0; i < 100 && request is null; i++)
        {
            request = _hook.Requests.FirstOrDefault(r => System.Text.Encoding.UTF8.GetString(r.Body).Contains(subject));
            if (request is null)
                await Task.Delay(50);
        }
        Assert.That(request, Is.Not.Null, "the hook was called");
        using var doc = JsonDocument.Parse(request!.Body);
        var e = doc.RootElement;
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(e.GetProperty("flowDirection").GetString(), Is.EqualTo("INBOUND"));
            Assert.That(e.GetProperty("envelope").GetProperty("mailFrom").GetProperty("address").GetString(), Is.EqualTo("x@hooked.test"));
            Assert.That(e.GetProperty("envelope").GetProperty("recipients").EnumerateArray().Select(r => r.GetProperty("address").GetString()),
                Is.EqualTo(new[] { "alice@example.test", "team@example.test" }));
            Assert.That(request.Signature, Is.EqualTo(MailServer.Server.Hooks.HookClient.Sign(request.Body, "shh")));
            Assert.That(await SubjectsAsync("alice@example.test", "INBOX"), Does.Contain(subject));
        });
    }

    [Test]
    public async Task The_message_flow_api_serves_the_hooked_message_to_a_scoped_token()
    {
        var subject = "flowapi-" + Guid.NewGuid().ToString("N")[..6];
        await SendAsync("x@hooked.test", subject, "alice@example.test");
        LoopbackHookReceiver.Received? request = null;
        for (var i = 0; i < 100 && request is null; i++)
        {
            request = _hook.Requests.FirstOrDefault(r => System.Text.Encoding.UTF8.GetString(r.Body).Contains(subject));
            if (request is null)
                await Task.Delay(50);
        }
        Assert.That(request, Is.Not.Null, "the hook was called");
        using var doc = JsonDocument.Parse(request!.Body);
        var url = $"http://127.0.0.1:{_server.ListenerPorts.Admin}/messageflow/{doc.RootElement.GetProperty("messageId").GetString()}";
        using var http = new HttpClient();
        async Task<HttpResponseMessage> Call(HttpMethod method, string? token, string? body = null)
        {
            using var message = new HttpRequestMessage(method, url);
            if (token is not null)
                message.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            if (body is not null)
                message.Content = new StringContent(body, System.Text.Encoding.ASCII, "message/rfc822");
            return await http.SendAsync(message);
        }

        using var ok = await Call(HttpMethod.Get, ReadToken);
        var content = await ok.Content.ReadAsStringAsync();
        using var anonymous = await Call(HttpMethod.Get, null);
        using var wrongToken = await Call(HttpMethod.Get, "not-a-token-of-anyone-0000000000000000");
        using var otherContext = await Call(HttpMethod.Get, OutgoingToken);
        using var badMime = await Call(HttpMethod.Put, ReadToken, "Subject: no from or date\r\n\r\nbody\r\n");
        var badMimeBody = await badMime.Content.ReadAsStringAsync();
        using var notHeld = await Call(HttpMethod.Put, ReadToken, "From: a@b.test\r\nDate: Sat, 28 Nov 2026 01:00:00 +0000\r\nSubject: new\r\n\r\nbody\r\n");
        using var unknown = await new HttpClient().SendAsync(new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{_server.ListenerPorts.Admin}/messageflow/{Guid.NewGuid()}")
            { Headers = { Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ReadToken) } });
        Assert.Multiple(() =>
        {
            Assert.That(ok.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(ok.Content.Headers.ContentType?.MediaType, Is.EqualTo("message/rfc822"));
            Assert.That(content, Does.Contain($"Subject: {subject}"));
            Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(wrongToken.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(otherContext.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That(badMime.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(badMimeBody, Does.Contain("From"));
            Assert.That(notHeld.StatusCode, Is.EqualTo(HttpStatusCode.Conflict), "only a synchronous hook's message can be replaced");
            Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        });
    }

    [Test]
    public async Task A_synchronous_hook_replaces_the_content_and_decides_per_recipient()
    {
        var marker = Guid.NewGuid().ToString("N")[..8];
        var replies = await SendAsync("x@synced.test", "synced-" + marker, "alice@example.test", "bob@example.test");
        Assert.That(replies[^2].Code, Is.EqualTo(250));
        // Held, then decided by the worker (§10.5): wait for the outcome a user would see.
        for (var i = 0; i < 100 && !(await SubjectsAsync("alice@example.test", "INBOX")).Contains("rewritten-" + marker); i++)
            await Task.Delay(100);
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(_server.Output, Does.Not.Match(@"Hook scanner invocation \S+ attempt \d+ failed"), "the hook answered at the first attempt");
            Assert.That(_syncHook.Requests, Has.Count.GreaterThanOrEqualTo(1));
            Assert.That(await SubjectsAsync("alice@example.test", "INBOX"), Does.Contain("rewritten-" + marker).And.Not.Contain("synced-" + marker),
                "the PUT content is what was delivered");
            Assert.That(await SubjectsAsync("bob@example.test", "INBOX"), Has.None.EndsWith(marker), "the hook dropped bob");
            Assert.That(await SubjectsAsync("bob@example.test", "Junk E-mail"), Has.None.EndsWith(marker));
        });
    }
}
