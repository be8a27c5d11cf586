using System.Diagnostics;
using LiteDB;
using E = MailServer.Storage.Schema.EntryFields;
using F = MailServer.Storage.Schema.FolderFields;

namespace MailServer.Storage;

// ListMessages answers from FolderMetadataCache when it can: SELECT on a 100,000-message folder then costs a list
// copy instead of 100,000 entry reads (bench/imap.sh). The writer patches the cache from each commit's changes.
public sealed partial class MailStore
{
    private FolderMetadataCache? _metadataCacheField;

    private FolderMetadataCache? MetadataCache =>
        _options.MetadataCacheMessages == 0 ? null : LazyInitializer.EnsureInitialized(ref _metadataCacheField, () => new FolderMetadataCache(_options.MetadataCacheMessages));

    /// <summary>(hits, misses) of the shared folder metadata cache since the store opened.</summary>
    public (long Hits, long Misses) MetadataCacheStatistics => (MetadataCache?.Hits ?? 0, MetadataCache?.Misses ?? 0);

    /// <summary>
    /// Fills the shared folder metadata cache from the database, so the first SELECT after a start is answered from
    /// memory: every INBOX first, then the other folders, largest first, while they fit in
    /// <see cref="MailStoreOptions.MetadataCacheMessages"/> (a folder that would overflow it is skipped, so warming
    /// never evicts). Folders already cached are left alone. Safe to run beside readers and the writer: each
    /// folder goes through the same listing as a SELECT. Logs event 4014 with the counts when done; a failure is
    /// logged (4015) and ends the warm-up early, nothing else.
    /// </summary>
    /// <returns>The folders and messages listed.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public (int Folders, long Messages) WarmMetadataCache(CancellationToken cancellationToken)
    {
        if (MetadataCache is not { } cache)
            return (0, 0);
        var started = Stopwatch.GetTimestamp();
        var folders = 0;
        var messages = 0L;
        try
        {
            var candidates = Collection(Schema.Folders).FindAll()
                .Select(d => (Id: d["_id"].AsString, Count: d[F.MessageCount].AsInt32, Inbox: (SpecialUse)d[F.SpecialUse].AsInt32 == SpecialUse.Inbox))
                .Where(f => f.Count > 0)
                .OrderByDescending(f => f.Inbox).ThenByDescending(f => f.Count)
                .ToList();
            foreach (var (id, count, _) in candidates)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (messages + count > _options.MetadataCacheMessages || cache.Contains(id))
                    continue;
                messages += ListFolderMetadata(id, 0).Count;
                folders++;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            StoreLog.MetadataCacheWarmupFailed(_log, ex); // only slower: folders are listed on first use
            return (folders, messages);
        }
        StoreLog.MetadataCacheWarmed(_log, folders, messages, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return (folders, messages);
    }

    /// <summary>For tests: the folder's metadata read from the database, bypassing the cache.</summary>
    internal List<MessageMeta> ListMessagesFromDatabase(string folderId) => ListEntries(Schema.EntriesOfFolder(folderId));

    private List<MessageMeta> ListFolderMetadata(string folderId, uint firstUid)
    {
        var cache = MetadataCache;
        if (cache?.TryGet(folderId, firstUid) is { } cached)
            return cached;
        if (cache is null || firstUid > 1)
        {
            // A partial listing (new messages after a known UID) is small: read it, and leave caching to full listings.
            return ListEntries(BsonExpression.Create($"$.{E.FolderUid} BETWEEN @0 AND @1",
                Schema.FolderUidKey(folderId, firstUid), Schema.FolderUidKey(folderId, uint.MaxValue)));
        }
        if (cache.LoadInFlight(folderId) is { } inFlight)
        {
            inFlight.Wait(); // never faults: a failed load completes it too
            if (cache.TryGet(folderId, firstUid) is { } loaded)
                return loaded;
        }
        var ticket = cache.BeginLoad(folderId);
        List<MessageMeta> listing;
        try
        {
            listing = ListEntries(Schema.EntriesOfFolder(folderId));
        }
        catch
        {
            cache.AbortLoad(folderId, ticket);
            throw;
        }
        cache.EndLoad(folderId, ticket, listing);
        return listing;
    }

    /// <summary>
    /// On the writer, after commit and fsync: patches the cache, from the entry documents the batch wrote where it has
    /// them (<paramref name="written"/>; a delivery then costs no read back), else from the database; on any failure
    /// forgets it (safe, only slower).
    /// </summary>
    private void ApplyToMetadataCache(IReadOnlyList<MailboxChange> changes, IReadOnlyDictionary<(string FolderId, uint Uid), BsonDocument>? written)
    {
        if (MetadataCache is not { } cache)
            return;
        try
        {
            cache.Apply(changes, (folderId, uid) => written is not null && written.TryGetValue((folderId, uid), out var document)
                ? ToMessageMeta(document)
                : Collection(Schema.Entries).Query().Where(Schema.Equal(E.FolderUid, Schema.FolderUidKey(folderId, uid)))
                    .Select(BsonExpression.Create(MetaProjection)).ToDocuments().Select(ToMessageMeta).FirstOrDefault());
        }
        catch (Exception ex)
        {
            StoreLog.MetadataCacheReset(_log, ex);
            cache.Clear();
        }
    }
}
