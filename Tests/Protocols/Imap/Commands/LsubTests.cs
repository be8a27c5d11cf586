using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>LSUB (RFC 3501 §6.3.9; IMAP4rev2 replaced it by LIST (SUBSCRIBED), RFC 9051 §6.3.9): the subscribed
/// names matching the pattern, a subscribed name that is not a folder as \Noselect.</summary>
[TestFixture]
public sealed class LsubTests
{
    /// <summary>RFC 3501's "#news." hierarchy with "/": CREATE makes and subscribes every level; of them only
    /// news/comp/mail/mime and news/comp/mail/misc stay subscribed.</summary>
    private static async Task<ImapLineClient> WithNewsAsync(ImapTestServer server)
    {
        var client = await server.LoggedInAsync();
        await client.CommandAsync("c1", "CREATE news/comp/mail/mime");
        await client.CommandAsync("c2", "CREATE news/comp/mail/misc");
        foreach (var level in new[] { "news", "news/comp", "news/comp/mail" })
            Assert.That(await client.CommandAsync("u", "UNSUBSCRIBE " + level), Is.EqualTo(new[] { "u OK UNSUBSCRIBE completed" }));
        return client;
    }

    [Test]
    public async Task Rfc_example_star_lists_the_subscribed_names_and_percent_answers_an_unsubscribed_parent_as_noselect()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await WithNewsAsync(server);
        Assert.That(await client.CommandAsync("A002", "LSUB \"news/\" \"comp/mail/*\""), Is.EqualTo(new[]
        {
            "* LSUB () \"/\" news/comp/mail/mime",
            "* LSUB () \"/\" news/comp/mail/misc",
            "A002 OK LSUB completed",
        }));
        Assert.That(await client.CommandAsync("A003", "LSUB \"news/\" \"comp/%\""), Is.EqualTo(new[]
        {
            "* LSUB (\\Noselect) \"/\" news/comp/mail",
            "A003 OK LSUB completed",
        }));
        Assert.That(await client.CommandAsync("A004", "LSUB \"\" \"n*\""), Is.EqualTo(new[]
        {
            "* LSUB () \"/\" news/comp/mail/mime",
            "* LSUB () \"/\" news/comp/mail/misc",
            "A004 OK LSUB completed",
        }), "\"*\" reaches the names themselves, not their parents");
        // A subscribed parent answers as itself, once.
        await client.CommandAsync("s", "SUBSCRIBE news/comp/mail");
        Assert.That(await client.CommandAsync("A005", "LSUB \"news/\" \"comp/%\""), Is.EqualTo(new[]
        {
            "* LSUB () \"/\" news/comp/mail",
            "A005 OK LSUB completed",
        }));
        Assert.That(await client.CommandAsync("A006", "LSUB \"\" %"), Is.EqualTo(new[]
        {
            "* LSUB () \"/\" INBOX",
            "* LSUB () \"/\" \"Deleted Items\"",
            "* LSUB () \"/\" Drafts",
            "* LSUB () \"/\" \"Junk E-mail\"",
            "* LSUB () \"/\" \"Sent Items\"",
            "* LSUB (\\Noselect) \"/\" news",
            "A006 OK LSUB completed",
        }));
    }

    [Test]
    public async Task Unsubscribed_folders_are_left_out_and_nothing_matching_is_an_empty_ok()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await WithNewsAsync(server);
        await client.CommandAsync("u", "UNSUBSCRIBE news/comp/mail/misc");
        Assert.That(await client.CommandAsync("l1", "LSUB \"\" news/*"), Is.EqualTo(new[] { "* LSUB () \"/\" news/comp/mail/mime", "l1 OK LSUB completed" }));
        Assert.That(await client.CommandAsync("l2", "LSUB \"\" nothing*"), Is.EqualTo(new[] { "l2 OK LSUB completed" }));
    }

    [Test]
    public async Task Lsub_needs_login_and_two_arguments()
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        Assert.That(await client.CommandAsync("l1", "LSUB \"\" *"), Is.EqualTo(new[] { "l1 BAD LSUB is not valid in the not authenticated state" }));
        Assert.That((await client.CommandAsync("l", $"LOGIN alice@example.test {ImapTestServer.Password}"))[^1], Does.StartWith("l OK "));
        var missing = await client.CommandAsync("l2", "LSUB \"\"");
        Assert.That(missing, Has.Count.EqualTo(1));
        Assert.That(missing[0], Does.StartWith("l2 BAD "));
        Assert.That(await client.CommandAsync("l3", "LSUB \"\" INBOX"), Is.EqualTo(new[] { "* LSUB () \"/\" INBOX", "l3 OK LSUB completed" }));
    }
}
