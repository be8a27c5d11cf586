using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class StatusTests
{
    [Test]
    public async Task Status_reports_counts_and_refuses_unknown_mailboxes()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one", flags: MailServer.Storage.MessageFlags.Seen | MailServer.Storage.MessageFlags.Deleted);
        await server.DeliverAsync("alice", "two");
        await using var client = await server.LoggedInAsync();
        var inbox = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "INBOX")!;
        var size = server.Store.ListMessages(inbox.FolderId).Sum(m => m.Size);
        Assert.That(await client.CommandAsync("s1", "STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY DELETED SIZE APPENDLIMIT)"), Is.EqualTo(new[]
        {
            $"* STATUS INBOX (MESSAGES 2 UNSEEN 1 UIDNEXT 3 UIDVALIDITY {inbox.UidValidity} DELETED 1 SIZE {size} APPENDLIMIT 41943040)",
            "s1 OK STATUS completed",
        }));
        Assert.That(await client.CommandAsync("s2", "STATUS Nowhere (MESSAGES)"), Is.EqualTo(new[] { "s2 NO [NONEXISTENT] No such mailbox" }));
        Assert.That(await client.CommandAsync("s3", "STATUS INBOX (BOGUS)"), Has.Count.EqualTo(1).And.Some.StartsWith("s3 BAD "));
    }

    /// <summary>RFC 8438: STATUS=SIZE is advertised; SIZE is the total of the messages' RFC822.SIZE, by STATUS and by
    /// LIST RETURN (STATUS (SIZE)) (RFC 5819), and an empty mailbox is 0.</summary>
    [Test]
    public async Task Status_size_is_advertised_and_sums_the_message_sizes()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await server.DeliverAsync("alice", "two, a little longer");
        await using var client = await server.LoggedInAsync();
        Assert.That((await client.CommandAsync("c", "CAPABILITY"))[0], Does.Contain(" STATUS=SIZE "));
        var inbox = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "INBOX")!;
        var size = server.Store.ListMessages(inbox.FolderId).Sum(m => m.Size);
        Assert.That(size, Is.GreaterThan(0));
        Assert.That(await client.CommandAsync("s1", "STATUS INBOX (MESSAGES SIZE)"), Is.EqualTo(new[] { $"* STATUS INBOX (MESSAGES 2 SIZE {size})", "s1 OK STATUS completed" }));
        Assert.That(await client.CommandAsync("l1", "LIST \"\" Drafts RETURN (STATUS (SIZE))"), Is.EqualTo(new[]
        {
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts", "* STATUS Drafts (SIZE 0)", "l1 OK LIST completed",
        }));
    }
}
