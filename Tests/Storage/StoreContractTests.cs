using System.Text;
using MailServer.Storage;
using MailServer.Storage.PostgreSql;
using MailServer.Tests.Support;
using Npgsql;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>
/// One store under the contract tests: the delivery and IMAP-session interfaces of an engine, and what a thief with
/// a copy of its database (and, for LiteDB, its blob folder) would read.
/// </summary>
internal sealed class ContractStore(string engine, object store, Func<Task<byte[]>> rawDump, Func<ValueTask> dispose)
    : IAsyncDisposable
{
    public const string Org = StoreHarness.Org;

    public string Engine => engine;
    public IDeliveryStore Delivery => (IDeliveryStore)store;
    public IImapSessionStore Imap => (IImapSessionStore)store;
    public IQueueStore Queue => (IQueueStore)store;
    public IHeldMessageStore Held => (IHeldMessageStore)store;
    public IMessageFlowStore Flow => (IMessageFlowStore)store;
    public IRetentionOperations Retention => (IRetentionOperations)store;
    public IImapExtensionStore Extensions => (IImapExtensionStore)store;

    /// <summary>Every byte the engine keeps (database and bodies).</summary>
    public Task<byte[]> RawDumpAsync() => rawDump();

    public ValueTask DisposeAsync() => dispose();

    /// <summary>Opens a fresh store of <paramref name="engine"/>; <paramref name="time"/> is its clock (the system's when null).</summary>
    public static async Task<ContractStore> OpenAsync(string engine, TimeProvider? time = null)
    {
        if (engine == "LiteDb")
        {
            var harness = StoreHarness.Create(time: time);
            return new ContractStore(engine, harness.Store, () =>
            {
                // The database, and every file beside it: mailbox, queue, held and in-transit bodies.
                var bytes = new List<byte>(harness.Data.ToArray().Concat(harness.Log.ToArray()));
                foreach (var file in Directory.GetFiles(harness.Directory, "*", SearchOption.AllDirectories))
                    bytes.AddRange(File.ReadAllBytes(file));
                return Task.FromResult(bytes.ToArray());
            }, harness.DisposeAsync);
        }
        var connectionString = await PostgreSqlCluster.Instance.CreateDatabaseAsync();
        var ledgerConnectionString = await PostgreSqlCluster.Instance.CreateDatabaseAsync();
        var options = PostgreSqlOptions(connectionString, ledgerConnectionString, FixedKeys.Random(Org, "org-2"));
        if (time is not null)
            options = options with { TimeProvider = time };
        var store = await PostgreSqlMailStore.OpenAsync(options, CancellationToken.None);
        return new ContractStore(engine, store, () => PostgreSqlDumpAsync(connectionString), async () =>
        {
            await store.DisposeAsync();
        });
    }

    public static PostgreSqlStoreOptions PostgreSqlOptions(string connectionString, string keyLedgerConnectionString, MailServer.Storage.Crypto.IMasterKeyProvider keys) => new()
    {
        ConnectionString = connectionString,
        KeyLedgerConnectionString = keyLedgerConnectionString,
        MasterKeys = keys,
    };

    /// <summary>Every row of every table as text (bytea in hex), as <c>pg_dump</c> would show them.</summary>
    public static async Task<byte[]> PostgreSqlDumpAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var text = new StringBuilder();
        foreach (var table in new[] { "mailserver_meta", "mailboxes", "folders", "entries", "blobs", "blob_segments", "tombstones", "queue", "send_counts", "held", "message_flow", "search_index", "search_segments", "imports" })
        {
            await using var command = new NpgsqlCommand($"SELECT row_to_json(t)::text FROM {table} t", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                text.AppendLine(reader.GetString(0));
        }
        return Encoding.UTF8.GetBytes(text.ToString());
    }
}

/// <summary>
/// The store contract (docs/storage-contract.md) for the delivery and IMAP-session interfaces, run on both engines:
/// LiteDB on a MemoryStream and PostgreSQL on the run's private cluster (a database per test).
/// </summary>
[TestFixture("LiteDb")]
[TestFixture("PostgreSql")]
public sealed partial class StoreContractTests(string engine)
{
    private ContractStore _store = null!;
    private static readonly CancellationToken None = CancellationToken.None;

