using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class DeleteTests
{
    [Test]
    public async Task A_session_whose_selected_folder_another_session_deleted_gets_bye_on_its_next_command()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var first = await server.LoggedInAsync();
        await using var second = await server.LoggedInAsync();
        await first.CommandAsync("c", "CREATE Temp");
        await first.CommandAsync("p", "APPEND Temp {3+}\r\nx\r\n");
        await first.CommandAsync("s", "SELECT Temp");
        Assert.That(await second.CommandAsync("d1", "DELETE Temp"), Is.EqualTo(new[] { "d1 OK DELETE completed" }));

        // RFC 9051 §7.1.5: the server cannot keep the session in a folder that is gone; BYE, then the connection closes.
        await first.SendLineAsync("st STORE 1 +FLAGS (\\Seen)");
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* BYE The selected mailbox was deleted"));
        Assert.That(await first.IsClosedByServerAsync(), Is.True);

        Assert.That(await second.CommandAsync("d2", "DELETE Temp"), Is.EqualTo(new[] { "d2 NO [NONEXISTENT] No folder with that name." }));
    }

    [Test]
    public async Task The_same_session_must_leave_the_folder_first_and_select_elsewhere_still_works_after_a_delete()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var first = await server.LoggedInAsync();
        await using var second = await server.LoggedInAsync();
        await first.CommandAsync("c", "CREATE Temp");
        await first.CommandAsync("s", "SELECT Temp");
        // RFC 5530 INUSE: deleting the folder this very session has selected is refused.
        Assert.That(await first.CommandAsync("d1", "DELETE Temp"), Is.EqualTo(new[] { "d1 NO [INUSE] Close the mailbox before deleting it" }));

        Assert.That(await second.CommandAsync("d2", "DELETE Temp"), Is.EqualTo(new[] { "d2 OK DELETE completed" }));
        // SELECT leaves the dead folder anyway, so it goes on normally.
        var reply = await first.CommandAsync("s2", "SELECT INBOX");
        Assert.That(reply[0], Is.EqualTo("* OK [CLOSED] Previous mailbox closed"));
        Assert.That(reply[^1], Is.EqualTo("s2 OK [READ-WRITE] SELECT completed"));
    }

    [Test]
    public async Task An_idling_session_hears_bye_when_its_folder_is_deleted()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var idler = await server.LoggedInAsync();
        await using var other = await server.LoggedInAsync();
        await idler.CommandAsync("c", "CREATE Temp");
        await idler.CommandAsync("s", "SELECT Temp");
        await idler.SendLineAsync("i IDLE");
        Assert.That(await idler.ReadLineAsync(), Is.EqualTo("+ idling"));
        Assert.That(await other.CommandAsync("d", "DELETE Temp"), Is.EqualTo(new[] { "d OK DELETE completed" }));
        Assert.That(await idler.ReadLineAsync(), Is.EqualTo("* BYE The selected mailbox was deleted"));
        Assert.That(await idler.IsClosedByServerAsync(), Is.True);
    }

    [Test]
    public async Task The_existence_check_before_a_command_lets_no_unannounced_message_into_it()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("s", "SELECT INBOX");
        await server.DeliverAsync("alice", "two");
        // RFC 9051 §7.4.1: message 2 is not the client's until EXISTS says so, which comes with the reply.
        Assert.That(await client.CommandAsync("f", "FETCH 1:* (UID)"), Is.EqualTo(new[] { "* 1 FETCH (UID 1)", "* 2 EXISTS", "* 2 RECENT", "f OK FETCH completed" }));
    }
}
