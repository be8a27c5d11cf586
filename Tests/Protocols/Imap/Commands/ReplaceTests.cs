using MailKit;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>REPLACE / UID REPLACE (RFC 8508): the new message appended and the old one expunged in one store step, or
/// nothing; APPENDUID untagged, EXISTS, EXPUNGE (VANISHED with QRESYNC), tagged OK, as in the RFC's examples.</summary>
[TestFixture]
public sealed class ReplaceTests
{
    private const string Draft = "From: Fritz Schmidt <fritz.ww@example.org>\r\nTo: Helga Mueller <helga@example.com>\r\nSubject: Saturday lunch\r\n\r\nHelga, lunch at noon?\r\n";

    [Test]
    public async Task Replace_in_the_selected_mailbox_answers_appenduid_exists_expunge_as_the_rfc_example()
    {
        await using var server = await ImapTestServer.StartAsync();
        for (var i = 1; i <= 4; i++)
            await server.DeliverAsync("alice", "draft " + i, "Drafts", MailServer.Storage.MessageFlags.Draft);
        var drafts = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "Drafts")!;
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("c", "CAPABILITY"), Has.Some.Contains(" REPLACE "));
        await client.CommandAsync("e", "ENABLE IMAP4rev2");
        await client.CommandAsync("s", "SELECT Drafts");

        // RFC 8508 §3.1 example: replace message 4 in the selected Drafts.
        Assert.That(await client.CommandAsync("A003", $"REPLACE 4 Drafts (\\Seen \\Draft) {{{Draft.Length}+}}\r\n{Draft}"), Is.EqualTo(new[]
        {
            $"* OK [APPENDUID {drafts.UidValidity} 5] Replacement message ready",
            "* 5 EXISTS",
            "* 4 EXPUNGE",
            "A003 OK REPLACE completed",
        }));
        Assert.That(await client.CommandAsync("f", "FETCH 1:* (UID FLAGS)"), Is.EqualTo(new[]
        {
            @"* 1 FETCH (UID 1 FLAGS (\Draft))",
            @"* 2 FETCH (UID 2 FLAGS (\Draft))",
            @"* 3 FETCH (UID 3 FLAGS (\Draft))",
            @"* 4 FETCH (UID 5 FLAGS (\Seen \Draft))",
            "f OK FETCH completed",
        }));
        Assert.That(await client.CommandAsync("b", "FETCH 4 BODY.PEEK[TEXT]"), Is.EqualTo(new[]
        {
            "* 4 FETCH (BODY[TEXT] {23}\r\nHelga, lunch at noon?\r\n)", "b OK FETCH completed",
        }));
    }

    [Test]
    public async Task Uid_replace_into_another_mailbox_with_qresync_sends_vanished_and_another_session_sees_both_changes()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "draft", "Drafts", MailServer.Storage.MessageFlags.Draft);
        await server.DeliverAsync("alice", "other", "Drafts", MailServer.Storage.MessageFlags.Draft);
        var sent = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "Sent Items")!;
        await using var watcher = await server.LoggedInAsync();
        await watcher.CommandAsync("e", "ENABLE IMAP4rev2");
        await watcher.CommandAsync("s", "SELECT Drafts");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("e", "ENABLE QRESYNC");
        await client.CommandAsync("s", "SELECT Drafts");

        // RFC 8508 §3.2: UID REPLACE; the destination need not be the selected mailbox (a draft that was sent).
        Assert.That(await client.CommandAsync("B003", $"UID REPLACE 1 \"Sent Items\" (\\Seen) {{{Draft.Length}+}}\r\n{Draft}"), Is.EqualTo(new[]
        {
            $"* OK [APPENDUID {sent.UidValidity} 1] Replacement message ready",
            "* VANISHED 1",
            "B003 OK REPLACE completed",
        }));
        Assert.That(await watcher.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "* 1 EXPUNGE", "n OK NOOP completed" }));
        Assert.That(await client.CommandAsync("st", "STATUS \"Sent Items\" (MESSAGES)"), Is.EqualTo(new[]
        {
            "* STATUS \"Sent Items\" (MESSAGES 1)", "st OK STATUS completed",
        }));
    }

    [Test]
    public async Task Refused_replace_leaves_both_mailboxes_as_they_were()
    {
        await using var server = await ImapTestServer.StartAsync(limits: new MailServer.Protocols.Imap.ImapLimits(MaxMessageBytes: 4096));
        await server.DeliverAsync("alice", "draft", "Drafts", MailServer.Storage.MessageFlags.Draft);
        await server.DeliverAsync("alice", "gone", "Drafts", MailServer.Storage.MessageFlags.Draft);
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("e", "ENABLE IMAP4rev2");
        await client.CommandAsync("s", "SELECT Drafts");

        // A sequence number out of range is a protocol error like in any command (RFC 9051 §7.1).
        Assert.That(await client.CommandAsync("r1", $"REPLACE 3 Drafts {{{Draft.Length}+}}\r\n{Draft}"),
            Is.EqualTo(new[] { "r1 BAD [CLIENTBUG] Invalid message sequence number" }));
        Assert.That(await client.CommandAsync("r2", $"UID REPLACE 9 Drafts {{{Draft.Length}+}}\r\n{Draft}"),
            Is.EqualTo(new[] { "r2 NO [NONEXISTENT] No message with that UID" }));
        // Bad message: empty, too big (APPENDLIMIT, RFC 7889), destination missing (TRYCREATE): no expunge.
        Assert.That(await client.CommandAsync("r3", "REPLACE 1 Drafts {0+}\r\n"), Is.EqualTo(new[] { "r3 NO [CANNOT] Empty message" }));
        var big = "Subject: big\r\n\r\n" + new string('x', 5000) + "\r\n";
        Assert.That(await client.CommandAsync("r4", $"REPLACE 1 Drafts {{{big.Length}+}}\r\n{big}"),
            Has.Count.EqualTo(1).And.Some.StartWith("r4 NO [TOOBIG]"));
        Assert.That(await client.CommandAsync("r5", $"REPLACE 1 Nowhere {{{Draft.Length}+}}\r\n{Draft}"),
            Is.EqualTo(new[] { "r5 NO [TRYCREATE] No such mailbox" }));
        // Over quota: the mailbox holds both drafts; the new one is larger than the room the old one frees.
        var used = server.Store.FindMailbox(ImapTestServer.OrgId, "alice@example.test")!.UsedBytes;
        server.SetQuota("alice@example.test", used + 10);
        var larger = "Subject: larger\r\n\r\n" + new string('y', 400) + "\r\n";
        Assert.That(await client.CommandAsync("r6", $"REPLACE 1 Drafts {{{larger.Length}+}}\r\n{larger}"),
            Is.EqualTo(new[] { "r6 NO [OVERQUOTA] The mailbox is full" }));
        // ... while a new version no larger than the old one fits, the old one's room counting (RFC 8508 §3.3: one step).
        Assert.That(await client.CommandAsync("r7", "REPLACE 1 Drafts {20+}\r\nSubject: s\r\n\r\nshort\r\n"), Has.Some.EqualTo("r7 OK REPLACE completed"));
        server.SetQuota("alice@example.test", 1024L * 1024 * 1024);

        // Expunged by another session, not yet announced here: EXPUNGEISSUED, nothing appended.
        await using (var other = await server.LoggedInAsync())
        {
            await other.CommandAsync("o1", "SELECT Drafts");
            await other.CommandAsync("o2", @"UID STORE 2 +FLAGS.SILENT (\Deleted)");
            await other.CommandAsync("o3", "UID EXPUNGE 2");
        }
        Assert.That(await client.CommandAsync("r8", $"UID REPLACE 2 Drafts {{{Draft.Length}+}}\r\n{Draft}"),
            Is.EqualTo(new[] { "* 1 EXPUNGE", "r8 NO [EXPUNGEISSUED] The message to replace was expunged" }));

        // EXAMINE: the old message cannot be expunged.
        await client.CommandAsync("ex", "EXAMINE Drafts");
        Assert.That(await client.CommandAsync("r9", $"REPLACE 1 Drafts {{{Draft.Length}+}}\r\n{Draft}"),
            Is.EqualTo(new[] { "r9 NO [READ-ONLY] The mailbox is read-only" }));
        Assert.That(await client.CommandAsync("st", "STATUS Drafts (MESSAGES UIDNEXT)"), Is.EqualTo(new[]
        {
            "* STATUS Drafts (MESSAGES 1 UIDNEXT 4)", "st OK STATUS completed",
        }));
    }

    [Test]
    public async Task MailKit_replaces_a_draft()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "draft v1", "Drafts", MailServer.Storage.MessageFlags.Draft);
        using var client = await server.MailKitAsync();
        Assert.That(client.Capabilities.HasFlag(MailKit.Net.Imap.ImapCapabilities.Replace), Is.True);
        var drafts = client.GetFolder(SpecialFolder.Drafts)!;
        await drafts.OpenAsync(FolderAccess.ReadWrite);
        var message = new MimeMessage([new MailboxAddress("", "alice@example.test")], [new MailboxAddress("", "bob@example.test")], "draft v2",
            new TextPart("plain") { Text = "second version" });
        var uid = await drafts.ReplaceAsync(new UniqueId(1), new ReplaceRequest(message, MessageFlags.Draft));
        Assert.That(uid, Is.EqualTo(new UniqueId(2)));
        var summaries = await drafts.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Envelope);
        Assert.That(summaries.Select(s => (s.UniqueId.Id, s.Envelope!.Subject)), Is.EqualTo(new[] { (2u, "draft v2") }));
        await client.DisconnectAsync(true);
    }
}
