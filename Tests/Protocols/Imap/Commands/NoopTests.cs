using MailServer.Protocols.Imap;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class NoopTests
{
    [Test]
    public async Task Noop_reports_new_mail_and_check_is_accepted()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("a", "SELECT INBOX");
        Assert.That(await client.CommandAsync("n1", "NOOP"), Is.EqualTo(new[] { "n1 OK NOOP completed" }));
        await server.DeliverAsync("alice", "one");
        await server.DeliverAsync("alice", "two");
        Assert.That(await client.CommandAsync("n2", "NOOP"), Is.EqualTo(new[] { "* 2 EXISTS", "* 2 RECENT", "n2 OK NOOP completed" }));
        Assert.That(await client.CommandAsync("n3", "CHECK"), Is.EqualTo(new[] { "n3 OK CHECK completed" }));
    }

    [Test]
    public async Task After_the_change_feed_overflows_the_view_resynchronises_from_the_store()
    {
        var logger = new RecordingLogger<ImapListener>();
        await using var server = await ImapTestServer.StartAsync(logger: logger, feedCapacity: 2);
        for (var i = 1; i <= 3; i++)
            await server.DeliverAsync("alice", "old" + i);
        await using var client = await server.LoggedInAsync();
        await using var other = await server.LoggedInAsync();
        await client.CommandAsync("a", "SELECT INBOX");
        await other.CommandAsync("b", "SELECT INBOX");

        // More changes than the feed holds: deliveries, a flag change and an expunge by another session.
        await other.CommandAsync("s", "STORE 1 +FLAGS.SILENT (\\Deleted)");
        await other.CommandAsync("x", "EXPUNGE");
        await other.CommandAsync("f", "STORE 1 +FLAGS.SILENT (\\Flagged)");
        for (var i = 1; i <= 4; i++)
            await server.DeliverAsync("alice", "new" + i);

        Assert.That(await client.CommandAsync("n1", "NOOP"), Is.EqualTo(new[]
        {
            "* 1 EXPUNGE",
            "* 1 FETCH (UID 2 FLAGS (\\Flagged \\Recent))",
            "* 6 EXISTS",
            "* 6 RECENT",
            "n1 OK NOOP completed",
        }));
        Assert.That(logger.Records.Select(r => r.EventId.Id), Does.Contain(5011), "the feed overflowed");
        Assert.That(await client.CommandAsync("u", "UID SEARCH ALL"), Is.EqualTo(new[] { "* SEARCH 2 3 4 5 6 7", "u OK SEARCH completed" }));
        // The fresh subscription keeps working after the resynchronisation.
        await server.DeliverAsync("alice", "later");
        Assert.That(await client.CommandAsync("n2", "NOOP"), Is.EqualTo(new[] { "* 7 EXISTS", "* 7 RECENT", "n2 OK NOOP completed" }));
    }
}
