using MailServer.Protocols.Imap;
using MailServer.Protocols.Imap.Search;
using MailServer.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>
/// Issue 15, body search that does not decrypt every message: with the folder indexed, SEARCH BODY / TEXT / FROM /
/// SUBJECT answer exactly what the full scan answers (RFC 9051 §6.4.4: case-insensitive substring), decided by the
/// index where it can (event 5060) and by reading the rest: messages newer than the index, phrases, punctuation.
/// </summary>
[TestFixture]
public sealed class SearchIndexTests
{
    private static readonly string[] Messages =
    [
        "From: Alice <alice@example.net>\r\nTo: alice@example.test\r\nSubject: Quarterly report\r\n\r\nThe quarterly figures are attached.\r\nRegards, Alice\r\n",
        "From: \"Bob B.\" <bob@example.net>\r\nTo: alice@example.test\r\nSubject: lunch?\r\n\r\nLunch at noon? The usual place.\r\n",
        "From: carol@example.net\r\nTo: alice@example.test\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nViele Gr=C3=BC=C3=9Fe aus K=C3=B6ln, die Stra=C3=9Fe ist gesperrt.\r\n",
        "From: <dave (the boss) @ (office) example.net>\r\nTo: alice@example.test\r\nSubject: budget\r\n\r\nPlease review the BUDGET before\r\n   Friday.\r\n",
        "From: eve@example.net\r\nTo: alice@example.test\r\nSubject: multipart\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\nU2VjcmV0IHByb2plY3QgWmVwaHlyIGtpY2tzIG9mZiBNb25kYXku\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>Secret project <b>Zephyr</b> kicks off Monday.</p>\r\n--b1--\r\n",
        "From: frank@example.net\r\nTo: alice@example.test\r\nSubject: token\r\n\r\nkey=" + new string('a', 150) + "XYZZY" + new string('b', 150) + " done\r\n",
        "From: grace@example.net\r\nTo: alice@example.test\r\nSubject: Re: lunch?\r\n\r\nnoon works; see you at the usual-place (the café).\r\n",
        "From: heidi@example.net\r\nTo: alice@example.test\r\nSubject: numbers\r\n\r\nInvoice 2026-0042 totals 1,234.56 EUR.\r\n",
        "From: ivan@example.net\r\nTo: alice@example.test\r\nSubject: \u00c9t\u00e9\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\u00c9T\u00c9 \u00e0 Paris, caf\u00e9 cr\u00e8me. \U0001F600 emoji\r\n",
        "From: judy@example.net\r\nTo: alice@example.test\r\nSubject: attachment\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b2\"\r\n\r\n--b2\r\nContent-Type: text/plain\r\n\r\nSee the attached file.\r\n--b2\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nWmVwaHlyIGluIGEgYmluYXJ5IHBhcnQ=\r\n--b2--\r\n",
    ];

    private static readonly string[] Queries =
    [
        "BODY quarterly", "BODY QUARTERLY", "BODY arter", "BODY figure", "BODY lunch", "BODY noon", "BODY \"usual place\"",
        "BODY usual-place", "BODY \"the usual\"", "BODY budget", "BODY \"before Friday\"", "BODY zephyr", "BODY ZEPHYR",
        "BODY \"project Zephyr\"", "BODY xyzzy", "BODY aaaaXYZZYbbbb", "BODY " + new string('a', 70), "BODY \"straße\"", "BODY STRASSE",
        "BODY \"köln\"", "BODY \"KÖLN\"", "BODY \"été\"", "BODY caf", "BODY \"\U0001F600\"", "BODY 2026", "BODY 0042", "BODY 1,234", "BODY \"(the\"",
        "BODY nothing-here", "BODY attached", "BODY binary", "BODY \"\"", "BODY \" \"", "BODY ,", "TEXT alice", "TEXT \"Grüße\"", "TEXT lunch",
        "TEXT example", "TEXT multipart", "TEXT zephyr", "TEXT \"Subject: lunch\"", "FROM dave@example.net", "FROM boss", "FROM \"Bob B\"",
        "SUBJECT lunch", "SUBJECT \"grüße\"", "NOT BODY lunch", "OR BODY lunch BODY budget", "UNSEEN BODY noon", "BODY noon SUBJECT re",
        "NOT TEXT example", "OR NOT BODY zephyr SEEN", "HEADER To alice", "HEADER X-Missing \"\"", "SENTSINCE 1-Jan-2000 BODY lunch",
    ];

