using MailServer.Rules.Directory;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>NOTIFY (RFC 5465): event groups, unsolicited STATUS / LIST / EXISTS from the change feed, BADEVENT,
/// NOTIFICATIONOVERFLOW. Every unsolicited line is read without the listening session sending anything.</summary>
[TestFixture]
public sealed class NotifyTests
{
    private const string Message = "From: a@example.net\r\nSubject: hi\r\n\r\nbody\r\n";

    private static Task<List<string>> AppendAsync(ImapLineClient client, string tag, string mailbox) =>
        client.CommandAsync(tag, $"APPEND {mailbox} {{{Message.Length}+}}\r\n{Message}");

    private static async Task<uint> UidValidityAsync(ImapTestServer server, string folder) =>
        server.Store.ListFolders(await server.MailboxIdAsync("alice")).Single(f => f.Name == folder).UidValidity;

    [Test]
    public async Task Rfc_example_status_then_another_session_appends_to_another_mailbox_and_the_first_hears_status()
    {
        await using var server = await ImapTestServer.StartAsync();
        var mailboxId = await server.MailboxIdAsync("alice");
        await server.Store.CreateFolderAsync(mailboxId, "Lists", CancellationToken.None);
        await server.Store.CreateFolderAsync(mailboxId, "Lists/ietf", CancellationToken.None);
        var lists = await UidValidityAsync(server, "Lists");
        var ietf = await UidValidityAsync(server, "Lists/ietf");
        await using var first = await server.LoggedInAsync();
        await using var second = await server.LoggedInAsync();

        Assert.That((await first.CommandAsync("c", "CAPABILITY"))[0], Does.Contain(" NOTIFY"));
        Assert.That(await first.CommandAsync("s", "SELECT INBOX"), Has.Some.EqualTo("s OK [READ-WRITE] SELECT completed"));
        // RFC 5465 §3.1 example shape: STATUS for every mailbox of the non-selected groups, not for the selected one.
        Assert.That(await first.CommandAsync("a", "NOTIFY SET STATUS (selected (MessageNew (UID FLAGS) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))"),
            Is.EqualTo(new[]
            {
                $"* STATUS Lists (MESSAGES 0 UIDNEXT 1 UIDVALIDITY {lists} UNSEEN 0)",
                $"* STATUS Lists/ietf (MESSAGES 0 UIDNEXT 1 UIDVALIDITY {ietf} UNSEEN 0)",
                "a OK NOTIFY completed",
            }));

        // Another session appends to a mailbox under Lists: the first hears STATUS without sending anything.
        Assert.That((await AppendAsync(second, "b1", "Lists/ietf"))[^1], Does.StartWith("b1 OK [APPENDUID"));
        Assert.That(await first.ReadLineAsync(), Is.EqualTo($"* STATUS Lists/ietf (MESSAGES 1 UIDNEXT 2 UIDVALIDITY {ietf} UNSEEN 1)"));

        // A delivery to the selected mailbox: EXISTS at once, then the FETCH items MessageNew asked for (§5.1).
        await server.DeliverAsync("alice", "pushed");
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* 1 EXISTS"));
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* 1 RECENT"));
        Assert.That(await first.ReadLineAsync(), Is.EqualTo(@"* 1 FETCH (UID 1 FLAGS (\Recent))"));

        // INBOX is not under Lists and is the selected mailbox: an expunge there is told by EXPUNGE (selected), at once.
        await server.DeliverAsync("alice", "doomed", flags: MailServer.Storage.MessageFlags.Deleted);
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* 2 EXISTS"));
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* 2 RECENT"));
        Assert.That(await first.ReadLineAsync(), Is.EqualTo(@"* 2 FETCH (UID 2 FLAGS (\Deleted \Recent))"));
        await second.CommandAsync("s", "SELECT INBOX");
        Assert.That(await second.CommandAsync("x", "EXPUNGE"), Is.EqualTo(new[] { "* 2 EXPUNGE", "x OK EXPUNGE completed" }));
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* 2 EXPUNGE"));

        // A mailbox outside every group: nothing (the NOOP's reply is the next line).
        Assert.That((await AppendAsync(second, "b2", "Drafts"))[^1], Does.StartWith("b2 OK [APPENDUID"));
        Assert.That(await first.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "n OK NOOP completed" }));
    }

    [Test]
    public async Task A_folder_shared_with_setacl_is_told_by_subtree_while_shared_and_never_by_personal()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.MailboxIdAsync("bob");
        var aliceId = await server.MailboxIdAsync("alice");
        await server.Store.CreateFolderAsync(aliceId, "Projects", CancellationToken.None);
        await server.Store.CreateFolderAsync(aliceId, "Private", CancellationToken.None);
        await using var alice = await server.LoggedInAsync();
        await using var bob = await server.LoggedInAsync("bob");
        Assert.That(await alice.CommandAsync("a1", "SETACL Projects bob@example.test lrs"), Is.EqualTo(new[] { "a1 OK SETACL completed" }));
        var projects = server.Store.ListFolders(aliceId).Single(f => f.Name == "Projects").UidValidity;

        // RFC 5465 §6: personal is the personal namespace; alice's folders come only through subtree (or mailboxes).
        var initial = await bob.CommandAsync("n1", "NOTIFY SET STATUS (personal (MessageNew MessageExpunge)) (subtree \"Other Users\" (MessageNew MessageExpunge FlagChange))");
        Assert.That(initial, Does.Contain($"* STATUS \"Other Users/alice@example.test/Projects\" (MESSAGES 0 UIDNEXT 1 UIDVALIDITY {projects} UNSEEN 0)"));
        Assert.That(initial, Has.Some.StartsWith("* STATUS INBOX "), "bob's own folders through personal");
        Assert.That(initial.Count(l => l.Contains("alice@example.test", StringComparison.Ordinal)), Is.EqualTo(1),
            "nothing of alice's that is not shared with bob");
        Assert.That(initial[^1], Is.EqualTo("n1 OK NOTIFY completed"));
        await server.DeliverAsync("alice", "plan", folder: "Projects");
        Assert.That(await bob.ReadLineAsync(), Is.EqualTo($"* STATUS \"Other Users/alice@example.test/Projects\" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY {projects} UNSEEN 1)"));
        // FlagChange by the owner: UNSEEN goes down.
        await alice.CommandAsync("a2", "SELECT Projects");
        await alice.CommandAsync("a3", "STORE 1 +FLAGS (\\Seen)");
        await alice.CommandAsync("a3b", "UNSELECT");
        Assert.That(await bob.ReadLineAsync(), Is.EqualTo($"* STATUS \"Other Users/alice@example.test/Projects\" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY {projects} UNSEEN 0)"));
        // alice's folders that are not shared with bob tell him nothing (RFC 4314 §6: they do not exist for him).
        await server.DeliverAsync("alice", "secret", folder: "Private");
        await server.DeliverAsync("alice", "inbox");
        Assert.That(await bob.CommandAsync("n2", "NOOP"), Is.EqualTo(new[] { "n2 OK NOOP completed" }));

        // Taken back: nothing more about the folder, though the session still follows alice's mailbox.
        Assert.That(await alice.CommandAsync("a4", "DELETEACL Projects bob@example.test"), Is.EqualTo(new[] { "a4 OK DELETEACL completed" }));
        await server.DeliverAsync("alice", "after", folder: "Projects");
        Assert.That(await bob.CommandAsync("n3", "NOOP"), Is.EqualTo(new[] { "n3 OK NOOP completed" }));

        // personal alone: a shared folder is never in it.
        Assert.That(await alice.CommandAsync("a5", "SETACL Projects bob@example.test lrs"), Is.EqualTo(new[] { "a5 OK SETACL completed" }));
        Assert.That(await bob.CommandAsync("n4", "NOTIFY SET (personal (MessageNew MessageExpunge))"), Is.EqualTo(new[] { "n4 OK NOTIFY completed" }));
        await server.DeliverAsync("alice", "again", folder: "Projects");
        Assert.That(await bob.CommandAsync("n5", "NOOP"), Is.EqualTo(new[] { "n5 OK NOOP completed" }));
    }

    [Test]
    public async Task A_full_access_inbox_is_told_by_mailboxes_and_by_subscribed_until_the_permission_goes()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.MailboxIdAsync("bob");
        var aliceId = await server.MailboxIdAsync("alice");
        server.SetPermissions(new DirectoryPermission("alice@example.test", "bob@example.test", MailboxRights.FullAccess));
        await using var bob = await server.LoggedInAsync("bob");
        await using var other = await server.LoggedInAsync("bob");
        const string aliceInbox = "\"Other Users/alice@example.test/INBOX\"";
        var inbox = server.Store.ListFolders(aliceId).Single(f => f.Name == "INBOX").UidValidity;
        Assert.That(await bob.CommandAsync("n1", $"NOTIFY SET (mailboxes {aliceInbox} (MessageNew MessageExpunge))"), Is.EqualTo(new[] { "n1 OK NOTIFY completed" }));
        await server.DeliverAsync("alice", "one");
        Assert.That(await bob.ReadLineAsync(), Is.EqualTo($"* STATUS {aliceInbox} (MESSAGES 1 UIDNEXT 2 UIDVALIDITY {inbox} UNSEEN 1)"));
        // MessageExpunge: another session of bob's expunges there through Full Access.
        await other.CommandAsync("s", $"SELECT {aliceInbox}");
        await other.CommandAsync("t", "STORE 1 +FLAGS.SILENT (\\Deleted)");
        Assert.That(await other.CommandAsync("x", "EXPUNGE"), Is.EqualTo(new[] { "* 1 EXPUNGE", "x OK EXPUNGE completed" }));
        Assert.That(await bob.ReadLineAsync(), Is.EqualTo($"* STATUS {aliceInbox} (MESSAGES 0 UIDNEXT 2 UIDVALIDITY {inbox} UNSEEN 0)"));
        await other.CommandAsync("c", "CLOSE");

        // subscribed (RFC 5465 §6.5): the name bob subscribed to.
        Assert.That(await bob.CommandAsync("u", $"SUBSCRIBE {aliceInbox}"), Is.EqualTo(new[] { "u OK SUBSCRIBE completed" }));
        Assert.That(await bob.CommandAsync("n2", "NOTIFY SET (subscribed (MessageNew MessageExpunge))"), Is.EqualTo(new[] { "n2 OK NOTIFY completed" }));
        await server.DeliverAsync("alice", "two");
        Assert.That(await bob.ReadLineAsync(), Is.EqualTo($"* STATUS {aliceInbox} (MESSAGES 1 UIDNEXT 3 UIDVALIDITY {inbox} UNSEEN 1)"));

        // The administrator takes Full Access away: the next delivery tells bob nothing.
        server.SetPermissions();
        await server.DeliverAsync("alice", "three");
        Assert.That(await bob.CommandAsync("n3", "NOOP"), Is.EqualTo(new[] { "n3 OK NOOP completed" }));
    }

    [Test]
    public async Task Mailbox_metadata_set_by_another_session_is_told_as_metadata_naming_the_entries()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var first = await server.LoggedInAsync();
        await using var second = await server.LoggedInAsync();
        Assert.That(await first.CommandAsync("a", "NOTIFY SET (mailboxes Drafts (MailboxMetadataChange))"), Is.EqualTo(new[] { "a OK NOTIFY completed" }));
        // RFC 5465 §5 MailboxMetadataChange, RFC 5464 §4.4.2: the unsolicited METADATA names the entry, not its value.
        Assert.That(await second.CommandAsync("m1", "SETMETADATA Drafts (/shared/comment \"hello\")"), Is.EqualTo(new[] { "m1 OK SETMETADATA completed" }));
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* METADATA Drafts /shared/comment"));
        // Only what changed: the comment is set again to the same value, a private entry is new.
        Assert.That(await second.CommandAsync("m2", "SETMETADATA Drafts (/shared/comment \"hello\" /private/vendor/x \"1\")"), Is.EqualTo(new[] { "m2 OK SETMETADATA completed" }));
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* METADATA Drafts /private/vendor/x"));
        // A removal is a change too; two entries in one response.
        Assert.That(await second.CommandAsync("m3", "SETMETADATA Drafts (/shared/comment NIL /private/vendor/x \"2\")"), Is.EqualTo(new[] { "m3 OK SETMETADATA completed" }));
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* METADATA Drafts /private/vendor/x /shared/comment"));
        // A folder outside the group, and the server entries (not asked for): nothing.
        await second.CommandAsync("m4", "SETMETADATA INBOX (/shared/comment \"x\")");
        await second.CommandAsync("m5", "SETMETADATA \"\" (/private/vendor/theme \"dark\")");
        Assert.That(await first.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "n OK NOOP completed" }));
        // The client reads the value itself.
        Assert.That(await first.CommandAsync("g", "GETMETADATA Drafts /private/vendor/x"), Is.EqualTo(new[] { "* METADATA Drafts (/private/vendor/x \"2\")", "g OK GETMETADATA completed" }));
    }

    [Test]
    public async Task Server_metadata_is_told_with_the_empty_name_and_a_shared_folder_without_private_entries()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.MailboxIdAsync("bob");
        var aliceId = await server.MailboxIdAsync("alice");
        await server.Store.CreateFolderAsync(aliceId, "Projects", CancellationToken.None);
        await using var alice = await server.LoggedInAsync();
        await using var bob = await server.LoggedInAsync("bob");
        await using var bob2 = await server.LoggedInAsync("bob");
        Assert.That(await alice.CommandAsync("a1", "SETACL Projects bob@example.test lrs"), Is.EqualTo(new[] { "a1 OK SETACL completed" }));
        Assert.That(await bob.CommandAsync("n1", "NOTIFY SET (subtree \"Other Users\" (MailboxMetadataChange)) (personal (ServerMetadataChange))"),
            Is.EqualTo(new[] { "n1 OK NOTIFY completed" }));
        // RFC 5465 §5 ServerMetadataChange: the server entries, named with the empty mailbox name (RFC 5464 §4.4.2).
        Assert.That(await bob2.CommandAsync("m1", "SETMETADATA \"\" (/private/vendor/theme \"dark\")"), Is.EqualTo(new[] { "m1 OK SETMETADATA completed" }));
        Assert.That(await bob.ReadLineAsync(), Is.EqualTo("* METADATA \"\" /private/vendor/theme"));
        // alice's server entries are hers: nothing for bob.
        await alice.CommandAsync("a2", "SETMETADATA \"\" (/private/vendor/theme \"light\")");
        // alice annotates the shared folder: bob hears the shared entry, never her private one (RFC 5464 §3.2).
        Assert.That(await alice.CommandAsync("a3", "SETMETADATA Projects (/private/note \"mine\")"), Is.EqualTo(new[] { "a3 OK SETMETADATA completed" }));
        Assert.That(await alice.CommandAsync("a4", "SETMETADATA Projects (/shared/comment \"plan\")"), Is.EqualTo(new[] { "a4 OK SETMETADATA completed" }));
        Assert.That(await bob.ReadLineAsync(), Is.EqualTo("* METADATA \"Other Users/alice@example.test/Projects\" /shared/comment"));
        // Taken back: nothing more about the folder (RFC 4314 §6).
        Assert.That(await alice.CommandAsync("a5", "DELETEACL Projects bob@example.test"), Is.EqualTo(new[] { "a5 OK DELETEACL completed" }));
        await alice.CommandAsync("a6", "SETMETADATA Projects (/shared/comment \"secret\")");
        Assert.That(await bob.CommandAsync("n2", "NOOP"), Is.EqualTo(new[] { "n2 OK NOOP completed" }));
    }

    [Test]
    public async Task Selected_delayed_keeps_expunge_for_a_command_that_allows_it()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one", flags: MailServer.Storage.MessageFlags.Deleted);
        await using var first = await server.LoggedInAsync();
        await using var second = await server.LoggedInAsync();
        await first.CommandAsync("v", "ENABLE IMAP4rev2"); // no RECENT lines
        await first.CommandAsync("s", "SELECT INBOX");
        Assert.That(await first.CommandAsync("a", "NOTIFY SET (selected-delayed (MessageNew MessageExpunge))"), Is.EqualTo(new[] { "a OK NOTIFY completed" }));
        await second.CommandAsync("s", "SELECT INBOX");
        Assert.That(await second.CommandAsync("x", "EXPUNGE"), Is.EqualTo(new[] { "* 1 EXPUNGE", "x OK EXPUNGE completed" }));
        await server.DeliverAsync("alice", "two");
        // RFC 5465 §6.2: the new message at once; the expunged one keeps its number until a command allows EXPUNGE.
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* 2 EXISTS"));
        Assert.That(await first.CommandAsync("f", "FETCH 1:* (UID)"), Is.EqualTo(new[] { "* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)", "f OK FETCH completed" }));
        Assert.That(await first.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "* 1 EXPUNGE", "n OK NOOP completed" }));
    }

    [Test]
    public async Task Mailbox_name_events_tell_create_rename_and_delete_by_another_session()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var first = await server.LoggedInAsync();
        await using var second = await server.LoggedInAsync();
        Assert.That(await first.CommandAsync("a", "NOTIFY SET (personal (MailboxName))"), Is.EqualTo(new[] { "a OK NOTIFY completed" }));
        // RFC 5465 §5.4: LIST for a new name, LIST with OLDNAME for a rename, LIST (\NonExistent) for a deleted one.
        await second.CommandAsync("c", "CREATE Projects");
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* LIST () \"/\" Projects"));
        await second.CommandAsync("r", "RENAME Projects Done");
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* LIST () \"/\" Done (\"OLDNAME\" (Projects))"));
        await second.CommandAsync("d", "DELETE Done");
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* LIST (\\NonExistent) \"/\" Done"));
        // No message events were asked for: an APPEND tells nothing.
        await AppendAsync(second, "p", "INBOX");
        Assert.That(await first.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "n OK NOOP completed" }));
    }

    [Test]
    public async Task Mailboxes_and_subscribed_filters_and_highestmodseq_once_condstore_is_on()
    {
        await using var server = await ImapTestServer.StartAsync();
        var mailboxId = await server.MailboxIdAsync("alice");
        await using var first = await server.LoggedInAsync();
        await using var second = await server.LoggedInAsync();
        await first.CommandAsync("e", "ENABLE CONDSTORE");
        Assert.That(await first.CommandAsync("u", "UNSUBSCRIBE \"Junk E-mail\""), Is.EqualTo(new[] { "u OK UNSUBSCRIBE completed" }));
        Assert.That(await first.CommandAsync("a", "NOTIFY SET (mailboxes (Drafts \"Sent Items\") (MessageNew MessageExpunge)) (subscribed (MessageNew MessageExpunge))"),
            Is.EqualTo(new[] { "a OK NOTIFY completed" }));
        // RFC 5465 §6.5: subscribed as the subscriptions are when the event happens: Junk E-mail is not, INBOX is.
        await AppendAsync(second, "j", "\"Junk E-mail\"");
        await AppendAsync(second, "i", "INBOX");
        var inbox = server.Store.ListFolders(mailboxId).Single(f => f.Name == "INBOX");
        // RFC 5465 §5.1 with CONDSTORE on: HIGHESTMODSEQ in the STATUS.
        Assert.That(await first.ReadLineAsync(),
            Is.EqualTo($"* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY {inbox.UidValidity} UNSEEN 1 HIGHESTMODSEQ {inbox.HighestModSeq})"));
        // §6.7: a mailbox named in a list.
        await AppendAsync(second, "s", "\"Sent Items\"");
        Assert.That(await first.ReadLineAsync(), Does.StartWith("* STATUS \"Sent Items\" (MESSAGES 1 UIDNEXT 2 "));
    }

    [Test]
    public async Task Subscription_change_events_tell_subscribe_and_unsubscribe_by_another_session()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var first = await server.LoggedInAsync();
        await using var second = await server.LoggedInAsync();
        Assert.That(await first.CommandAsync("a", "NOTIFY SET (personal (SubscriptionChange))"), Is.EqualTo(new[] { "a OK NOTIFY completed" }));
        // RFC 5465 §5.5: LIST without \Subscribed for an unsubscribed name, with it for a subscribed one (a folder or not).
        await second.CommandAsync("u", "UNSUBSCRIBE Drafts");
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* LIST () \"/\" Drafts"));
        await second.CommandAsync("s", "SUBSCRIBE Drafts");
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* LIST (\\Subscribed) \"/\" Drafts"));
        await second.CommandAsync("s2", "SUBSCRIBE Someday");
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* LIST (\\Subscribed) \"/\" Someday"));
        // Subscribing what is subscribed changes nothing and tells nothing.
        await second.CommandAsync("s3", "SUBSCRIBE Drafts");
        Assert.That(await first.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "n OK NOOP completed" }));
    }

    [Test]
    public async Task Unsupported_events_are_badevent_and_broken_groups_are_bad_and_the_earlier_notify_stays()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("a", "NOTIFY SET (inboxes (MessageNew MessageExpunge))"), Is.EqualTo(new[] { "a OK NOTIFY completed" }));
        const string badEvent = "NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)] Some of these events are not offered";
        // RFC 5465 §5.9: an event the server does not offer → NO [BADEVENT (the events it offers)].
        Assert.That(await client.CommandAsync("c", "NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))"), Is.EqualTo(new[] { "c " + badEvent }));
        Assert.That(await client.CommandAsync("d", "NOTIFY SET (personal (FooChange))"), Is.EqualTo(new[] { "d " + badEvent }));
        // §5: MessageNew and MessageExpunge together; FlagChange needs them; FETCH items only for the selected mailbox.
        Assert.That((await client.CommandAsync("e", "NOTIFY SET (inboxes (MessageNew))"))[^1], Does.StartWith("e BAD "));
        Assert.That((await client.CommandAsync("f", "NOTIFY SET (inboxes (MessageExpunge))"))[^1], Does.StartWith("f BAD "));
        Assert.That((await client.CommandAsync("g", "NOTIFY SET (personal (FlagChange))"))[^1], Does.StartWith("g BAD "));
        Assert.That((await client.CommandAsync("h", "NOTIFY SET (inboxes (MessageNew (UID) MessageExpunge))"))[^1], Does.StartWith("h BAD "));
        Assert.That((await client.CommandAsync("i", "NOTIFY SET (nowhere (MessageNew MessageExpunge))"))[^1], Does.StartWith("i BAD "));
        Assert.That((await client.CommandAsync("j", "NOTIFY"))[^1], Does.StartWith("j BAD "));

        // The refused commands left the first one in force: a delivery to INBOX is told by STATUS.
        var validity = await UidValidityAsync(server, "INBOX");
        await server.DeliverAsync("alice", "still");
        Assert.That(await client.ReadLineAsync(), Is.EqualTo($"* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY {validity} UNSEEN 1)"));
    }

    [Test]
    public async Task Notify_none_stops_and_idle_goes_on_telling()
    {
        await using var server = await ImapTestServer.StartAsync();
        var validity = await UidValidityAsync(server, "INBOX");
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("a", "NOTIFY SET (inboxes (MessageNew MessageExpunge FlagChange))"), Is.EqualTo(new[] { "a OK NOTIFY completed" }));
        await client.CommandAsync("s", "SELECT Drafts");
        // During IDLE on another mailbox, INBOX's changes come as STATUS (RFC 5465 with RFC 2177).
        await client.SendLineAsync("i IDLE");
        Assert.That(await client.ReadLineAsync(), Is.EqualTo("+ idling"));
        await server.DeliverAsync("alice", "one");
        Assert.That(await client.ReadLineAsync(), Is.EqualTo($"* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY {validity} UNSEEN 1)"));
        await client.SendLineAsync("DONE");
        Assert.That(await client.ReadUntilTaggedAsync("i"), Is.EqualTo(new[] { "i OK IDLE terminated" }));
        // FlagChange: \Seen set by another session changes UNSEEN.
        await using (var other = await server.LoggedInAsync())
        {
            await other.CommandAsync("s", "SELECT INBOX");
            await other.CommandAsync("t", @"STORE 1 +FLAGS (\Seen)");
        }
        Assert.That(await client.ReadLineAsync(), Is.EqualTo($"* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY {validity} UNSEEN 0)"));

        Assert.That(await client.CommandAsync("b", "NOTIFY NONE"), Is.EqualTo(new[] { "b OK NOTIFY completed" }));
        await server.DeliverAsync("alice", "two");
        Assert.That(await client.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "n OK NOOP completed" }));
    }

    [Test]
    public async Task A_feed_overflow_is_notificationoverflow_and_ends_the_notifications()
    {
        // A feed of one change per subscriber: a MULTIAPPEND of four messages (one commit) overflows it.
        await using var server = await ImapTestServer.StartAsync(feedCapacity: 1);
        await using var first = await server.LoggedInAsync();
        await using var second = await server.LoggedInAsync();
        Assert.That(await first.CommandAsync("a", "NOTIFY SET (personal (MessageNew MessageExpunge))"), Is.EqualTo(new[] { "a OK NOTIFY completed" }));
        var literal = $"{{{Message.Length}+}}\r\n{Message}";
        Assert.That((await second.CommandAsync("m", $"APPEND Drafts {literal} {literal} {literal} {literal}"))[^1], Does.StartWith("m OK [APPENDUID"));
        // RFC 5465 §5.8: NOTIFICATIONOVERFLOW, then nothing more, as after NOTIFY NONE.
        Assert.That(await first.ReadLineAsync(), Is.EqualTo("* OK [NOTIFICATIONOVERFLOW] Too many events; notifications stopped"));
        await AppendAsync(second, "p", "Drafts");
        Assert.That(await first.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "n OK NOOP completed" }));
    }

    [Test]
    public async Task MailKit_notify_hears_the_inbox_count_while_idling_in_another_folder()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.MailKitAsync();
        Assert.That(client.Capabilities.HasFlag(MailKit.Net.Imap.ImapCapabilities.Notify), Is.True);
        var drafts = await client.GetFolderAsync("Drafts");
        await drafts.OpenAsync(MailKit.FolderAccess.ReadWrite);
        await client.NotifyAsync(true, [new MailKit.Net.Imap.ImapEventGroup(MailKit.Net.Imap.ImapMailboxFilter.Inboxes,
            [new MailKit.Net.Imap.ImapEvent.MessageNew(MailKit.MessageSummaryItems.None), MailKit.Net.Imap.ImapEvent.MessageExpunge])]);
        var arrived = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Inbox.CountChanged += (_, _) => arrived.TrySetResult(client.Inbox.Count);
        using var done = new CancellationTokenSource();
        var idle = client.IdleAsync(done.Token);
        await server.DeliverAsync("alice", "pushed");
        Assert.That(await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(1));
        await done.CancelAsync();
        await idle.WaitAsync(TimeSpan.FromSeconds(10));
        await client.DisconnectAsync(true);
    }
}
