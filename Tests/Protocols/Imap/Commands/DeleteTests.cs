using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class DeleteTests
{
    [Test]
    public async Task A_folder_deleted_by_another_session_is_nonexistent_for_the_one_that_selected_it()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var first = await server.LoggedInAsync();
        await using var second = await server.LoggedInAsync();
        await first.CommandAsync("c", "CREATE Temp");
        await first.CommandAsync("p", "APPEND Temp {3+}\r\nx\r\n");
        await first.CommandAsync("s", "SELECT Temp");
        Assert.That(await second.CommandAsync("d1", "DELETE Temp"), Is.EqualTo(new[] { "d1 OK DELETE completed" }));
        Assert.That(await first.CommandAsync("st", "STORE 1 +FLAGS (\\Seen)"), Is.EqualTo(new[] { "st NO [NONEXISTENT] The mailbox or message no longer exists" }));
        Assert.That(await first.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "* 1 EXPUNGE", "n OK NOOP completed" }));
        Assert.That(await first.CommandAsync("d2", "DELETE Temp"), Is.EqualTo(new[] { "d2 NO [INUSE] Close the mailbox before deleting it" }));
    }
}
