using MailKit;
using MailKit.Search;
using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>QRESYNC (RFC 7162 §3.2): ENABLE, SELECT (QRESYNC ...), VANISHED (EARLIER), UID FETCH ... VANISHED, and
/// untagged VANISHED in place of EXPUNGE.</summary>
[TestFixture]
public sealed class QResyncTests
{
    private static async Task<FolderInfo> InboxAsync(ImapTestServer server) =>
        server.Store.FindFolder(await server.MailboxIdAsync("alice"), "INBOX")!;

    [Test]
    public async Task Enable_qresync_implies_condstore_and_select_resynchronises_exactly()
    {
        await using var server = await ImapTestServer.StartAsync();
        for (var i = 1; i <= 5; i++)
            await server.DeliverAsync("alice", "m" + i);
        var before = await InboxAsync(server);

        // Meanwhile (the client was offline): message 2 is flagged, 3 and 4 are expunged, 6 arrives.
        await using (var other = await server.LoggedInAsync())
        {
            await other.CommandAsync("o1", "SELECT INBOX");
            await other.CommandAsync("o2", @"UID STORE 2 +FLAGS.SILENT (\Flagged)");
            await other.CommandAsync("o3", @"UID STORE 3:4 +FLAGS.SILENT (\Deleted)");
            await other.CommandAsync("o4", "EXPUNGE");
        }
        await server.DeliverAsync("alice", "m6");
        var after = await InboxAsync(server);

        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("e1", "ENABLE QRESYNC"), Is.EqualTo(new[] { "* ENABLED CONDSTORE QRESYNC", "e1 OK ENABLE completed" }));
        Assert.That(await client.CommandAsync("c1", "CAPABILITY"), Has.Some.Contains(" QRESYNC"));

        // RFC 7162 §3.2.5.1: VANISHED (EARLIER) after the usual untagged data, then the changed messages' FETCH.
        var reply = await client.CommandAsync("s1", $"SELECT INBOX (QRESYNC ({before.UidValidity} {before.HighestModSeq} 1:5))");
        Assert.That(reply.SkipWhile(l => !l.StartsWith("* VANISHED", StringComparison.Ordinal)), Is.EqualTo(new[]
        {
            "* VANISHED (EARLIER) 3:4",
            $@"* 2 FETCH (UID 2 FLAGS (\Flagged) MODSEQ ({before.HighestModSeq + 1}))",
            "s1 OK [READ-WRITE] SELECT completed",
        }));
        Assert.That(reply, Does.Contain($"* OK [HIGHESTMODSEQ {after.HighestModSeq}] Highest").And.Contain("* 4 EXISTS"));

        // Without known UIDs the server behaves as for 1:<max UID>: the new message 6 is reported too.
        reply = await client.CommandAsync("s2", $"EXAMINE INBOX (QRESYNC ({before.UidValidity} {before.HighestModSeq}))");
        Assert.That(reply.SkipWhile(l => !l.StartsWith("* VANISHED", StringComparison.Ordinal)), Is.EqualTo(new[]
        {
            "* VANISHED (EARLIER) 3:4",
            $@"* 2 FETCH (UID 2 FLAGS (\Flagged) MODSEQ ({before.HighestModSeq + 1}))",
            $"* 4 FETCH (UID 6 FLAGS () MODSEQ ({after.HighestModSeq}))",
            "s2 OK [READ-ONLY] EXAMINE completed",
        }));

        // A different UIDVALIDITY: no resynchronisation data, the client starts over.
        reply = await client.CommandAsync("s3", $"SELECT INBOX (QRESYNC (1 {before.HighestModSeq} 1:5))");
        Assert.That(reply, Has.None.StartsWith("* VANISHED").And.None.Contains("FETCH"));
        Assert.That(reply[^1], Is.EqualTo("s3 OK [READ-WRITE] SELECT completed"));

