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
}
