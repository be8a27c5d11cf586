using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>CATENATE (RFC 4469): APPEND builds the message from TEXT parts and IMAP URLs (RFC 5092) of messages this
/// user can read on this server; any unusable URL fails the whole APPEND with [BADURL url]; too large → [TOOBIG].</summary>
[TestFixture]
public sealed class CatenateTests
{
    private const string Header = "From: a@example.net\r\nTo: alice@example.test\r\nSubject: parts\r\nMIME-Version: 1.0\r\n" +
                                  "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n";
    private const string Original = Header + "--b1\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n--b1--\r\n";

    private static string Text(string text) => $"TEXT {{{text.Length}+}}\r\n{text}";

    [Test]
    public async Task Append_catenate_of_the_rfc_example_shape_builds_the_message_from_parts_of_another()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverRawAsync("alice", Original, "Drafts");
        var drafts = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "Drafts")!;
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("c", "CAPABILITY"), Has.Some.Contains(" CATENATE "));
        var url = $"/Drafts;UIDVALIDITY={drafts.UidValidity}/;UID=1";

        // RFC 4469 §3 example: the old header, a new boundary line, part 1's MIME header and body, a closing line.
        var reply = await client.CommandAsync("A003", $"APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL \"{url}/;section=HEADER\" " +
            Text("--b1\r\n") + $" URL \"{url}/;section=1.MIME\" URL \"{url}/;section=1\" " + Text("\r\n--b1--\r\n") + ")");
        Assert.That(reply, Is.EqualTo(new[] { $"A003 OK [APPENDUID {drafts.UidValidity} 2] APPEND completed" }));
        var expected = Header + "--b1\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--b1--\r\n";
        await client.CommandAsync("s", "SELECT Drafts");
        Assert.That(await client.CommandAsync("f", "UID FETCH 2 FLAGS"), Has.Some.Contains(@"FLAGS (\Seen \Draft $MDNSent \Recent)"));
        Assert.That(await client.CommandAsync("g", "UID FETCH 2 BODY.PEEK[]"), Is.EqualTo(new[]
        {
            $"* 2 FETCH (UID 2 BODY[] {{{expected.Length}}}\r\n{expected})", "g OK FETCH completed",
        }));

        // An absolute URL of this server and user, a relative one against the selected mailbox, and ;PARTIAL.
        var absolute = $"imap://alice@imap.example.test/Drafts;UIDVALIDITY={drafts.UidValidity}/;UID=1/;SECTION=2";
        Assert.That(await client.CommandAsync("A004", $"APPEND Drafts CATENATE ({Text("Subject: abs\r\n\r\n")} URL \"{absolute}\" " +
            $"URL \";UID=1/;SECTION=1/;PARTIAL=0.5\")"), Has.Some.StartWith("A004 OK [APPENDUID"));
        Assert.That(await client.CommandAsync("h", "UID FETCH 3 BODY.PEEK[TEXT]"), Is.EqualTo(new[]
        {
            "* 3 FETCH (UID 3 BODY[TEXT] {16}\r\nsecond partfirst)", "h OK FETCH completed",
        }));
    }

    [Test]
    public async Task Unusable_urls_fail_with_badurl_and_nothing_is_appended()
    {
        await using var server = await ImapTestServer.StartAsync(limits: new MailServer.Protocols.Imap.ImapLimits(MaxMessageBytes: 1000));
        await server.DeliverRawAsync("alice", Original, "Drafts");
        await server.DeliverAsync("bob", "bob's own");
        var drafts = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "Drafts")!;
        await using var client = await server.LoggedInAsync();
        var good = $"/Drafts;UIDVALIDITY={drafts.UidValidity}/;UID=1";
        string[] bad =
        [
            $"imap://alice@mail.elsewhere.example/Drafts/;UID=1", // another server
            $"imap://bob@imap.example.test/Drafts/;UID=1", // another user's authority
            $"/Drafts;UIDVALIDITY={drafts.UidValidity + 1}/;UID=1", // UIDVALIDITY changed
            "/Drafts/;UID=9", // no such message
            "/Drafts/;UID=1/;SECTION=7", // no such part
            "/Other%20Users/bob@example.test/INBOX/;UID=1", // no Full Access to bob's mailbox
            "/Drafts/;UID=1/;URLAUTH=submit+bob:internal:0123456789abcdef0123456789abcdef", // URLAUTH is not granted here
            ";UID=1", // relative, and nothing is selected
            "not a url",
        ];
        var tag = 0;
        foreach (var url in bad)
        {
            var t = "b" + ++tag;
            Assert.That(await client.CommandAsync(t, $"APPEND Drafts CATENATE (URL \"{good}\" URL \"{url}\")"),
                Is.EqualTo(new[] { $"{t} NO [BADURL {url.Replace(" ", "%20")}] The URL does not name a message this user can read on this server" }), url);
        }
        // MULTIAPPEND (RFC 4469 §4, RFC 3502): one failing message means none is appended.
        Assert.That(await client.CommandAsync("m", $"APPEND Drafts {{17+}}\r\nSubject: x\r\n\r\nx\r\n CATENATE (URL \"/Drafts/;UID=9\")"),
            Has.Count.EqualTo(1).And.Some.StartWith("m NO [BADURL /Drafts/;UID=9]"));
        // RFC 4469 §3: the result past APPENDLIMIT is NO [TOOBIG].
        Assert.That(await client.CommandAsync("t", "APPEND Drafts CATENATE (" + string.Join(' ', Enumerable.Repeat($"URL \"{good}\"", 6)) + ")"),
            Is.EqualTo(new[] { "t NO [TOOBIG] The catenated message is larger than APPENDLIMIT" }));
        Assert.That(await client.CommandAsync("st", "STATUS Drafts (MESSAGES UIDNEXT)"), Is.EqualTo(new[]
        {
            "* STATUS Drafts (MESSAGES 1 UIDNEXT 2)", "st OK STATUS completed",
        }));

        // With Full Access the other user's message can be used (a mailbox the user can read).
        server.SetPermissions(new MailServer.Rules.Directory.DirectoryPermission("bob@example.test", "alice@example.test", MailServer.Rules.Directory.MailboxRights.FullAccess));
        Assert.That(await client.CommandAsync("ok", "APPEND Drafts CATENATE (URL \"/Other%20Users/bob@example.test/INBOX/;UID=1\")"),
            Has.Some.StartWith("ok OK [APPENDUID"));
    }
}
