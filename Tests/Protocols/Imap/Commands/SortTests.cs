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
}
