using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>SEARCHRES (RFC 5182): SEARCH RETURN (SAVE) and <c>$</c> in later commands.</summary>
[TestFixture]
public sealed class SearchResTests
{
    [Test]
    public async Task Saved_result_feeds_fetch_store_and_search_and_survives_expunge_as_uids()
    {
        await using var server = await ImapTestServer.StartAsync();
        for (var i = 1; i <= 5; i++)
            await server.DeliverAsync("alice", "m" + i, flags: i % 2 == 0 ? MailServer.Storage.MessageFlags.Seen : MailServer.Storage.MessageFlags.None);
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("c", "CAPABILITY"), Has.Some.Contains(" SEARCHRES"));
        await client.CommandAsync("s", "SELECT INBOX");

        // RFC 5182 §2.4: SAVE alone answers with no ESEARCH.
        Assert.That(await client.CommandAsync("a1", "UID SEARCH RETURN (SAVE) UNSEEN"), Is.EqualTo(new[] { "a1 OK SEARCH completed; result saved" }));
        Assert.That(await client.CommandAsync("a2", "FETCH $ (UID)"), Is.EqualTo(new[]
        {
            "* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)", "* 5 FETCH (UID 5)", "a2 OK FETCH completed",
        }));
        Assert.That(await client.CommandAsync("a3", "UID STORE $ +FLAGS.SILENT (\\Flagged)"), Is.EqualTo(new[] { "a3 OK STORE completed" }));
        Assert.That(await client.CommandAsync("a4", "SEARCH $ FLAGGED"), Is.EqualTo(new[] { "* SEARCH 1 3 5", "a4 OK SEARCH completed" }));

        // The saved result is a set of messages: after message 1 is expunged, $ is the UIDs 3 and 5 (now 2 and 4).
        await client.CommandAsync("a5", "STORE 1 +FLAGS.SILENT (\\Deleted)");
        await client.CommandAsync("a6", "EXPUNGE");
        Assert.That(await client.CommandAsync("a7", "FETCH $ (UID)"), Is.EqualTo(new[] { "* 2 FETCH (UID 3)", "* 4 FETCH (UID 5)", "a7 OK FETCH completed" }));

        // SAVE with MIN and MAX saves only those two, and the ESEARCH reply carries them.
        Assert.That(await client.CommandAsync("b1", "SEARCH RETURN (SAVE MIN MAX) ALL"), Is.EqualTo(new[]
        {
            "* ESEARCH (TAG \"b1\") MIN 1 MAX 4", "b1 OK SEARCH completed",
        }));
        Assert.That(await client.CommandAsync("b2", "UID FETCH $ (UID)"), Is.EqualTo(new[] { "* 1 FETCH (UID 2)", "* 4 FETCH (UID 5)", "b2 OK FETCH completed" }));

        // A failed SEARCH ... SAVE empties $; a new SELECT starts with none saved.
        Assert.That(await client.CommandAsync("c1", "SEARCH RETURN (SAVE) CHARSET KOI8-X ALL"), Has.Count.EqualTo(1).And.Some.StartsWith("c1 NO [BADCHARSET"));
        Assert.That(await client.CommandAsync("c2", "FETCH $ (UID)"), Is.EqualTo(new[] { "c2 OK FETCH completed" }));
        await client.CommandAsync("c3", "UID SEARCH RETURN (SAVE) ALL");
        await client.CommandAsync("c4", "SELECT INBOX");
        Assert.That(await client.CommandAsync("c5", "UID FETCH $ (UID)"), Is.EqualTo(new[] { "c5 OK FETCH completed" }));
    }
}
