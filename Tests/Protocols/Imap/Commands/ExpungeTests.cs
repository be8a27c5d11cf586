using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class ExpungeTests
{
    [Test]
    public async Task Expunge_is_announced_to_a_concurrent_session_only_when_allowed()
    {
        await using var server = await ImapTestServer.StartAsync();
        for (var i = 1; i <= 3; i++)
            await server.DeliverAsync("alice", "m" + i);
        await using var first = await server.LoggedInAsync();
        await using var second = await server.LoggedInAsync();
        await first.CommandAsync("a", "SELECT INBOX");
        await second.CommandAsync("b", "SELECT INBOX");

        await first.CommandAsync("s", "STORE 2 +FLAGS.SILENT (\\Deleted)");
        Assert.That(await first.CommandAsync("e1", "EXPUNGE"), Is.EqualTo(new[] { "* 2 EXPUNGE", "e1 OK EXPUNGE completed" }));

        // RFC 9051 §7.5.1: no EXPUNGE during FETCH by sequence number; sequence numbers stay as the client knows them.
        Assert.That(await second.CommandAsync("f1", "FETCH 3 UID"), Is.EqualTo(new[]
        {
            "* 3 FETCH (UID 3)",
            "* 2 FETCH (UID 2 FLAGS (\\Deleted))",
            "f1 OK FETCH completed",
        }));
        Assert.That(await second.CommandAsync("n1", "NOOP"), Is.EqualTo(new[] { "* 2 EXPUNGE", "n1 OK NOOP completed" }));
        Assert.That(await second.CommandAsync("f2", "FETCH 1:* UID"), Is.EqualTo(new[] { "* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)", "f2 OK FETCH completed" }));

        await first.CommandAsync("s2", "STORE 1:2 +FLAGS.SILENT (\\Deleted)");
        Assert.That(await first.CommandAsync("e2", "UID EXPUNGE 3"), Is.EqualTo(new[] { "* 2 EXPUNGE", "e2 OK EXPUNGE completed" }));
        Assert.That(await first.CommandAsync("c", "CLOSE"), Is.EqualTo(new[] { "c OK CLOSE completed" }));
        // A UID command may carry the pending EXPUNGEs (highest sequence number first).
        Assert.That(await second.CommandAsync("n2", "UID FETCH 1:* UID"), Is.EqualTo(new[]
        {
            "* 1 FETCH (UID 1)",
            "* 2 FETCH (UID 3)",
            "* 2 EXPUNGE",
            "* 1 EXPUNGE",
            "n2 OK FETCH completed",
        }));
        Assert.That(await second.CommandAsync("n3", "NOOP"), Is.EqualTo(new[] { "n3 OK NOOP completed" }));
    }

    [Test]
    public async Task Uids_are_not_reused_after_the_highest_message_is_expunged()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await server.DeliverAsync("alice", "two");
        await using var client = await server.LoggedInAsync();
        var inbox = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "INBOX")!;
        await client.CommandAsync("a", "SELECT INBOX");
        await client.CommandAsync("s", "UID STORE 2 +FLAGS.SILENT (\\Deleted)");
        Assert.That(await client.CommandAsync("e", "EXPUNGE"), Is.EqualTo(new[] { "* 2 EXPUNGE", "e OK EXPUNGE completed" }));
        Assert.That(await client.CommandAsync("p", "APPEND INBOX {3+}\r\nx\r\n"), Is.EqualTo(new[]
        {
            "* 2 EXISTS",
            "* 2 RECENT",
            $"p OK [APPENDUID {inbox.UidValidity} 3] APPEND completed",
        }));
        Assert.That(await client.CommandAsync("r", "EXAMINE INBOX"), Does.Contain($"* OK [UIDVALIDITY {inbox.UidValidity}] UIDs valid").And.Contain("* OK [UIDNEXT 4] Predicted next UID"));
    }
}
