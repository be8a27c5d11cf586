using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>UNSUBSCRIBE (RFC 9051 §6.3.8): removes a name from the subscriptions, whether or not a folder has it.</summary>
[TestFixture]
public sealed class UnsubscribeTests
{
    [Test]
    public async Task Rfc_example_unsubscribe_a_name_that_is_no_folder()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("s", "SUBSCRIBE news/comp/mail/mime");
        Assert.That(await client.CommandAsync("l1", "LSUB \"\" news*"), Is.EqualTo(new[] { "* LSUB (\\Noselect) \"/\" news/comp/mail/mime", "l1 OK LSUB completed" }));
        Assert.That(await client.CommandAsync("A002", "UNSUBSCRIBE news/comp/mail/mime"), Is.EqualTo(new[] { "A002 OK UNSUBSCRIBE completed" }));
        Assert.That(await client.CommandAsync("l2", "LSUB \"\" news*"), Is.EqualTo(new[] { "l2 OK LSUB completed" }));
    }

    [Test]
    public async Task An_unsubscribed_folder_stays_and_only_leaves_the_subscribed_list()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("u", "UNSUBSCRIBE Drafts"), Is.EqualTo(new[] { "u OK UNSUBSCRIBE completed" }));
        Assert.That(await client.CommandAsync("l1", "LIST \"\" Drafts"), Is.EqualTo(new[] { "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts", "l1 OK LIST completed" }));
        Assert.That(await client.CommandAsync("l2", "LIST (SUBSCRIBED) \"\" Drafts"), Is.EqualTo(new[] { "l2 OK LIST completed" }));
    }

    [Test]
    public async Task Unsubscribe_needs_login_and_a_name()
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        Assert.That(await client.CommandAsync("u1", "UNSUBSCRIBE Drafts"), Is.EqualTo(new[] { "u1 BAD UNSUBSCRIBE is not valid in the not authenticated state" }));
        Assert.That((await client.CommandAsync("l", $"LOGIN alice@example.test {ImapTestServer.Password}"))[^1], Does.StartWith("l OK "));
        var missing = await client.CommandAsync("u2", "UNSUBSCRIBE");
        Assert.That(missing, Has.Count.EqualTo(1));
        Assert.That(missing[0], Does.StartWith("u2 BAD "));
    }
}
