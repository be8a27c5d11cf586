using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

[TestFixture]
public sealed class FolderMetadataCacheTests
{
    [Test]
    public async Task Cached_listing_follows_every_kind_of_write_exactly()
    {
        await using var harness = StoreHarness.Create();
        var store = harness.Store;
        var mailbox = await store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.test", CancellationToken.None);
        var inbox = store.FindFolder(mailbox.MailboxId, "INBOX")!;
        var work = await store.CreateFolderAsync(mailbox.MailboxId, "Work", CancellationToken.None);
        async Task Deliver(string folder) => await store.DeliverAsync(StoreHarness.Message("s", "b"), DateTimeOffset.UtcNow,
            [new DeliveryTarget(mailbox.MailboxId, folder)], CancellationToken.None);
        for (var i = 0; i < 5; i++)
            await Deliver("INBOX");

        void AssertCurrent(string folderId) =>
            Assert.That(store.ListMessages(folderId), Is.EqualTo(store.ListMessagesFromDatabase(folderId)).Using<MessageMeta>(Same));

        AssertCurrent(inbox.FolderId); // loads it
        var (hits, misses) = store.MetadataCacheStatistics;
        AssertCurrent(inbox.FolderId);
        Assert.That(store.MetadataCacheStatistics, Is.EqualTo((hits + 1, misses)), "the second listing comes from memory");

        await Deliver("INBOX");
        AssertCurrent(inbox.FolderId);
        await store.SetFlagsAsync(inbox.FolderId, [2u, 3u], FlagOperation.Add, MessageFlags.Seen | MessageFlags.Deleted, ["$Work"], CancellationToken.None);
        AssertCurrent(inbox.FolderId);
        await store.ExpungeAsync(inbox.FolderId, null, CancellationToken.None);
        AssertCurrent(inbox.FolderId);
        await store.CopyAsync(inbox.FolderId, [1u, 4u], work.FolderId, CancellationToken.None);
        AssertCurrent(work.FolderId);
        await store.MoveAsync(inbox.FolderId, [5u], work.FolderId, CancellationToken.None);
        AssertCurrent(inbox.FolderId);
        AssertCurrent(work.FolderId);
        await store.AppendAsync(mailbox.MailboxId, "Work", [new AppendItem(StoreHarness.Message("a", "b"), DateTimeOffset.UtcNow, MessageFlags.Draft, ["$Todo"])], CancellationToken.None);
        AssertCurrent(work.FolderId);
        Assert.That(store.ListMessages(work.FolderId, 3), Is.EqualTo(store.ListMessagesFromDatabase(work.FolderId).Where(m => m.Uid >= 3)).Using<MessageMeta>(Same));

        // A bulk change is not patched message by message: the folder is listed afresh, still exact.
        for (var i = 0; i < FolderMetadataCache.MaxPatchesPerCommit / 2; i++)
            await Deliver("INBOX");
        await store.SetFlagsAsync(inbox.FolderId, store.ListMessages(inbox.FolderId).Select(m => m.Uid).ToList(), FlagOperation.Add, MessageFlags.Flagged, [], CancellationToken.None);
        AssertCurrent(inbox.FolderId);

        await store.DeleteFolderAsync(mailbox.MailboxId, "Work", CancellationToken.None);
        Assert.That(store.ListMessages(work.FolderId), Is.Empty);
    }