    [SetUp]
    public async Task OpenAsync() => _store = await ContractStore.OpenAsync(engine);

    [TearDown]
    public async Task CloseAsync() => await _store.DisposeAsync();

    private IDeliveryStore Delivery => _store.Delivery;
    private IImapSessionStore Imap => _store.Imap;

    private static async Task<T> Within<T>(Task<T> task) => await task.WaitAsync(TimeSpan.FromSeconds(30));

    [Test]
    public async Task A_delivery_to_two_mailboxes_is_stored_once_and_read_by_each_with_its_own_uid_and_counts()
    {
        var alice = await Delivery.EnsureMailboxAsync(ContractStore.Org, "alice@example.test", None);
        var bob = await Delivery.EnsureMailboxAsync(ContractStore.Org, "bob@example.test", None);
        var message = StoreHarness.Message("quarterly numbers", "see attached", padTo: 200_000); // four 64 KiB segments

        var stored = await Delivery.DeliverAsync(message, DateTimeOffset.Parse("2026-03-01T10:00:00+01:00"),
            [new DeliveryTarget(alice.MailboxId, "INBOX"), new DeliveryTarget(bob.MailboxId, "Junk E-mail", MessageFlags.Seen)], None);

        Assert.That(stored.Select(s => s.Uid), Is.EqualTo(new uint[] { 1, 1 }));
        Assert.That(await Imap.ReadMessageAsync(alice.MailboxId, stored[0].EntryId, None), Is.EqualTo(message));
        Assert.That(await Imap.ReadMessageAsync(bob.MailboxId, stored[1].EntryId, None), Is.EqualTo(message));
        var inbox = Imap.FindFolder(alice.MailboxId, "inbox")!;
        Assert.That((inbox.MessageCount, inbox.UnseenCount, inbox.UidNext), Is.EqualTo((1, 1, 2u)));
        var junk = Imap.FindFolder(bob.MailboxId, "Junk E-mail")!;
        Assert.That((junk.MessageCount, junk.UnseenCount, junk.UidNext), Is.EqualTo((1, 0, 2u)));
        Assert.That(Delivery.FindMailbox(ContractStore.Org, "ALICE@example.test")!.UsedBytes, Is.EqualTo(message.Length));
        var meta = Imap.ListMessages(inbox.FolderId).Single();
        Assert.That(meta.InternalDate, Is.EqualTo(DateTimeOffset.Parse("2026-03-01T10:00:00+01:00")));
        Assert.That(meta.InternalDate.Offset, Is.EqualTo(TimeSpan.FromHours(1)));
        Assert.That(meta.ContentKey, Is.EqualTo(Imap.ListMessages(junk.FolderId).Single().ContentKey), "one body, one EMAILID");

        // A partial read decrypts only its range, from any segment.
        await using var stream = Imap.OpenMessage(alice.MailboxId, stored[0].EntryId);
        Assert.That(stream.Length, Is.EqualTo(message.Length));
        stream.Position = 150_000;
        var part = new byte[1000];
        stream.ReadExactly(part);
        Assert.That(part, Is.EqualTo(message.AsSpan(150_000, 1000).ToArray()));
        Assert.That(Encoding.ASCII.GetString(Imap.ReadHeaderSection(alice.MailboxId, stored[0].EntryId)), Does.Contain("Subject: quarterly numbers\r\n").And.EndWith("\r\n\r\n"));
    }

    [Test]
    public async Task A_mailbox_is_created_once_with_the_WorkMail_folders_and_found_by_owner_in_any_case()
    {
        var first = await Delivery.EnsureMailboxAsync(ContractStore.Org, "carol@example.test", None);
        var again = await Delivery.EnsureMailboxAsync(ContractStore.Org, "Carol@Example.test", None);
        Assert.That(again.MailboxId, Is.EqualTo(first.MailboxId));
        Assert.That(Delivery.FindMailbox("org-2", "carol@example.test"), Is.Null, "another organization's mailbox of the same address is another one");
        var folders = Imap.ListFolders(first.MailboxId);
        Assert.That(folders.Select(f => (f.Name, f.SpecialUse)), Is.EqualTo(new[]
        {
            ("INBOX", SpecialUse.Inbox), ("Deleted Items", SpecialUse.Trash), ("Drafts", SpecialUse.Drafts),
            ("Junk E-mail", SpecialUse.Junk), ("Sent Items", SpecialUse.Sent),
        }));
        Assert.That(folders.Select(f => f.UidValidity).Distinct().Count(), Is.EqualTo(folders.Count), "every folder its own UIDVALIDITY");
        Assert.That(Imap.ListSubscriptions(first.MailboxId), Has.Count.EqualTo(5));
    }