    private static async Task<List<string>> AnswersAsync(ImapLineClient client)
    {
        var answers = new List<string>();
        var tag = 0;
        foreach (var query in Queries)
        {
            var reply = await client.CommandAsync($"q{++tag}", "UID SEARCH CHARSET UTF-8 " + query);
            answers.Add(query + " => " + string.Join(" | ", reply.Select(r => r.StartsWith($"q{tag} ", StringComparison.Ordinal) ? r[(r.IndexOf(' ') + 1)..] : r)));
        }
        return answers;
    }

    [Test]
    public async Task Indexed_search_answers_exactly_what_reading_every_message_answers()
    {
        var logger = new RecordingLogger<ImapListener>();
        await using var server = await ImapTestServer.StartAsync(logger: logger);
        foreach (var message in Messages)
            await server.DeliverRawAsync("alice", message);
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("a", "SELECT INBOX");
        await client.CommandAsync("b", "UID STORE 2 +FLAGS.SILENT (\\Seen)");
        var scanned = await AnswersAsync(client);
        Assert.That(logger.Records.Where(r => r.EventId.Id == 5060), Is.Empty, "no index yet: every message is read");
        Assert.That(logger.Records.Count(r => r.EventId.Id == 5061), Is.GreaterThan(0));

        var indexed = await new SearchIndexer(server.Store, NullLogger.Instance).CatchUpAsync(CancellationToken.None);
        Assert.That(indexed, Is.EqualTo(Messages.Length));
        logger.Records.Clear();
        var fromIndex = await AnswersAsync(client);

        Assert.That(fromIndex, Is.EqualTo(scanned));
        Assert.That(scanned, Does.Contain("BODY zephyr => * SEARCH 5 | OK SEARCH completed"), "the base64 text part; not the binary attachment");
        Assert.That(scanned, Does.Contain("BODY xyzzy => * SEARCH 6 | OK SEARCH completed"), "inside a run longer than a chunk");
        Assert.That(scanned, Does.Contain("BODY \"straße\" => * SEARCH 3 | OK SEARCH completed"));
        Assert.That(scanned, Does.Contain("FROM dave@example.net => * SEARCH 4 | OK SEARCH completed"), "the address without its comments");
        var used = logger.Records.Where(r => r.EventId.Id == 5060).Select(r => r.Message).ToList();
        Assert.That(used, Does.Contain($"SEARCH in folder {server.Store.FindFolder(await server.MailboxIdAsync("alice"), "INBOX")!.FolderId}: the index decided 10 of 10 messages; 0 read and tested"),
            "a one-word BODY search is answered by the index alone");
        Assert.That(logger.Records.Where(r => r.EventId.Id == 5061).Select(r => r.Message),
            Has.Some.EndsWith("no BODY, TEXT or header key has a letter or digit to look up"), "BODY \",\" falls back, and says so");
    }

    [Test]
    public async Task Messages_newer_than_the_index_and_expunged_ones_are_answered_as_without_it()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "kiwi one");
        await server.DeliverAsync("alice", "mango two");
        await server.DeliverAsync("alice", "kiwi three", flags: MailServer.Storage.MessageFlags.Deleted);
        await new SearchIndexer(server.Store, NullLogger.Instance).CatchUpAsync(CancellationToken.None);
        await server.DeliverAsync("alice", "kiwi four (not indexed yet)");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("a", "SELECT INBOX");

        Assert.That(await client.CommandAsync("s1", "UID SEARCH BODY KIWI"), Is.EqualTo(new[] { "* SEARCH 1 3 4", "s1 OK SEARCH completed" }));
        await client.CommandAsync("x", "EXPUNGE");
        Assert.That(await client.CommandAsync("s2", "UID SEARCH BODY kiwi"), Is.EqualTo(new[] { "* SEARCH 1 4", "s2 OK SEARCH completed" }));
        await new SearchIndexer(server.Store, NullLogger.Instance).CatchUpAsync(CancellationToken.None);
        Assert.That(await client.CommandAsync("s3", "SEARCH TEXT kiwi"), Is.EqualTo(new[] { "* SEARCH 1 3", "s3 OK SEARCH completed" }));

        // MailKit, as a client would ask.
        using var mailKit = await server.MailKitAsync();
        var inbox = await mailKit.GetFolderAsync("INBOX");
        await inbox.OpenAsync(MailKit.FolderAccess.ReadOnly);
        var found = await inbox.SearchAsync(MailKit.Search.SearchQuery.BodyContains("ANGO"));
        Assert.That(found.Select(u => u.Id), Is.EqualTo(new uint[] { 2 }));
        await mailKit.DisconnectAsync(true);
    }
}
