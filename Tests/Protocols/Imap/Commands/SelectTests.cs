using MailKit;
using MailServer.Storage;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class SelectTests
{
    [Test]
    public async Task Select_inbox_reports_counts_uids_and_read_write()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one", flags: MailServer.Storage.MessageFlags.Seen);
        await server.DeliverAsync("alice", "two");
        await using var client = await server.LoggedInAsync();
        var folder = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "INBOX")!;

        var reply = await client.CommandAsync("s1", "SELECT inbox");
        Assert.That(reply, Is.EqualTo(new[]
        {
            "* 2 EXISTS",
            "* 2 RECENT",
            @"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)",
            @"* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted",
            "* OK [UNSEEN 2] First unseen",
            $"* OK [UIDVALIDITY {folder.UidValidity}] UIDs valid",
            "* OK [UIDNEXT 3] Predicted next UID",
            $"* OK [HIGHESTMODSEQ {folder.HighestModSeq}] Highest",
            $"* OK [MAILBOXID (F{folder.FolderId})] Ok",
            "s1 OK [READ-WRITE] SELECT completed",
        }));

        var examine = await client.CommandAsync("s2", "EXAMINE \"Sent Items\"");
        Assert.That(examine[0], Is.EqualTo("* OK [CLOSED] Previous mailbox closed"));
        Assert.That(examine, Does.Contain("* OK [PERMANENTFLAGS ()] Flags permitted"));
        Assert.That(examine[^1], Is.EqualTo("s2 OK [READ-ONLY] EXAMINE completed"));

        Assert.That(await client.CommandAsync("s3", "SELECT Nowhere"), Is.EqualTo(new[]
        {
            "* OK [CLOSED] Previous mailbox closed",
            "s3 NO [NONEXISTENT] No such mailbox",
        }));
        Assert.That(await client.CommandAsync("s4", "FETCH 1 FLAGS"), Is.EqualTo(new[] { "s4 BAD FETCH is not valid in the authenticated state" }));
    }

    [Test]
    public async Task MailKit_opens_inbox_with_stable_uidvalidity()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        using var client = await server.MailKitAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var validity = client.Inbox.UidValidity;
        Assert.That(client.Inbox.Count, Is.EqualTo(1));
        await client.Inbox.CloseAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        Assert.That(client.Inbox.UidValidity, Is.EqualTo(validity));
        await client.DisconnectAsync(true);
    }

    /// <summary>RFC 9051 §5.1: a mailbox name may be an atom of any ATOM-CHARs. One that names no mailbox is NO
    /// (RFC 9051 §6.3.2), never BAD, even where it is not valid modified UTF-7; LIST with it as a pattern matches
    /// nothing and the session goes on.</summary>
    [Test]
    public async Task A_name_of_atom_characters_that_does_not_exist_is_no_and_list_goes_on()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        const string name = "!#$&'+,-.0123456789:;<=>?@^_`|[}";
        Assert.That(await client.CommandAsync("s1", "SELECT " + name), Is.EqualTo(new[] { "s1 NO [NONEXISTENT] No such mailbox" }));
        Assert.That(await client.CommandAsync("s2", "EXAMINE " + name), Is.EqualTo(new[] { "s2 NO [NONEXISTENT] No such mailbox" }));
        Assert.That(await client.CommandAsync("l1", "LIST \"\" " + name), Is.EqualTo(new[] { "l1 OK LIST completed" }));
        Assert.That(await client.CommandAsync("l2", "LIST \"\" \"" + name + "*\""), Is.EqualTo(new[] { "l2 OK LIST completed" }));
        Assert.That(await client.CommandAsync("l3", "LSUB \"\" " + name), Is.EqualTo(new[] { "l3 OK LSUB completed" }));
        Assert.That(await client.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "n OK NOOP completed" }));
    }

    /// <summary>RFC 3501 §2.3.2 / §6.3.1: an IMAP4rev1 session is told how many messages are \Recent (arrived since the
    /// folder was last selected); the first SELECT takes them, EXAMINE only looks; a message is \Recent in one
    /// session only; SEARCH RECENT, NEW and OLD and STATUS (RECENT) follow it.</summary>
    [Test]
    public async Task Recent_is_counted_at_select_taken_by_one_session_and_searched()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await server.DeliverAsync("alice", "two");
        await using var first = await server.LoggedInAsync();
        Assert.That(await first.CommandAsync("st", "STATUS INBOX (MESSAGES RECENT)"), Is.EqualTo(new[] { "* STATUS INBOX (MESSAGES 2 RECENT 2)", "st OK STATUS completed" }));
        Assert.That(await first.CommandAsync("e", "EXAMINE INBOX"), Does.Contain("* 2 RECENT"));
        Assert.That(await first.CommandAsync("s", "SELECT INBOX"), Does.Contain("* 2 RECENT"));
        Assert.That(await first.CommandAsync("f", "FETCH 1:2 FLAGS"), Is.EqualTo(new[]
        {
            @"* 1 FETCH (FLAGS (\Recent))", @"* 2 FETCH (FLAGS (\Recent))", "f OK FETCH completed",
        }));
        Assert.That(await first.CommandAsync("r1", "SEARCH RECENT"), Is.EqualTo(new[] { "* SEARCH 1 2", "r1 OK SEARCH completed" }));
        await first.CommandAsync("st2", @"STORE 1 +FLAGS.SILENT (\Seen)");
        Assert.That(await first.CommandAsync("r2", "SEARCH NEW"), Is.EqualTo(new[] { "* SEARCH 2", "r2 OK SEARCH completed" }));
        Assert.That(await first.CommandAsync("r3", "SEARCH OLD"), Is.EqualTo(new[] { "* SEARCH", "r3 OK SEARCH completed" }));

        await using var second = await server.LoggedInAsync();
        Assert.That(await second.CommandAsync("s", "SELECT INBOX"), Does.Contain("* 0 RECENT"));
        Assert.That(await second.CommandAsync("r4", "SEARCH OLD"), Is.EqualTo(new[] { "* SEARCH 1 2", "r4 OK SEARCH completed" }));
        await server.DeliverAsync("alice", "three");
        // The session hears of the delivery through the change feed: a client's NOOP shows it as soon as it arrived.
        Assert.That(await NoopUntilExistsAsync(second, "* 3 EXISTS"), Is.EqualTo(new[] { "* 3 EXISTS", "* 1 RECENT" }));
        Assert.That(await second.CommandAsync("r5", "SEARCH RECENT"), Is.EqualTo(new[] { "* SEARCH 3", "r5 OK SEARCH completed" }));
        Assert.That(await NoopUntilExistsAsync(first, "* 3 EXISTS"), Is.EqualTo(new[] { "* 3 EXISTS", "* 2 RECENT" }));
        Assert.That(await first.CommandAsync("r6", "SEARCH RECENT"), Is.EqualTo(new[] { "* SEARCH 1 2", "r6 OK SEARCH completed" }));
    }

    /// <summary>NOOPs (as a polling client does) until <paramref name="exists"/> is reported, at most 10 s; returns every
    /// untagged line those NOOPs brought, in order.</summary>
    private static async Task<List<string>> NoopUntilExistsAsync(ImapLineClient client, string exists)
    {
        var untagged = new List<string>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        for (var i = 0; ; i++)
        {
            var lines = await client.CommandAsync("n" + i, "NOOP");
            Assert.That(lines[^1], Is.EqualTo($"n{i} OK NOOP completed"));
            untagged.AddRange(lines.Take(lines.Count - 1));
            if (untagged.Contains(exists) || DateTime.UtcNow > deadline)
                return untagged;
            await Task.Delay(50);
        }
    }
}
