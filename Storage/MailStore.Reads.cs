using System.Security.Cryptography;
using LiteDB;
using MailServer.Storage.Crypto;
using E = MailServer.Storage.Schema.EntryFields;
using F = MailServer.Storage.Schema.FolderFields;

namespace MailServer.Storage;

// Reads run on the caller's thread, concurrently with the writer: LiteDB gives each thread its own read
// transaction on the last committed state, so a reader never sees half a batch.
public sealed partial class MailStore
{
    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such mailbox, or no master key for its organization.</exception>
    public IReadOnlyList<FolderInfo> ListFolders(string mailboxId)
    {
        ArgumentNullException.ThrowIfNull(mailboxId);
        if (_folderLists.TryGetValue(mailboxId, out var cached))
            return cached;
        var generation = Interlocked.Read(ref _folderListGeneration);
        var folders = ListFoldersFromDatabase(mailboxId);
        // Kept only if no folder was written meanwhile (this read may predate that commit); see ForgetFolderLists.
        if (_folderLists.Count >= MaxCachedFolderLists)
            _folderLists.Clear();
        _folderLists[mailboxId] = folders;
        if (Interlocked.Read(ref _folderListGeneration) != generation)
            _folderLists.TryRemove(mailboxId, out _);
        return folders;
    }

