using MailKit;
using MailKit.Search;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class SearchTests
{
    [Test]
    public async Task Search_by_flags_subject_and_body_with_plain_and_extended_results()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "apples", flags: MailServer.Storage.MessageFlags.Seen);
        await server.DeliverAsync("alice", "pears");
        await server.DeliverAsync("alice", "apple pie");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("a", "SELECT INBOX");

        Assert.That(await client.CommandAsync("s1", "SEARCH UNSEEN"), Is.EqualTo(new[] { "* SEARCH 2 3", "s1 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("s2", "UID SEARCH SUBJECT apple"), Is.EqualTo(new[] { "* SEARCH 1 3", "s2 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("s3", "SEARCH RETURN (MIN COUNT) BODY \"hello pears\""), Is.EqualTo(new[]
        {
            "* ESEARCH (TAG \"s3\") MIN 2 COUNT 1",
            "s3 OK SEARCH completed",
        }));
        Assert.That(await client.CommandAsync("s4", "SEARCH CHARSET KOI8-R ALL"), Is.EqualTo(new[] { "s4 NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset" }));
        Assert.That(await client.CommandAsync("s5", "SORT (REVERSE SUBJECT) UTF-8 ALL"), Is.EqualTo(new[] { "* SORT 2 1 3", "s5 OK SORT completed" }));
        Assert.That(await client.CommandAsync("s6", "THREAD ORDEREDSUBJECT UTF-8 ALL"), Is.EqualTo(new[] { "* THREAD (1)(2)(3)", "s6 OK THREAD completed" }));
    }

    [Test]
    public async Task Flag_searches_follow_another_sessions_store_an_expunge_and_new_mail()
    {
        // Flag-only searches read the view's flag column: it must follow every change the session takes in.
        await using var server = await ImapTestServer.StartAsync();
        for (var i = 0; i < 4; i++)
            await server.DeliverAsync("alice", "m" + i);
        await using var reader = await server.LoggedInAsync();
        await using var writer = await server.LoggedInAsync();
        await reader.CommandAsync("a", "SELECT INBOX");
        await writer.CommandAsync("b", "SELECT INBOX");
        Assert.That(await reader.CommandAsync("s1", "SEARCH UNSEEN UNDELETED"), Is.EqualTo(new[] { "* SEARCH 1 2 3 4", "s1 OK SEARCH completed" }));

        await writer.CommandAsync("w1", "STORE 2 +FLAGS.SILENT (\\Seen)");
        await writer.CommandAsync("w2", "STORE 3 +FLAGS.SILENT (\\Deleted \\Flagged)");
        Assert.That(await reader.CommandAsync("n1", "NOOP"), Is.EqualTo(new[]
        {
            "* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent))",
            "* 3 FETCH (UID 3 FLAGS (\\Flagged \\Deleted \\Recent))",
            "n1 OK NOOP completed",
        }));
        Assert.That(await reader.CommandAsync("s2", "SEARCH UNSEEN UNDELETED"), Is.EqualTo(new[] { "* SEARCH 1 4", "s2 OK SEARCH completed" }));
        Assert.That(await reader.CommandAsync("s3", "UID SEARCH RETURN (ALL) FLAGGED NOT SEEN"), Is.EqualTo(new[]
        {
            "* ESEARCH (TAG \"s3\") UID ALL 3",
            "s3 OK SEARCH completed",
        }));
        Assert.That(await reader.CommandAsync("s4", "SEARCH SEEN UNSEEN"), Is.EqualTo(new[] { "* SEARCH", "s4 OK SEARCH completed" }), "contradictory flags match nothing");

        await writer.CommandAsync("w3", "EXPUNGE");
        await server.DeliverAsync("alice", "m4");
        await reader.CommandAsync("n2", "NOOP");
        Assert.That(await reader.CommandAsync("s5", "UID SEARCH UNSEEN"), Is.EqualTo(new[] { "* SEARCH 1 4 5", "s5 OK SEARCH completed" }));
        Assert.That(await reader.CommandAsync("s6", "SEARCH UNSEEN"), Is.EqualTo(new[] { "* SEARCH 1 3 4", "s6 OK SEARCH completed" }));
    }

    [Test]
    public async Task MailKit_searches_subject()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "invoice 42");
        await server.DeliverAsync("alice", "lunch");
        using var client = await server.MailKitAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var uids = await client.Inbox.SearchAsync(SearchQuery.SubjectContains("invoice"));
        Assert.That(uids.Select(u => u.Id), Is.EqualTo(new[] { 1u }));
        await client.DisconnectAsync(true);
    }

    /// <summary>RFC 7162 §3.1.5 (with RFC 4731): with MIN or MAX alone, the MODSEQ of ESEARCH is that of the message
    /// returned, not the highest of all matches.</summary>
    [Test]
    public async Task Esearch_min_and_max_with_a_modseq_key_carry_the_modseq_of_their_message()
    {
        await using var server = await ImapTestServer.StartAsync();
        for (var i = 0; i < 3; i++)
            await server.DeliverAsync("alice", "m" + i);
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("a", "SELECT INBOX (CONDSTORE)");
        await client.CommandAsync("s", @"STORE 1 +FLAGS.SILENT (\Flagged)"); // message 1 now has the highest MODSEQ
        var modseqs = (await client.CommandAsync("f", "FETCH 1:3 (MODSEQ)")).Take(3)
            .Select(l => ulong.Parse(System.Text.RegularExpressions.Regex.Match(l, @"MODSEQ \((\d+)\)").Groups[1].Value)).ToArray();
        Assert.That(modseqs[0], Is.GreaterThan(modseqs[2]));
        Assert.That(await client.CommandAsync("t1", "SEARCH RETURN (MIN) MODSEQ 1"), Is.EqualTo(new[]
        {
            $"* ESEARCH (TAG \"t1\") MIN 1 MODSEQ {modseqs[0]}", "t1 OK SEARCH completed",
        }));
        Assert.That(await client.CommandAsync("t2", "SEARCH RETURN (MAX) MODSEQ 1"), Is.EqualTo(new[]
        {
            $"* ESEARCH (TAG \"t2\") MAX 3 MODSEQ {modseqs[2]}", "t2 OK SEARCH completed",
        }));
        Assert.That(await client.CommandAsync("t3", "SEARCH RETURN (MIN MAX COUNT) MODSEQ 1"), Is.EqualTo(new[]
        {
            $"* ESEARCH (TAG \"t3\") MIN 1 MAX 3 COUNT 3 MODSEQ {modseqs[0]}", "t3 OK SEARCH completed",
        }));
    }

    /// <summary>RFC 9051 §6.4.4 FROM matches the address, also when the header writes it with comments (RFC 5322 §3.2.2
    /// CFWS): &lt;user (c)@ (c) domain.org&gt; is user@domain.org.</summary>
    [Test]
    public async Task From_matches_an_address_written_with_comments()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverRawAsync("alice", "From: <user (comment)@ (another) domain.org>\r\nSubject: cfws\r\n\r\nbody\r\n");
        await server.DeliverRawAsync("alice", "From: other@example.net\r\nSubject: plain\r\n\r\nbody\r\n");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("a", "SELECT INBOX");
        Assert.That(await client.CommandAsync("s1", "SEARCH FROM user@domain.org"), Is.EqualTo(new[] { "* SEARCH 1", "s1 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("s2", "SEARCH FROM \"user@domain\""), Is.EqualTo(new[] { "* SEARCH 1", "s2 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("s3", "SEARCH FROM example.net"), Is.EqualTo(new[] { "* SEARCH 2", "s3 OK SEARCH completed" }));
    }

    /// <summary>RFC 5032 (WITHIN): advertised; OLDER n matches an internal date at least n seconds ago, YOUNGER n one
    /// less than n seconds ago, combined with other keys as in the RFC's example; 0 is not an nz-number (BAD).</summary>
    [Test]
    public async Task Within_older_and_younger_compare_the_internal_date_with_now()
    {
        await using var server = await ImapTestServer.StartAsync();
        var mailboxId = await server.MailboxIdAsync("alice");
        foreach (var (age, flags) in new[] { (TimeSpan.FromDays(10), MailServer.Storage.MessageFlags.None), (TimeSpan.FromDays(2), MailServer.Storage.MessageFlags.Seen), (TimeSpan.FromHours(1), MailServer.Storage.MessageFlags.None) })
            await server.Store.DeliverAsync("Subject: aged\r\n\r\nbody\r\n"u8.ToArray(), DateTimeOffset.UtcNow - age,
                [new MailServer.Storage.DeliveryTarget(mailboxId, "INBOX", flags)], CancellationToken.None);
        await using var client = await server.LoggedInAsync();
        Assert.That((await client.CommandAsync("c", "CAPABILITY"))[0], Does.Contain(" WITHIN "));
        await client.CommandAsync("a", "SELECT INBOX");
        Assert.That(await client.CommandAsync("a1", "SEARCH UNSEEN YOUNGER 259200"), Is.EqualTo(new[] { "* SEARCH 3", "a1 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("a2", "SEARCH YOUNGER 259200"), Is.EqualTo(new[] { "* SEARCH 2 3", "a2 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("a3", "UID SEARCH OLDER 259200"), Is.EqualTo(new[] { "* SEARCH 1", "a3 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("a4", "SEARCH OR OLDER 432000 YOUNGER 7200"), Is.EqualTo(new[] { "* SEARCH 1 3", "a4 OK SEARCH completed" }));
        Assert.That((await client.CommandAsync("a5", "SEARCH OLDER 0"))[0], Does.StartWith("a5 BAD "));
    }
}
