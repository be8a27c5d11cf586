using MailKit;
using MailKit.Search;
using MailServer.Rules.Directory;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>The Other Users namespace (RFC 2342 §5) for Full Access grants; ACL (RFC 4314) reporting them is in <see cref="AclTests"/>.</summary>
[TestFixture]
public sealed class OtherUsersTests
{
    internal const string BobInbox = "\"Other Users/bob@example.test/INBOX\"";

    /// <summary>alice holds Full Access to bob's mailbox, which holds two messages.</summary>
    internal static async Task<ImapTestServer> StartWithGrantAsync()
    {
        var server = await ImapTestServer.StartAsync();
        await server.MailboxIdAsync("bob");
        await server.DeliverAsync("bob", "for bob one");
        await server.DeliverAsync("bob", "for bob two");
        server.SetPermissions(new DirectoryPermission("bob@example.test", "alice@example.test", MailboxRights.FullAccess));
        return server;
    }

    [Test]
    public async Task Grantee_sees_the_namespace_lists_selects_reads_flags_moves_and_appends_in_the_owners_mailbox()
    {
        await using var server = await StartWithGrantAsync();
        await using var alice = await server.LoggedInAsync();
        var bobId = await server.MailboxIdAsync("bob");

        Assert.That(await alice.CommandAsync("n", "NAMESPACE"), Is.EqualTo(new[]
        {
            "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) NIL", "n OK NAMESPACE completed",
        }));
        Assert.That(await alice.CommandAsync("l1", "LIST \"\" \"Other Users/%\""), Is.EqualTo(new[]
        {
            "* LIST (\\Noselect \\HasChildren) \"/\" \"Other Users/bob@example.test\"", "l1 OK LIST completed",
        }));
        var all = await alice.CommandAsync("l2", "LIST \"\" *");
        Assert.That(all, Does.Contain("* LIST (\\Noselect \\HasChildren) \"/\" \"Other Users\"")
            .And.Contain("* LIST (\\HasNoChildren) \"/\" \"Other Users/bob@example.test/INBOX\"")
            .And.Contain("* LIST (\\HasNoChildren) \"/\" \"Other Users/bob@example.test/Deleted Items\"")
            .And.Contain("* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\""));

        var select = await alice.CommandAsync("s", $"SELECT {BobInbox}");
        Assert.That(select, Does.Contain("* 2 EXISTS"));
        Assert.That(select[^1], Is.EqualTo("s OK [READ-WRITE] SELECT completed"));
        Assert.That(await alice.CommandAsync("f", "FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), Is.EqualTo(new[]
        {
            "* 1 FETCH (FLAGS (\\Recent) BODY[HEADER.FIELDS (SUBJECT)] {24}\r\nSubject: for bob one\r\n\r\n)", "f OK FETCH completed",
        }));
        Assert.That(await alice.CommandAsync("st", "STORE 1 +FLAGS (\\Flagged)"), Is.EqualTo(new[]
        {
            "* 1 FETCH (FLAGS (\\Flagged \\Recent))", "st OK STORE completed",
        }));
        var deleted = server.Store.FindFolder(bobId, "Deleted Items")!;
        Assert.That(await alice.CommandAsync("m", "UID MOVE 1 \"Other Users/bob@example.test/Deleted Items\""), Is.EqualTo(new[]
        {
            $"* OK [COPYUID {deleted.UidValidity} 1 1] Moved", "* 1 EXPUNGE", "m OK MOVE completed",
        }));
        var drafts = server.Store.FindFolder(bobId, "Drafts")!;
        Assert.That(await alice.CommandAsync("a", "APPEND \"Other Users/bob@example.test/Drafts\" {13+}\r\nSubject: d\r\n\r\n"), Is.EqualTo(new[]
        {
            $"a OK [APPENDUID {drafts.UidValidity} 1] APPEND completed",
        }));
        Assert.That(server.Store.ListMessages(deleted.FolderId).Single().Flags, Is.EqualTo(MailServer.Storage.MessageFlags.Flagged));
        Assert.That(await alice.CommandAsync("t", "STATUS \"Other Users/bob@example.test/Drafts\" (MESSAGES)"), Is.EqualTo(new[]
        {
            "* STATUS \"Other Users/bob@example.test/Drafts\" (MESSAGES 1)", "t OK STATUS completed",
        }));

        // Copy into the grantee's own mailbox: a new encrypted copy under alice's key.
        var aliceInbox = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "INBOX")!;
        Assert.That(await alice.CommandAsync("c", "COPY 1 INBOX"), Is.EqualTo(new[]
        {
            $"c OK [COPYUID {aliceInbox.UidValidity} 2 1] COPY completed",
        }));
        await alice.CommandAsync("s2", "SELECT INBOX");
        Assert.That(await alice.CommandAsync("f2", "FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]"), Has.Some.Contains("Subject: for bob two"));
    }

    [Test]
    public async Task A_permission_edit_takes_effect_at_the_next_command()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.MailboxIdAsync("bob");
        await using var alice = await server.LoggedInAsync();
        Assert.That(await alice.CommandAsync("s1", $"EXAMINE {BobInbox}"), Is.EqualTo(new[] { "s1 NO [NONEXISTENT] No such mailbox" }));

        server.SetPermissions(new DirectoryPermission("bob@example.test", "alice@example.test", MailboxRights.FullAccess));
        Assert.That((await alice.CommandAsync("s2", $"EXAMINE {BobInbox}"))[^1], Is.EqualTo("s2 OK [READ-ONLY] EXAMINE completed"));

        server.SetPermissions();
        await alice.SendLineAsync("n NOOP");
        Assert.That(await alice.ReadLineAsync(), Is.EqualTo("* BYE Access to the mailbox was withdrawn"));
        Assert.That(await alice.IsClosedByServerAsync(), Is.True);
    }

    [Test]
    public async Task MailKit_grantee_reads_and_moves_mail_in_the_owners_mailbox()
    {
        await using var server = await StartWithGrantAsync();
        using var client = await server.MailKitAsync();
        Assert.That(client.OtherNamespaces.Select(n => n.Path), Is.EqualTo(new[] { "Other Users" }));
        var inbox = await client.GetFolderAsync("Other Users/bob@example.test/INBOX");
        await inbox.OpenAsync(FolderAccess.ReadWrite);
        Assert.That(inbox.Count, Is.EqualTo(2));
        var summaries = await inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.UniqueId);
        Assert.That(summaries.Select(s => s.Envelope!.Subject), Is.EqualTo(new[] { "for bob one", "for bob two" }));
        var trash = await client.GetFolderAsync("Other Users/bob@example.test/Deleted Items");
        var moved = await inbox.MoveToAsync(summaries[0].UniqueId, trash);
        Assert.That(moved, Is.Not.Null);
        Assert.That(await inbox.SearchAsync(SearchQuery.All), Has.Count.EqualTo(1));
        await trash.OpenAsync(FolderAccess.ReadOnly);
        Assert.That(trash.Count, Is.EqualTo(1));
        await client.DisconnectAsync(true);
    }
}
