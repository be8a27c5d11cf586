using System.Security.Cryptography;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;
using JsonSerializer = System.Text.Json.JsonSerializer;

namespace MailServer.Storage.PostgreSql;

// IMAP REPLACE (RFC 8508) and METADATA (RFC 5464) on PostgreSQL, as the LiteDB engine keeps them: REPLACE stores the
// new message and removes the replaced one in one transaction; the annotations are one map per mailbox sealed under the
// mailbox key (`mailboxes.metadata_sealed`), scoped by "" (the user's server entries) or a folder id.
public sealed partial class PostgreSqlMailStore : IImapExtensionStore
{
    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">The folder or the message to replace no longer exists; nothing was stored.</exception>
    /// <exception cref="ArgumentException">No such mailbox or folder to store into, or the folders are in different mailboxes.</exception>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed before the commit; nothing changed.</exception>
    /// <exception cref="WriteOutcomeUnknownException">The commit failed.</exception>
    public Task<StoredMessage> ReplaceAsync(string mailboxId, string folderName, AppendItem message, string replacedFolderId, uint replacedUid,
        CancellationToken cancellationToken) =>
        RetryOnKeyChangeAsync(() => ReplaceOnceAsync(mailboxId, folderName, message, replacedFolderId, replacedUid, cancellationToken));

