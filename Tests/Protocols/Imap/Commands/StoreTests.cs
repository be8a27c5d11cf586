using MailKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class StoreTests
{
    [Test]
    public async Task Store_changes_flags_and_other_session_sees_fetch_flags_on_noop()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await server.DeliverAsync("alice", "two");
        await using var first = await server.LoggedInAsync();
        await using var second = await server.LoggedInAsync();
        await first.CommandAsync("a", "SELECT INBOX");
        await second.CommandAsync("b", "SELECT INBOX");

        Assert.That(await first.CommandAsync("s1", "STORE 1 +FLAGS (\\Flagged $Important)"), Is.EqualTo(new[]
        {
            "* 1 FETCH (FLAGS (\\Flagged $Important))",
            "s1 OK STORE completed",
        }));
        Assert.That(await first.CommandAsync("s2", "UID STORE 2 FLAGS.SILENT (\\Seen)"), Is.EqualTo(new[] { "s2 OK STORE completed" }));
        Assert.That(await first.CommandAsync("s3", "STORE 3 +FLAGS (\\Seen)"), Is.EqualTo(new[] { "s3 BAD Invalid message sequence number" }).Or.EqualTo(new[] { "s3 BAD [CLIENTBUG] Invalid message sequence number" }));
        Assert.That(await first.CommandAsync("s4", "STORE 1 +FLAGS (\\Bogus)"), Is.EqualTo(new[] { "s4 BAD Unknown system flag \\Bogus" }));

        Assert.That(await second.CommandAsync("n1", "NOOP"), Is.EqualTo(new[]
        {
            "* 1 FETCH (UID 1 FLAGS (\\Flagged $Important))",
            "* 2 FETCH (UID 2 FLAGS (\\Seen))",
            "n1 OK NOOP completed",
        }));
    }

    [Test]
    public async Task MailKit_adds_and_removes_flags()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        using var client = await server.MailKitAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        await client.Inbox.AddFlagsAsync(0, MessageFlags.Answered | MessageFlags.Seen, true);
        await client.Inbox.RemoveFlagsAsync(0, MessageFlags.Seen, true);
        var summary = (await client.Inbox.FetchAsync(0, 0, MessageSummaryItems.Flags))[0];
        Assert.That(summary.Flags, Is.EqualTo(MessageFlags.Answered));
        await client.DisconnectAsync(true);
    }
}
