using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class EnableTests
{
    [Test]
    public async Task Condstore_select_fetch_modseq_and_conditional_store()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await server.DeliverAsync("alice", "two");
        await using var client = await server.LoggedInAsync();
        var select = await client.CommandAsync("a", "SELECT INBOX (CONDSTORE)");
        Assert.That(select, Has.Some.StartsWith("* OK [HIGHESTMODSEQ "));
        var modSeqs = server.Store.ListMessages(server.Store.FindFolder(await server.MailboxIdAsync("alice"), "INBOX")!.FolderId).Select(m => m.ModSeq).ToList();
        Assert.That(await client.CommandAsync("f1", "FETCH 1:2 (MODSEQ)"), Is.EqualTo(new[]
        {
            $"* 1 FETCH (MODSEQ ({modSeqs[0]}))",
            $"* 2 FETCH (MODSEQ ({modSeqs[1]}))",
            "f1 OK FETCH completed",
        }));
        var stored = await client.CommandAsync("s1", $"STORE 1:2 (UNCHANGEDSINCE {modSeqs[0]}) +FLAGS.SILENT (\\Seen)");
        Assert.That(stored, Has.Count.EqualTo(2));
        Assert.That(stored[0], Does.StartWith("* 1 FETCH (MODSEQ ("));
        Assert.That(stored[1], Is.EqualTo("s1 OK [MODIFIED 2] Conditional STORE failed for some messages"));
    }

    [Test]
    public async Task Enable_names_only_the_extensions_it_enabled()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("n2", "ENABLE CONDSTORE X-UNKNOWN"), Is.EqualTo(new[] { "* ENABLED CONDSTORE", "n2 OK ENABLE completed" }));
    }

    [Test]
    public async Task Imap4rev2_enabled_answers_search_with_esearch()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("e", "ENABLE IMAP4rev2"), Is.EqualTo(new[] { "* ENABLED IMAP4rev2", "e OK ENABLE completed" }));
        var select = await client.CommandAsync("s", "SELECT INBOX");
        Assert.That(select, Has.None.Contains("RECENT"));
        Assert.That(select, Does.Contain("* LIST () \"/\" INBOX"));
        Assert.That(await client.CommandAsync("q", "SEARCH ALL"), Is.EqualTo(new[] { "* ESEARCH (TAG \"q\") ALL 1", "q OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("x", "ENABLE CONDSTORE"), Is.EqualTo(new[] { "x BAD ENABLE is not valid in the selected state" }));
    }
}
