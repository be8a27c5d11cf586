using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>UIDONLY (RFC 9586): after ENABLE UIDONLY no sequence number goes either way: commands with one are BAD
/// [UIDREQUIRED], FETCH data is UIDFETCH, expunges are VANISHED.</summary>
[TestFixture]
public sealed class UidOnlyTests
{
    [Test]
    public async Task Sequence_numbers_are_refused_and_responses_carry_uids_only()
    {
        await using var server = await ImapTestServer.StartAsync();
        for (var i = 1; i <= 3; i++)
            await server.DeliverAsync("alice", "m" + i);
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("c", "CAPABILITY"), Has.Some.Contains(" UIDONLY "));
        Assert.That(await client.CommandAsync("e", "ENABLE UIDONLY IMAP4rev2"), Is.EqualTo(new[] { "* ENABLED UIDONLY IMAP4rev2", "e OK ENABLE completed" }));
        var select = await client.CommandAsync("s", "SELECT INBOX");
        Assert.That(select, Has.Some.EqualTo("* 3 EXISTS"));
        Assert.That(select, Has.None.Contains("[UNSEEN"), "UNSEEN is a sequence number");

        // RFC 9586 §3: every command that takes a message sequence number (or "*" as one) is BAD [UIDREQUIRED].
        foreach (var command in new[]
                 {
                     "FETCH 1 FLAGS", "FETCH * FLAGS", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL", "COPY 1 Archive", "MOVE 1 Archive",
                     "SORT (ARRIVAL) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL", "UID SEARCH 1:2", "UID SEARCH NOT 2", "REPLACE 1 INBOX {1+}\r\nx",
                 })
        {
            Assert.That(await client.CommandAsync("b", command),
                Is.EqualTo(new[] { "b BAD [UIDREQUIRED] Message sequence numbers cannot be used after ENABLE UIDONLY" }), command);
        }

        // RFC 9586 §3.3: UIDFETCH keyed by UID; the UID item only when asked for.
        Assert.That(await client.CommandAsync("f1", "UID FETCH 1:* FLAGS"), Is.EqualTo(new[]
        {
            "* 1 UIDFETCH (FLAGS ())", "* 2 UIDFETCH (FLAGS ())", "* 3 UIDFETCH (FLAGS ())", "f1 OK FETCH completed",
        }));
        Assert.That(await client.CommandAsync("f2", "UID FETCH 2 (UID FLAGS)"), Is.EqualTo(new[] { "* 2 UIDFETCH (UID 2 FLAGS ())", "f2 OK FETCH completed" }));
        Assert.That(await client.CommandAsync("st", @"UID STORE 2 +FLAGS (\Seen)"), Is.EqualTo(new[] { @"* 2 UIDFETCH (FLAGS (\Seen))", "st OK STORE completed" }));
        Assert.That(await client.CommandAsync("sr", "UID SEARCH UNSEEN"), Is.EqualTo(new[] { "* ESEARCH (TAG \"sr\") UID ALL 1,3", "sr OK SEARCH completed" }));

        // Another session's changes: UIDFETCH for flags, VANISHED for expunges (RFC 9586 §3.4), EXISTS for arrivals.
        await using (var other = await server.LoggedInAsync())
        {
            await other.CommandAsync("o1", "SELECT INBOX");
            await other.CommandAsync("o2", @"UID STORE 3 +FLAGS.SILENT (\Flagged)");
            await other.CommandAsync("o3", @"UID STORE 1 +FLAGS.SILENT (\Deleted)");
            await other.CommandAsync("o4", "UID EXPUNGE 1");
        }
        await server.DeliverAsync("alice", "m4");
        Assert.That(await client.CommandAsync("n", "NOOP"), Is.EqualTo(new[]
        {
            "* VANISHED 1", @"* 3 UIDFETCH (FLAGS (\Flagged))", "* 3 EXISTS", "n OK NOOP completed",
        }));
        // The session's own expunge and move go out as VANISHED too.
        await client.CommandAsync("d", @"UID STORE 2 +FLAGS.SILENT (\Deleted)");
        Assert.That(await client.CommandAsync("x", "EXPUNGE"), Is.EqualTo(new[] { "* VANISHED 2", "x OK EXPUNGE completed" }));
        Assert.That(await client.CommandAsync("m", "UID MOVE 3 \"Deleted Items\""), Has.Some.EqualTo("* VANISHED 3").And.Some.EqualTo("m OK MOVE completed"));
    }
}
