using MailKit;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class AppendTests
{
    [Test]
    public async Task Append_with_sync_literal_then_fetch_flags_uid_and_body()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        var drafts = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "Drafts")!;
        const string message = "Subject: draft\r\n\r\nbody\r\n";

        await client.SendLineAsync($"p1 APPEND Drafts (\\Draft $Work) \"05-Jan-2026 10:00:00 +0000\" {{{message.Length}}}");
        Assert.That(await client.ReadLineAsync(), Is.EqualTo("+ Ready for literal data"));
        await client.SendLineAsync(message);
        Assert.That(await client.ReadUntilTaggedAsync("p1"), Is.EqualTo(new[] { $"p1 OK [APPENDUID {drafts.UidValidity} 1] APPEND completed" }));

        await client.SendLineAsync($"p2 APPEND Drafts {{{message.Length}+}}\r\n{message}");
        Assert.That(await client.ReadUntilTaggedAsync("p2"), Is.EqualTo(new[] { $"p2 OK [APPENDUID {drafts.UidValidity} 2] APPEND completed" }));

        Assert.That(await client.CommandAsync("p3", "APPEND Nowhere {1+}\r\nx"), Is.EqualTo(new[] { "p3 NO [TRYCREATE] No such mailbox" }));

        await client.CommandAsync("p4", "SELECT Drafts");
        Assert.That(await client.CommandAsync("p5", "FETCH 1:* (UID FLAGS RFC822.SIZE)"), Is.EqualTo(new[]
        {
            // RFC 3501 §2.3.2: both are \Recent, the one dated before the server started too: no session saw either.
            $"* 1 FETCH (UID 1 FLAGS (\\Draft $Work \\Recent) RFC822.SIZE {message.Length})",
            $"* 2 FETCH (UID 2 FLAGS (\\Recent) RFC822.SIZE {message.Length})",
            "p5 OK FETCH completed",
        }));
        Assert.That(await client.CommandAsync("p5b", "FETCH 1 INTERNALDATE"), Is.EqualTo(new[]
        {
            "* 1 FETCH (INTERNALDATE \"05-Jan-2026 10:00:00 +0000\")",
            "p5b OK FETCH completed",
        }));
        Assert.That(await client.CommandAsync("p6", "UID FETCH 2 (BODY[])"), Is.EqualTo(new[]
        {
            $"* 2 FETCH (UID 2 BODY[] {{{message.Length}}}\r\n{message} FLAGS (\\Seen \\Recent))",
            "p6 OK FETCH completed",
        }));
    }

    [Test]
    public async Task Append_to_the_selected_mailbox_announces_exists_in_the_same_reply()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        var inbox = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "INBOX")!;
        await client.CommandAsync("a", "SELECT INBOX");
        Assert.That(await client.CommandAsync("p1", "APPEND INBOX (\\Seen) {3+}\r\nx\r\n"), Is.EqualTo(new[]
        {
            "* 1 EXISTS",
            "* 1 RECENT",
            $"p1 OK [APPENDUID {inbox.UidValidity} 1] APPEND completed",
        }));
        Assert.That(await client.CommandAsync("p2", "COPY 1 INBOX"), Is.EqualTo(new[]
        {
            "* 2 EXISTS",
            "* 2 RECENT",
            $"p2 OK [COPYUID {inbox.UidValidity} 1 2] COPY completed",
        }));
    }

    [Test]
    public async Task MailKit_appends_and_reads_back_uid_and_flags()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.MailKitAsync();
        var sent = client.GetFolder(SpecialFolder.Sent)!;
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.test"));
        message.To.Add(MailboxAddress.Parse("bob@example.test"));
        message.Subject = "hello";
        message.Body = new TextPart("plain") { Text = "hi" };
        var uid = await sent.AppendAsync(message, MessageFlags.Seen);
        Assert.That(uid, Is.Not.Null);
        await sent.OpenAsync(FolderAccess.ReadOnly);
        var summaries = await sent.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Flags);
        Assert.That(summaries.Select(s => (s.UniqueId, s.Flags)), Is.EqualTo(new[] { (uid!.Value, (MessageFlags?)(MessageFlags.Seen | MessageFlags.Recent)) }));
        await client.DisconnectAsync(true);
    }

    /// <summary>RFC 7888 §3: LITERAL+ puts no limit below APPENDLIMIT on a non-synchronizing literal (4,096 octets is
    /// LITERAL-'s bound, §4), so a client that uses {n+} for every APPEND stores messages of any size.</summary>
    [Test]
    public async Task Literal_plus_larger_than_4096_octets_is_stored()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        var inbox = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "INBOX")!;
        var message = "Subject: big\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('x', 998) + "\r\n", 60));
        await client.SendLineAsync($"a1 APPEND INBOX {{{message.Length}+}}\r\n{message}");
        Assert.That(await client.ReadUntilTaggedAsync("a1"), Is.EqualTo(new[] { $"a1 OK [APPENDUID {inbox.UidValidity} 1] APPEND completed" }));
        Assert.That(await client.CommandAsync("a2", "STATUS INBOX (MESSAGES SIZE)"), Is.EqualTo(new[]
        {
            $"* STATUS INBOX (MESSAGES 1 SIZE {message.Length})", "a2 OK STATUS completed",
        }).Or.EqualTo(new[] { "* STATUS INBOX (MESSAGES 1)", "a2 OK STATUS completed" }));
    }
}