    private async Task<StoredMessage> ReplaceOnceAsync(string mailboxId, string folderName, AppendItem message, string replacedFolderId, uint replacedUid,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        cancellationToken.ThrowIfCancellationRequested();
        var mailbox = ReadMailbox(mailboxId) ?? throw new ArgumentException($"No mailbox {mailboxId}.", nameof(mailboxId));
        var (mailboxKey, generation) = CurrentMailboxKey(mailboxId, mailbox);
        var messageKey = Aead.NewKey();
        try
        {
            var folderId = FolderIdByName(mailboxId, folderName, mailboxKey, generation)
                ?? throw new ArgumentException($"Mailbox {mailboxId} has no folder named as requested.", nameof(folderName));
            var blobId = BlobStore.NewBlobId(Now);
            var body = BlobStore.Seal(blobId, mailbox.Org, messageKey, message.Message.Span);
            var link = new Link(mailboxId, folderId, blobId, KeyHierarchy.WrapMessageKey(mailboxKey, mailboxId, blobId, messageKey), generation,
                MailStore.SealSummary(messageKey, blobId, MailStore.HeaderSection(message.Message.Span)), message.Message.Length, message.InternalDate,
                message.Flags, message.Keywords.Distinct(StringComparer.OrdinalIgnoreCase).ToArray());
            var now = Now;
            return await WriteAsync(async (tx, changes) =>
            {
                await _bodies.PutAsync(body, tx, cancellationToken).ConfigureAwait(false);
                // Locks first, in the one order (the mailbox row, then both folders by id), and the replaced message looked
                // up before anything is linked: a message that is gone fails the request with nothing to roll back but the body.
                var (locked, _) = await LockFolderAsync(tx, [folderId, replacedFolderId], cancellationToken).ConfigureAwait(false);
                if (locked.Id != mailboxId)
                    throw new ArgumentException("A message can only be replaced within its own mailbox.", nameof(replacedFolderId));
                var doomed = await DoomedAsync(Command(tx, "SELECT id, uid, flags, size, blob_id FROM entries WHERE folder_id = $1 AND uid = $2 FOR UPDATE",
                    replacedFolderId, (long)replacedUid), cancellationToken).ConfigureAwait(false);
                if (doomed.Count == 0)
                    throw new KeyNotFoundException($"No message {replacedUid} in folder {replacedFolderId}.");
                // The new message first (its UID and MODSEQ), then the removal with the next MODSEQ, as on LiteDB; the rows
                // are re-read after the link wrote them back (they stay locked by this transaction throughout).
                var stored = (await LinkAsync(tx, changes, [link], now, cancellationToken).ConfigureAwait(false))[0];
                var (after, folders) = await LockFolderAsync(tx, [replacedFolderId], cancellationToken).ConfigureAwait(false);
                await RemoveAsync(tx, changes, after, folders[replacedFolderId], doomed, tombstone: true, cancellationToken).ConfigureAwait(false);
                await SaveAsync(tx, after, folders.Values, cancellationToken).ConfigureAwait(false);
                return stored;
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
            CryptographicOperations.ZeroMemory(mailboxKey);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    public IReadOnlyDictionary<string, byte[]> ReadMetadata(string mailboxId, string? folderId) =>
        ReadUnderCurrentKey(() => ReadMetadataOnce(mailboxId, folderId));

    private IReadOnlyDictionary<string, byte[]> ReadMetadataOnce(string mailboxId, string? folderId)
    {
        var mailbox = ReadMailbox(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
        if (folderId is not null && !FolderExists(folderId))
            return new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var sealedMap = Guard(() =>
        {
            using var command = Command("SELECT metadata_sealed FROM mailboxes WHERE id = $1", mailboxId);
            return command.ExecuteScalar() as byte[];
        });
        var key = MailboxKey(mailboxId, mailbox);
        try
        {
            return MailStore.AnnotationsOnly(MailStore.OpenMetadata(key, mailboxId, sealedMap).GetValueOrDefault(folderId ?? ""));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such mailbox or folder.</exception>
    /// <exception cref="MetadataLimitException">The scope would hold more than <paramref name="maxEntries"/>; nothing changed.</exception>
    public Task SetMetadataAsync(string mailboxId, string? folderId, IReadOnlyList<KeyValuePair<string, byte[]?>> entries, int maxEntries,
        CancellationToken cancellationToken) =>
        RetryOnKeyChangeAsync(() => SetMetadataOnceAsync(mailboxId, folderId, entries, maxEntries, cancellationToken));

    private async Task<bool> SetMetadataOnceAsync(string mailboxId, string? folderId, IReadOnlyList<KeyValuePair<string, byte[]?>> entries, int maxEntries,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var (key, generation) = CurrentMailboxKey(mailboxId);
        try
        {
            await WriteAsync(async (tx, changes) =>
            {
                // The mailbox row's lock serialises annotation writers on every node (read, change, seal, write back).
                RequireKeyGeneration(await LockMailboxAsync(tx, mailboxId, cancellationToken).ConfigureAwait(false), generation);
                byte[]? sealedMap;
                await using (var read = Command(tx, "SELECT metadata_sealed FROM mailboxes WHERE id = $1", mailboxId))
                    sealedMap = await read.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as byte[];
                var scopes = MailStore.OpenMetadata(key, mailboxId, sealedMap);
                var folderScopes = scopes.Keys.Where(s => s.Length > 0).Append(folderId ?? "").Where(s => s.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
                var existing = new HashSet<string>(StringComparer.Ordinal);
                await using (var folders = Command(tx, "SELECT id FROM folders WHERE mailbox_id = $1 AND id = ANY($2)", mailboxId, folderScopes))
                await using (var reader = await folders.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                        existing.Add(reader.GetString(0));
                if (folderId is not null && !existing.Contains(folderId))
                    throw new KeyNotFoundException($"No folder {folderId}.");
                MailStore.ApplyMetadata(scopes, existing.Contains, folderId, entries, maxEntries);
                await using var write = Command(tx, "UPDATE mailboxes SET metadata_sealed = $2 WHERE id = $1", mailboxId,
                    scopes.Count == 0 ? null : MailStore.SealMetadata(key, mailboxId, scopes));
                write.Parameters[1].NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bytea; // typed even when null
                await write.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                changes.Add(new MailboxChange.MetadataChanged(mailboxId, folderId ?? "")); // names no entry: the NOTIFY payload stays free of them
                return true;
            }, cancellationToken).ConfigureAwait(false);
            return true;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> ReadFolderAcl(string mailboxId)
    {
        var mailbox = ReadMailbox(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
        var sealedMap = Guard(() =>
        {
            using var command = Command("SELECT metadata_sealed FROM mailboxes WHERE id = $1", mailboxId);
            return command.ExecuteScalar() as byte[];
        });
        if (sealedMap is null)
            return new Dictionary<string, IReadOnlyDictionary<string, string>>();
        var key = MailboxKey(mailboxId, mailbox);
        try
        {
            return MailStore.FolderAclOf(MailStore.OpenMetadata(key, mailboxId, sealedMap), FolderExists);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such mailbox or folder.</exception>
    /// <exception cref="ArgumentException">An empty identifier or rights string.</exception>
    public async Task SetFolderAclAsync(string mailboxId, string folderId, string identifier, string? rights, CancellationToken cancellationToken)
    {
        var key = MailboxKey(mailboxId);
        try
        {
            await WriteAsync(async (tx, changes) =>
            {
                // The mailbox row's lock serialises writers of the sealed map on every node, as for SETMETADATA.
                await LockMailboxAsync(tx, mailboxId, cancellationToken).ConfigureAwait(false);
                byte[]? sealedMap;
                await using (var read = Command(tx, "SELECT metadata_sealed FROM mailboxes WHERE id = $1", mailboxId))
                    sealedMap = await read.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as byte[];
                var scopes = MailStore.OpenMetadata(key, mailboxId, sealedMap);
                var folderScopes = scopes.Keys.Where(s => s.Length > 0).Append(folderId).Distinct(StringComparer.Ordinal).ToArray();
                var existing = new HashSet<string>(StringComparer.Ordinal);
                await using (var folders = Command(tx, "SELECT id FROM folders WHERE mailbox_id = $1 AND id = ANY($2)", mailboxId, folderScopes))
                await using (var reader = await folders.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                        existing.Add(reader.GetString(0));
                if (!existing.Contains(folderId))
                    throw new KeyNotFoundException($"No folder {folderId}.");
                MailStore.ApplyFolderAcl(scopes, existing.Contains, folderId, identifier, rights);
                await using var write = Command(tx, "UPDATE mailboxes SET metadata_sealed = $2 WHERE id = $1", mailboxId,
                    scopes.Count == 0 ? null : MailStore.SealMetadata(key, mailboxId, scopes));
                write.Parameters[1].NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bytea; // typed even when null
                await write.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                changes.Add(new MailboxChange.FoldersChanged(mailboxId, folderId, 0));
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }
}
