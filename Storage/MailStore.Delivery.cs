using System.Security.Cryptography;
using LiteDB;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;
using E = MailServer.Storage.Schema.EntryFields;
using F = MailServer.Storage.Schema.FolderFields;
using M = MailServer.Storage.Schema.MailboxFields;

namespace MailServer.Storage;

public sealed partial class MailStore
{
    /// <summary>Blobs written whose entries are not committed yet: reindex must not take them for orphans.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _inFlightBlobs = new(StringComparer.Ordinal);

    /// <summary>The longest header section kept in an entry's encrypted summary; longer ones are cut here.</summary>
    internal const int MaxSummaryBytes = 256 * 1024;

    /// <inheritdoc/>
    /// <remarks>
    /// The body is encrypted once under a fresh message key and written as one blob (fsync'd) on the caller's
    /// thread; the message key is wrapped under each target mailbox's key. The writer then allocates UIDs and
    /// MODSEQs and links an entry into every target folder in one transaction. A blob whose entries were never
    /// committed is deleted (or found by <see cref="ReindexAsync"/> after a crash).
    /// </remarks>
    /// <exception cref="WriteOutcomeUnknownException">The commit or fsync failed; nothing was acknowledged.</exception>
    /// <exception cref="IOException">The blob could not be written.</exception>
    public Task<IReadOnlyList<StoredMessage>> DeliverAsync(
        ReadOnlyMemory<byte> message, DateTimeOffset internalDate, IReadOnlyList<DeliveryTarget> targets, CancellationToken cancellationToken) =>
        // A mailbox key rotation that switches keys between the key lookup and the commit makes the writer refuse the
        // entry; the delivery then starts again with the new key (nothing was acknowledged).
        RetryOnKeyChangeAsync(() => DeliverOnceAsync(message, internalDate, targets, cancellationToken));

