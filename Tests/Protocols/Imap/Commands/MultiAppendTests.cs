using MailKit;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>MULTIAPPEND (RFC 3502): several messages in one APPEND, all stored or none.</summary>
[TestFixture]
public sealed class MultiAppendTests
{
    [Test]
    public async Task Several_messages_are_appended_in_order_with_their_flags()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        var inbox = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "INBOX")!;
        Assert.That(await client.CommandAsync("c", "CAPABILITY"), Has.Some.Contains(" MULTIAPPEND"));
        await client.CommandAsync("s", "SELECT INBOX");

        // RFC 3502 §6.3.11 example shape: each message with its own flags and date.
        const string first = "Subject: one\r\n\r\n1\r\n";
        const string second = "Subject: two\r\n\r\n2\r\n";
        var reply = await client.CommandAsync("a1",
            $"APPEND INBOX (\\Seen) \"10-Jan-2026 09:00:00 +0100\" {{{first.Length}+}}\r\n{first} ($Todo) {{{second.Length}+}}\r\n{second}");
        Assert.That(reply, Is.EqualTo(new[] { "* 2 EXISTS", "* 2 RECENT", $"a1 OK [APPENDUID {inbox.UidValidity} 1:2] APPEND completed" }));
        Assert.That(await client.CommandAsync("f", "FETCH 1:2 (UID FLAGS INTERNALDATE)"), Is.EqualTo(new[]
        {
            @"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Todo)",
            @"* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Todo \*)] Flags permitted",
            "* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) INTERNALDATE \"10-Jan-2026 09:00:00 +0100\")",
            $"* 2 FETCH (UID 2 FLAGS ($Todo \\Recent) INTERNALDATE {DateReply(await client.CommandAsync("d", "FETCH 2 INTERNALDATE"))})",
            "f OK FETCH completed",
        }));
    }

    [Test]
    public async Task One_refused_message_means_none_is_appended()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        const string small = "Subject: ok\r\n\r\nx\r\n";
        Assert.That(await client.CommandAsync("a1", $"APPEND INBOX {{{small.Length}+}}\r\n{small} {{0+}}\r\n"),
            Is.EqualTo(new[] { "a1 NO [CANNOT] Empty message" }));
        // Over quota together though each message alone would fit (RFC 9208 §4.3).
        server.SetQuota("alice@example.test", small.Length + 10);
        Assert.That(await client.CommandAsync("a2", $"APPEND INBOX {{{small.Length}+}}\r\n{small} {{{small.Length}+}}\r\n{small}"),
            Is.EqualTo(new[] { "a2 NO [OVERQUOTA] The mailbox is full" }));
        Assert.That(await client.CommandAsync("st", "STATUS INBOX (MESSAGES)"), Is.EqualTo(new[] { "* STATUS INBOX (MESSAGES 0)", "st OK STATUS completed" }));
    }

    [Test]
    public async Task MailKit_appends_several_messages_in_one_command()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.MailKitAsync();
        Assert.That(client.Capabilities.HasFlag(MailKit.Net.Imap.ImapCapabilities.MultiAppend), Is.True);
        var requests = Enumerable.Range(1, 3).Select(i => (IAppendRequest)new AppendRequest(
            new MimeMessage([new MailboxAddress("", "a@example.test")], [new MailboxAddress("", "alice@example.test")], "multi " + i,
                new TextPart("plain") { Text = "body " + i }), MessageFlags.Seen)).ToList();
        var uids = await client.Inbox.AppendAsync(requests);
        Assert.That(uids.Select(u => u.Id), Is.EqualTo(new uint[] { 1, 2, 3 }));
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var summaries = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Flags);
        Assert.That(summaries.Select(s => s.Envelope!.Subject), Is.EqualTo(new[] { "multi 1", "multi 2", "multi 3" }));
        Assert.That(summaries.All(s => s.Flags == (MessageFlags.Seen | MessageFlags.Recent)), Is.True);
        await client.DisconnectAsync(true);
    }

    private static string DateReply(List<string> lines) => lines[0][(lines[0].IndexOf("INTERNALDATE ", StringComparison.Ordinal) + 13)..^1];
}