    [Test]
    public async Task Append_stores_all_with_flags_and_keywords_in_order_and_new_messages_are_listed_from_a_uid()
    {
        var box = await Delivery.EnsureMailboxAsync(ContractStore.Org, "dave@example.test", None);
        var stored = await Imap.AppendAsync(box.MailboxId, "Drafts",
        [
            new AppendItem(StoreHarness.Message("one", "1"), DateTimeOffset.UtcNow, MessageFlags.Draft | MessageFlags.Seen, ["$Work", "$work"]),
            new AppendItem(StoreHarness.Message("two", "2"), DateTimeOffset.UtcNow, MessageFlags.None, []),
            new AppendItem(StoreHarness.Message("three", "3"), DateTimeOffset.UtcNow, MessageFlags.Flagged, []),
        ], None);
        Assert.That(stored.Select(s => s.Uid), Is.EqualTo(new uint[] { 1, 2, 3 }));
        Assert.That(stored.Select(s => s.ModSeq), Is.Ordered.Ascending);
        var drafts = Imap.FindFolder(box.MailboxId, "Drafts")!;
        var first = Imap.ListMessages(drafts.FolderId)[0];
        Assert.That(first.Flags, Is.EqualTo(MessageFlags.Draft | MessageFlags.Seen));
        Assert.That(first.Keywords, Is.EqualTo(new[] { "$Work" }));
        Assert.That(Imap.ListMessages(drafts.FolderId, 2).Select(m => m.Uid), Is.EqualTo(new uint[] { 2, 3 }));
        Assert.That(drafts.HighestModSeq, Is.EqualTo(stored[^1].ModSeq));
        Assert.ThrowsAsync<ArgumentException>(() => Imap.AppendAsync(box.MailboxId, "No such folder", [new AppendItem(StoreHarness.Message("x", "x"), DateTimeOffset.UtcNow, 0, [])], None));
    }

    [Test]
    public async Task Flag_changes_get_new_modseqs_update_unseen_and_reach_the_change_feed()
    {
        var box = await Delivery.EnsureMailboxAsync(ContractStore.Org, "erin@example.test", None);
        var inbox = Imap.FindFolder(box.MailboxId, "INBOX")!;
        using var subscription = Imap.Changes.Subscribe(box.MailboxId);
        var stored = await Delivery.DeliverAsync(StoreHarness.Message("hi", "there"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], None);
        var added = await Within(subscription.Reader.ReadAsync().AsTask());
        Assert.That(added, Is.EqualTo(new MailboxChange.MessageAdded(box.MailboxId, inbox.FolderId, stored[0].ModSeq, 1)));

        var after = await Imap.SetFlagsAsync(inbox.FolderId, [1, 99], FlagOperation.Add, MessageFlags.Seen, ["$label1"], None);
        Assert.That(after.Single().Flags, Is.EqualTo(MessageFlags.Seen));
        Assert.That(after.Single().ModSeq, Is.GreaterThan(stored[0].ModSeq));
        var changed = (MailboxChange.FlagsChanged)await Within(subscription.Reader.ReadAsync().AsTask());
        Assert.That((changed.Uid, changed.Flags, changed.ModSeq), Is.EqualTo((1u, MessageFlags.Seen, after.Single().ModSeq)));
        Assert.That(changed.Keywords, Is.EqualTo(new[] { "$label1" }));
        var folder = Imap.GetFolder(inbox.FolderId)!;
        Assert.That((folder.UnseenCount, folder.HighestModSeq), Is.EqualTo((0, after.Single().ModSeq)));

        var unchanged = await Imap.SetFlagsAsync(inbox.FolderId, [1], FlagOperation.Add, MessageFlags.Seen, [], None);
        Assert.That(unchanged.Single().ModSeq, Is.EqualTo(after.Single().ModSeq), "no change, no new MODSEQ");
    }

