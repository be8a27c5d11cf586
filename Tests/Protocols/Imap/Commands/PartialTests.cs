using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>PARTIAL (RFC 9394): a window of a SEARCH / SORT result by position (negative from the end), and the
/// UID FETCH modifier, following the RFC's examples.</summary>
[TestFixture]
public sealed class PartialTests
{
    private static async Task<ImapLineClient> TenMessagesTwoDeletedAsync(ImapTestServer server)
    {
        for (var i = 1; i <= 10; i++)
            await server.DeliverAsync("alice", "m" + i);
        var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("c", "CAPABILITY"), Has.Some.Contains(" PARTIAL "));
        await client.CommandAsync("e", "ENABLE IMAP4rev2");
        await client.CommandAsync("s", "SELECT INBOX");
        await client.CommandAsync("d", @"UID STORE 2,5 +FLAGS.SILENT (\Deleted)");
        return client; // UNDELETED: UIDs 1 3 4 6 7 8 9 10
    }

    [Test]
    public async Task Search_return_partial_pages_from_either_end_as_the_rfc_examples()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await TenMessagesTwoDeletedAsync(server);

        // RFC 9394 §3.1 examples E01–E04, scaled down: first page, last page, with COUNT, past the end.
        Assert.That(await client.CommandAsync("E01", "UID SEARCH RETURN (PARTIAL 1:3) UNDELETED"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"E01\") UID PARTIAL (1:3 1,3:4)", "E01 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("E02", "UID SEARCH RETURN (PARTIAL -1:-3) UNDELETED"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"E02\") UID PARTIAL (-1:-3 8:10)", "E02 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("E03", "UID SEARCH RETURN (COUNT PARTIAL 5:20) UNDELETED"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"E03\") UID COUNT 8 PARTIAL (5:20 7:10)", "E03 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("E04", "UID SEARCH RETURN (PARTIAL 9:12) UNDELETED"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"E04\") UID PARTIAL (9:12 NIL)", "E04 OK SEARCH completed" }));
        // Ends in either order mean the same window; sequence numbers when not UID SEARCH.
        Assert.That(await client.CommandAsync("a", "SEARCH RETURN (MIN PARTIAL -2:-1) UNDELETED"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"a\") MIN 1 PARTIAL (-1:-2 9:10)", "a OK SEARCH completed" }));
        // RFC 9394 §3.1: PARTIAL and ALL together, mixed signs, zero: BAD.
        Assert.That((await client.CommandAsync("b", "UID SEARCH RETURN (ALL PARTIAL 1:2) ALL"))[^1], Does.StartWith("b BAD "));
        Assert.That((await client.CommandAsync("b2", "UID SEARCH RETURN (PARTIAL 1:-2) ALL"))[^1], Does.StartWith("b2 BAD "));
        Assert.That((await client.CommandAsync("b3", "UID SEARCH RETURN (PARTIAL 0:2) ALL"))[^1], Does.StartWith("b3 BAD "));

        // SAVE with PARTIAL keeps the window (RFC 5182 with RFC 9394): $ is UIDs 1 and 3.
        Assert.That(await client.CommandAsync("sv", "UID SEARCH RETURN (SAVE PARTIAL 1:2) UNDELETED"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"sv\") UID PARTIAL (1:2 1,3)", "sv OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("f", "UID FETCH $ UID"), Is.EqualTo(new[] { "* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)", "f OK FETCH completed" }));
    }

    [Test]
    public async Task Sort_and_uid_fetch_take_the_partial_window()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await TenMessagesTwoDeletedAsync(server);

        // In sort order: the newest two undeleted messages first.
        Assert.That(await client.CommandAsync("s1", "UID SORT RETURN (COUNT PARTIAL 1:2) (REVERSE ARRIVAL) US-ASCII UNDELETED"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"s1\") UID COUNT 8 PARTIAL (1:2 10,9)", "s1 OK SORT completed" }));
        Assert.That(await client.CommandAsync("s2", "UID SORT RETURN (PARTIAL 20:30) (ARRIVAL) US-ASCII ALL"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"s2\") UID PARTIAL (20:30 NIL)", "s2 OK SORT completed" }));
        // RFC 9394 §3.2: UID FETCH 1:* (FLAGS) (PARTIAL -1:-30) fetches the last messages of the set only.
        Assert.That(await client.CommandAsync("f1", "UID FETCH 1:* (FLAGS) (PARTIAL -1:-2)"), Is.EqualTo(new[]
        {
            "* 9 FETCH (UID 9 FLAGS ())", "* 10 FETCH (UID 10 FLAGS ())", "f1 OK FETCH completed",
        }));
        Assert.That(await client.CommandAsync("f2", "UID FETCH 3:* (UID) (PARTIAL 1:2)"), Is.EqualTo(new[]
        {
            "* 3 FETCH (UID 3)", "* 4 FETCH (UID 4)", "f2 OK FETCH completed",
        }));
    }
}
