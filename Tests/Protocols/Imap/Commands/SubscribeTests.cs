using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class SubscribeTests
{
    [Test]
    public async Task Unsubscribe_and_subscribe_show_in_lsub_and_list_subscribed()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("u1", "UNSUBSCRIBE \"Junk E-mail\""), Is.EqualTo(new[] { "u1 OK UNSUBSCRIBE completed" }));
        Assert.That(await client.CommandAsync("s1", "SUBSCRIBE Archive"), Is.EqualTo(new[] { "s1 OK SUBSCRIBE completed" }));
        Assert.That(await client.CommandAsync("l1", "LSUB \"\" *"), Is.EqualTo(new[]
        {
            "* LSUB () \"/\" INBOX",
            "* LSUB () \"/\" \"Deleted Items\"",
            "* LSUB () \"/\" Drafts",
            "* LSUB () \"/\" \"Sent Items\"",
            "* LSUB (\\Noselect) \"/\" Archive",
            "l1 OK LSUB completed",
        }));
        Assert.That(await client.CommandAsync("l2", "LIST (SUBSCRIBED) \"\" \"*s*\""), Is.EqualTo(new[]
        {
            "* LIST (\\HasNoChildren \\Trash \\Subscribed) \"/\" \"Deleted Items\"",
            "* LIST (\\HasNoChildren \\Drafts \\Subscribed) \"/\" Drafts",
            "* LIST (\\HasNoChildren \\Sent \\Subscribed) \"/\" \"Sent Items\"",
            "l2 OK LIST completed",
        }));
        Assert.That(await client.CommandAsync("l3", "LIST (SUBSCRIBED) \"\" Arch*"), Is.EqualTo(new[]
        {
            "* LIST (\\NonExistent \\Subscribed) \"/\" Archive",
            "l3 OK LIST completed",
        }));
        await client.CommandAsync("c1", "CREATE Projects");
        await client.CommandAsync("c2", "CREATE Projects/Alpha");
        await client.CommandAsync("u2", "UNSUBSCRIBE Projects");
        Assert.That(await client.CommandAsync("l4", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" Proj%"), Is.EqualTo(new[]
        {
            "* LIST (\\HasChildren) \"/\" Projects (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "l4 OK LIST completed",
        }));
    }

    [Test]
    public async Task Subscribe_and_unsubscribe_are_written_to_the_store()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        var mailboxId = await server.MailboxIdAsync("alice");
        Assert.That(await client.CommandAsync("s1", "SUBSCRIBE \"Not/Yet\""), Is.EqualTo(new[] { "s1 OK SUBSCRIBE completed" }));
        Assert.That(await client.CommandAsync("u1", "UNSUBSCRIBE Drafts"), Is.EqualTo(new[] { "u1 OK UNSUBSCRIBE completed" }));

        Assert.That(server.Store.ListSubscriptions(mailboxId), Does.Contain("Not/Yet").And.Not.Contain("Drafts"));
        Assert.That(server.Store.FindFolder(mailboxId, "Drafts")!.Subscribed, Is.False);
        Assert.That(await client.CommandAsync("l1", "LSUB \"\" Not*"), Is.EqualTo(new[]
        {
            "* LSUB (\\Noselect) \"/\" Not/Yet",
            "l1 OK LSUB completed",
        }));
    }
}
