using System.Text;
using MailServer.Protocols.Imap.Search;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;
using MailServer.Storage.Crypto;
using Microsoft.Extensions.Logging.Abstractions;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>
/// Issue 15, the encrypted search index in the store: nothing of a message is readable in the database or in the
/// segment files; a mailbox key rotation re-seals the segments under the new key; shredding the mailbox leaves no copy
/// of them openable; deleted folders, reindex and a crash's leftovers take their files with them.
/// </summary>
[TestFixture]
public sealed class SearchIndexStoreTests
{
    private static async Task<string> FillAsync(StoreHarness h, string mailboxId, params string[] bodies)
    {
        foreach (var body in bodies)
            await h.Store.DeliverAsync(StoreHarness.Message("note", body), DateTimeOffset.UtcNow, [new DeliveryTarget(mailboxId, "INBOX")], CancellationToken.None);
        return h.Store.FindFolder(mailboxId, "INBOX")!.FolderId;
    }

    /// <summary>The UIDs the index says match BODY <paramref name="word"/> (null: it cannot tell).</summary>
    private static List<uint>? Matches(MailStore store, string folderId, string word, uint largestUid)
    {
        var key = new SearchKey.Body(word);
        var search = IndexedSearch.TryOpen(store, folderId, key, largestUid, out _);
        if (search is null)
            return null;
        return Enumerable.Range(1, (int)largestUid).Select(u => (uint)u).Where(u => search.Answer(key, u) == true).ToList();
    }

    private static bool Contains(byte[] haystack, string marker) =>
        haystack.AsSpan().IndexOf(Encoding.UTF8.GetBytes(marker)) >= 0 || haystack.AsSpan().IndexOf(Encoding.Unicode.GetBytes(marker)) >= 0;

    [Test]
    public async Task Nothing_of_the_messages_is_readable_in_the_database_or_the_segment_files()
    {
        var h = StoreHarness.Create();
        await using var _ = h;
        var alice = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.com", CancellationToken.None);
        var folderId = await FillAsync(h, alice.MailboxId, "the zanzibarquux protocol", "nothing to see", "ZANZIBARQUUX again, and Quetzalcoatlus");

        Assert.That(await new SearchIndexer(h.Store, NullLogger.Instance).CatchUpAsync(CancellationToken.None), Is.EqualTo(3));

        Assert.That(Matches(h.Store, folderId, "zanzibar", 3), Is.EqualTo(new uint[] { 1, 3 }));
        Assert.That(Matches(h.Store, folderId, "coatl", 3), Is.EqualTo(new uint[] { 3 }));
        var state = h.Store.ReadSearchIndex(folderId)!;
        Assert.That((state.IndexedThrough, state.Segments.Count, state.Segments[0].Documents), Is.EqualTo((3u, 1, 3)));
        var files = Directory.GetFiles(Path.Combine(h.Directory, "search"), "*", SearchOption.AllDirectories);
        Assert.That(files, Has.Length.EqualTo(1));
        foreach (var marker in new[] { "zanzibarquux", "ZANZIBARQUUX", "QUETZALCOATLUS", "Quetzalcoatlus", "PROTOCOL" })
        {
            Assert.That(Contains(h.Data.ToArray(), marker) || Contains(h.Log.ToArray(), marker), Is.False, $"{marker} in the database");
            foreach (var file in Directory.GetFiles(h.Directory, "*", SearchOption.AllDirectories))
                Assert.That(Contains(File.ReadAllBytes(file), marker), Is.False, $"{marker} in {file}");
        }
    }

    [Test]
    public async Task A_mailbox_key_rotation_reseals_the_index_and_shredding_leaves_no_copy_of_it_openable()
    {
        var (h, keyFile) = StoreHarness.CreateWithKeyFile();
        await using var _ = h;
        var alice = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.com", CancellationToken.None);
        var folderId = await FillAsync(h, alice.MailboxId, "kumquat pie", "plain text", "more kumquats");
        await new SearchIndexer(h.Store, NullLogger.Instance).CatchUpAsync(CancellationToken.None);
        var before = h.Store.ReadSearchIndex(folderId)!;

        await h.Store.RotateMailboxKeyAsync(alice.MailboxId, null, CancellationToken.None);

        var after = h.Store.ReadSearchIndex(folderId)!;
        Assert.That((after.KeyGeneration, after.Current, after.IndexedThrough), Is.EqualTo((1, true, 3u)), "re-sealed under the new key");
        Assert.That(after.Segments.Select(s => s.SegmentId), Is.Not.EquivalentTo(before.Segments.Select(s => s.SegmentId)));
        Assert.That(File.Exists(Path.Combine(h.Directory, "search", folderId, before.Segments[0].SegmentId + ".seg")), Is.False, "the old file is gone");
        Assert.That(Matches(h.Store, folderId, "KUMQUAT", 3), Is.EqualTo(new uint[] { 1, 3 }));
        Assert.That(h.Store.ListSearchIndexBacklog(SearchIndexer.Format), Is.Empty, "nothing to rebuild");

        // A copy of the database and the segments, then the mailbox is shredded.
        var copy = StoreHarness.NewTempDirectory();
        using (await h.Store.BeginBackupAsync(copy, CancellationToken.None))
        {
            Directory.CreateDirectory(Path.Combine(copy, "search", folderId));
            foreach (var file in Directory.GetFiles(Path.Combine(h.Directory, "search", folderId)))
                File.Copy(file, Path.Combine(copy, "search", folderId, Path.GetFileName(file)));
        }
        await h.Store.DeleteMailboxAsync(StoreHarness.Org, "alice@example.com", CancellationToken.None);
        Assert.That(h.Store.ReadSearchIndex(folderId), Is.Null);
        Assert.That(Directory.Exists(Path.Combine(h.Directory, "search", folderId)), Is.False);

        var copiedLedger = KeyLedger.PathFor(copy, StoreHarness.Org);
        Directory.CreateDirectory(Path.GetDirectoryName(copiedLedger)!);
        File.Copy(KeyLedger.PathFor(h.Directory, StoreHarness.Org), copiedLedger);
        await using var old = MailStore.Open(new MailStoreOptions
        {
            DataDirectory = copy,
            MasterKeys = new FileMasterKeyProvider(new Dictionary<string, string> { [StoreHarness.Org] = keyFile }, createMissing: false),
        });
        var copied = old.ReadSearchIndex(folderId)!;
        Assert.That(() => old.OpenSearchSegment(copied, copied.Segments[0].SegmentId), Throws.InstanceOf<System.Security.Cryptography.CryptographicException>(),
            "the index key derives from the destroyed mailbox key");
    }

