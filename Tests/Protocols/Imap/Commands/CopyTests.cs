using MailKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class CopyTests
{
    [Test]
    public async Task Copy_answers_copyuid_and_missing_target_is_trycreate()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await server.DeliverAsync("alice", "two");
        await using var client = await server.LoggedInAsync();
        var drafts = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "Drafts")!;
        await client.CommandAsync("a", "SELECT INBOX");
        Assert.That(await client.CommandAsync("c1", "COPY 1:2 Drafts"), Is.EqualTo(new[] { $"c1 OK [COPYUID {drafts.UidValidity} 1:2 1:2] COPY completed" }));
        Assert.That(await client.CommandAsync("c2", "UID COPY 2 Drafts"), Is.EqualTo(new[] { $"c2 OK [COPYUID {drafts.UidValidity} 2 3] COPY completed" }));
        Assert.That(await client.CommandAsync("c3", "COPY 1 Nowhere"), Is.EqualTo(new[] { "c3 NO [TRYCREATE] No such mailbox" }));
        Assert.That(await client.CommandAsync("c4", "STATUS Drafts (MESSAGES UIDNEXT)"), Is.EqualTo(new[] { "* STATUS Drafts (MESSAGES 3 UIDNEXT 4)", "c4 OK STATUS completed" }));
    }

    [Test]
    public async Task MailKit_copies_with_uid_map()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        using var client = await server.MailKitAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var map = await client.Inbox.CopyToAsync([new UniqueId(1)], client.GetFolder(SpecialFolder.Drafts)!);
        Assert.That(map.Destination.Select(u => u.Id), Is.EqualTo(new[] { 1u }));
        await client.DisconnectAsync(true);
    }
}