    [Test]
    public async Task Expunge_removes_only_deleted_messages_leaves_tombstones_and_keeps_a_body_another_copy_needs()
    {
        var box = await Delivery.EnsureMailboxAsync(ContractStore.Org, "frank@example.test", None);
        var message = StoreHarness.Message("twice", "body");
        var stored = await Delivery.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX"), new DeliveryTarget(box.MailboxId, "Drafts")], None);
        await Imap.AppendAsync(box.MailboxId, "INBOX", [new AppendItem(StoreHarness.Message("keep", "k"), DateTimeOffset.UtcNow, 0, [])], None);
        var inbox = Imap.FindFolder(box.MailboxId, "INBOX")!;
        var before = Imap.GetFolder(inbox.FolderId)!.HighestModSeq;

        await Imap.SetFlagsAsync(inbox.FolderId, [1], FlagOperation.Add, MessageFlags.Deleted, [], None);
        var expunged = await Imap.ExpungeAsync(inbox.FolderId, null, None);

        Assert.That(expunged, Is.EqualTo(new uint[] { 1 }));
        Assert.That(Imap.ListMessages(inbox.FolderId).Select(m => m.Uid), Is.EqualTo(new uint[] { 2 }));
        Assert.That(Imap.ListExpungedSince(inbox.FolderId, before), Is.EqualTo(new uint[] { 1 }));
        Assert.That(Imap.ListExpungedSince(inbox.FolderId, Imap.GetFolder(inbox.FolderId)!.HighestModSeq), Is.Empty);
        Assert.That(await Imap.ReadMessageAsync(box.MailboxId, stored[1].EntryId, None), Is.EqualTo(message), "the Drafts copy still reads");
        Assert.ThrowsAsync<KeyNotFoundException>(() => Imap.ReadMessageAsync(box.MailboxId, stored[0].EntryId, None));
        Assert.That(Delivery.FindMailbox(ContractStore.Org, "frank@example.test")!.MessageCount, Is.EqualTo(2));
    }

    [Test]
    public async Task Copy_and_move_give_new_uids_in_order_and_a_move_leaves_the_source_empty()
    {
        var box = await Delivery.EnsureMailboxAsync(ContractStore.Org, "gina@example.test", None);
        await Imap.AppendAsync(box.MailboxId, "INBOX",
            [.. Enumerable.Range(1, 3).Select(i => new AppendItem(StoreHarness.Message("m" + i, "b" + i), DateTimeOffset.UtcNow, 0, []))], None);
        var inbox = Imap.FindFolder(box.MailboxId, "INBOX")!;
        var archive = await Imap.CreateFolderAsync(box.MailboxId, "Archive/2026", SpecialUse.Archive, None);

        var copied = await Imap.CopyAsync(inbox.FolderId, [3, 1], archive.FolderId, None);
        Assert.That(copied.Select(c => (c.SourceUid, c.DestinationUid)), Is.EqualTo(new[] { (1u, 1u), (3u, 2u) }));
        var moved = await Imap.MoveAsync(inbox.FolderId, [1, 2, 3], archive.FolderId, None);
        Assert.That(moved.Select(c => c.DestinationUid), Is.EqualTo(new uint[] { 3, 4, 5 }));
        Assert.That(Imap.ListMessages(inbox.FolderId), Is.Empty);
        var destination = Imap.GetFolder(archive.FolderId)!;
        Assert.That((destination.MessageCount, destination.UidNext), Is.EqualTo((5, 6u)));
        var text = Encoding.ASCII.GetString(await Imap.ReadMessageAsync(box.MailboxId, moved[1].DestinationEntryId, None));
        Assert.That(text, Does.Contain("Subject: m2"));
        Assert.That(Imap.ListExpungedSince(inbox.FolderId, 0), Is.EqualTo(new uint[] { 1, 2, 3 }));
        Assert.ThrowsAsync<ArgumentException>(() => Imap.MoveAsync(inbox.FolderId, [1], inbox.FolderId, None));
    }

