using MailKit;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>
/// Folder sharing by the owner (RFC 4314 SETACL / DELETEACL, docs/decisions.md "Folder sharing by the owner"): the
/// sharee finds the folder under Other Users in an open session, works in it as far as the role allows (RFC 4314 §4),
/// and loses it when the owner takes it back.
/// </summary>
[TestFixture]
public sealed class FolderSharingTests
{
    private const string Shared = "\"Other Users/alice@example.test/Projects\"";

    /// <summary>alice's folder Projects holds one message; bob has a mailbox and no rights on alice's.</summary>
    private static async Task<ImapTestServer> StartAsync()
    {
        var server = await ImapTestServer.StartAsync();
        await server.MailboxIdAsync("bob");
        var alice = await server.MailboxIdAsync("alice");
        await server.Store.CreateFolderAsync(alice, "Projects", CancellationToken.None);
        await server.DeliverAsync("alice", "plan", folder: "Projects");
        return server;
    }

    [Test]
    public async Task A_viewer_lists_selects_and_reads_but_cannot_store_other_flags_append_or_expunge()
    {
        await using var server = await StartAsync();
        await using var alice = await server.LoggedInAsync();
        await using var bob = await server.LoggedInAsync("bob");
        Assert.That(await bob.CommandAsync("b0", "LIST \"\" \"Other Users/*\""), Is.EqualTo(new[] { "b0 OK LIST completed" }));

        Assert.That(await alice.CommandAsync("a1", "SETACL Projects bob@example.test lrs"), Is.EqualTo(new[] { "a1 OK SETACL completed" }));

        // The same session of bob sees the folder at its next command (no reconnect).
        Assert.That(await bob.CommandAsync("b1", "LIST \"\" \"Other Users/*\""), Is.EqualTo(new[]
        {
            "* LIST (\\Noselect \\HasChildren) \"/\" \"Other Users/alice@example.test\"",
            "* LIST (\\HasNoChildren) \"/\" \"Other Users/alice@example.test/Projects\"",
            "b1 OK LIST completed",
        }), "only the shared folder, not alice's INBOX");
        Assert.That(await bob.CommandAsync("b2", $"MYRIGHTS {Shared}"), Is.EqualTo(new[]
        {
            "* MYRIGHTS \"Other Users/alice@example.test/Projects\" lrs", "b2 OK MYRIGHTS completed",
        }));
        Assert.That(await bob.CommandAsync("b3", "SELECT \"Other Users/alice@example.test/INBOX\""), Is.EqualTo(new[] { "b3 NO [NONEXISTENT] No such mailbox" }),
            "a folder not shared with bob does not exist for him (RFC 4314 §6)");
        var select = await bob.CommandAsync("b4", $"SELECT {Shared}");
        Assert.That(select, Does.Contain("* 1 EXISTS"));
        Assert.That(select, Does.Contain("* OK [PERMANENTFLAGS (\\Seen)] Flags permitted"), "only what a viewer may change (RFC 4314 §5.1.1)");
        Assert.That(select[^1], Is.EqualTo("b4 OK [READ-WRITE] SELECT completed"));
        Assert.That(await bob.CommandAsync("b5", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), Is.EqualTo(new[]
        {
            "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {17}\r\nSubject: plan\r\n\r\n)", "b5 OK FETCH completed",
        }));
        Assert.That(await bob.CommandAsync("b6", "STORE 1 +FLAGS (\\Flagged)"), Is.EqualTo(new[]
        {
            "b6 NO [NOPERM] You may not change flags in this mailbox (the w right is not yours)",
        }));
        var seen = await bob.CommandAsync("b7", "STORE 1 +FLAGS (\\Seen)");
        Assert.That((seen[0], seen[^1]), Is.EqualTo(("* 1 FETCH (FLAGS (\\Seen \\Recent))", "b7 OK STORE completed")), "s lets a viewer keep read state");
        Assert.That(await bob.CommandAsync("b8", "STORE 1 +FLAGS (\\Deleted)"), Is.EqualTo(new[]
        {
            "b8 NO [NOPERM] You may not change \\Deleted in this mailbox (the t right is not yours)",
        }));
        // RFC 4314 §4: a STORE with some flags the rights allow changes those and does not fail.
        Assert.That(await bob.CommandAsync("b8a", "STORE 1 -FLAGS (\\Seen \\Flagged)"), Is.EqualTo(new[] { "* 1 FETCH (FLAGS (\\Recent))", "b8a OK STORE completed" }));
        Assert.That(await bob.CommandAsync("b8b", "STORE 1 FLAGS (\\Seen)"), Is.EqualTo(new[]
        {
            "b8b NO [NOPERM] You may not change flags in this mailbox (the w right is not yours)",
        }), "a FLAGS replace could change every flag");
        Assert.That(await bob.CommandAsync("b9", "EXPUNGE"), Is.EqualTo(new[] { "b9 NO [NOPERM] You may not expunge in this mailbox (the e right is not yours)" }));
        Assert.That(await bob.CommandAsync("b10", $"APPEND {Shared} {{5+}}\r\nHello"), Is.EqualTo(new[]
        {
            "b10 NO [NOPERM] You may not add messages in this mailbox (the i right is not yours)",
        }));
        Assert.That(await bob.CommandAsync("b11", $"SETACL {Shared} bob@example.test lrswi"), Is.EqualTo(new[]
        {
            "b11 NO [NOPERM] You may not share this folder in this mailbox (the a right is not yours)",
        }), "a sharee without a cannot re-share");
        Assert.That(await bob.CommandAsync("b12", "DELETE \"Other Users/alice@example.test/Projects\""), Is.EqualTo(new[]
        {
            "b12 NO [NOPERM] You may not delete this folder in this mailbox (the x right is not yours)",
        }));
        Assert.That(await bob.CommandAsync("b13", "CREATE \"Other Users/alice@example.test/Projects/Sub\""), Is.EqualTo(new[]
        {
            "b13 NO [NOPERM] You may not create folders in this mailbox (the k right is not yours)",
        }));
        Assert.That(await bob.CommandAsync("b13a", $"GETMETADATA {Shared} /shared/comment"), Is.EqualTo(new[]
        {
            "* METADATA \"Other Users/alice@example.test/Projects\" (/shared/comment NIL)", "b13a OK GETMETADATA completed",
        }));
        Assert.That(await bob.CommandAsync("b13b", $"SETMETADATA {Shared} (/shared/comment \"mine now\")"), Is.EqualTo(new[]
        {
            "b13b NO [NOPERM] You may not change annotations in this mailbox (the w right is not yours)",
        }));

        // Adding i makes bob a contributor: he can append, still not expunge.
        Assert.That(await alice.CommandAsync("a2", "SETACL Projects bob@example.test +i"), Is.EqualTo(new[] { "a2 OK SETACL completed" }));
        // RFC 4314 §5.1.1: the changed PERMANENTFLAGS come before the next command's answer.
        Assert.That(await bob.CommandAsync("b14", $"MYRIGHTS {Shared}"), Is.EqualTo(new[]
        {
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Seen \\Draft \\*)] Flags permitted",
            "* MYRIGHTS \"Other Users/alice@example.test/Projects\" lrswi", "b14 OK MYRIGHTS completed",
        }));
        var append = await bob.CommandAsync("b15", $"APPEND {Shared} (\\Deleted \\Flagged) {{5+}}\r\nHello");
        Assert.That(append[^1], Does.StartWith("b15 OK [APPENDUID "));
        var flags = await bob.CommandAsync("b16", "UID FETCH 2 (FLAGS)");
        Assert.That(flags.Single(l => l.StartsWith("* 2 FETCH", StringComparison.Ordinal)), Does.Contain("\\Flagged").And.Not.Contain("\\Deleted"),
            "without t the \\Deleted of APPEND is not set (RFC 4314 §2.1)");
        Assert.That(await bob.CommandAsync("b17", "EXPUNGE"), Is.EqualTo(new[] { "b17 NO [NOPERM] You may not expunge in this mailbox (the e right is not yours)" }));
        // COPY from bob's own INBOX into the shared folder: the \Deleted of the source is not carried over either.
        await server.DeliverAsync("bob", "mine", flags: MailServer.Storage.MessageFlags.Deleted | MailServer.Storage.MessageFlags.Flagged);
        await bob.CommandAsync("b17a", "SELECT INBOX");
        Assert.That((await bob.CommandAsync("b17b", $"COPY 1 {Shared}"))[^1], Does.StartWith("b17b OK [COPYUID "));
        var alicesProjects = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "Projects")!;
        Assert.That(server.Store.ListMessages(alicesProjects.FolderId).Last().Flags, Is.EqualTo(MailServer.Storage.MessageFlags.Flagged));
        await bob.CommandAsync("b17c", $"SELECT {Shared}");

        // DELETEACL: bob's selected session is told before its next command, and LIST no longer shows the folder.
        Assert.That(await alice.CommandAsync("a3", "DELETEACL Projects bob@example.test"), Is.EqualTo(new[] { "a3 OK DELETEACL completed" }));
        await bob.SendLineAsync("b18 NOOP");
        Assert.That(await bob.ReadLineAsync(), Is.EqualTo("* BYE Access to the mailbox was withdrawn"));
        Assert.That(await bob.IsClosedByServerAsync(), Is.True);
        await using var again = await server.LoggedInAsync("bob");
        Assert.That(await again.CommandAsync("c1", "LIST \"\" \"Other Users*\""), Is.EqualTo(new[] { "c1 OK LIST completed" }));
        Assert.That(await again.CommandAsync("c2", $"SELECT {Shared}"), Is.EqualTo(new[] { "c2 NO [NONEXISTENT] No such mailbox" }));
    }

    [Test]
    public async Task A_sharee_in_idle_is_told_at_once_when_the_owner_takes_the_folder_back()
    {
        await using var server = await StartAsync();
        await using var alice = await server.LoggedInAsync();
        await using var bob = await server.LoggedInAsync("bob");
        Assert.That(await alice.CommandAsync("a1", "SETACL Projects bob@example.test lrs"), Is.EqualTo(new[] { "a1 OK SETACL completed" }));
        Assert.That((await bob.CommandAsync("b1", $"EXAMINE {Shared}"))[^1], Is.EqualTo("b1 OK [READ-ONLY] EXAMINE completed"));
        await bob.SendLineAsync("b2 IDLE");
        Assert.That(await bob.ReadLineAsync(), Does.StartWith("+ "));

        Assert.That(await alice.CommandAsync("a2", "DELETEACL Projects bob@example.test"), Is.EqualTo(new[] { "a2 OK DELETEACL completed" }));
        Assert.That(await bob.ReadLineAsync(), Is.EqualTo("* BYE Access to the mailbox was withdrawn"), "the change feed woke the IDLE");
    }

    [Test]
    public async Task A_co_owner_expunges_creates_below_the_shared_folder_and_a_delegate_with_a_shares_it_on()
    {
        await using var server = await StartAsync();
        await using var alice = await server.LoggedInAsync();
        await using var bob = await server.LoggedInAsync("bob");
        Assert.That(await alice.CommandAsync("a1", "SETACL Projects bob@example.test lrswipkxte"), Is.EqualTo(new[] { "a1 OK SETACL completed" }));
        await bob.CommandAsync("b1", $"SELECT {Shared}");
        Assert.That(await bob.CommandAsync("b2", "STORE 1 +FLAGS.SILENT (\\Deleted)"), Is.EqualTo(new[] { "b2 OK STORE completed" }));
        Assert.That(await bob.CommandAsync("b3", "EXPUNGE"), Is.EqualTo(new[] { "* 1 EXPUNGE", "b3 OK EXPUNGE completed" }));
        Assert.That((await bob.CommandAsync("b4", "CREATE \"Other Users/alice@example.test/Projects/2027\""))[^1], Does.StartWith("b4 OK "));
        Assert.That(server.Store.FindFolder(await server.MailboxIdAsync("alice"), "Projects/2027"), Is.Not.Null, "created in alice's mailbox");
        // RFC 4314 §4: the new folder inherits the parent's ACL, so bob sees what he made.
        Assert.That(await bob.CommandAsync("b4a", "LIST \"\" \"Other Users/alice@example.test/Projects/*\""), Is.EqualTo(new[]
        {
            "* LIST (\\HasNoChildren) \"/\" \"Other Users/alice@example.test/Projects/2027\"", "b4a OK LIST completed",
        }));
        Assert.That(await alice.CommandAsync("a1a", "GETACL Projects/2027"), Is.EqualTo(new[]
        {
            "* ACL Projects/2027 alice@example.test lrswipkxteacd bob@example.test lrswipkxtecd", "a1a OK GETACL completed",
        }));
        Assert.That(await bob.CommandAsync("b5", $"GETACL {Shared}"), Is.EqualTo(new[]
        {
            "b5 NO [NOPERM] You may not read the access control list in this mailbox (the a right is not yours)",
        }));

        // The owner role (with a) makes bob a delegate who may share the folder himself.
        Assert.That(await alice.CommandAsync("a2", "SETACL Projects bob@example.test +a"), Is.EqualTo(new[] { "a2 OK SETACL completed" }));
        Assert.That(await bob.CommandAsync("b6", $"GETACL {Shared}"), Is.EqualTo(new[]
        {
            "* ACL \"Other Users/alice@example.test/Projects\" alice@example.test lrswipkxteacd bob@example.test lrswipkxteacd", "b6 OK GETACL completed",
        }));
        Assert.That(await bob.CommandAsync("b7", $"SETACL {Shared} alice@example.test lrs"), Is.EqualTo(new[] { "b7 NO [CANNOT] The owner always holds every right" }));
    }

    [Test]
    public async Task MailKit_owner_sets_and_reads_the_acl_and_the_sharee_opens_the_folder()
    {
        await using var server = await StartAsync();
        using var alice = await server.MailKitAsync();
        var projects = await alice.GetFolderAsync("Projects");
        await projects.SetAccessRightsAsync("bob@example.test", new AccessRights("lrs"));
        var acl = await projects.GetAccessControlListAsync();
        Assert.That(acl.Select(a => (a.Name, a.Rights.ToString())), Is.EqualTo(new[]
        {
            ("alice@example.test", "lrswipkxteacd"), ("bob@example.test", "lrs"),
        }));

        using var bob = await server.MailKitAsync("bob@example.test");
        var shared = await bob.GetFolderAsync("Other Users/alice@example.test/Projects");
        Assert.That((await shared.GetMyAccessRightsAsync()).ToString(), Is.EqualTo("lrs"));
        await shared.OpenAsync(FolderAccess.ReadWrite);
        var summaries = await shared.FetchAsync(0, -1, MessageSummaryItems.Envelope);
        Assert.That(summaries.Select(s => s.Envelope?.Subject), Is.EqualTo(new[] { "plan" }));
        Assert.ThrowsAsync<MailKit.Net.Imap.ImapCommandException>(() => shared.StoreAsync(0, new StoreFlagsRequest(StoreAction.Add, MessageFlags.Flagged) { Silent = true }),
            "a viewer cannot flag");

        await projects.RemoveAccessAsync("bob@example.test");
        Assert.That((await projects.GetAccessControlListAsync()).Select(a => a.Name), Is.EqualTo(new[] { "alice@example.test" }));
        await alice.DisconnectAsync(true);
    }

    [Test]
    public async Task A_folder_shared_with_a_group_reaches_its_members_nested_groups_included()
    {
        await using var server = await StartAsync();
        server.SetGroups(("team", ["crew@example.test"]), ("crew", ["bob@example.test"]));
        await using var alice = await server.LoggedInAsync();
        await using var bob = await server.LoggedInAsync("bob");
        Assert.That(await alice.CommandAsync("a1", "SETACL Projects team@example.test lrswi"), Is.EqualTo(new[] { "a1 OK SETACL completed" }));
        Assert.That(await alice.CommandAsync("a2", "GETACL Projects"), Is.EqualTo(new[]
        {
            "* ACL Projects alice@example.test lrswipkxteacd team@example.test lrswi", "a2 OK GETACL completed",
        }));
        Assert.That(await bob.CommandAsync("b1", $"MYRIGHTS {Shared}"), Is.EqualTo(new[]
        {
            "* MYRIGHTS \"Other Users/alice@example.test/Projects\" lrswi", "b1 OK MYRIGHTS completed",
        }));
        // bob's own entry adds to the group's (the union of the entries naming him or a group he is in).
        Assert.That(await alice.CommandAsync("a3", "SETACL Projects bob@example.test lrs"), Is.EqualTo(new[] { "a3 OK SETACL completed" }));
        Assert.That(await bob.CommandAsync("b2", $"MYRIGHTS {Shared}"), Is.EqualTo(new[]
        {
            "* MYRIGHTS \"Other Users/alice@example.test/Projects\" lrswi", "b2 OK MYRIGHTS completed",
        }));
        // Leaving the group (a configuration reload) takes the group's rights away at the next command.
        server.SetGroups(("team", ["crew@example.test"]), ("crew", []));
        Assert.That(await bob.CommandAsync("b3", $"MYRIGHTS {Shared}"), Is.EqualTo(new[]
        {
            "* MYRIGHTS \"Other Users/alice@example.test/Projects\" lrs", "b3 OK MYRIGHTS completed",
        }));
    }
}
