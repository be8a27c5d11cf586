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
        await client.CommandAsync("a", "SELECT INBOX");
        Assert.That(await client.CommandAsync("m1", "MOVE 2:3 \"Deleted Items\""), Is.EqualTo(new[]
        {
            $"* OK [COPYUID {trash.UidValidity} 2:3 1:2] Moved",
            "* 3 EXPUNGE",
            "* 2 EXPUNGE",
            "m1 OK MOVE completed",
        }));
        Assert.That(await client.CommandAsync("m2", "UID MOVE 1 INBOX"), Is.EqualTo(new[] { "m2 NO [CANNOT] The messages are in that mailbox already" }));
        Assert.That(await client.CommandAsync("m3", "FETCH 1:* UID"), Is.EqualTo(new[] { "* 1 FETCH (UID 1)", "m3 OK FETCH completed" }));
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
}
