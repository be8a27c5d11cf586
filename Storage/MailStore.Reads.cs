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
        var generation = Interlocked.Read(ref _folderWrites);
        var folders = ListFoldersFromDatabase(mailboxId);
        if (_folderLists.Count >= MaxCachedFolderLists)
            _folderLists.Clear();
        KeepUnlessFoldersWritten(_folderLists, mailboxId, folders, generation);
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
    /// Each mailbox's folder list as <see cref="ListFolders"/> last read it (every login, LIST and STATUS asks, and a
    /// LiteDB query plus a name decryption per folder each time showed in profiles), and the folders known to exist
    /// (an IMAP session asks before every command). The writer drops what a commit made stale in
    /// <see cref="ForgetFolders"/>: a mailbox's list after any write to one of its folder documents (counts
    /// included); everything after a folder is deleted.
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, FolderInfo[]> _folderLists = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _liveFolders = new(StringComparer.Ordinal);
    private const int MaxCachedFolderLists = 10_000;

    /// <summary>Commits that wrote a folder document: bumped before the caches are pruned, so a read that may predate
    /// such a commit does not put what it read back (<see cref="KeepUnlessFoldersWritten"/>).</summary>
    private long _folderWrites;

    /// <summary>Caches <paramref name="value"/> read after <paramref name="generation"/> of <see cref="_folderWrites"/>,
    /// unless a folder was written since (the read may then be older than that commit).</summary>
    private void KeepUnlessFoldersWritten<T>(System.Collections.Concurrent.ConcurrentDictionary<string, T> cache, string key, T value, long generation)
    {
        cache[key] = value;
        if (Interlocked.Read(ref _folderWrites) != generation)
            cache.TryRemove(key, out _);
    }

    /// <summary>Called by the writer after a commit, before anyone is told of it.</summary>
    private void ForgetFolders(HashSet<string> mailboxIds)
    {
        if (mailboxIds.Count == 0)
            return;
        Interlocked.Increment(ref _folderWrites);
        if (mailboxIds.Contains(WriterContext.AllMailboxes))
        {
            _folderLists.Clear();
            _liveFolders.Clear();
        }
        else
        {
            foreach (var id in mailboxIds)
                _folderLists.TryRemove(id, out _);
        }
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
        var generation = Interlocked.Read(ref _folderWrites);
        if (Collection(Schema.Folders).FindById(folderId) is null)
            return false;
        KeepUnlessFoldersWritten(_liveFolders, folderId, true, generation);
        return true;
    }

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
        $"{E.InternalDateOffsetMinutes}: $.{E.InternalDateOffsetMinutes}, {E.Size}: $.{E.Size}, {E.LastActionTicks}: $.{E.LastActionTicks}, " +
        $"{E.SavedTicks}: $.{E.SavedTicks}, {E.BlobId}: $.{E.BlobId} }}";

    private List<MessageMeta> ListEntries(BsonExpression predicate) =>
        Collection(Schema.Entries).Query().Where(predicate).Select(BsonExpression.Create(MetaProjection)).ToDocuments()
            .Select(ToMessageMeta)
            .OrderBy(m => m.Uid)
            .ToList();

    private BsonDocument? FindFolderDocument(string mailboxId, string name, byte[] mailboxKey)
    {
        var found = FindFolderDocumentWith(mailboxId, name, mailboxKey);
        if (found is not null)
            return found;
        // The key may be from before a mailbox key rotation re-sealed the folder names: look again with the current one.
        if (Collection(Schema.Mailboxes).FindById(mailboxId) is not { } mailbox)
            return null;
        var current = MailboxKey(mailbox);
        try
        {
            return current.AsSpan().SequenceEqual(mailboxKey) ? null : FindFolderDocumentWith(mailboxId, name, current);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(current);
        }
    }

    private BsonDocument? FindFolderDocumentWith(string mailboxId, string name, byte[] mailboxKey)
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

    private FolderInfo ToFolderInfo(BsonDocument d, byte[] mailboxKey)
    {
        var id = d["_id"].AsString;
        return new FolderInfo(
            id,
            d[F.MailboxId].AsString,
            OpenFolderNameAnyKey(d[F.MailboxId].AsString, id, d[F.NameSealed].AsBinary, mailboxKey),
            (SpecialUse)d[F.SpecialUse].AsInt32,
            (uint)d[F.UidValidity].AsInt64,
            (uint)d[F.UidNext].AsInt64,
            (ulong)d[F.HighestModSeq].AsInt64,
            d[F.MessageCount].AsInt32,
            d[F.UnseenCount].AsInt32,
            d[F.Subscribed].AsBoolean);
    }

    /// <summary>A folder name opened with <paramref name="mailboxKey"/>, or, when a mailbox key rotation re-sealed it
    /// since that key was read, with the mailbox's current key.</summary>
    private string OpenFolderNameAnyKey(string mailboxId, string folderId, byte[] sealedName, byte[] mailboxKey)
    {
        try
        {
            return OpenFolderName(mailboxKey, folderId, sealedName);
        }
        catch (CryptographicException) when (Collection(Schema.Mailboxes).FindById(mailboxId) is { } mailbox)
        {
            var current = MailboxKey(mailbox);
            try
            {
                return OpenFolderName(current, folderId, sealedName);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(current);
            }
        }
    }

    internal static MessageMeta ToMessageMeta(BsonDocument d)
    {
        var internalDate = new DateTimeOffset(d[E.InternalDateTicks].AsInt64, TimeSpan.Zero).ToOffset(TimeSpan.FromMinutes(d[E.InternalDateOffsetMinutes].AsInt32));
        var saved = d[E.SavedTicks];
        return new MessageMeta(
            d["_id"].AsString,
            d[E.FolderId].AsString,
            (uint)d[E.Uid].AsInt64,
            (ulong)d[E.ModSeq].AsInt64,
            (MessageFlags)d[E.Flags].AsInt32,
            d[E.Keywords].AsArray.Select(k => k.AsString).ToList(),
            internalDate,
            d[E.Size].AsInt64,
            new DateTimeOffset(d[E.LastActionTicks].AsInt64, TimeSpan.Zero))
        {
            // Entries from before the save date was kept: the internal date, which for delivered mail is when it was saved.
            SavedAt = saved.IsInt64 ? new DateTimeOffset(saved.AsInt64, TimeSpan.Zero) : internalDate.ToUniversalTime(),
            ContentKey = ContentKeyOf(d[E.BlobId].AsString),
        };
    }

    /// <summary>
    /// The 128-bit key of a message's content: its blob id (32 hex digits) read as a number, shared by every entry
    /// of the blob (copies and moves within a mailbox, one delivery to several folders); another form of id is hashed.
    /// </summary>
    internal static UInt128 ContentKeyOf(string? blobId)
    {
        if (string.IsNullOrEmpty(blobId))
            return UInt128.Zero;
        if (blobId.Length == 32 && UInt128.TryParse(blobId, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out var key))
            return key;
        var hash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(blobId));
        return new UInt128(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(hash), System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(hash.AsSpan(8)));
    }
}