    [Test]
    public async Task Deleted_folders_reindex_stale_commits_and_crash_leftovers_take_their_files()
    {
        var h = StoreHarness.Create();
        await using var _ = h;
        var alice = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.com", CancellationToken.None);
        await h.Store.CreateFolderAsync(alice.MailboxId, "Old", CancellationToken.None);
        await h.Store.DeliverAsync(StoreHarness.Message("x", "in old"), DateTimeOffset.UtcNow, [new DeliveryTarget(alice.MailboxId, "Old")], CancellationToken.None);
        var inbox = await FillAsync(h, alice.MailboxId, "in the inbox");
        var old = h.Store.FindFolder(alice.MailboxId, "Old")!.FolderId;
        var indexer = new SearchIndexer(h.Store, NullLogger.Instance);
        Assert.That(await indexer.CatchUpAsync(CancellationToken.None), Is.EqualTo(2));
        var root = Path.Combine(h.Directory, "search");

        await h.Store.DeleteFolderAsync(alice.MailboxId, "Old", CancellationToken.None);
        Assert.That(h.Store.ReadSearchIndex(old), Is.Null);
        Assert.That(Directory.Exists(Path.Combine(root, old)), Is.False);

        // A commit against an index that changed meanwhile is refused and leaves no file.
        var state = h.Store.ReadSearchIndex(inbox)!;
        var stale = new SearchIndexUpdate(state.Version - 1, SearchIndexer.Format, 9, [], false, [], new SearchSegmentContent([1, 2, 3], 5, 9, 1));
        Assert.That(async () => await h.Store.CommitSearchIndexAsync(inbox, stale, CancellationToken.None), Throws.InstanceOf<SearchIndexConflictException>());
        Assert.That(Directory.GetFiles(Path.Combine(root, inbox)), Has.Length.EqualTo(1));

        // A segment written before a crash prevented its commit is pruned.
        File.WriteAllBytes(Path.Combine(root, inbox, "0123456789abcdef0123456789abcdef.seg"), [1, 2, 3]);
        Assert.That(await h.Store.PruneSearchIndexesAsync(CancellationToken.None), Is.EqualTo(1));
        Assert.That(Directory.GetFiles(Path.Combine(root, inbox)), Has.Length.EqualTo(1));

        // New mail makes a second segment; the next pass merges the two (the older is not larger).
        await FillAsync(h, alice.MailboxId, "a second one");
        Assert.That(await indexer.IndexFolderAsync(inbox, CancellationToken.None), Is.EqualTo(1));
        Assert.That(h.Store.ReadSearchIndex(inbox)!.Segments.Select(s => s.Documents), Is.EqualTo(new[] { 2 }));
        Assert.That(Matches(h.Store, inbox, "second", 2), Is.EqualTo(new uint[] { 2 }));

        await h.Store.DropSearchIndexesAsync(CancellationToken.None);
        Assert.That(h.Store.ReadSearchIndex(inbox), Is.Null);
        Assert.That(Directory.Exists(root), Is.False);
        Assert.That(Matches(h.Store, inbox, "second", 2), Is.Null, "SEARCH reads the messages until the index is rebuilt");
    }

    [Test]
    public async Task A_listing_that_lags_the_folder_never_moves_the_cursor_past_a_message_it_did_not_see()
    {
        var h = StoreHarness.Create();
        await using var _ = h;
        var alice = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.com", CancellationToken.None);
        var inbox = await FillAsync(h, alice.MailboxId, "papaya one", "papaya two", "papaya three");
        var lagging = new MailServer.Tests.Protocols.Imap.FaultInjectingStore(h.Store) { LaggingListings = true };

        await new SearchIndexer(lagging, h.Store, NullLogger.Instance).IndexFolderAsync(inbox, CancellationToken.None);

        Assert.That(h.Store.ReadSearchIndex(inbox)!.IndexedThrough, Is.EqualTo(2u), "UIDNEXT said 4, the listing showed up to 2");
        var key = new SearchKey.Body("papaya");
        var search = IndexedSearch.TryOpen(h.Store, inbox, key, 3, out var unused)!;
        Assert.That(new[] { 1u, 2u, 3u }.Select(u => search.Answer(key, u)), Is.EqualTo(new bool?[] { true, true, null }), "UID 3 is read, not denied");
        await new SearchIndexer(h.Store, NullLogger.Instance).IndexFolderAsync(inbox, CancellationToken.None);
        Assert.That(Matches(h.Store, inbox, "papaya", 3), Is.EqualTo(new uint[] { 1, 2, 3 }));
    }
}