    [Test]
    public async Task Folders_are_created_renamed_with_their_children_and_deleted_with_the_refusals_of_the_contract()
    {
        var box = await Delivery.EnsureMailboxAsync(ContractStore.Org, "hank@example.test", None);
        var projects = await Imap.CreateFolderAsync(box.MailboxId, "Projects", None);
        await Imap.CreateFolderAsync(box.MailboxId, "Projects/Alpha", None);
        var conflict = Assert.ThrowsAsync<FolderOperationException>(() => Imap.CreateFolderAsync(box.MailboxId, "Projects", None));
        Assert.That(StoreErrors.Classify(conflict!), Is.EqualTo(StoreError.Conflict));
        Assert.That(StoreErrors.Classify(Assert.ThrowsAsync<FolderOperationException>(() => Imap.DeleteFolderAsync(box.MailboxId, "Projects", None))!),
            Is.EqualTo(StoreError.NotAllowed), "a folder with children");
        Assert.That(StoreErrors.Classify(Assert.ThrowsAsync<FolderOperationException>(() => Imap.DeleteFolderAsync(box.MailboxId, "inbox", None))!),
            Is.EqualTo(StoreError.NotAllowed));

        await Imap.RenameFolderAsync(box.MailboxId, "Projects", "Work", None);
        Assert.That(Imap.ListFolders(box.MailboxId).Select(f => f.Name), Is.SupersetOf(new[] { "Work", "Work/Alpha" }).And.No.Contains("Projects"));
        var work = Imap.FindFolder(box.MailboxId, "Work")!;
        Assert.That((work.FolderId, work.UidValidity), Is.EqualTo((projects.FolderId, projects.UidValidity)), "RENAME keeps the folder and its UIDVALIDITY");
        Assert.That(StoreErrors.Classify(Assert.ThrowsAsync<FolderOperationException>(() => Imap.RenameFolderAsync(box.MailboxId, "Work/Alpha", "Drafts", None))!),
            Is.EqualTo(StoreError.Conflict));

        await Imap.AppendAsync(box.MailboxId, "Work/Alpha", [new AppendItem(StoreHarness.Message("x", "y"), DateTimeOffset.UtcNow, 0, [])], None);
        await Imap.DeleteFolderAsync(box.MailboxId, "Work/Alpha", None);
        Assert.That(Imap.FindFolder(box.MailboxId, "Work/Alpha"), Is.Null);
        Assert.That(Delivery.FindMailbox(ContractStore.Org, "hank@example.test")!.MessageCount, Is.Zero, "its messages went with it");
        Assert.That(StoreErrors.Classify(Assert.ThrowsAsync<FolderOperationException>(() => Imap.DeleteFolderAsync(box.MailboxId, "Work/Alpha", None))!),
            Is.EqualTo(StoreError.NotFound));
    }

    [Test]
    public async Task A_subscription_to_a_name_that_is_not_a_folder_moves_onto_the_folder_when_it_is_created()
    {
        var box = await Delivery.EnsureMailboxAsync(ContractStore.Org, "iris@example.test", None);
        await Imap.SetSubscribedAsync(box.MailboxId, "Later", true, None);
        await Imap.SetSubscribedAsync(box.MailboxId, "Drafts", false, None);
        Assert.That(Imap.ListSubscriptions(box.MailboxId), Does.Contain("Later").And.No.Contains("Drafts"));
        var later = await Imap.CreateFolderAsync(box.MailboxId, "Later", None);
        Assert.That(later.Subscribed, Is.True);
        await Imap.SetSubscribedAsync(box.MailboxId, "Later", false, None);
        Assert.That(Imap.ListSubscriptions(box.MailboxId), Does.Not.Contain("Later"));
    }

