using MailKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class StoreTests
{
    [Test]
    public async Task Store_changes_flags_and_other_session_sees_fetch_flags_on_noop()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await server.DeliverAsync("alice", "two");
        await using var first = await server.LoggedInAsync();
        await using var second = await server.LoggedInAsync();
        await first.CommandAsync("a", "SELECT INBOX");
        await second.CommandAsync("b", "SELECT INBOX");

        // The first session took both messages as \Recent at SELECT (RFC 3501 §2.3.2); $Important is new to both.
        Assert.That(await first.CommandAsync("s1", "STORE 1 +FLAGS (\\Flagged $Important)"), Is.EqualTo(new[]
        {
            @"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Important)",
            @"* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Important \*)] Flags permitted",
            "* 1 FETCH (FLAGS (\\Flagged $Important \\Recent))",
            "s1 OK STORE completed",
        }));
        Assert.That(await first.CommandAsync("s2", "UID STORE 2 FLAGS.SILENT (\\Seen)"), Is.EqualTo(new[] { "s2 OK STORE completed" }));
        Assert.That(await first.CommandAsync("s3", "STORE 3 +FLAGS (\\Seen)"), Is.EqualTo(new[] { "s3 BAD Invalid message sequence number" }).Or.EqualTo(new[] { "s3 BAD [CLIENTBUG] Invalid message sequence number" }));
        Assert.That(await first.CommandAsync("s4", "STORE 1 +FLAGS (\\Bogus)"), Is.EqualTo(new[] { "s4 BAD Unknown system flag \\Bogus" }));

        Assert.That(await second.CommandAsync("n1", "NOOP"), Is.EqualTo(new[]
        {
            @"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Important)",
            @"* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Important \*)] Flags permitted",
            "* 1 FETCH (UID 1 FLAGS (\\Flagged $Important))",
            "* 2 FETCH (UID 2 FLAGS (\\Seen))",
            "n1 OK NOOP completed",
        }));
    }

    [Test]
    public async Task MailKit_adds_and_removes_flags()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        using var client = await server.MailKitAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        await client.Inbox.AddFlagsAsync(0, MessageFlags.Answered | MessageFlags.Seen, true);
        await client.Inbox.RemoveFlagsAsync(0, MessageFlags.Seen, true);
        var summary = (await client.Inbox.FetchAsync(0, 0, MessageSummaryItems.Flags))[0];
        Assert.That(summary.Flags, Is.EqualTo(MessageFlags.Answered | MessageFlags.Recent));
        await client.DisconnectAsync(true);
    }

    /// <summary>RFC 9051 §7.3.5 / RFC 3501 §7.2.6: a keyword reaches a client in FETCH FLAGS only after an untagged FLAGS
    /// (and PERMANENTFLAGS) that names it: at SELECT for the keywords in use, and again whenever one is new to the
    /// session, whether this session or another one set it. NIL is not a flag.</summary>
    [Test]
    public async Task A_new_keyword_is_announced_in_flags_before_any_fetch_shows_it()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await server.DeliverAsync("alice", "two");
        await using var first = await server.LoggedInAsync();
        await using var second = await server.LoggedInAsync();
        await first.CommandAsync("e", "ENABLE IMAP4rev2");
        await second.CommandAsync("e", "ENABLE IMAP4rev2");
        await first.CommandAsync("a", "SELECT INBOX");
        await second.CommandAsync("b", "SELECT INBOX");

        Assert.That(await first.CommandAsync("s1", "STORE 1 +FLAGS ($Work)"), Is.EqualTo(new[]
        {
            @"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work)",
            @"* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work \*)] Flags permitted",
            "* 1 FETCH (FLAGS ($Work))",
            "s1 OK STORE completed",
        }));
        Assert.That(await first.CommandAsync("s2", "STORE 2 +FLAGS ($Work)"), Is.EqualTo(new[] { "* 2 FETCH (FLAGS ($Work))", "s2 OK STORE completed" }));
        Assert.That(await second.CommandAsync("n1", "NOOP"), Is.EqualTo(new[]
        {
            @"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work)",
            @"* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work \*)] Flags permitted",
            "* 1 FETCH (UID 1 FLAGS ($Work))",
            "* 2 FETCH (UID 2 FLAGS ($Work))",
            "n1 OK NOOP completed",
        }));
        Assert.That(await first.CommandAsync("s3", "STORE 1 +FLAGS (NIL)"), Has.Count.EqualTo(1).And.Some.StartsWith("s3 BAD "));

        await using var third = await server.LoggedInAsync();
        await third.CommandAsync("e", "ENABLE IMAP4rev2");
        var select = await third.CommandAsync("c", "SELECT INBOX");
        Assert.That(select, Does.Contain(@"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work)"));
        Assert.That(select, Does.Contain(@"* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Work \*)] Flags permitted"));
    }
}
