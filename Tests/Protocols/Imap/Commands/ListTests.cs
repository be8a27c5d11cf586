using MailKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class ListTests
{
    [Test]
    public async Task List_shows_special_use_children_and_status()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("l1", "LIST \"\" \"\""), Is.EqualTo(new[] { "* LIST (\\Noselect) \"/\" \"\"", "l1 OK LIST completed" }));
        Assert.That(await client.CommandAsync("l2", "LIST \"\" *"), Is.EqualTo(new[]
        {
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Trash) \"/\" \"Deleted Items\"",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk E-mail\"",
            "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"",
            "l2 OK LIST completed",
        }));
        Assert.That(await client.CommandAsync("l3", "LIST (SPECIAL-USE) \"\" \"*\" RETURN (STATUS (MESSAGES UNSEEN))"), Has.Count.EqualTo(9));
        Assert.That(await client.CommandAsync("l4", "LIST \"\" \"J%\" RETURN (STATUS (MESSAGES))"), Is.EqualTo(new[]
        {
            "* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk E-mail\"",
            "* STATUS \"Junk E-mail\" (MESSAGES 0)",
            "l4 OK LIST completed",
        }));
    }

    [Test]
    public async Task MailKit_finds_special_folders()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.MailKitAsync();
        Assert.That(client.GetFolder(SpecialFolder.Sent)!.FullName, Is.EqualTo("Sent Items"));
        Assert.That(client.GetFolder(SpecialFolder.Drafts)!.FullName, Is.EqualTo("Drafts"));
        Assert.That(client.GetFolder(SpecialFolder.Trash)!.FullName, Is.EqualTo("Deleted Items"));
        Assert.That(client.GetFolder(SpecialFolder.Junk)!.FullName, Is.EqualTo("Junk E-mail"));
        await client.DisconnectAsync(true);
    }

    /// <summary>RFC 5258 §5's Fruit / Vegetable example: subscribed Fruit/Banana, Fruit/Peach (no such mailbox),
    /// Vegetable and Vegetable/Broccoli. SUBSCRIBED lists subscribed names, \NonExistent for one that is not a mailbox
    /// (§3.1); RECURSIVEMATCH adds each matching parent of a subscribed name with CHILDINFO (§3.5), subscribed itself
    /// or not; RETURN (CHILDREN SUBSCRIBED) marks a plain LIST. DELETE leaves the subscription (RFC 3501 §6.3.9), so
    /// the name then answers \NonExistent; LSUB answers a parent reached by "%" as \Noselect.</summary>
    [Test]
    public async Task Rfc5258_subscribed_recursivematch_childinfo_and_return_options()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        foreach (var name in new[] { "Fruit/Apple", "Fruit/Banana", "Tofu", "Vegetable/Broccoli", "Vegetable/Corn" })
            Assert.That((await client.CommandAsync("c", "CREATE " + name))[^1], Does.StartWith("c OK"));
        foreach (var name in new[] { "INBOX", "\"Deleted Items\"", "Drafts", "\"Junk E-mail\"", "\"Sent Items\"", "Fruit", "Fruit/Apple", "Tofu", "Vegetable/Corn" })
            Assert.That(await client.CommandAsync("u", "UNSUBSCRIBE " + name), Is.EqualTo(new[] { "u OK UNSUBSCRIBE completed" }));
        await client.CommandAsync("s", "SUBSCRIBE Fruit/Peach");

        var subscribed = await client.CommandAsync("A03", "LIST (SUBSCRIBED) \"\" \"*\"");
        Assert.That(subscribed[..^1], Is.EquivalentTo(new[]
        {
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" Fruit/Banana",
            "* LIST (\\NonExistent \\Subscribed) \"/\" Fruit/Peach",
            "* LIST (\\HasChildren \\Subscribed) \"/\" Vegetable",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" Vegetable/Broccoli",
        }));
        var recursive = await client.CommandAsync("A04", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)");
        Assert.That(recursive[..^1], Is.EquivalentTo(new[]
        {
            "* LIST (\\HasChildren) \"/\" Fruit (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "* LIST (\\HasChildren \\Subscribed) \"/\" Vegetable (\"CHILDINFO\" (\"SUBSCRIBED\"))",
        }));
        var plain = await client.CommandAsync("A05", "LIST \"\" \"%\" RETURN (CHILDREN SUBSCRIBED)");
        Assert.That(plain, Does.Contain("* LIST (\\HasChildren) \"/\" Fruit")
            .And.Contain("* LIST (\\HasNoChildren) \"/\" Tofu")
            .And.Contain("* LIST (\\HasChildren \\Subscribed) \"/\" Vegetable")
            .And.Contain("* LIST (\\HasNoChildren) \"/\" INBOX"));

        await client.CommandAsync("s2", "SUBSCRIBE Tofu");
        Assert.That(await client.CommandAsync("d", "DELETE Tofu"), Is.EqualTo(new[] { "d OK DELETE completed" }));
        Assert.That(await client.CommandAsync("A06", "LIST (SUBSCRIBED) \"\" Tofu"), Is.EqualTo(new[]
        {
            "* LIST (\\NonExistent \\Subscribed) \"/\" Tofu", "A06 OK LIST completed",
        }));
        var lsub = await client.CommandAsync("A07", "LSUB \"\" %");
        Assert.That(lsub[..^1], Is.EquivalentTo(new[]
        {
            "* LSUB (\\Noselect) \"/\" Fruit",
            "* LSUB () \"/\" Vegetable",
            "* LSUB (\\Noselect) \"/\" Tofu",
        }));
    }
}
