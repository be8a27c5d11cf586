using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class CloseTests
{
    [Test]
    public async Task Close_expunges_silently_unselect_does_not_and_examine_never_expunges()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one", flags: MailServer.Storage.MessageFlags.Deleted);
        await server.DeliverAsync("alice", "two", flags: MailServer.Storage.MessageFlags.Deleted);
        await server.DeliverAsync("alice", "three");
        await using var client = await server.LoggedInAsync();

        await client.CommandAsync("e", "EXAMINE INBOX");
        Assert.That(await client.CommandAsync("c1", "CLOSE"), Is.EqualTo(new[] { "c1 OK CLOSE completed" }));
        await client.CommandAsync("s", "SELECT INBOX");
        Assert.That(await client.CommandAsync("u1", "UNSELECT"), Is.EqualTo(new[] { "u1 OK UNSELECT completed" }));
        Assert.That(await client.CommandAsync("st1", "STATUS INBOX (MESSAGES)"), Is.EqualTo(new[] { "* STATUS INBOX (MESSAGES 3)", "st1 OK STATUS completed" }));
        await client.CommandAsync("s2", "SELECT INBOX");
        Assert.That(await client.CommandAsync("c2", "CLOSE"), Is.EqualTo(new[] { "c2 OK CLOSE completed" }));
        Assert.That(await client.CommandAsync("st2", "STATUS INBOX (MESSAGES)"), Is.EqualTo(new[] { "* STATUS INBOX (MESSAGES 1)", "st2 OK STATUS completed" }));
        Assert.That(await client.CommandAsync("c3", "CLOSE"), Is.EqualTo(new[] { "c3 BAD CLOSE is not valid in the authenticated state" }));
    }
}
