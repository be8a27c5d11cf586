using System.Text;
using MailServer.Protocols.Imap.Search;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

// The body search index (ISearchIndexStore) under the contract, on both engines: the engine-neutral indexer builds it,
// SEARCH answers from it, nothing of the messages is readable in what the engine keeps, commits are all or nothing
// against the version read, and a folder's deletion and reindex's drop take the index with them.
public sealed partial class StoreContractTests
{
    private ISearchIndexStore Index => (ISearchIndexStore)_store.Imap;

    private async Task<(string MailboxId, string FolderId)> InboxWithAsync(params string[] bodies)
    {
        var alice = await Delivery.EnsureMailboxAsync(ContractStore.Org, "alice@example.test", None);
        foreach (var body in bodies)
            await Delivery.DeliverAsync(StoreHarness.Message("note", body), DateTimeOffset.UtcNow, [new DeliveryTarget(alice.MailboxId, "INBOX")], None);
        return (alice.MailboxId, Imap.FindFolder(alice.MailboxId, "INBOX")!.FolderId);
    }

    private List<uint>? IndexMatches(string folderId, string word, uint largestUid)
    {
        var key = new SearchKey.Body(word);
        var search = IndexedSearch.TryOpen(Index, folderId, key, largestUid, out _);
        return search is null ? null : Enumerable.Range(1, (int)largestUid).Select(u => (uint)u).Where(u => search.Answer(key, u) == true).ToList();
    }

    [Test]
    public async Task The_indexer_builds_a_sealed_index_that_search_answers_from_and_nothing_of_it_is_readable_in_the_store()
    {
        var (_, folderId) = await InboxWithAsync("the zanzibarquux protocol", "nothing to see", "ZANZIBARQUUX again, and Quetzalcoatlus");
        Assert.That(Index.ListSearchIndexBacklog(SearchIndexer.Format).Select(b => b.FolderId), Is.EqualTo(new[] { folderId }), "an unindexed folder with mail");

        var indexed = await Within(new SearchIndexer((IImapStore)Imap, Index, NullLogger.Instance).CatchUpAsync(None));

        Assert.That(indexed, Is.EqualTo(3));
        Assert.That(IndexMatches(folderId, "zanzibar", 3), Is.EqualTo(new uint[] { 1, 3 }));
        Assert.That(IndexMatches(folderId, "coatl", 3), Is.EqualTo(new uint[] { 3 }));
        var state = Index.ReadSearchIndex(folderId)!;
        Assert.That((state.IndexedThrough, state.Current, state.Segments.Count, state.Segments[0].Documents), Is.EqualTo((3u, true, 1, 3)));
        Assert.That(Index.ListSearchIndexBacklog(SearchIndexer.Format), Is.Empty, "caught up");
        var dump = await _store.RawDumpAsync();
        foreach (var marker in new[] { "zanzibarquux", "ZANZIBARQUUX", "quetzalcoatlus", "QUETZALCOATLUS", "protocol" })
            Assert.That(dump.AsSpan().IndexOf(Encoding.UTF8.GetBytes(marker)) >= 0, Is.False, $"{marker} readable in the {engine} store");
    }

    [Test]
    public async Task A_commit_against_a_version_that_changed_is_refused_and_leaves_the_index_as_it_was()
    {
        var (_, folderId) = await InboxWithAsync("one", "two");
        var first = await Within(Index.CommitSearchIndexAsync(folderId,
            new SearchIndexUpdate(0, SearchIndexer.Format, 1, [], false, [], new SearchSegmentContent("segment one"u8.ToArray(), 1, 1, 1)), None));
        Assert.That(first.Version, Is.EqualTo(1));

        var stale = new SearchIndexUpdate(0, SearchIndexer.Format, 2, [], false, [], new SearchSegmentContent("segment two"u8.ToArray(), 2, 2, 1));
        Assert.That(() => Index.CommitSearchIndexAsync(folderId, stale, None), Throws.TypeOf<SearchIndexConflictException>());

        var after = Index.ReadSearchIndex(folderId)!;
        Assert.That((after.Version, after.IndexedThrough, after.Segments.Count), Is.EqualTo((1L, 1u, 1)), "nothing of the refused commit");
        Assert.That(Index.OpenSearchSegment(after, after.Segments[0].SegmentId), Is.EqualTo("segment one"u8.ToArray()));
    }

    [Test]
    public async Task A_commit_replaces_the_segments_it_names_in_one_step_and_a_reset_replaces_them_all()
    {
        var (_, folderId) = await InboxWithAsync("one", "two", "three");
        var a = await Index.CommitSearchIndexAsync(folderId,
            new SearchIndexUpdate(0, SearchIndexer.Format, 1, [], false, [], new SearchSegmentContent("a"u8.ToArray(), 1, 1, 1)), None);
        var b = await Index.CommitSearchIndexAsync(folderId,
            new SearchIndexUpdate(a.Version, SearchIndexer.Format, 2, [], false, [], new SearchSegmentContent("b"u8.ToArray(), 2, 2, 1)), None);
        Assert.That(b.Segments.Select(s => (s.FirstUid, s.LastUid)), Is.EqualTo(new[] { (1u, 1u), (2u, 2u) }));

        var merged = await Index.CommitSearchIndexAsync(folderId, new SearchIndexUpdate(b.Version, SearchIndexer.Format, 2, [], false,
            b.Segments.Select(s => s.SegmentId).ToList(), new SearchSegmentContent("ab"u8.ToArray(), 1, 2, 2)), None);
        Assert.That(merged.Segments.Select(s => (s.FirstUid, s.LastUid, s.Documents)), Is.EqualTo(new[] { (1u, 2u, 2) }));
        Assert.That(Index.OpenSearchSegment(merged, merged.Segments[0].SegmentId), Is.EqualTo("ab"u8.ToArray()));

        var reset = await Index.CommitSearchIndexAsync(folderId, new SearchIndexUpdate(merged.Version, SearchIndexer.Format, 3, [2], true, [],
            new SearchSegmentContent("abc"u8.ToArray(), 1, 3, 2)), None);
        Assert.That((reset.Segments.Count, reset.IndexedThrough, reset.Unindexed.Single(), reset.Version), Is.EqualTo((1, 3u, 2u, 4L)));
    }

    [Test]
    public async Task Deleting_a_folder_takes_its_index_and_dropping_the_indexes_leaves_every_folder_to_rebuild()
    {
        var (mailboxId, inboxId) = await InboxWithAsync("kept in the inbox");
        var projects = await Imap.CreateFolderAsync(mailboxId, "Projects", None);
        await Imap.AppendAsync(mailboxId, "Projects", [new AppendItem(StoreHarness.Message("plan", "in projects"), DateTimeOffset.UtcNow, MessageFlags.None, [])], None);
        await Within(new SearchIndexer((IImapStore)Imap, Index, NullLogger.Instance).CatchUpAsync(None));
        Assert.That(Index.ReadSearchIndex(projects.FolderId), Is.Not.Null);

        await Imap.DeleteFolderAsync(mailboxId, "Projects", None);
        await Index.PruneSearchIndexesAsync(None);

        Assert.That(Index.ReadSearchIndex(projects.FolderId), Is.Null, "the deleted folder's index is gone");
        Assert.That(Index.ReadSearchIndex(inboxId), Is.Not.Null);

        await Index.DropSearchIndexesAsync(None);

        Assert.That(Index.ReadSearchIndex(inboxId), Is.Null);
        Assert.That(Index.ListSearchIndexBacklog(SearchIndexer.Format).Select(b => b.FolderId), Is.EqualTo(new[] { inboxId }));
    }
}
