using MailKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class FetchTests
{
    [Test]
    public async Task Fetch_envelope_header_fields_and_peek_leaves_unseen_while_body_sets_seen()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "greeting");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("a", "SELECT INBOX");

        Assert.That(await client.CommandAsync("f1", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), Is.EqualTo(new[]
        {
            "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {21}\r\nSubject: greeting\r\n\r\n)",
            "f1 OK FETCH completed",
        }));
        var envelope = await client.CommandAsync("f2", "FETCH 1 (ENVELOPE FLAGS)");
        Assert.That(envelope[0], Does.StartWith("* 1 FETCH (ENVELOPE (NIL \"greeting\" ((NIL NIL \"sender\" \"example.net\"))").And.EndWith(" FLAGS (\\Recent))"));
        Assert.That(await client.CommandAsync("f3", "FETCH 1 BODY[TEXT]"), Is.EqualTo(new[]
        {
            "* 1 FETCH (BODY[TEXT] {16}\r\nHello greeting\r\n FLAGS (\\Seen \\Recent))",
            "f3 OK FETCH completed",
        }));
        Assert.That(await client.CommandAsync("f4", "FETCH 2 FLAGS"), Is.EqualTo(new[] { "f4 BAD [CLIENTBUG] Invalid message sequence number" }));
    }

    [Test]
    public async Task A_tampered_message_is_corruption_and_the_session_goes_on()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "fragile");
        var blob = Directory.GetFiles(server.Store.BlobDirectory, "*", SearchOption.AllDirectories).Single();
        var bytes = await File.ReadAllBytesAsync(blob);
        bytes[^5] ^= 0xff;
        await File.WriteAllBytesAsync(blob, bytes);
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("a", "SELECT INBOX");
        Assert.That(await client.CommandAsync("f1", "FETCH 1 BODY.PEEK[]"), Is.EqualTo(new[] { "f1 NO [CORRUPTION] A stored message is damaged" }));
        Assert.That(await client.CommandAsync("f2", "FETCH 1 (UID FLAGS)"), Is.EqualTo(new[] { "* 1 FETCH (UID 1 FLAGS (\\Recent))", "f2 OK FETCH completed" }));
    }

    [Test]
    public async Task A_header_longer_than_the_stored_summary_is_read_from_the_message()
    {
        await using var server = await ImapTestServer.StartAsync();
        var filler = string.Concat(Enumerable.Range(0, 4000).Select(i => $"X-Filler-{i}: {new string('f', 70)}\r\n"));
        var bytes = System.Text.Encoding.ASCII.GetBytes(filler + "Subject: at the end\r\n\r\nbody\r\n");
        await server.Store.DeliverAsync(bytes, DateTimeOffset.UtcNow,
            [new MailServer.Storage.DeliveryTarget(await server.MailboxIdAsync("alice"), "INBOX")], CancellationToken.None);
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("a", "SELECT INBOX");
        Assert.That(await client.CommandAsync("f1", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), Is.EqualTo(new[]
        {
            "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {23}\r\nSubject: at the end\r\n\r\n)",
            "f1 OK FETCH completed",
        }));
        Assert.That(await client.CommandAsync("s1", "SEARCH SUBJECT \"at the end\""), Is.EqualTo(new[] { "* SEARCH 1", "s1 OK SEARCH completed" }));
    }

    [Test]
    public async Task MailKit_fetches_summaries_and_the_message()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "first");
        await server.DeliverAsync("alice", "second");
        using var client = await server.MailKitAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var summaries = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.BodyStructure | MessageSummaryItems.UniqueId);
        Assert.That(summaries.Select(s => s.Envelope?.Subject), Is.EqualTo(new[] { "first", "second" }));
        var message = await client.Inbox.GetMessageAsync(summaries[1].UniqueId);
        Assert.That(message.TextBody?.Trim(), Is.EqualTo("Hello second"));
        await client.DisconnectAsync(true);
    }

    /// <summary>RFC 7162 §3.1: the first command that enables CONDSTORE while a mailbox is selected (here FETCH ...
    /// MODSEQ) is answered with an untagged OK [HIGHESTMODSEQ], once.</summary>
    [Test]
    public async Task Fetch_modseq_that_enables_condstore_reports_highestmodseq_once()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("e", "ENABLE IMAP4rev2");
        await client.CommandAsync("a", "SELECT INBOX");
        var folder = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "INBOX")!;
        var reply = await client.CommandAsync("f1", "FETCH 1 (MODSEQ)");
        Assert.That(reply, Has.Count.EqualTo(3));
        Assert.That(reply[0], Is.EqualTo($"* OK [HIGHESTMODSEQ {folder.HighestModSeq}] Highest"));
        Assert.That(reply[1], Does.StartWith("* 1 FETCH (MODSEQ ("));
        Assert.That(await client.CommandAsync("f2", "FETCH 1 (MODSEQ)"), Has.Count.EqualTo(2));
    }
}