        // RFC 7162 §3.2.6: UID FETCH with CHANGEDSINCE and VANISHED.
        Assert.That(await client.CommandAsync("f1", $"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {before.HighestModSeq} VANISHED)"), Is.EqualTo(new[]
        {
            "* VANISHED (EARLIER) 3:4",
            $@"* 2 FETCH (UID 2 FLAGS (\Flagged) MODSEQ ({before.HighestModSeq + 1}))",
            $"* 4 FETCH (UID 6 FLAGS () MODSEQ ({after.HighestModSeq}))",
            "f1 OK FETCH completed",
        }));
        Assert.That(await client.CommandAsync("f2", $"UID FETCH 5:* (FLAGS) (CHANGEDSINCE {after.HighestModSeq} VANISHED)"), Is.EqualTo(new[] { "f2 OK FETCH completed" }));
    }

    [Test]
    public async Task Expunges_are_announced_as_vanished_once_qresync_is_enabled()
    {
        await using var server = await ImapTestServer.StartAsync();
        for (var i = 1; i <= 4; i++)
            await server.DeliverAsync("alice", "m" + i);
        await using var client = await server.LoggedInAsync();
        await using var other = await server.LoggedInAsync();
        await client.CommandAsync("e", "ENABLE QRESYNC");
        await client.CommandAsync("s", "SELECT INBOX");
        await other.CommandAsync("o1", "SELECT INBOX");
        await other.CommandAsync("o2", @"STORE 2:3 +FLAGS.SILENT (\Deleted)");
        await other.CommandAsync("o3", "EXPUNGE");

        // Never during a FETCH by sequence number (RFC 7162 §3.2.10 keeps RFC 9051 §7.5.1's rule).
        var fetch = await client.CommandAsync("f", "FETCH 4 (UID)");
        Assert.That(fetch, Has.None.StartsWith("* VANISHED"));
        Assert.That(await client.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "* VANISHED 2:3", "n OK NOOP completed" }));

        // Our own EXPUNGE: VANISHED, and the tagged OK carries the new HIGHESTMODSEQ.
        await client.CommandAsync("t", @"STORE 2 +FLAGS.SILENT (\Deleted)");
        var reply = await client.CommandAsync("x", "EXPUNGE");
        var folder = await InboxAsync(server);
        Assert.That(reply, Is.EqualTo(new[] { "* VANISHED 4", $"x OK [HIGHESTMODSEQ {folder.HighestModSeq}] EXPUNGE completed" }));
    }

    [Test]
    public async Task Qresync_parameters_and_vanished_need_enable_qresync()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "m1");
        var inbox = await InboxAsync(server);
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("s1", $"SELECT INBOX (QRESYNC ({inbox.UidValidity} 1))"),
            Is.EqualTo(new[] { "s1 BAD QRESYNC must be enabled first" }));
        await client.CommandAsync("s2", "SELECT INBOX");
        Assert.That(await client.CommandAsync("f1", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)"),
            Is.EqualTo(new[] { "f1 BAD VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC" }));
        Assert.That(await client.CommandAsync("x", "EXPUNGE"), Is.EqualTo(new[] { "x OK EXPUNGE completed" }));
    }

    [Test]
    public async Task MailKit_quick_resync_reports_vanished_messages()
    {
        await using var server = await ImapTestServer.StartAsync();
        for (var i = 1; i <= 3; i++)
            await server.DeliverAsync("alice", "m" + i);
        var before = await InboxAsync(server);
        await using (var other = await server.LoggedInAsync())
        {
            await other.CommandAsync("o1", "SELECT INBOX");
            await other.CommandAsync("o2", @"UID STORE 1 +FLAGS.SILENT (\Deleted)");
            await other.CommandAsync("o3", "EXPUNGE");
        }

        using var client = await server.MailKitAsync();
        Assert.That(client.Capabilities.HasFlag(MailKit.Net.Imap.ImapCapabilities.QuickResync), Is.True);
        await client.EnableQuickResyncAsync();
        var vanished = new List<UniqueId>();
        client.Inbox.MessagesVanished += (_, e) => vanished.AddRange(e.UniqueIds);
        await client.Inbox.OpenAsync(FolderAccess.ReadWrite, before.UidValidity, before.HighestModSeq,
            [new UniqueId(1), new UniqueId(2), new UniqueId(3)]);
        Assert.That(vanished, Is.EqualTo(new[] { new UniqueId(1) }));
        Assert.That(client.Inbox.Count, Is.EqualTo(2));
        var uids = await client.Inbox.SearchAsync(SearchQuery.All);
        Assert.That(uids, Is.EqualTo(new[] { new UniqueId(2), new UniqueId(3) }));
        await client.DisconnectAsync(true);
    }
}