    [Test]
    public async Task A_subscription_change_reaches_the_change_feed_and_an_unchanged_one_does_not()
    {
        var box = await Delivery.EnsureMailboxAsync(ContractStore.Org, "ivan@example.test", None);
        using var subscription = Imap.Changes.Subscribe(box.MailboxId);
        await Imap.SetSubscribedAsync(box.MailboxId, "Drafts", false, None); // a folder
        Assert.That(await Within(subscription.Reader.ReadAsync().AsTask()), Is.EqualTo(new MailboxChange.SubscriptionsChanged(box.MailboxId)));
        await Imap.SetSubscribedAsync(box.MailboxId, "Drafts", false, None); // unchanged: no change
        await Imap.SetSubscribedAsync(box.MailboxId, "Someday", true, None); // a name that is no folder
        Assert.That(await Within(subscription.Reader.ReadAsync().AsTask()), Is.EqualTo(new MailboxChange.SubscriptionsChanged(box.MailboxId)));
        Assert.That(subscription.Reader.TryRead(out var extra), Is.False, $"unexpected {extra}");
        Assert.That(Imap.ListSubscriptions(box.MailboxId), Does.Contain("Someday").And.No.Contains("Drafts"));
    }

    [Test]
    public async Task A_metadata_change_reaches_the_change_feed_naming_the_scope_and_no_entry()
    {
        var box = await Delivery.EnsureMailboxAsync(ContractStore.Org, "metadata-feed@example.test", None);
        var drafts = Imap.FindFolder(box.MailboxId, "Drafts")!;
        using var subscription = Imap.Changes.Subscribe(box.MailboxId);
        await Within(_store.Extensions.SetMetadataAsync(box.MailboxId, drafts.FolderId, [new("/shared/comment", "hello"u8.ToArray())], 50, None));
        // RFC 5465 MailboxMetadataChange: the folder's scope; the entry name and value are not in the change.
        Assert.That(await Within(subscription.Reader.ReadAsync().AsTask()), Is.EqualTo(new MailboxChange.MetadataChanged(box.MailboxId, drafts.FolderId)));
        await Within(_store.Extensions.SetMetadataAsync(box.MailboxId, null, [new("/private/vendor/x", "1"u8.ToArray())], 50, None));
        // ServerMetadataChange: the mailbox's own scope, an empty folder id.
        Assert.That(await Within(subscription.Reader.ReadAsync().AsTask()), Is.EqualTo(new MailboxChange.MetadataChanged(box.MailboxId, "")));
        Assert.That(subscription.Reader.TryRead(out var extra), Is.False, $"unexpected {extra}");
    }

    [Test]
    public async Task The_recent_mark_only_rises()
    {
        var box = await Delivery.EnsureMailboxAsync(ContractStore.Org, "jack@example.test", None);
        var inbox = Imap.FindFolder(box.MailboxId, "INBOX")!;
        await Imap.RaiseRecentMarkAsync(inbox.FolderId, 7, None);
        await Imap.RaiseRecentMarkAsync(inbox.FolderId, 3, None);
        Assert.That(Imap.ReadRecentMark(inbox.FolderId), Is.EqualTo(7u));
        Assert.That(Imap.FolderExists(inbox.FolderId), Is.True);
        Assert.That(Imap.FolderExists("no-such-folder"), Is.False);
    }

    [Test]
    public async Task Nothing_a_user_wrote_is_readable_in_the_stored_bytes()
    {
        const string owner = "secret-owner@example.test";
        const string subject = "Merger with Initech";
        const string folder = "Confidential Board Papers";
        var box = await Delivery.EnsureMailboxAsync(ContractStore.Org, owner, None);
        await Imap.CreateFolderAsync(box.MailboxId, folder, None);
        await Imap.SetSubscribedAsync(box.MailboxId, "Whistleblower Notes", true, None);
        await Delivery.DeliverAsync(StoreHarness.Message(subject, "the body text nobody may read"), DateTimeOffset.UtcNow,
            [new DeliveryTarget(box.MailboxId, folder)], None);

        var dump = await _store.RawDumpAsync();
        foreach (var secret in new[] { owner, subject, folder, "Whistleblower Notes", "the body text nobody may read", "alice@example.com" })
        {
            Assert.That(Contains(dump, Encoding.UTF8.GetBytes(secret)), Is.False, $"'{secret}' in clear");
            Assert.That(Contains(dump, Encoding.ASCII.GetBytes(Convert.ToHexStringLower(Encoding.UTF8.GetBytes(secret)))), Is.False, $"'{secret}' in hex");
        }
        Assert.That(dump.Length, Is.GreaterThan(1000), "the dump holds the store");
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;
}
