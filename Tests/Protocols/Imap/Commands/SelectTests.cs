using MailKit;
using MailServer.Storage;
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
            "* 0 RECENT",
            @"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)",
            @"* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted",
            "* OK [UNSEEN 2] First unseen",
            $"* OK [UIDVALIDITY {folder.UidValidity}] UIDs valid",
            "* OK [UIDNEXT 3] Predicted next UID",
            $"* OK [HIGHESTMODSEQ {folder.HighestModSeq}] Highest",
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
}
