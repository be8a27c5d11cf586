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
}
