using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>UNSELECT (RFC 3691, RFC 9051 §6.4.2): back to the authenticated state without expunging.</summary>
[TestFixture]
public sealed class UnselectTests
{
    [Test]
    public async Task Rfc_example_unselect_keeps_deleted_messages_and_leaves_the_selected_state()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one", flags: MessageFlags.Deleted);
        await server.DeliverAsync("alice", "two");
        await using var client = await server.LoggedInAsync();
        Assert.That((await client.CommandAsync("c", "CAPABILITY"))[0], Does.Contain(" UNSELECT"));
        await client.CommandAsync("s", "SELECT INBOX");
        Assert.That(await client.CommandAsync("A341", "UNSELECT"), Is.EqualTo(new[] { "A341 OK UNSELECT completed" }));
        Assert.That(await client.CommandAsync("f", "FETCH 1 FLAGS"), Is.EqualTo(new[] { "f BAD FETCH is not valid in the authenticated state" }));
        Assert.That(await client.CommandAsync("st", "STATUS INBOX (MESSAGES)"), Is.EqualTo(new[] { "* STATUS INBOX (MESSAGES 2)", "st OK STATUS completed" }));

        // After EXAMINE as well; no untagged responses for mail that arrives once unselected.
        await client.CommandAsync("e", "EXAMINE INBOX");
        Assert.That(await client.CommandAsync("u2", "UNSELECT"), Is.EqualTo(new[] { "u2 OK UNSELECT completed" }));
        await server.DeliverAsync("alice", "three");
        Assert.That(await client.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "n OK NOOP completed" }));
    }

    [Test]
    public async Task Unselect_without_a_selected_mailbox_or_with_arguments_is_bad()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("u1", "UNSELECT"), Is.EqualTo(new[] { "u1 BAD UNSELECT is not valid in the authenticated state" }));
        await client.CommandAsync("s", "SELECT INBOX");
        var extra = await client.CommandAsync("u2", "UNSELECT INBOX");
        Assert.That(extra, Has.Count.EqualTo(1));
        Assert.That(extra[0], Does.StartWith("u2 BAD "));
        Assert.That(await client.CommandAsync("u3", "UNSELECT"), Is.EqualTo(new[] { "u3 OK UNSELECT completed" }), "the mailbox stayed selected");
    }

    [Test]
    public async Task Unselect_sends_no_pending_expunge_or_exists_and_a_new_select_sees_the_folder_as_it_is()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one", flags: MessageFlags.Deleted);
        await server.DeliverAsync("alice", "two");
        await using var client = await server.LoggedInAsync();
        await using var other = await server.LoggedInAsync();
        await client.CommandAsync("s", "SELECT INBOX");
        await other.CommandAsync("s", "SELECT INBOX");
        Assert.That(await other.CommandAsync("x", "EXPUNGE"), Is.EqualTo(new[] { "* 1 EXPUNGE", "x OK EXPUNGE completed" }));
        await server.DeliverAsync("alice", "three");
        // RFC 3691 §2 / RFC 9051 §6.4.2: UNSELECT answers with its tagged OK alone; the pending EXPUNGE and EXISTS
        // belong to the mailbox it leaves and are not sent (there is no selected mailbox for their numbers).
        Assert.That(await client.CommandAsync("u", "UNSELECT"), Is.EqualTo(new[] { "u OK UNSELECT completed" }));
        var selected = await client.CommandAsync("s2", "SELECT INBOX");
        Assert.That(selected, Has.Some.EqualTo("* 2 EXISTS"));
        Assert.That(selected, Has.None.Contains("EXPUNGE"));
    }
}
