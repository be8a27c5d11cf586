using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>SORT and UID SORT (RFC 5256 §3, §4) over delivered messages, with the RFC's example commands.</summary>
[TestFixture]
public sealed class SortTests
{
    /// <summary>Five messages whose base subjects (RFC 5256 §2.1) and Date headers give the RFC's example result
    /// "5 3 4 1 2" for (SUBJECT REVERSE DATE); delivered after an expunged one, so UID = sequence number + 1.</summary>
    private static async Task<ImapTestServer> StartWithMessagesAsync()
    {
        var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "expunged", flags: MessageFlags.Deleted);
        (string Subject, int Day)[] messages = [("Re: pears", 3), ("pears", 2), ("apples", 5), ("Fwd: apples", 4), ("[list] apples", 6)];
        foreach (var (subject, day) in messages)
            await server.DeliverRawAsync("alice",
                $"From: sender@example.net\r\nSubject: {subject}\r\nDate: Mon, {day} May 2024 10:00:00 +0000\r\n\r\nabout {subject}\r\n");
        return server;
    }

    [Test]
    public async Task Rfc_examples_sort_by_subject_then_reverse_date_and_an_empty_result()
    {
        await using var server = await StartWithMessagesAsync();
        await using var client = await server.SelectedAfterFirstExpungedAsync();
        Assert.That((await client.CommandAsync("c", "CAPABILITY"))[0], Does.Contain(" SORT ").And.Contain(" THREAD=REFERENCES"));

        // Equal keys keep sequence order (RFC 5256 §3).
        Assert.That(await client.CommandAsync("A282", "SORT (SUBJECT) UTF-8 SENTSINCE 4-May-2024"), Is.EqualTo(new[] { "* SORT 3 4 5", "A282 OK SORT completed" }));
        Assert.That(await client.CommandAsync("A283", "SORT (SUBJECT REVERSE DATE) UTF-8 ALL"), Is.EqualTo(new[] { "* SORT 5 3 4 1 2", "A283 OK SORT completed" }));
        Assert.That(await client.CommandAsync("A284", "SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\""), Is.EqualTo(new[] { "* SORT", "A284 OK SORT completed" }));
        Assert.That(await client.CommandAsync("A285", "SORT (DATE) UTF-8 ALL"), Is.EqualTo(new[] { "* SORT 2 1 4 3 5", "A285 OK SORT completed" }));
    }

    [Test]
    public async Task Uid_sort_answers_uids()
    {
        await using var server = await StartWithMessagesAsync();
        await using var client = await server.SelectedAfterFirstExpungedAsync();
        Assert.That(await client.CommandAsync("u1", "UID SORT (SUBJECT REVERSE DATE) UTF-8 ALL"), Is.EqualTo(new[] { "* SORT 6 4 5 2 3", "u1 OK SORT completed" }));
        Assert.That(await client.CommandAsync("u2", "UID SORT (REVERSE ARRIVAL) UTF-8 UID 3:5"), Is.EqualTo(new[] { "* SORT 5 4 3", "u2 OK SORT completed" }));
    }

    [Test]
    public async Task Utf8_search_matches_encoded_subjects_and_an_unknown_charset_is_badcharset()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "apples");
        await server.DeliverRawAsync("alice", "From: a@example.net\r\nSubject: =?UTF-8?Q?=C3=84pfel?= und Birnen\r\n\r\nx\r\n");
        await server.DeliverRawAsync("alice", "From: a@example.net\r\nSubject: =?UTF-8?B?w4RwZmVs?=\r\n\r\nx\r\n");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("s", "SELECT INBOX");

        // "Äpfel" is six octets in UTF-8, sent as a non-synchronising literal (RFC 7888).
        Assert.That(await client.CommandAsync("c1", "SORT (REVERSE SUBJECT) UTF-8 SUBJECT {6+}\r\nÄpfel"), Is.EqualTo(new[] { "* SORT 2 3", "c1 OK SORT completed" }));
        Assert.That(await client.CommandAsync("c2", "SORT (SUBJECT) KOI8-R ALL"), Is.EqualTo(new[] { "c2 NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset" }));
        Assert.That(await client.CommandAsync("c3", "SORT (SUBJECT) US-ASCII ALL"), Is.EqualTo(new[] { "* SORT 1 3 2", "c3 OK SORT completed" }));
    }

    [Test]
    public async Task Syntax_errors_are_bad_and_the_session_goes_on()
    {
        await using var server = await StartWithMessagesAsync();
        await using var client = await server.SelectedAfterFirstExpungedAsync();
        foreach (var (tag, line) in new[] { ("b1", "SORT () UTF-8 ALL"), ("b2", "SORT (COLOUR) UTF-8 ALL"), ("b3", "SORT (SUBJECT) ALL"), ("b4", "SORT SUBJECT UTF-8 ALL"), ("b5", "SORT (SUBJECT) UTF-8") })
        {
            var reply = await client.CommandAsync(tag, line);
            Assert.That(reply, Has.Count.EqualTo(1), line);
            Assert.That(reply[0], Does.StartWith(tag + " BAD "), line);
        }
        Assert.That(await client.CommandAsync("ok", "SORT (SIZE) UTF-8 1:2"), Has.Count.EqualTo(2).And.Some.EqualTo("ok OK SORT completed"));
    }

    [Test]
    public async Task Sort_needs_a_selected_mailbox()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("s1", "SORT (SUBJECT) UTF-8 ALL"), Is.EqualTo(new[] { "s1 BAD SORT is not valid in the authenticated state" }));
        Assert.That(await client.CommandAsync("s2", "UID SORT (SUBJECT) UTF-8 ALL"), Is.EqualTo(new[] { "s2 BAD SORT is not valid in the authenticated state" }));
    }

    /// <summary>RFC 5256 §3: SORT CC uses the addr-mailbox of the first address of the ENVELOPE's cc, which for a group
    /// (RFC 5322 §3.4) is the group's start, named by the group name.</summary>
    [Test]
    public async Task Sort_cc_of_a_group_uses_the_group_name()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverRawAsync("alice", "From: a@example.net\r\nCc: group: zed@example.net;\r\nSubject: one\r\n\r\nbody\r\n");
        await server.DeliverRawAsync("alice", "From: a@example.net\r\nCc: mike@example.net\r\nSubject: two\r\n\r\nbody\r\n");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("a", "SELECT INBOX");
        Assert.That(await client.CommandAsync("s", "SORT (CC) UTF-8 ALL"), Is.EqualTo(new[] { "* SORT 1 2", "s OK SORT completed" }));
        Assert.That(await client.CommandAsync("f", "FETCH 1 ENVELOPE"), Has.Some.Contains("((NIL NIL \"group\" NIL)(NIL NIL \"zed\" \"example.net\")(NIL NIL NIL NIL))"));
    }

    /// <summary>RFC 5267 §3.2 (ESORT): SORT RETURN answers ESEARCH; MIN / MAX are the first / last in sort order, ALL lists
    /// the matches in sort order (ascending runs only as ranges), COUNT counts, RETURN () is ALL, no match leaves MIN,
    /// MAX and ALL out; SAVE (RFC 5182 §2.4) keeps MIN for <c>$</c>.</summary>
    [Test]
    public async Task Esort_answers_min_max_all_count_in_sort_order_and_saves()
    {
        await using var server = await StartWithMessagesAsync();
        await using var client = await server.SelectedAfterFirstExpungedAsync();
        Assert.That((await client.CommandAsync("c", "CAPABILITY"))[0], Does.Contain(" ESORT "));
        Assert.That(await client.CommandAsync("e1", "SORT RETURN (MIN MAX COUNT) (SUBJECT REVERSE DATE) UTF-8 ALL"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"e1\") MIN 5 MAX 2 COUNT 5", "e1 OK SORT completed" }));
        Assert.That(await client.CommandAsync("e2", "UID SORT RETURN (ALL) (SUBJECT REVERSE DATE) UTF-8 ALL"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"e2\") UID ALL 6,4:5,2:3", "e2 OK SORT completed" }));
        Assert.That(await client.CommandAsync("e3", "SORT RETURN () (DATE) UTF-8 ALL"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"e3\") ALL 2,1,4,3,5", "e3 OK SORT completed" }));
        Assert.That(await client.CommandAsync("e4", "SORT RETURN (MIN MAX ALL COUNT) (SUBJECT) UTF-8 TEXT \"not in mailbox\""),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"e4\") COUNT 0", "e4 OK SORT completed" }));
        Assert.That(await client.CommandAsync("e5", "SORT RETURN (SAVE MIN) (SUBJECT REVERSE DATE) UTF-8 ALL"),
            Is.EqualTo(new[] { "* ESEARCH (TAG \"e5\") MIN 5", "e5 OK SORT completed" }));
        Assert.That(await client.CommandAsync("e6", "FETCH $ (UID)"), Is.EqualTo(new[] { "* 5 FETCH (UID 6)", "e6 OK FETCH completed" }));
        Assert.That(await client.CommandAsync("e7", "SORT RETURN (SAVE) (DATE) UTF-8 SUBJECT pears"), Is.EqualTo(new[] { "e7 OK SORT completed; result saved" }));
        Assert.That(await client.CommandAsync("e8", "UID SEARCH UID $"), Is.EqualTo(new[] { "* SEARCH 2 3", "e8 OK SEARCH completed" }));
    }

    /// <summary>RFC 5957 (SORT=DISPLAY): DISPLAYFROM sorts on the first From address's display name, decoded, or its
    /// address when it has none; plain FROM sorts on the mailbox part.</summary>
    [Test]
    public async Task Sort_displayfrom_uses_the_display_name_or_the_address()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverRawAsync("alice", "From: Zed <a@example.net>\r\nTo: alice@example.test\r\nSubject: one\r\n\r\nbody\r\n");
        await server.DeliverRawAsync("alice", "From: b@example.net\r\nTo: Mary <alice@example.test>\r\nSubject: two\r\n\r\nbody\r\n");
        await server.DeliverRawAsync("alice", "From: =?utf-8?q?Alice?= <z@example.net>\r\nTo: Kim <alice@example.test>\r\nSubject: three\r\n\r\nbody\r\n");
        await using var client = await server.LoggedInAsync();
        Assert.That((await client.CommandAsync("c", "CAPABILITY"))[0], Does.Contain(" SORT=DISPLAY "));
        await client.CommandAsync("a", "SELECT INBOX");
        Assert.That(await client.CommandAsync("s1", "SORT (DISPLAYFROM) UTF-8 ALL"), Is.EqualTo(new[] { "* SORT 3 2 1", "s1 OK SORT completed" }));
        Assert.That(await client.CommandAsync("s2", "SORT (FROM) UTF-8 ALL"), Is.EqualTo(new[] { "* SORT 1 2 3", "s2 OK SORT completed" }));
        Assert.That(await client.CommandAsync("s3", "SORT (REVERSE DISPLAYTO) UTF-8 ALL"), Is.EqualTo(new[] { "* SORT 2 3 1", "s3 OK SORT completed" }));
    }
}
