using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): RETURN (UPDATE) keeps a UID SEARCH / UID SORT result current
/// with ADDTO / REMOVEFROM, driven by the store's change feed after each command and during IDLE; CANCELUPDATE ends it.</summary>
[TestFixture]
public sealed class ContextTests
{
    [Test]
    public async Task Search_and_sort_results_follow_arrivals_flag_changes_and_expunges()
    {
        await using var server = await ImapTestServer.StartAsync();
        for (var i = 1; i <= 5; i++)
            await server.DeliverAsync("alice", "m" + i);
        await using var client = await server.LoggedInAsync();
        var capabilities = await client.CommandAsync("c", "CAPABILITY");
        Assert.That(capabilities, Has.Some.Contains(" CONTEXT=SEARCH ").And.Some.Contains(" CONTEXT=SORT "));
        await client.CommandAsync("e", "ENABLE IMAP4rev2");
        await client.CommandAsync("s", "SELECT INBOX");
        await client.CommandAsync("u", @"UID STORE 2 +FLAGS.SILENT (\Seen)");

        Assert.That(await client.CommandAsync("B01", "UID SEARCH RETURN (UPDATE) UNSEEN"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"B01\") UID ALL 1,3:5", "B01 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("S01", "UID SORT RETURN (UPDATE) (REVERSE ARRIVAL) US-ASCII UNSEEN"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"S01\") UID ALL 5,4,3,1", "S01 OK SORT completed" }));
        Assert.That(await client.CommandAsync("C01", "UID SEARCH RETURN (UPDATE COUNT) ALL"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"C01\") UID COUNT 5", "C01 OK SEARCH completed" }));
        // RFC 5267 §4.3: the server may decline to keep a result updated; here a sequence-number one.
        Assert.That(await client.CommandAsync("D01", "SEARCH RETURN (UPDATE) ALL"), Is.EqualTo(new[]
        {
            "* ESEARCH (TAG \"D01\") ALL 1:5", "* NO [NOUPDATE \"D01\"] Only UID SEARCH and UID SORT results are kept updated", "D01 OK SEARCH completed",
        }));

        // A delivery: ADDTO (position 0 for SEARCH, the sort position for SORT), a new COUNT.
        await server.DeliverAsync("alice", "m6");
        Assert.That(await client.CommandAsync("n1", "NOOP"), Is.EqualTo(new[]
        {
            "* 6 EXISTS",
            "* ESEARCH (TAG \"B01\") UID ADDTO (0 6)",
            "* ESEARCH (TAG \"S01\") UID ADDTO (1 6)",
            "* ESEARCH (TAG \"C01\") UID COUNT 6",
            "n1 OK NOOP completed",
        }));

        // Another session's flag change takes a message out of the UNSEEN results.
        await using var other = await server.LoggedInAsync("alice");
        await other.CommandAsync("o1", "SELECT INBOX");
        await other.CommandAsync("o2", @"UID STORE 3 +FLAGS.SILENT (\Seen)");
        Assert.That(await client.CommandAsync("n2", "NOOP"), Is.EqualTo(new[]
        {
            @"* 3 FETCH (UID 3 FLAGS (\Seen))",
            "* ESEARCH (TAG \"B01\") UID REMOVEFROM (0 3)",
            "* ESEARCH (TAG \"S01\") UID REMOVEFROM (4 3)",
            "n2 OK NOOP completed",
        }));
        Assert.That(await client.CommandAsync("x1", "CANCELUPDATE \"S01\" \"C01\""), Is.EqualTo(new[] { "x1 OK CANCELUPDATE completed" }));
        Assert.That(await client.CommandAsync("x2", "CANCELUPDATE \"S01\""), Is.EqualTo(new[] { "x2 BAD No search result with that tag is kept updated" }));

        // During IDLE the same feed drives the updates: an expunge by the other session.
        await client.SendLineAsync("i IDLE");
        Assert.That(await client.ReadLineAsync(), Does.StartWith("+ "));
        await other.CommandAsync("o3", @"UID STORE 4 +FLAGS.SILENT (\Deleted)");
        await other.CommandAsync("o4", "UID EXPUNGE 4");
        var heard = new List<string>();
        while (heard.Count < 10 && !heard.Contains("* ESEARCH (TAG \"B01\") UID REMOVEFROM (0 4)"))
            heard.Add(await client.ReadLineAsync() ?? throw new EndOfStreamException());
        Assert.That(heard, Has.Some.EqualTo("* 4 EXPUNGE"));
        Assert.That(heard.IndexOf("* 4 EXPUNGE"), Is.LessThan(heard.Count - 1), "REMOVEFROM follows the EXPUNGE");
        await client.SendLineAsync("DONE");
        Assert.That(await client.ReadUntilTaggedAsync("i"), Has.Some.EqualTo("i OK IDLE terminated"));
        // A new message with \Seen does not match UNSEEN: nothing for B01; a new unseen one does.
        await server.DeliverAsync("alice", "m7", flags: MailServer.Storage.MessageFlags.Seen);
        await server.DeliverAsync("alice", "m8");
        Assert.That(await client.CommandAsync("n3", "NOOP"), Is.EqualTo(new[]
        {
            "* 7 EXISTS", "* ESEARCH (TAG \"B01\") UID ADDTO (0 8)", "n3 OK NOOP completed",
        }));
    }
}
