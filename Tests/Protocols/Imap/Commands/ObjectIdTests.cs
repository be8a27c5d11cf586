using System.Text.RegularExpressions;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>OBJECTID (RFC 8474): MAILBOXID at CREATE, SELECT, STATUS and LIST-STATUS, kept by RENAME; EMAILID kept by
/// COPY and MOVE and searchable; THREADID NIL (the RFC's examples, §4–§6).</summary>
[TestFixture]
public sealed partial class ObjectIdTests
{
    [GeneratedRegex(@"MAILBOXID \((F[0-9a-f]{32})\)")]
    private static partial Regex MailboxIdPattern();

    [GeneratedRegex(@"EMAILID \((M[0-9a-f]{32})\)")]
    private static partial Regex EmailIdPattern();

    private static string MailboxId(string line) => MailboxIdPattern().Match(line) is { Success: true } m ? m.Groups[1].Value : throw new AssertionException("No MAILBOXID in " + line);

    private static string EmailId(string line) => EmailIdPattern().Match(line) is { Success: true } m ? m.Groups[1].Value : throw new AssertionException("No EMAILID in " + line);

    /// <summary>RFC 8474 §4.1–§4.3 examples: CREATE answers the new MAILBOXID, a second CREATE is NO, SELECT and STATUS
    /// report the same id, RENAME keeps it, LIST RETURN (STATUS (MAILBOXID)) gives it too.</summary>
    [Test]
    public async Task Mailboxid_from_create_select_status_and_kept_by_rename()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That((await client.CommandAsync("0", "CAPABILITY"))[0], Does.Contain(" OBJECTID "));
        var foo = await client.CommandAsync("3", "create foo");
        Assert.That(foo, Has.Count.EqualTo(1));
        Assert.That(foo[0], Does.Match(@"^3 OK \[MAILBOXID \(F[0-9a-f]{32}\)\] CREATE completed$"));
        var fooId = MailboxId(foo[0]);
        var barId = MailboxId((await client.CommandAsync("4", "create bar"))[0]);
        Assert.That(barId, Is.Not.EqualTo(fooId));
        Assert.That((await client.CommandAsync("5", "create foo"))[0], Does.StartWith("5 NO "));

        Assert.That(await client.CommandAsync("6", "status foo (mailboxid)"), Is.EqualTo(new[] { $"* STATUS foo (MAILBOXID ({fooId}))", "6 OK STATUS completed" }));
        Assert.That(await client.CommandAsync("7", "rename foo renamed"), Is.EqualTo(new[] { "7 OK RENAME completed" }));
        Assert.That(await client.CommandAsync("8", "status renamed (mailboxid)"), Is.EqualTo(new[] { $"* STATUS renamed (MAILBOXID ({fooId}))", "8 OK STATUS completed" }));
        Assert.That(await client.CommandAsync("9", "status bar (mailboxid)"), Is.EqualTo(new[] { $"* STATUS bar (MAILBOXID ({barId}))", "9 OK STATUS completed" }));
        Assert.That(await client.CommandAsync("10", "LIST \"\" renamed RETURN (STATUS (MAILBOXID MESSAGES))"), Is.EqualTo(new[]
        {
            "* LIST (\\HasNoChildren) \"/\" renamed", $"* STATUS renamed (MAILBOXID ({fooId}) MESSAGES 0)", "10 OK LIST completed",
        }));
        Assert.That(await client.CommandAsync("11", "select renamed"), Has.Some.EqualTo($"* OK [MAILBOXID ({fooId})] Ok"));
        Assert.That(await client.CommandAsync("12", "examine bar"), Has.Some.EqualTo($"* OK [MAILBOXID ({barId})] Ok"));
    }

    /// <summary>RFC 8474 §5.1, §6: each message has its own EMAILID; a COPY or MOVE keeps it; SEARCH EMAILID finds the
    /// message; THREADID is NIL and SEARCH THREADID finds nothing; a malformed objectid is BAD.</summary>
    [Test]
    public async Task Emailid_is_kept_by_copy_and_move_and_searched()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await server.DeliverAsync("alice", "two");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("a", "CREATE Archive");
        await client.CommandAsync("b", "SELECT INBOX");

        var fetched = await client.CommandAsync("27", "UID FETCH 1:* (EMAILID THREADID)");
        Assert.That(fetched, Has.Count.EqualTo(3));
        Assert.That(fetched[0], Does.Match(@"^\* 1 FETCH \(UID 1 EMAILID \(M[0-9a-f]{32}\) THREADID NIL\)$"));
        var one = EmailId(fetched[0]);
        var two = EmailId(fetched[1]);
        Assert.That(two, Is.Not.EqualTo(one));

        Assert.That(await client.CommandAsync("28", "COPY 1 Archive"), Has.Some.StartWith("28 OK [COPYUID "));
        Assert.That(await client.CommandAsync("29", "MOVE 2 Archive"), Has.Some.StartWith("29 OK"));
        Assert.That(await client.CommandAsync("30", "SELECT Archive"), Has.Some.StartWith("30 OK"));
        Assert.That(await client.CommandAsync("31", "FETCH 1:* (EMAILID)"), Is.EqualTo(new[]
        {
            $"* 1 FETCH (EMAILID ({one}))", $"* 2 FETCH (EMAILID ({two}))", "31 OK FETCH completed",
        }));
        Assert.That(await client.CommandAsync("32", $"SEARCH EMAILID {two}"), Is.EqualTo(new[] { "* SEARCH 2", "32 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("33", $"UID SEARCH OR EMAILID {one} EMAILID {two}"), Is.EqualTo(new[] { "* SEARCH 1 2", "33 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("34", "SEARCH EMAILID M0123"), Is.EqualTo(new[] { "* SEARCH", "34 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("35", "SEARCH THREADID T123"), Is.EqualTo(new[] { "* SEARCH", "35 OK SEARCH completed" }));
        Assert.That((await client.CommandAsync("36", "SEARCH EMAILID M+12"))[0], Does.StartWith("36 BAD "));
    }
}
