using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>THREAD and UID THREAD (RFC 5256 §3, §4) over delivered messages, with the RFC's example commands.</summary>
[TestFixture]
public sealed class ThreadTests
{
    /// <summary>A conversation "plan" (2 answers 1, 4 answers 2, 5 answers 1, linked by References) and "lunch"
    /// (6 is a reply by subject only), one hour apart; delivered after an expunged message, so UID = sequence + 1.</summary>
    private static async Task<ImapTestServer> StartWithConversationAsync()
    {
        var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "expunged", flags: MessageFlags.Deleted);
        (int Id, string Subject, string References)[] messages =
        [
            (1, "plan", ""), (2, "Re: plan", "<1@example.net>"), (3, "lunch", ""),
            (4, "Re: plan", "<1@example.net> <2@example.net>"), (5, "Re: plan", "<1@example.net>"), (6, "Re: lunch", ""),
        ];
        foreach (var (id, subject, references) in messages)
            await server.DeliverRawAsync("alice",
                $"From: sender@example.net\r\nSubject: {subject}\r\nDate: Wed, 1 May 2024 {9 + id}:00:00 +0000\r\n" +
                $"Message-ID: <{id}@example.net>\r\n" + (references.Length > 0 ? $"References: {references}\r\n" : "") + "\r\nbody\r\n");
        return server;
    }

    [Test]
    public async Task Rfc_examples_orderedsubject_references_and_an_empty_result()
    {
        await using var server = await StartWithConversationAsync();
        await using var client = await server.SelectedAfterFirstExpungedAsync();
        Assert.That((await client.CommandAsync("c", "CAPABILITY"))[0], Does.Contain(" THREAD=ORDEREDSUBJECT").And.Contain(" THREAD=REFERENCES"));

        // ORDEREDSUBJECT: one thread per base subject, the first message the parent of the rest (RFC 5256 §3).
        Assert.That(await client.CommandAsync("A283", "THREAD ORDEREDSUBJECT UTF-8 ALL"), Is.EqualTo(new[] { "* THREAD (1 (2)(4)(5))(3 6)", "A283 OK THREAD completed" }));
        Assert.That(await client.CommandAsync("A284", "THREAD ORDEREDSUBJECT US-ASCII TEXT \"gewp\""), Is.EqualTo(new[] { "* THREAD", "A284 OK THREAD completed" }));
        // REFERENCES: the References chain builds the tree; "Re: lunch" joins "lunch" by subject (§3 step 5).
        Assert.That(await client.CommandAsync("A285", "THREAD REFERENCES UTF-8 ALL"), Is.EqualTo(new[] { "* THREAD (1 (2 4)(5))(3 6)", "A285 OK THREAD completed" }));
        Assert.That(await client.CommandAsync("A286", "THREAD REFERENCES UTF-8 SUBJECT plan"), Is.EqualTo(new[] { "* THREAD (1 (2 4)(5))", "A286 OK THREAD completed" }));
    }

    [Test]
    public async Task Uid_thread_answers_uids()
    {
        await using var server = await StartWithConversationAsync();
        await using var client = await server.SelectedAfterFirstExpungedAsync();
        Assert.That(await client.CommandAsync("u1", "UID THREAD REFERENCES UTF-8 ALL"), Is.EqualTo(new[] { "* THREAD (2 (3 5)(6))(4 7)", "u1 OK THREAD completed" }));
        Assert.That(await client.CommandAsync("u2", "UID THREAD ORDEREDSUBJECT UTF-8 ALL"), Is.EqualTo(new[] { "* THREAD (2 (3)(5)(6))(4 7)", "u2 OK THREAD completed" }));
    }

    [Test]
    public async Task Unknown_algorithm_is_bad_unknown_charset_is_badcharset_and_the_session_goes_on()
    {
        await using var server = await StartWithConversationAsync();
        await using var client = await server.SelectedAfterFirstExpungedAsync();
        Assert.That(await client.CommandAsync("t1", "THREAD FOO UTF-8 ALL"), Is.EqualTo(new[] { "t1 BAD Unsupported threading algorithm" }));
        Assert.That(await client.CommandAsync("t2", "THREAD REFERENCES KOI8-R ALL"), Is.EqualTo(new[] { "t2 NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset" }));
        var missing = await client.CommandAsync("t3", "THREAD REFERENCES ALL");
        Assert.That(missing, Has.Count.EqualTo(1));
        Assert.That(missing[0], Does.StartWith("t3 BAD "));
        Assert.That(await client.CommandAsync("t4", "THREAD REFERENCES UTF-8 3"), Is.EqualTo(new[] { "* THREAD (3)", "t4 OK THREAD completed" }));
    }

    [Test]
    public async Task Thread_needs_a_selected_mailbox()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("t1", "THREAD REFERENCES UTF-8 ALL"), Is.EqualTo(new[] { "t1 BAD THREAD is not valid in the authenticated state" }));
    }

    /// <summary>RFC 5256 §4 step 1: a link that would make a loop is not made, and a message keeps the parent its
    /// References already gave it (here message 2 names itself as the last reference).</summary>
    [Test]
    public async Task References_that_would_loop_keep_the_existing_parent()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverRawAsync("alice", "From: a@example.net\r\nSubject: first\r\nDate: Wed, 1 May 2024 10:00:00 +0000\r\nMessage-ID: <a@example.net>\r\n\r\nbody\r\n");
        await server.DeliverRawAsync("alice", "From: a@example.net\r\nSubject: second\r\nDate: Wed, 1 May 2024 11:00:00 +0000\r\nMessage-ID: <b@example.net>\r\n" +
            "References: <a@example.net> <b@example.net>\r\n\r\nbody\r\n");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("a", "SELECT INBOX");
        Assert.That(await client.CommandAsync("t", "THREAD REFERENCES UTF-8 ALL"), Is.EqualTo(new[] { "* THREAD (1 2)", "t OK THREAD completed" }));
    }
}