    private async Task<IReadOnlyList<StoredMessage>> DeliverOnceAsync(
        ReadOnlyMemory<byte> message, DateTimeOffset internalDate, IReadOnlyList<DeliveryTarget> targets, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (targets.Count == 0)
            throw new ArgumentException("A delivery needs at least one target.", nameof(targets));
        cancellationToken.ThrowIfCancellationRequested();

        // Resolve every target before anything is written.
        var resolved = new List<(DeliveryTarget Target, string FolderId, string OrganizationId)>(targets.Count);
        var mailboxKeys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var generations = new Dictionary<string, int>(StringComparer.Ordinal);
        var blobId = BlobStore.NewBlobId(Now);
        var messageKey = Aead.NewKey();
        try
        {
            foreach (var target in targets)
            {
                var mailbox = Collection(Schema.Mailboxes).FindById(target.MailboxId)
                    ?? throw new ArgumentException($"No mailbox {target.MailboxId}.", nameof(targets));
                if (!mailboxKeys.TryGetValue(target.MailboxId, out var key))
                {
                    (key, var generation) = CurrentMailboxKey(mailbox);
                    mailboxKeys[target.MailboxId] = key;
                    generations[target.MailboxId] = generation;
                }
                var folder = FindFolderDocument(target.MailboxId, target.FolderName, key)
                    ?? throw new ArgumentException($"Mailbox {target.MailboxId} has no folder named as requested.", nameof(targets));
                resolved.Add((target, folder["_id"].AsString, mailbox[M.Organization].AsString));
            }

            var wrappedKeys = mailboxKeys.ToDictionary(p => p.Key, p => KeyHierarchy.WrapMessageKey(p.Value, p.Key, blobId, messageKey), StringComparer.Ordinal);
            var summary = SealSummary(messageKey, blobId, HeaderSection(message.Span));
            _inFlightBlobs.TryAdd(blobId, 0);
            _blobs.Write(blobId, resolved[0].OrganizationId, messageKey, message.Span);

            var size = message.Length;
            var now = Now;
            try
            {
                return await RunOnWriter(ctx => LinkEntries(ctx, resolved.Select(r => (r.Target, r.FolderId)).ToList(), blobId, wrappedKeys, generations, summary, size, internalDate, now),
                    _blobs.SyncPaths(blobId), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not WriteOutcomeUnknownException)
            {
                // Rolled back: no entry refers to the blob, and nobody was told it was stored.
                _blobs.Delete(blobId);
                throw;
            }
        }
        finally
        {
            _inFlightBlobs.TryRemove(blobId, out _);
            CryptographicOperations.ZeroMemory(messageKey);
            foreach (var key in mailboxKeys.Values)
                CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>On the writer: allocate UID and MODSEQ per target and insert the entries. Validates before writing.</summary>
    private static IReadOnlyList<StoredMessage> LinkEntries(
        WriterContext ctx, List<(DeliveryTarget Target, string FolderId)> targets, string blobId,
        Dictionary<string, byte[]> wrappedKeys, IReadOnlyDictionary<string, int> generations, byte[] summary, long size, DateTimeOffset internalDate, DateTimeOffset now)
    {
        var mailboxes = new Dictionary<string, BsonDocument>(StringComparer.Ordinal);
        var folders = new Dictionary<string, BsonDocument>(StringComparer.Ordinal);
        foreach (var (target, folderId) in targets)
        {
            var folder = ctx.Read(Schema.Folders).FindById(folderId);
            if (folder is null || folder[F.MailboxId].AsString != target.MailboxId)
                throw new ArgumentException($"Folder {folderId} no longer exists in mailbox {target.MailboxId}.", nameof(targets));
            folders[folderId] = folder;
            if (!mailboxes.ContainsKey(target.MailboxId))
            {
                mailboxes[target.MailboxId] = ctx.Read(Schema.Mailboxes).FindById(target.MailboxId)
                    ?? throw new ArgumentException($"Mailbox {target.MailboxId} no longer exists.", nameof(targets));
                RequireCurrentKeyGeneration(mailboxes[target.MailboxId], generations[target.MailboxId]);
            }
            if ((uint)folder[F.UidNext].AsInt64 == uint.MaxValue)
                throw new InvalidOperationException($"Folder {folderId} has used up its UIDs."); // RFC 9051 §2.3.1.1
        }

        var stored = new List<StoredMessage>(targets.Count);
        foreach (var (target, folderId) in targets)
        {
            var folder = folders[folderId];
            var mailbox = mailboxes[target.MailboxId];
            var uid = (uint)folder[F.UidNext].AsInt64;
            var modSeq = (ulong)mailbox[M.ModSeq].AsInt64 + 1;
            var entryId = NewId();
            ctx.Insert(Schema.Entries, new BsonDocument
            {
                ["_id"] = entryId,
                [E.FolderId] = folderId,
                [E.MailboxId] = target.MailboxId,
                [E.FolderUid] = Schema.FolderUidKey(folderId, uid),
                [E.Uid] = (long)uid,
                [E.ModSeq] = (long)modSeq,
                [E.Flags] = (int)target.Flags,
                [E.Keywords] = new BsonArray(),
                [E.InternalDateTicks] = internalDate.UtcTicks,
                [E.InternalDateOffsetMinutes] = (int)internalDate.Offset.TotalMinutes,
                [E.Size] = size,
                [E.LastActionTicks] = now.UtcTicks,
                [E.SavedTicks] = now.UtcTicks,
                [E.BlobId] = blobId,
                [E.WrappedKey] = wrappedKeys[target.MailboxId],
                [E.KeyGeneration] = generations[target.MailboxId],
                [E.SummarySealed] = summary,
            });
            folder[F.UidNext] = (long)uid + 1;
            folder[F.HighestModSeq] = (long)modSeq;
            folder[F.MessageCount] = folder[F.MessageCount].AsInt32 + 1;
            if (!target.Flags.HasFlag(MessageFlags.Seen))
                folder[F.UnseenCount] = folder[F.UnseenCount].AsInt32 + 1;
            mailbox[M.ModSeq] = (long)modSeq;
            mailbox[M.UsedBytes] = mailbox[M.UsedBytes].AsInt64 + size;
            mailbox[M.MessageCount] = mailbox[M.MessageCount].AsInt64 + 1;
            stored.Add(new StoredMessage(target.MailboxId, folderId, entryId, uid, modSeq));
            ctx.Changes.Add(new MailboxChange.MessageAdded(target.MailboxId, folderId, modSeq, uid));
        }
        foreach (var folder in folders.Values)
            ctx.Update(Schema.Folders, folder);
        foreach (var mailbox in mailboxes.Values)
            ctx.Update(Schema.Mailboxes, mailbox);
        return stored;
    }

    /// <inheritdoc/>
    public async Task<byte[]> ReadMessageAsync(string mailboxId, string entryId, CancellationToken cancellationToken)
    {
        var (entry, messageKey) = OpenEntry(mailboxId, entryId);
        try
        {
            return await _blobs.ReadAsync(entry[E.BlobId].AsString, messageKey, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    /// <inheritdoc/>
    public Stream OpenMessage(string mailboxId, string entryId)
    {
        var (entry, messageKey) = OpenEntry(mailboxId, entryId);
        try
        {
            return _blobs.OpenRead(entry[E.BlobId].AsString, messageKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    /// <summary>
    /// The header section of a stored message (up to and including the blank line, cut at 256 KiB), from the
    /// encrypted summary in the database: IMAP answers ENVELOPE, header FETCH and header SEARCH without the body.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such entry in this mailbox.</exception>
    /// <exception cref="CryptographicException">The summary or a key was tampered with.</exception>
    public byte[] ReadHeaderSection(string mailboxId, string entryId)
    {
        var (entry, messageKey) = OpenEntry(mailboxId, entryId);
        try
        {
            return Aead.Open(messageKey, entry[E.SummarySealed].AsBinary, SummaryContext(entry[E.BlobId].AsString));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    internal (BsonDocument Entry, byte[] MessageKey) OpenEntry(string mailboxId, string entryId)
    {
        for (var attempt = 0; ; attempt++)
        {
            var entry = Collection(Schema.Entries).FindById(entryId);
            if (entry is null || entry[E.MailboxId].AsString != mailboxId)
                throw new KeyNotFoundException($"No entry {entryId} in mailbox {mailboxId}.");
            byte[] mailboxKey;
            try
            {
                mailboxKey = MailboxKey(mailboxId, EntryKeyGenerationOf(entry));
            }
            catch (StaleKeyGenerationException) when (attempt == 0)
            {
                continue; // a mailbox key rotation re-wrapped the entry and ended between our two reads: read it again
            }
            try
            {
                return (entry, KeyHierarchy.UnwrapMessageKey(mailboxKey, mailboxId, entry[E.BlobId].AsString, entry[E.WrappedKey].AsBinary));
            }
            finally
            {
                CryptographicOperations.ZeroMemory(mailboxKey);
            }
        }
    }

    internal static byte[] SummaryContext(string blobId) => Aead.Utf8("summary/" + blobId);

    internal static byte[] SealSummary(byte[] messageKey, string blobId, ReadOnlySpan<byte> headerSection) =>
        Aead.Seal(messageKey, headerSection, SummaryContext(blobId));

    /// <summary>The bytes up to and including the first empty line (RFC 5322 §2.1), at most <see cref="MaxSummaryBytes"/>.</summary>
    internal static ReadOnlySpan<byte> HeaderSection(ReadOnlySpan<byte> message)
    {
        var end = message.IndexOf("\r\n\r\n"u8);
        var length = end >= 0 ? end + 4 : (message.IndexOf("\n\n"u8) is var lf and >= 0 ? lf + 2 : message.Length);
        return message[..Math.Min(length, MaxSummaryBytes)];
    }
}
