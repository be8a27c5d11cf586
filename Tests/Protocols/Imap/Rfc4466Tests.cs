using System.Text;
using MailServer.Tests.Protocols.Imap.Commands;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap;

/// <summary>
/// RFC 4466 (collected extensions to the IMAP4 ABNF) statement by statement: the extension points of SELECT/EXAMINE,
/// CREATE, RENAME, FETCH, STORE, SEARCH and APPEND accept what the server's extensions define, case-insensitively
/// (§3), and refuse anything else with BAD (§2.1–§2.6.1); ESEARCH has the §2.6.2 shape.
/// </summary>
[TestFixture]
public sealed class Rfc4466Tests
{
    [Test]
    public async Task Select_and_examine_parameters_known_ones_work_and_unknown_ones_are_bad()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await using var client = await server.LoggedInAsync();
        // §2.1 example 3: a parameter the server does not support → BAD, and nothing is selected.
        Assert.That((await client.CommandAsync("a", "SELECT INBOX (BLURDYBLOOP)")).Single(), Does.StartWith("a BAD "));
        Assert.That((await client.CommandAsync("a2", "FETCH 1 (FLAGS)")).Single(), Does.StartWith("a2 BAD "), "still not selected");
        // §2.1: a known parameter (CONDSTORE, RFC 7162 §3.1.8), written in lower case (§3: case-insensitive).
        var examine = await client.CommandAsync("b", "examine inbox (condstore)");
        Assert.That(examine, Has.Some.StartWith("* OK [HIGHESTMODSEQ "));
        Assert.That(examine[^1], Is.EqualTo("b OK [READ-ONLY] EXAMINE completed"));
        // A known parameter with an unknown one beside it is still BAD.
        Assert.That((await client.CommandAsync("c", "SELECT INBOX (CONDSTORE BLURDYBLOOP)")).Single(), Does.StartWith("c BAD "));
    }

    [Test]
    public async Task Create_and_rename_parameters_unknown_ones_are_bad_and_nothing_changes()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        // §2.2: CREATE parameters; USE is CREATE-SPECIAL-USE's (RFC 6154 §3), anything else BAD.
        Assert.That((await client.CommandAsync("a", "CREATE Kept (BLURDYBLOOP)")).Single(), Does.StartWith("a BAD "));
        Assert.That(await client.CommandAsync("a2", "LIST \"\" Kept"), Is.EqualTo(new[] { "a2 OK LIST completed" }), "nothing created");
        Assert.That((await client.CommandAsync("b", "create Old (use (\\archive))")).Single(), Does.StartWith("b OK "));
        // §2.3: RENAME parameters; the server defines none.
        Assert.That((await client.CommandAsync("c", "RENAME Old New (BLURDYBLOOP)")).Single(), Does.StartWith("c BAD "));
        Assert.That(await client.CommandAsync("c2", "LIST \"\" Old"), Is.EqualTo(new[] { "* LIST (\\HasNoChildren \\Archive) \"/\" Old", "c2 OK LIST completed" }),
            "nothing renamed");
    }

    [Test]
    public async Task Fetch_store_and_search_modifiers_known_ones_work_and_unknown_ones_are_bad()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await server.DeliverAsync("alice", "two");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("s", "SELECT INBOX");
        // §2.4: FETCH modifiers; CHANGEDSINCE is CONDSTORE's (RFC 7162 §3.1.4).
        Assert.That((await client.CommandAsync("a", "FETCH 1 (FLAGS) (BLURDYBLOOP)")).Single(), Does.StartWith("a BAD "));
        Assert.That((await client.CommandAsync("a2", "fetch 1:* (flags) (changedsince 0)"))[^1], Is.EqualTo("a2 OK FETCH completed"));
        // §2.5: STORE modifiers; UNCHANGEDSINCE is CONDSTORE's (RFC 7162 §3.1.3). A refused STORE changes nothing.
        Assert.That((await client.CommandAsync("b", "STORE 1 (BLURDYBLOOP) +FLAGS (\\Flagged)")).Single(), Does.StartWith("b BAD "));
        Assert.That(await client.CommandAsync("b3", "FETCH 1 (FLAGS)"), Has.None.Contains("\\Flagged"));
        // §2.6.1: SEARCH result options; unknown ones BAD.
        Assert.That((await client.CommandAsync("c", "SEARCH RETURN (BLURDYBLOOP) ALL")).Single(), Does.StartWith("c BAD "));
        // §2.6.1 (*): an extended SEARCH answers ESEARCH and not SEARCH (SHOULD be mutually exclusive); §2.6.2 shape:
        // the correlator with the tag, UID when the data are UIDs, then the return data pairs (in any order, each once).
        Assert.That(await client.CommandAsync("a567", "UID SEARCH RETURN (COUNT ALL) ALL"), Is.EqualTo(new[]
        {
            "* ESEARCH (TAG \"a567\") UID ALL 1:2 COUNT 2", "a567 OK SEARCH completed",
        }));
        Assert.That(await client.CommandAsync("d", "search return (count) all"), Is.EqualTo(new[]
        {
            "* ESEARCH (TAG \"d\") COUNT 2", "d OK SEARCH completed",
        }));
        // §3 search-return-opts: "RETURN ()" is valid (RFC 4731 §3.1: it means ALL); esearch-response has zero or more
        // return data, so a search that matches nothing answers the correlator alone.
        Assert.That(await client.CommandAsync("e", "SEARCH RETURN () ALL"), Is.EqualTo(new[]
        {
            "* ESEARCH (TAG \"e\") ALL 1:2", "e OK SEARCH completed",
        }));
        Assert.That(await client.CommandAsync("f", "SEARCH RETURN (MIN MAX) KEYWORD nothing"), Is.EqualTo(new[]
        {
            "* ESEARCH (TAG \"f\")", "f OK SEARCH completed",
        }));
    }

    [Test]
    public async Task Append_takes_flags_date_and_a_binary_literal8_also_non_synchronizing()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        // §3 append-message = append-opts SP append-data; append-data = literal / literal8. §2.7: literal8 may be
        // non-synchronizing ("~{n+}") when BINARY and LITERAL+ are both offered.
        var capability = string.Join(" ", await client.CommandAsync("c", "CAPABILITY"));
        Assert.That(capability, Does.Contain(" BINARY").And.Contain(" LITERAL+"));
        var message = "Subject: nul\r\n\r\nA\0B\r\n";
        var bytes = Encoding.ASCII.GetBytes($"a APPEND INBOX (\\Seen) \"07-Dec-2026 01:02:03 +0000\" ~{{{message.Length}+}}\r\n{message}\r\n");
        await client.SendRawAsync(bytes);
        Assert.That((await client.ReadUntilTaggedAsync("a"))[^1], Does.StartWith("a OK [APPENDUID "));
        await client.CommandAsync("s", "SELECT INBOX");
        Assert.That(await client.CommandAsync("f", "FETCH 1 (FLAGS INTERNALDATE BINARY.SIZE[1])"), Has.Some.StartWith("* 1 FETCH (FLAGS (\\Seen")
            .And.Some.Contains("INTERNALDATE \"07-Dec-2026 01:02:03 +0000\""));
        // An append-data that is neither a literal nor a known extension (CATENATE's) is BAD.
        Assert.That((await client.CommandAsync("b", "APPEND INBOX BLURDYBLOOP (1 2)")).Single(), Does.StartWith("b BAD "));
    }
}
