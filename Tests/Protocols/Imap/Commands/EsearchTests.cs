using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>ESEARCH (RFC 4731) statement by statement, with the shapes of its examples (§3.1): 11 messages, 2, 10 and
/// 11 flagged, as in the RFC's <c>ALL 2,10:11</c>.</summary>
[TestFixture]
public sealed class EsearchTests
{
    private static async Task<ImapTestServer> ElevenMessagesAsync()
    {
        var server = await ImapTestServer.StartAsync();
        for (var i = 1; i <= 11; i++)
            await server.DeliverAsync("alice", $"m{i}", flags: i is 2 or 10 or 11 ? MessageFlags.Flagged : MessageFlags.None);
        return server;
    }

    [Test]
    public async Task Rfc_examples_min_count_empty_return_all_and_every_option()
    {
        await using var server = await ElevenMessagesAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That((await client.CommandAsync("c", "CAPABILITY"))[0], Does.Contain(" ESEARCH"));
        await client.CommandAsync("s", "SELECT INBOX");
        // §3.1 example: the ESEARCH response carries the command's tag, and only the options asked for.
        Assert.That(await client.CommandAsync("A282", "SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\""),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"A282\") MIN 2 COUNT 3", "A282 OK SEARCH completed" }));
        // §3.1: RETURN () is RETURN (ALL); ALL is a sequence-set (ranges joined).
        Assert.That(await client.CommandAsync("A283", "SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\""),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"A283\") ALL 2,10:11", "A283 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("A284", "SEARCH RETURN (MIN MAX ALL COUNT) FLAGGED"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"A284\") MIN 2 MAX 11 ALL 2,10:11 COUNT 3", "A284 OK SEARCH completed" }));
        // RFC 4466 §2.6: the return options come before CHARSET.
        Assert.That(await client.CommandAsync("A285", "SEARCH RETURN (COUNT) CHARSET UTF-8 SUBJECT m1"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"A285\") COUNT 3", "A285 OK SEARCH completed" })); // m1, m10, m11
        // §3.1: without RETURN an IMAP4rev1 client gets the SEARCH response of RFC 3501, never ESEARCH.
        Assert.That(await client.CommandAsync("A286", "SEARCH FLAGGED"), Is.EqualTo(new[] { "* SEARCH 2 10 11", "A286 OK SEARCH completed" }));
    }

    [Test]
    public async Task No_match_leaves_out_min_max_and_all_but_keeps_count()
    {
        await using var server = await ElevenMessagesAsync();
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("s", "SELECT INBOX");
        // §3.1: with no match MIN, MAX and ALL are left out; COUNT is 0; the ESEARCH response is still sent.
        Assert.That(await client.CommandAsync("A301", "SEARCH RETURN (MIN MAX ALL COUNT) DRAFT"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"A301\") COUNT 0", "A301 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("A302", "SEARCH RETURN (MIN) DRAFT"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"A302\")", "A302 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("A303", "UID SEARCH RETURN () DRAFT"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"A303\") UID", "A303 OK SEARCH completed" }));
    }

    [Test]
    public async Task Uid_search_says_uid_and_answers_uids()
    {
        await using var server = await ElevenMessagesAsync();
        await server.DeliverAsync("alice", "gone", flags: MessageFlags.Deleted);
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("s", "SELECT INBOX");
        // Make sequence numbers and UIDs differ: message 12 (UID 12) goes, a new one comes as sequence 12, UID 13.
        await client.CommandAsync("x", "EXPUNGE");
        await server.DeliverAsync("alice", "late", flags: MessageFlags.Flagged);
        await client.CommandAsync("n", "NOOP");
        // §3.1 example shape (UID SEARCH RETURN (MIN MAX) 1:5000): the UID indicator, and MIN/MAX/ALL as UIDs.
        Assert.That(await client.CommandAsync("A285", "UID SEARCH RETURN (MIN MAX) 1:5000"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"A285\") UID MIN 1 MAX 13", "A285 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("A286", "UID SEARCH RETURN (ALL COUNT) FLAGGED"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"A286\") UID ALL 2,10:11,13 COUNT 4", "A286 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("A287", "SEARCH RETURN (ALL) FLAGGED"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"A287\") ALL 2,10:12", "A287 OK SEARCH completed" }));
    }

    [Test]
    public async Task Unknown_or_malformed_return_options_are_bad()
    {
        await using var server = await ElevenMessagesAsync();
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("s", "SELECT INBOX");
        // RFC 4466 §2.6 / RFC 4731 §3.1: a result option the server does not know is a syntax error.
        foreach (var (tag, command) in new[] { ("b1", "SEARCH RETURN (FIRST) ALL"), ("b2", "SEARCH RETURN MIN ALL"), ("b3", "SEARCH RETURN (MIN ALL") })
        {
            var reply = await client.CommandAsync(tag, command);
            Assert.That(reply, Has.Count.EqualTo(1), command);
            Assert.That(reply[0], Does.StartWith(tag + " BAD "), command);
        }
        Assert.That(await client.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "n OK NOOP completed" }));
    }
}
