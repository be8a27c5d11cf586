using MailKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class MoveTests
{
    [Test]
    public async Task Move_sends_copyuid_then_expunge_then_ok()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await server.DeliverAsync("alice", "two");
        await server.DeliverAsync("alice", "three");
        await using var client = await server.LoggedInAsync();
        var trash = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "Deleted Items")!;
        var inbox = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "INBOX")!;
        await client.CommandAsync("a", "SELECT INBOX");
        Assert.That(await client.CommandAsync("m1", "MOVE 2:3 \"Deleted Items\""), Is.EqualTo(new[]
        {
            $"* OK [COPYUID {trash.UidValidity} 2:3 1:2] Moved",
            "* 3 EXPUNGE",
            "* 2 EXPUNGE",
            "m1 OK MOVE completed",
        }));
        // RFC 6851 §3.3: the selected mailbox itself is a valid destination; the message gets a new UID.
        Assert.That(await client.CommandAsync("m2", "UID MOVE 1 INBOX"), Is.EqualTo(new[]
        {
            $"* OK [COPYUID {inbox.UidValidity} 1 4] Moved", "* 1 EXPUNGE", "* 1 EXISTS", "* 1 RECENT", "m2 OK MOVE completed",
        }));
        Assert.That(await client.CommandAsync("m3", "FETCH 1:* UID"), Is.EqualTo(new[] { "* 1 FETCH (UID 4)", "m3 OK FETCH completed" }));
    }

    [Test]
    public async Task MailKit_moves_to_trash()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        using var client = await server.MailKitAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var moved = await client.Inbox.MoveToAsync(new UniqueId(1), client.GetFolder(SpecialFolder.Trash)!);
        Assert.That(moved?.Id, Is.EqualTo(1u));
        Assert.That(client.Inbox.Count, Is.EqualTo(0));
        await client.DisconnectAsync(true);
    }

    /// <summary>RFC 6851 §3.3 and RFC 9051 §6.4.8 allow the selected mailbox as the destination: the messages get new
    /// UIDs (COPYUID), the old ones are expunged, the new ones announced.</summary>
    [Test]
    public async Task Move_and_copy_to_the_selected_mailbox_give_new_uids()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("e", "ENABLE IMAP4rev2");
        var inbox = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "INBOX")!;
        await client.CommandAsync("a", "SELECT INBOX");
        Assert.That(await client.CommandAsync("m1", "UID MOVE 1 INBOX"), Is.EqualTo(new[]
        {
            $"* OK [COPYUID {inbox.UidValidity} 1 2] Moved",
            "* 1 EXPUNGE",
            "* 1 EXISTS",
            "m1 OK MOVE completed",
        }));
        Assert.That(await client.CommandAsync("c1", "COPY 1 INBOX"), Is.EqualTo(new[]
        {
            "* 2 EXISTS",
            $"c1 OK [COPYUID {inbox.UidValidity} 2 3] COPY completed",
        }));
        Assert.That(await client.CommandAsync("f", "FETCH 1:* UID"), Is.EqualTo(new[] { "* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)", "f OK FETCH completed" }));
    }
}
