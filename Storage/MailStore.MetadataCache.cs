using LiteDB;
using E = MailServer.Storage.Schema.EntryFields;

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
        var ticket = cache.BeginLoad(folderId);
        var listing = ListEntries(Schema.EntriesOfFolder(folderId));
        cache.EndLoad(folderId, ticket, listing);
        return listing;
    }

    /// <summary>On the writer, after commit and fsync: patches the cache; on any failure forgets it (safe, only slower).</summary>
    private void ApplyToMetadataCache(IReadOnlyList<MailboxChange> changes)
    {
        if (MetadataCache is not { } cache)
            return;
        try
        {
            cache.Apply(changes, (folderId, uid) =>
                Collection(Schema.Entries).Query().Where(Schema.Equal(E.FolderUid, Schema.FolderUidKey(folderId, uid)))
                    .Select(BsonExpression.Create(MetaProjection)).ToDocuments().Select(ToMessageMeta).FirstOrDefault());
        }
        catch (Exception ex)
        {
            StoreLog.MetadataCacheReset(_log, ex);
            cache.Clear();
        }
    }
}
