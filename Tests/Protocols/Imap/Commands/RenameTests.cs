using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>RENAME (RFC 9051 §6.3.6), the RFC's examples with "/" as the hierarchy delimiter.</summary>
[TestFixture]
public sealed class RenameTests
{
    [Test]
    public async Task Rfc_example_a_folder_and_a_parent_with_its_children_are_renamed()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("c1", "CREATE blurdybloop");
        await client.CommandAsync("c2", "CREATE foo");
        await client.CommandAsync("c3", "CREATE foo/bar");
        await server.DeliverAsync("alice", "kept", folder: "foo/bar");
        var uidValidity = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "foo/bar")!.UidValidity;

        Assert.That(await client.CommandAsync("A683", "RENAME blurdybloop sarasoop"), Is.EqualTo(new[] { "A683 OK RENAME completed" }));
        Assert.That(await client.CommandAsync("A684", "RENAME foo zowie"), Is.EqualTo(new[] { "A684 OK RENAME completed" }));
        Assert.That(await client.CommandAsync("Z433", "LIST \"\" *"), Is.EqualTo(new[]
        {
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Trash) \"/\" \"Deleted Items\"",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk E-mail\"",
            "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"",
            "* LIST (\\HasNoChildren) \"/\" sarasoop",
            "* LIST (\\HasChildren) \"/\" zowie",
            "* LIST (\\HasNoChildren) \"/\" zowie/bar",
            "Z433 OK LIST completed",
        }));
        // The messages and the UIDVALIDITY move with the child (RFC 9051 §6.3.6).
        Assert.That(await client.CommandAsync("s", "STATUS zowie/bar (MESSAGES UIDVALIDITY)"), Is.EqualTo(new[]
        {
            $"* STATUS zowie/bar (MESSAGES 1 UIDVALIDITY {uidValidity})", "s OK STATUS completed",
        }));
        Assert.That(await client.CommandAsync("x", "EXAMINE foo/bar"), Is.EqualTo(new[] { "x NO [NONEXISTENT] No such mailbox" }));
    }

    [Test]
    public async Task Rfc_example_renaming_inbox_moves_its_messages_and_leaves_inbox_and_its_children()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await server.DeliverAsync("alice", "two");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("c", "CREATE INBOX/bar");

        Assert.That(await client.CommandAsync("A683", "RENAME INBOX old-mail"), Is.EqualTo(new[] { "A683 OK RENAME completed" }));
        Assert.That(await client.CommandAsync("Z433", "LIST \"\" *"), Is.EqualTo(new[]
        {
            "* LIST (\\HasChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Trash) \"/\" \"Deleted Items\"",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren) \"/\" INBOX/bar",
            "* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk E-mail\"",
            "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"",
            "* LIST (\\HasNoChildren) \"/\" old-mail",
            "Z433 OK LIST completed",
        }));
        Assert.That(await client.CommandAsync("s1", "STATUS INBOX (MESSAGES)"), Is.EqualTo(new[] { "* STATUS INBOX (MESSAGES 0)", "s1 OK STATUS completed" }));
        await client.CommandAsync("e", "EXAMINE old-mail");
        Assert.That(await client.CommandAsync("f", "FETCH 1:* BODY.PEEK[HEADER.FIELDS (SUBJECT)]"), Is.EqualTo(new[]
        {
            "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: one\r\n\r\n)",
            "* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: two\r\n\r\n)",
            "f OK FETCH completed",
        }));
        // New mail still arrives in INBOX.
        await server.DeliverAsync("alice", "three");
        Assert.That(await client.CommandAsync("s2", "STATUS INBOX (MESSAGES)"), Is.EqualTo(new[] { "* STATUS INBOX (MESSAGES 1)", "s2 OK STATUS completed" }));
        Assert.That(await client.CommandAsync("A684", "RENAME INBOX old-mail"), Is.EqualTo(new[] { "A684 NO [ALREADYEXISTS] A folder with that name exists already." }));
        Assert.That(await client.CommandAsync("s3", "STATUS INBOX (MESSAGES)"), Is.EqualTo(new[] { "* STATUS INBOX (MESSAGES 1)", "s3 OK STATUS completed" }));
    }

    [Test]
    public async Task A_selected_inbox_renamed_by_the_session_reports_the_moved_messages_expunged()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await server.DeliverAsync("alice", "two");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("s", "SELECT INBOX");
        Assert.That(await client.CommandAsync("r", "RENAME INBOX Saved"), Is.EqualTo(new[]
        {
            "* 2 EXPUNGE", "* 1 EXPUNGE", "r OK RENAME completed",
        }));
    }

    [Test]
    public async Task Refusals_name_the_reason_and_the_session_goes_on()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("c1", "CREATE Projects");
        await client.CommandAsync("c2", "CREATE Archive");

        Assert.That(await client.CommandAsync("r1", "RENAME Nowhere Somewhere"), Is.EqualTo(new[] { "r1 NO [NONEXISTENT] No folder with that name." }));
        Assert.That(await client.CommandAsync("r2", "RENAME Projects Archive"), Is.EqualTo(new[] { "r2 NO [ALREADYEXISTS] A folder with the new name exists already." }));
        Assert.That(await client.CommandAsync("r4", "RENAME Projects inbox"), Is.EqualTo(new[] { "r4 NO [ALREADYEXISTS] INBOX exists already" }));
        Assert.That(await client.CommandAsync("r5", "RENAME Projects \"Other Users/bob@example.test/Projects\""), Has.Count.EqualTo(1).And.Some.StartsWith("r5 NO ["));
        Assert.That(await client.CommandAsync("r6", "RENAME Projects"), Has.Count.EqualTo(1).And.Some.StartsWith("r6 BAD "));
        Assert.That(await client.CommandAsync("r7", "RENAME Projects \"\""), Is.EqualTo(new[] { "r7 NO [CANNOT] Invalid mailbox name" }));
        Assert.That(await client.CommandAsync("l", "LIST \"\" Projects"), Is.EqualTo(new[] { "* LIST (\\HasNoChildren) \"/\" Projects", "l OK LIST completed" }));
        Assert.That(await client.CommandAsync("r8", "RENAME Projects \"a//b\""), Is.EqualTo(new[] { "r8 NO [CANNOT] Invalid mailbox name" }));
        // Names other than INBOX are case-sensitive (RFC 9051 §5.1): "archive" is not "Archive".
        Assert.That(await client.CommandAsync("r9", "RENAME Projects archive"), Is.EqualTo(new[] { "r9 OK RENAME completed" }));
        Assert.That(await client.CommandAsync("l2", "LIST \"\" *rchive"), Is.EqualTo(new[]
        {
            "* LIST (\\HasNoChildren) \"/\" Archive", "* LIST (\\HasNoChildren) \"/\" archive", "l2 OK LIST completed",
        }));
    }

    [Test]
    public async Task A_special_use_folder_keeps_its_use_under_the_new_name()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("r", "RENAME \"Sent Items\" Sent"), Is.EqualTo(new[] { "r OK RENAME completed" }));
        Assert.That(await client.CommandAsync("l", "LIST \"\" Sent*"), Is.EqualTo(new[] { "* LIST (\\HasNoChildren \\Sent) \"/\" Sent", "l OK LIST completed" }));
    }

    [Test]
    public async Task A_new_name_inside_a_missing_parent_creates_the_parent()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("c", "CREATE Alpha");
        Assert.That(await client.CommandAsync("r", "RENAME Alpha Work/2024/Alpha"), Is.EqualTo(new[] { "r OK RENAME completed" }));
        Assert.That(await client.CommandAsync("l", "LIST \"\" Work*"), Is.EqualTo(new[]
        {
            "* LIST (\\HasChildren) \"/\" Work",
            "* LIST (\\HasChildren) \"/\" Work/2024",
            "* LIST (\\HasNoChildren) \"/\" Work/2024/Alpha",
            "l OK LIST completed",
        }));
    }

    [Test]
    public async Task Rename_is_refused_before_login()
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, _) = await MailServer.Tests.Support.ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        Assert.That(await client.CommandAsync("r", "RENAME a b"), Is.EqualTo(new[] { "r BAD RENAME is not valid in the not authenticated state" }));
    }
}