    [Test]
    public async Task Concurrent_listings_and_writes_never_leave_a_stale_cache()
    {
        await using var harness = StoreHarness.Create();
        var store = harness.Store;
        var mailbox = await store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.test", CancellationToken.None);
        var inbox = store.FindFolder(mailbox.MailboxId, "INBOX")!;
        using var stop = new CancellationTokenSource();
        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
                store.ListMessages(inbox.FolderId);
        })).ToList();
        for (var i = 0; i < 60; i++)
        {
            await store.DeliverAsync(StoreHarness.Message("s" + i, "b"), DateTimeOffset.UtcNow, [new DeliveryTarget(mailbox.MailboxId, "INBOX")], CancellationToken.None);
            if (i % 3 == 0)
                await store.SetFlagsAsync(inbox.FolderId, [(uint)(i / 2 + 1)], FlagOperation.Add, MessageFlags.Seen, [], CancellationToken.None);
        }
        await stop.CancelAsync();
        await Task.WhenAll(readers);
        Assert.That(store.ListMessages(inbox.FolderId), Is.EqualTo(store.ListMessagesFromDatabase(inbox.FolderId)).Using<MessageMeta>(Same));
    }

    [Test]
    public async Task Warming_after_a_restart_answers_the_first_listing_of_every_folder_from_memory()
    {
        await using var harness = StoreHarness.Create();
        var store = harness.Store;
        var alice = await store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.test", CancellationToken.None);
        var bob = await store.EnsureMailboxAsync(StoreHarness.Org, "bob@example.test", CancellationToken.None);
        await store.CreateFolderAsync(alice.MailboxId, "Work", CancellationToken.None);
        foreach (var (mailbox, folder, count) in new[] { (alice, "INBOX", 4), (alice, "Work", 2), (bob, "INBOX", 3) })
            for (var i = 0; i < count; i++)
                await store.DeliverAsync(StoreHarness.Message("s" + i, "b"), DateTimeOffset.UtcNow, [new DeliveryTarget(mailbox.MailboxId, folder)], CancellationToken.None);
        await store.SetFlagsAsync(store.FindFolder(alice.MailboxId, "INBOX")!.FolderId, [2u], FlagOperation.Add, MessageFlags.Seen, ["$Later"], CancellationToken.None);

        store = await harness.ReopenAsync();
        Assert.That(store.WarmMetadataCache(CancellationToken.None), Is.EqualTo((3, 9L)), "three non-empty folders, nine messages");
        Assert.That(store.WarmMetadataCache(CancellationToken.None), Is.EqualTo((0, 0L)), "nothing left to warm");

        foreach (var folder in store.ListFolders(alice.MailboxId).Concat(store.ListFolders(bob.MailboxId)).Where(f => f.MessageCount > 0))
            Assert.That(store.ListMessages(folder.FolderId), Is.EqualTo(store.ListMessagesFromDatabase(folder.FolderId)).Using<MessageMeta>(Same));
        Assert.That(store.MetadataCacheStatistics, Is.EqualTo((3L, 3L)), "the three listings after warming were hits; the misses are warming's own");
    }

    [Test]
    public void A_reader_that_misses_can_wait_for_the_listing_under_way_instead_of_reading_again()
    {
        var cache = new FolderMetadataCache(100);
        var listing = new List<MessageMeta> { Meta(1), Meta(2) };
        Assert.That(cache.LoadInFlight("f"), Is.Null);

        var first = cache.BeginLoad("f");
        var inFlight = cache.LoadInFlight("f");
        Assert.That(inFlight is { IsCompleted: false }, "a second reader sees the load under way");
        cache.EndLoad("f", first, listing);
        Assert.That(inFlight!.IsCompleted, Is.True);
        Assert.That(cache.LoadInFlight("f"), Is.Null);
        Assert.That(cache.TryGet("f", 0)!.Select(m => m.Uid), Is.EqualTo(new uint[] { 1, 2 }), "and then finds it cached");

        // A load that failed caches nothing and still releases whoever waits for it.
        var failed = cache.BeginLoad("g");
        var waiting = cache.LoadInFlight("g")!;
        cache.AbortLoad("g", failed);
        Assert.That((waiting.IsCompleted, cache.Contains("g"), cache.LoadInFlight("g")), Is.EqualTo((true, false, (Task?)null)));

        // A load overtaken by a commit is not cached (its waiters list the folder themselves).
        var raced = cache.BeginLoad("h");
        cache.Apply([new MailboxChange.MessageAdded("m", "h", 7, 3)], (_, _) => null);
        cache.EndLoad("h", raced, listing);
        Assert.That(cache.Contains("h"), Is.False);
    }

    private static MessageMeta Meta(uint uid) =>
        new("e" + uid, "f", uid, uid, MessageFlags.None, [], DateTimeOffset.UnixEpoch, 10, DateTimeOffset.UnixEpoch);

    private static bool Same(MessageMeta a, MessageMeta b) =>
        a.EntryId == b.EntryId && a.Uid == b.Uid && a.ModSeq == b.ModSeq && a.Flags == b.Flags && a.Keywords.SequenceEqual(b.Keywords)
        && a.InternalDate == b.InternalDate && a.Size == b.Size && a.LastActionAt == b.LastActionAt && a.FolderId == b.FolderId;
}
