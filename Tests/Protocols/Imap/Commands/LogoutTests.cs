using MailServer.Storage;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>LOGOUT (RFC 9051 §6.1.3): <c>* BYE</c>, the tagged OK, then the server closes the connection.</summary>
[TestFixture]
public sealed class LogoutTests
{
    [Test]
    public async Task Rfc_example_before_login()
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        Assert.That(await client.CommandAsync("A023", "LOGOUT"), Is.EqualTo(new[] { "* BYE Logging out", "A023 OK LOGOUT completed" }));
        Assert.That(await client.IsClosedByServerAsync(), Is.True);
    }

    [Test]
    public async Task Logout_while_selected_does_not_expunge()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one", flags: MessageFlags.Deleted);
        await using (var client = await server.LoggedInAsync())
        {
            await client.CommandAsync("s", "SELECT INBOX");
            Assert.That(await client.CommandAsync("A023", "LOGOUT"), Is.EqualTo(new[] { "* BYE Logging out", "A023 OK LOGOUT completed" }));
            Assert.That(await client.IsClosedByServerAsync(), Is.True);
        }
        await using var again = await server.LoggedInAsync();
        Assert.That(await again.CommandAsync("st", "STATUS INBOX (MESSAGES)"), Is.EqualTo(new[] { "* STATUS INBOX (MESSAGES 1)", "st OK STATUS completed" }));
    }

    [Test]
    public async Task Logout_with_arguments_is_bad_and_the_session_stays_open()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        var extra = await client.CommandAsync("o1", "LOGOUT now");
        Assert.That(extra, Has.Count.EqualTo(1));
        Assert.That(extra[0], Does.StartWith("o1 BAD "));
        Assert.That(await client.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "n OK NOOP completed" }));
    }
}
