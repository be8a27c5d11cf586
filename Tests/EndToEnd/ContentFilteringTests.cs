using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Server.Security;
using MailServer.Tests.Support;
using MimeKit;
using MailServer.Tests.Rules.Hooks;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Spam and virus filtering (§13) with the real engines: the real server on ephemeral ports, the run's rspamd, redis and
/// clamd (<see cref="ContentEngines"/>), SMTP transcripts on the MX and submission ports, then what the store, the
/// event log and the server log hold. One server for the fixture, filtering on with FailMode Open.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class ContentFilteringTests
{
    internal const string Password = "Content-Filter-Test-1";
    private ServerProcess _server = null!;
    private ContentEngines _engines = null!;
    private LoopbackHookReceiver _hook = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _engines = await ContentEngines.GetAsync();
        // The synchronous hook of senders at held.test: holds the message, then lets it go on (DEFAULT).
        _hook = new LoopbackHookReceiver((_, _) => new(200, """{"actions":[{"action":{"type":"DEFAULT"},"allRecipients":true}]}"""));
        _server = ServerProcess.Create();
        Configure(_server, _engines, $$"""
            { "RspamdUrl": "{{_engines.RspamdUrl}}", "RspamdControllerUrl": "{{_engines.RspamdControllerUrl}}",
              "ClamdAddress": "{{_engines.ClamdAddress}}", "TimeoutSeconds": 15, "FailMode": "Open", "OutboundSpamPerHour": 2 }
            """, _hook.Url);
        await _server.StartAsync(TimeSpan.FromSeconds(120)); // a loaded machine can take more than the default 30 s
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _server.DisposeAsync();
        _hook.Dispose();
    }

    /// <summary>Writes the ContentFiltering section, a BypassSpamCheck and a MoveToJunk rule, and a known password.</summary>
    internal static void Configure(ServerProcess server, ContentEngines? engines, string contentFiltering, Uri? hookUrl = null)
    {
        var root = JsonNode.Parse(File.ReadAllText(server.ConfigPath))!;
        root["MailServer"]!["ContentFiltering"] = JsonNode.Parse(contentFiltering);
        var held = hookUrl is null ? "" :
            ",\n{ \"Name\": \"held\", \"Action\": \"RunHook\", \"SenderPatterns\": [ \"held.test\" ], \"RecipientPatterns\": [ \"*\" ], " +
            $"\"Hook\": {{ \"Url\": \"{hookUrl}\", \"Synchronous\": true, \"FallbackAction\": \"Default\", \"RuleTimeoutMinutes\": 5 }} }}";
        root["MailServer"]!["Organizations"]![0]!["FlowRules"] = JsonNode.Parse($$"""
            {
              "Inbound": [
                { "Name": "vip", "Action": "BypassSpamCheck", "SenderPatterns": [ "vip.test" ], "RecipientPatterns": [ "*" ] },
                { "Name": "junk", "Action": "MoveToJunk", "SenderPatterns": [ "junk.test" ], "RecipientPatterns": [ "*" ] }{{held}}
              ],
              "Outbound": []
            }
            """);
        File.WriteAllText(server.ConfigPath, root.ToJsonString()
            .Replace("\"PasswordHash\":null", $"\"PasswordHash\":\"{PasswordHasher.Hash(Password, iterations: 1000)}\""));
    }

    /// <summary>A message with <paramref name="body"/> as its text (and an EICAR attachment when asked).</summary>
    internal static string Message(string from, string to, string subject, string body, bool eicarAttachment = false, string extraHeaders = "")
    {
        var head = $"From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {DateTimeOffset.UtcNow:ddd, dd MMM yyyy HH:mm:ss} +0000\r\n" +
                   $"Message-ID: <{Guid.NewGuid():N}@client.test>\r\n{extraHeaders}MIME-Version: 1.0\r\n";
        if (!eicarAttachment)
            return head + "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + body + "\r\n";
        return head + "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n" + body + "\r\n" +
               "--b1\r\nContent-Type: application/octet-stream; name=\"invoice.com\"\r\nContent-Disposition: attachment; filename=\"invoice.com\"\r\n" +
               "Content-Transfer-Encoding: base64\r\n\r\n" + Convert.ToBase64String(Encoding.ASCII.GetBytes(ContentEngines.Eicar)) + "\r\n--b1--\r\n";
    }

    /// <summary>One message on the MX port, EHLO to QUIT; the replies in order.</summary>
    internal static async Task<IReadOnlyList<SmtpLineReply>> SendAsync(ServerProcess server, string from, string to, string message)
    {
        var (client, _) = await SmtpLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Smtp));
        await using var _c = client;
        var replies = new List<SmtpLineReply>
        {
            await client.CommandAsync("EHLO client.test"),
            await client.CommandAsync($"MAIL FROM:<{from}>"),
            await client.CommandAsync($"RCPT TO:<{to}>"),
            await client.CommandAsync("DATA"),
            await client.CommandAsync(message.TrimEnd('\r', '\n') + "\r\n."),
            await client.CommandAsync("QUIT"),
        };
        return replies;
    }

    /// <summary>The messages in <paramref name="folder"/> of <paramref name="user"/>'s mailbox whose subject is <paramref name="subject"/>.</summary>
    internal static async Task<IReadOnlyList<MimeMessage>> FindAsync(ServerProcess server, string user, string folder, string subject)
    {
        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 15000 };
        await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imap, SecureSocketOptions.StartTls);
        await imap.AuthenticateAsync(user, Password);
        var f = folder == "INBOX" ? imap.Inbox : await imap.GetFolderAsync(folder);
        await f.OpenAsync(FolderAccess.ReadOnly);
        var found = new List<MimeMessage>();
        foreach (var uid in await f.SearchAsync(MailKit.Search.SearchQuery.SubjectContains(subject)))
            found.Add(await f.GetMessageAsync(uid));
        await imap.DisconnectAsync(true);
        return found;
    }

    /// <summary>The ORGANIZATION_EMAIL_RECEIVED event of the message with <paramref name="subject"/>, waited for.</summary>
    private async Task<JsonObject> ReceivedEventAsync(string subject)
    {
        for (var i = 0; ; i++)
        {
            var e = _server.EventLogLines().Select(l => l["event"]!.AsObject())
                .FirstOrDefault(e => (string?)e["eventName"] == "ORGANIZATION_EMAIL_RECEIVED" && (string?)e["subject"] == subject);
            if (e is not null || i == 50)
                return e ?? throw new AssertionException($"no ORGANIZATION_EMAIL_RECEIVED for {subject}");
            await Task.Delay(100);
        }
    }

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    [Test]
    public async Task A_clean_message_lands_in_the_Inbox_with_our_verdict_fields_and_verdicts_in_the_event_log()
    {
        var subject = Unique("clean");
        var replies = await SendAsync(_server, "carol@partner.test", "alice@example.test",
            Message("carol@partner.test", "alice@example.test", subject, "Lunch on Thursday at noon? The usual place near the office."));
        Assert.That(replies.Select(r => r.Code), Is.EqualTo(new[] { 250, 250, 250, 354, 250, 221 }));
        var stored = (await FindAsync(_server, "alice@example.test", "INBOX", subject)).Single();
        var received = await ReceivedEventAsync(subject);
        Assert.Multiple(() =>
        {
            Assert.That(stored.Headers["X-Spam-Flag"], Is.EqualTo("NO"));
            Assert.That(stored.Headers["X-Spam-Action"], Does.StartWith("no action"));
            Assert.That(stored.Headers["X-Virus-Scanned"], Does.StartWith("ClamAV"));
            Assert.That((string?)received["spamVerdict"], Is.EqualTo("PASS"));
            Assert.That((string?)received["virusVerdict"], Is.EqualTo("PASS"));
            Assert.That((string?)received["spamAction"], Is.EqualTo("no action"));
            Assert.That(received["spamScore"], Is.Not.Null);
        });
    }

    [Test]
    public async Task GTUBE_is_refused_in_the_session_and_nothing_is_stored()
    {
        var subject = Unique("gtube");
        var replies = await SendAsync(_server, "spammer@bulk.test", "alice@example.test",
            Message("spammer@bulk.test", "alice@example.test", subject, ContentEngines.GtubeReject));
        Assert.That(replies.Select(r => r.Code), Is.EqualTo(new[] { 250, 250, 250, 354, 550, 221 }));
        Assert.That(replies[4].Text, Is.EqualTo("5.7.1 Message refused as spam"));
        Assert.That(await FindAsync(_server, "alice@example.test", "INBOX", subject), Is.Empty);
        Assert.That(await FindAsync(_server, "alice@example.test", "Junk E-mail", subject), Is.Empty);
        var received = await ReceivedEventAsync(subject);
        Assert.That((string?)received["spamVerdict"], Is.EqualTo("FAIL"));
        Assert.That(received["spamSymbols"]!.AsArray().Select(s => (string?)s), Does.Contain("GTUBE"));
    }

    [Test]
    public async Task Add_header_and_rewrite_subject_land_in_Junk_Email_with_the_verdict()
    {
        var addHeader = Unique("addheader");
        var rewrite = Unique("rewrite");
        var r1 = await SendAsync(_server, "bulk@bulk.test", "alice@example.test",
            Message("bulk@bulk.test", "alice@example.test", addHeader, ContentEngines.GtubeAddHeader));
        var r2 = await SendAsync(_server, "bulk@bulk.test", "alice@example.test",
            Message("bulk@bulk.test", "alice@example.test", rewrite, ContentEngines.GtubeRewriteSubject));
        Assert.That((r1[4].Code, r2[4].Code), Is.EqualTo((250, 250)));
        var junk = (await FindAsync(_server, "alice@example.test", "Junk E-mail", addHeader)).Single();
        Assert.Multiple(async () =>
        {
            Assert.That(junk.Headers["X-Spam-Flag"], Is.EqualTo("YES"));
            Assert.That(junk.Headers["X-Spam-Symbols"], Does.Contain("GTUBE"));
            Assert.That(await FindAsync(_server, "alice@example.test", "Junk E-mail", rewrite), Has.Count.EqualTo(1));
            Assert.That(await FindAsync(_server, "alice@example.test", "INBOX", addHeader), Is.Empty);
            Assert.That((string?)(await ReceivedEventAsync(addHeader))["spamVerdict"], Is.EqualTo("FAIL"));
        });
    }

    [Test]
    public async Task Spam_held_for_a_synchronous_hook_still_goes_to_Junk_when_the_hook_lets_it_through()
    {
        // The release of a held message is not scanned again: the verdict of when it arrived must come with it.
        var subject = Unique("held-spam");
        var replies = await SendAsync(_server, "offers@held.test", "alice@example.test",
            Message("offers@held.test", "alice@example.test", subject, ContentEngines.GtubeAddHeader));
        Assert.That(replies[4].Code, Is.EqualTo(250), "held for the hook");
        IReadOnlyList<MimeMessage> junk = [];
        for (var i = 0; i < 60 && junk.Count == 0; i++)
        {
            if (i > 0)
                await Task.Delay(500);
            junk = await FindAsync(_server, "alice@example.test", "Junk E-mail", subject);
        }
        Assert.Multiple(async () =>
        {
            Assert.That(junk, Has.Count.EqualTo(1), "released by DEFAULT, filed by the verdict it was held with");
            Assert.That(await FindAsync(_server, "alice@example.test", "INBOX", subject), Is.Empty);
            Assert.That(_hook.Requests, Is.Not.Empty, "the hook was asked");
        });
    }

    [Test]
    public async Task BypassSpamCheck_delivers_spam_to_the_Inbox_and_MoveToJunk_files_clean_mail_in_Junk()
    {
        var bypassed = Unique("bypassed");
        var forced = Unique("forced");
        await SendAsync(_server, "news@vip.test", "alice@example.test", Message("news@vip.test", "alice@example.test", bypassed, ContentEngines.GtubeAddHeader));
        await SendAsync(_server, "news@junk.test", "alice@example.test",
            Message("news@junk.test", "alice@example.test", forced, "A perfectly ordinary note about the quarterly report and its figures."));
        Assert.Multiple(async () =>
        {
            Assert.That(await FindAsync(_server, "alice@example.test", "INBOX", bypassed), Has.Count.EqualTo(1), "§9.2: BypassSpamCheck wins over a spam verdict");
            Assert.That(await FindAsync(_server, "alice@example.test", "Junk E-mail", forced), Has.Count.EqualTo(1), "§9.2: MoveToJunk even when not spam");
        });
    }

    [Test]
    public async Task A_virus_is_refused_with_554_naming_nothing_of_it_even_for_a_BypassSpamCheck_sender()
    {
        var subject = Unique("virus");
        var replies = await SendAsync(_server, "friend@vip.test", "alice@example.test",
            Message("friend@vip.test", "alice@example.test", subject, "Please see the attached invoice.", eicarAttachment: true));
        Assert.That(replies.Select(r => r.Code), Is.EqualTo(new[] { 250, 250, 250, 354, 554, 221 }));
        Assert.That(replies[4].Text, Is.EqualTo("5.7.1 Message refused: it contains a virus"));
        Assert.That(replies[4].Text, Does.Not.Contain("Eicar").IgnoreCase);
        Assert.That(await FindAsync(_server, "alice@example.test", "INBOX", subject), Is.Empty, "§13: blocked before rules, BypassSpamCheck does not apply");
        Assert.That(await _server.WaitForOutputAsync(ContentEngines.EicarSignature, TimeSpan.FromSeconds(5)), Is.True, "the signature is in our log");
        Assert.That((string?)(await ReceivedEventAsync(subject))["virusVerdict"], Is.EqualTo("FAIL"));
    }

    [Test]
    public async Task Spoofed_verdict_fields_are_removed_and_ours_stand_alone()
    {
        var subject = Unique("spoofed");
        await SendAsync(_server, "trick@bulk.test", "alice@example.test", Message("trick@bulk.test", "alice@example.test", subject,
            ContentEngines.GtubeAddHeader, extraHeaders: "X-Spam-Flag: NO\r\nX-Spam-Status: No, score=-100\r\nX-Spam-Score: -100\r\nX-Virus-Scanned: clean by trust-me\r\n"));
        var stored = (await FindAsync(_server, "alice@example.test", "Junk E-mail", subject)).Single();
        Assert.Multiple(() =>
        {
            Assert.That(stored.Headers.Where(h => h.Field == "X-Spam-Flag").Select(h => h.Value.Trim()), Is.EqualTo(new[] { "YES" }));
            Assert.That(stored.Headers.Contains("X-Spam-Status"), Is.False);
            Assert.That(stored.Headers.Where(h => h.Field == "X-Spam-Score").Select(h => h.Value), Has.None.Contains("-100"));
            Assert.That(stored.Headers.Where(h => h.Field == "X-Virus-Scanned").Select(h => h.Value), Has.None.Contains("trust-me"));
        });
    }

    [Test]
    public async Task Submission_refuses_a_virus_and_throttles_an_account_that_sends_spam()
    {
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", _server.ListenerPorts.Submission, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync("bob@example.test", Password);
        MimeMessage Load(string text) => MimeMessage.Load(new MemoryStream(Encoding.ASCII.GetBytes(text)));

        var virus = Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(
            Load(Message("bob@example.test", "someone@elsewhere.test", Unique("out-virus"), "Here you go.", eicarAttachment: true))));
        Assert.That(((int)virus!.StatusCode, virus.Message), Is.EqualTo((554, "5.7.1 Message refused: it contains a virus")));

        // Spam-scored submissions count; at OutboundSpamPerHour (2 here) the account's next submission is deferred.
        await client.SendAsync(Load(Message("bob@example.test", "alice@example.test", Unique("out-spam1"), ContentEngines.GtubeAddHeader)));
        await client.SendAsync(Load(Message("bob@example.test", "alice@example.test", Unique("out-spam2"), ContentEngines.GtubeAddHeader)));
        var throttled = Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(
            Load(Message("bob@example.test", "alice@example.test", Unique("out-clean"), "A clean message after the spam."))));
        Assert.That((int)throttled!.StatusCode, Is.EqualTo(451));
        Assert.That(throttled.Message, Does.StartWith("4.7.1"));
        Assert.That(_server.Output, Does.Contain("Possible compromised account: bob@example.test"));
        await client.DisconnectAsync(true);
    }

    [Test]
    public async Task Moving_mail_into_and_out_of_Junk_Email_teaches_rspamd_and_a_similar_message_then_goes_to_Junk()
    {
        const string spamText = "Buy cheap pharmacy pills online without prescription. Discount viagra cialis\r\n" +
                                "tramadol available now, fast worldwide shipping, lowest prices guaranteed.\r\n" +
                                "Order today and save ninety percent on all medications, limited offer.";
        const string hamText = "Hi Alice, here are the minutes from yesterday's project meeting. We agreed\r\n" +
                               "to move the release to next Thursday and Carol will update the schedule and\r\n" +
                               "the budget spreadsheet. Let me know if I missed anything from the discussion.";
        var before = Unique("pharma-before");
        await SendAsync(_server, "deals@pharma.test", "alice@example.test", Message("deals@pharma.test", "alice@example.test", before, spamText));
        var beforeStored = (await FindAsync(_server, "alice@example.test", "INBOX", before)).Single();
        Assert.That(beforeStored.Headers["X-Spam-Symbols"] ?? "", Does.Not.Contain("BAYES_SPAM"), "rspamd knows nothing of this text yet");

        // Alice moves two such messages into Junk E-mail, and two messages that were filed there out of it.
        var spam1 = Unique("pharma-one");
        var spam2 = Unique("pharma-two");
        await SendAsync(_server, "deals@pharma.test", "alice@example.test", Message("deals@pharma.test", "alice@example.test", spam1, spamText));
        await SendAsync(_server, "deals@pharma.test", "alice@example.test", Message("deals@pharma.test", "alice@example.test", spam2, spamText + "\r\nLast call!"));
        using (var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 15000 })
        {
            await imap.ConnectAsync("127.0.0.1", _server.ListenerPorts.Imap, SecureSocketOptions.StartTls);
            await imap.AuthenticateAsync("alice@example.test", Password);
            var junk = await imap.GetFolderAsync("Junk E-mail");
            foreach (var (subject, text) in new[] { (Unique("minutes-one"), hamText), (Unique("minutes-two"), hamText + "\r\nThanks, Bob") })
                await junk.AppendAsync(MimeMessage.Load(new MemoryStream(Encoding.ASCII.GetBytes(Message("bob@example.test", "alice@example.test", subject, text)))));
            await imap.Inbox.OpenAsync(FolderAccess.ReadWrite);
            var pharma = await imap.Inbox.SearchAsync(MailKit.Search.SearchQuery.SubjectContains(spam1).Or(MailKit.Search.SearchQuery.SubjectContains(spam2)));
            Assert.That(pharma, Has.Count.EqualTo(2));
            await imap.Inbox.MoveToAsync(pharma, junk);
            await junk.OpenAsync(FolderAccess.ReadWrite);
            var minutes = await junk.SearchAsync(MailKit.Search.SearchQuery.SubjectContains("minutes-"));
            await junk.MoveToAsync(minutes, imap.Inbox);
            await imap.DisconnectAsync(true);
        }
        Assert.That(await _server.WaitForOutputAsync("learned as spam", TimeSpan.FromSeconds(30)), Is.True, _server.Output);
        Assert.That(await _server.WaitForOutputAsync("learned as ham", TimeSpan.FromSeconds(30)), Is.True, _server.Output);

        // The same kind of message now scores BAYES_SPAM: with the default thresholds its score lands in rspamd's greylist
        // band, so the sender is told to come back later (451 4.7.1) instead of the message reaching the Inbox.
        var after = Unique("pharma-after");
        var replies = await SendAsync(_server, "deals@pharma.test", "alice@example.test", Message("deals@pharma.test", "alice@example.test", after, spamText + "\r\nHurry."));
        Assert.That(replies[4].Code, Is.EqualTo(451), string.Join("\n", replies));
        Assert.That(replies[4].Text, Does.StartWith("4.7.1 "));
        Assert.That(await FindAsync(_server, "alice@example.test", "INBOX", after), Is.Empty);
        var scanned = _server.Output.Split('\n').LastOrDefault(l => l.Contains("spam greylist score", StringComparison.Ordinal)) ?? "";
        Assert.That(scanned, Does.Contain("BAYES_SPAM"), _server.Output);
        var score = double.Parse(System.Text.RegularExpressions.Regex.Match(scanned, @"score ([0-9.]+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(score, Is.GreaterThan(double.Parse(beforeStored.Headers["X-Spam-Score"]!.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Test]
    public async Task Health_reports_both_engines_up()
    {
        using var http = new HttpClient();
        var health = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{_server.ListenerPorts.Admin}/health"))!;
        Assert.That(((string?)health["status"], (string?)health["contentFiltering"]!["rspamd"], (string?)health["contentFiltering"]!["clamd"]),
            Is.EqualTo(("ok", "up", "up")));
    }
}