    /// <summary>The folder list read from LiteDB, INBOX first, then by name (bypassing the cache).</summary>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    internal FolderInfo[] ListFoldersFromDatabase(string mailboxId)
    {
        var mailbox = Collection(Schema.Mailboxes).FindById(mailboxId)
            ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
        var key = MailboxKey(mailbox);
        try
        {
            return Collection(Schema.Folders).Find(Schema.Equal(F.MailboxId, mailboxId))
                .Select(d => ToFolderInfo(d, key))
                .OrderBy(f => f.SpecialUse == SpecialUse.Inbox ? 0 : 1)
                .ThenBy(f => f.Name, StringComparer.Ordinal)
                .ToArray();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>
    /// Each mailbox's folder list as <see cref="ListFolders"/> last read it: every login, LIST and STATUS asks, and
    /// a LiteDB query plus a name decryption per folder each time showed in profiles. The writer drops a mailbox's
    /// list after any commit that wrote one of its folder documents (counts included), and bumps
    /// <see cref="_folderListGeneration"/> first, so a read racing with the commit does not put a stale list back.
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, FolderInfo[]> _folderLists = new(StringComparer.Ordinal);
    private long _folderListGeneration;
    private const int MaxCachedFolderLists = 10_000;

    /// <summary>Called by the writer after a commit, before anyone is told of it.</summary>
    private void ForgetFolderLists(HashSet<string> mailboxIds)
    {
        if (mailboxIds.Count == 0)
            return;
        Interlocked.Increment(ref _folderListGeneration);
        if (mailboxIds.Contains(WriterContext.AllMailboxes))
            _folderLists.Clear();
        else
            foreach (var id in mailboxIds)
                _folderLists.TryRemove(id, out _);
    }

    /// <inheritdoc/>
    public FolderInfo? FindFolder(string mailboxId, string name)
    {
        var mailbox = Collection(Schema.Mailboxes).FindById(mailboxId);
        if (mailbox is null)
            return null;
        var key = MailboxKey(mailbox);
        try
        {
            var document = FindFolderDocument(mailboxId, name, key);
            return document is null ? null : ToFolderInfo(document, key);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    public bool FolderExists(string folderId)
    {
        ArgumentNullException.ThrowIfNull(folderId);
        if (_liveFolders.ContainsKey(folderId))
            return true;
        var deletions = Interlocked.Read(ref _folderDeletions);
        if (Collection(Schema.Folders).FindById(folderId) is null)
            return false;
        // Remember it unless a folder was deleted meanwhile (this read may predate that commit).
        _liveFolders.TryAdd(folderId, 0);
        if (Interlocked.Read(ref _folderDeletions) != deletions)
            _liveFolders.TryRemove(folderId, out _);
        return true;
    }

    /// <summary>Folders known to exist (an IMAP session asks before every command); a deletion removes its id after
    /// the commit, and bumps <see cref="_folderDeletions"/> so a read racing with it does not put it back.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _liveFolders = new(StringComparer.Ordinal);
    private long _folderDeletions;

    /// <inheritdoc/>
    public FolderInfo? GetFolder(string folderId)
    {
        var folder = Collection(Schema.Folders).FindById(folderId);
        if (folder is null)
            return null;
        var mailbox = Collection(Schema.Mailboxes).FindById(folder[F.MailboxId].AsString);
        var key = MailboxKey(mailbox);
        try
        {
            return ToFolderInfo(folder, key);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<MessageMeta> ListMessages(string folderId) => ListFolderMetadata(folderId, 0);

    /// <inheritdoc/>
    public IReadOnlyList<MessageMeta> ListMessages(string folderId, uint firstUid) => ListFolderMetadata(folderId, firstUid);

    // Only the metadata fields are deserialized: the sealed header summary and wrapped key, most of an entry's
    // bytes, are skipped, so listing a 100,000-message folder (SELECT) does not build 100,000 large documents.
    private const string MetaProjection =
        $"{{ _id: $._id, {E.FolderId}: $.{E.FolderId}, {E.Uid}: $.{E.Uid}, {E.ModSeq}: $.{E.ModSeq}, {E.Flags}: $.{E.Flags}, " +
        $"{E.Keywords}: $.{E.Keywords}, {E.InternalDateTicks}: $.{E.InternalDateTicks}, " +
        $"{E.InternalDateOffsetMinutes}: $.{E.InternalDateOffsetMinutes}, {E.Size}: $.{E.Size}, {E.LastActionTicks}: $.{E.LastActionTicks} }}";

    private List<MessageMeta> ListEntries(BsonExpression predicate) =>
        Collection(Schema.Entries).Query().Where(predicate).Select(BsonExpression.Create(MetaProjection)).ToDocuments()
            .Select(ToMessageMeta)
            .OrderBy(m => m.Uid)
            .ToList();

    private BsonDocument? FindFolderDocument(string mailboxId, string name, byte[] mailboxKey)
    {
        var nameKey = KeyHierarchy.FolderNameHmacKey(mailboxKey);
        try
        {
            return Collection(Schema.Folders).FindOne(Schema.Equal(F.NameLookup, FolderLookup(nameKey, mailboxId, name)));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(nameKey);
        }
    }

    private static FolderInfo ToFolderInfo(BsonDocument d, byte[] mailboxKey)
    {
        var id = d["_id"].AsString;
        return new FolderInfo(
            id,
            d[F.MailboxId].AsString,
            OpenFolderName(mailboxKey, id, d[F.NameSealed].AsBinary),
            (SpecialUse)d[F.SpecialUse].AsInt32,
            (uint)d[F.UidValidity].AsInt64,
            (uint)d[F.UidNext].AsInt64,
            (ulong)d[F.HighestModSeq].AsInt64,
            d[F.MessageCount].AsInt32,
            d[F.UnseenCount].AsInt32,
            d[F.Subscribed].AsBoolean);
    }

    internal static MessageMeta ToMessageMeta(BsonDocument d) => new(
        d["_id"].AsString,
        d[E.FolderId].AsString,
        (uint)d[E.Uid].AsInt64,
        (ulong)d[E.ModSeq].AsInt64,
        (MessageFlags)d[E.Flags].AsInt32,
        d[E.Keywords].AsArray.Select(k => k.AsString).ToList(),
        new DateTimeOffset(d[E.InternalDateTicks].AsInt64, TimeSpan.Zero).ToOffset(TimeSpan.FromMinutes(d[E.InternalDateOffsetMinutes].AsInt32)),
        d[E.Size].AsInt64,
        new DateTimeOffset(d[E.LastActionTicks].AsInt64, TimeSpan.Zero));
}
