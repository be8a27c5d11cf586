using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>CHECK (RFC 3501 §6.4.1; removed in IMAP4rev2, still accepted): like NOOP, with the pending updates.</summary>
[TestFixture]
public sealed class CheckTests
{
    [Test]
    public async Task Rfc_example_check_reports_new_mail_and_flag_changes_of_other_sessions()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await using var client = await server.LoggedInAsync();
        await using var other = await server.LoggedInAsync();
        await client.CommandAsync("s", "SELECT INBOX");
        await other.CommandAsync("s", "SELECT INBOX");
        Assert.That(await client.CommandAsync("FXXZ", "CHECK"), Is.EqualTo(new[] { "FXXZ OK CHECK completed" }));

        await other.CommandAsync("f", "STORE 1 +FLAGS.SILENT (\\Flagged)");
        await server.DeliverAsync("alice", "two");
        Assert.That(await client.CommandAsync("c2", "CHECK"), Is.EqualTo(new[]
        {
            "* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))", "* 2 EXISTS", "* 2 RECENT", "c2 OK CHECK completed",
        }));
    }

    [Test]
    public async Task Check_needs_a_selected_mailbox_and_takes_no_arguments()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("c1", "CHECK"), Is.EqualTo(new[] { "c1 BAD CHECK is not valid in the authenticated state" }));
        await client.CommandAsync("s", "SELECT INBOX");
        var extra = await client.CommandAsync("c2", "CHECK now");
        Assert.That(extra, Has.Count.EqualTo(1));
        Assert.That(extra[0], Does.StartWith("c2 BAD "));
        Assert.That(await client.CommandAsync("c3", "CHECK"), Is.EqualTo(new[] { "c3 OK CHECK completed" }));
    }
}
