using System.Security.Cryptography;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;
using Npgsql;

namespace MailServer.Storage.PostgreSql;

// Writes. Every write that allocates a UID or a MODSEQ, or changes a mailbox's counters, first locks the mailbox row
// (SELECT ... FOR UPDATE; MODSEQ is per mailbox, as in the LiteDB engine), then the folder rows it touches, in id
// order: writers on any node serialise per mailbox, never deadlock on one another, and read UID_NEXT and MODSEQ only
// under the lock, so no two transactions ever hand out the same one. Numbers are written back in the same transaction,
// so a rolled-back write allocates nothing that a client could see reused.
public sealed partial class PostgreSqlMailStore
{
    /// <inheritdoc/>
    /// <remarks>The body is sealed once under a fresh message key (wrapped under each target mailbox's key) and stored
    /// in the transaction that links an entry into every target folder.</remarks>
    /// <exception cref="ArgumentException">No target, or a target names a mailbox or folder that does not exist.</exception>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed before the commit; nothing was stored.</exception>
    /// <exception cref="WriteOutcomeUnknownException">The commit failed; the delivery may or may not be stored.</exception>
    public Task<IReadOnlyList<StoredMessage>> DeliverAsync(ReadOnlyMemory<byte> message, DateTimeOffset internalDate,
        IReadOnlyList<DeliveryTarget> targets, CancellationToken cancellationToken) =>
        RetryOnKeyChangeAsync(() => DeliverOnceAsync(message, internalDate, targets, cancellationToken));

    private async Task<IReadOnlyList<StoredMessage>> DeliverOnceAsync(ReadOnlyMemory<byte> message, DateTimeOffset internalDate,
        IReadOnlyList<DeliveryTarget> targets, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (targets.Count == 0)
            throw new ArgumentException("A delivery needs at least one target.", nameof(targets));
        cancellationToken.ThrowIfCancellationRequested();
        var keys = new Dictionary<string, (byte[] Key, int Generation, string Org)>(StringComparer.Ordinal);
        var messageKey = Aead.NewKey();
        try
        {
            var blobId = BlobStore.NewBlobId(Now);
            var folders = new List<string>(targets.Count);
            foreach (var target in targets)
            {
                if (!keys.TryGetValue(target.MailboxId, out var entry))
                {
                    var mailbox = ReadMailbox(target.MailboxId) ?? throw new ArgumentException($"No mailbox {target.MailboxId}.", nameof(targets));
                    var (key, generation) = CurrentMailboxKey(target.MailboxId, mailbox);
                    keys[target.MailboxId] = entry = (key, generation, mailbox.Org);
                }
                folders.Add(FolderIdByName(target.MailboxId, target.FolderName, entry.Key, entry.Generation)
                    ?? throw new ArgumentException($"Mailbox {target.MailboxId} has no folder named as requested.", nameof(targets)));
            }
            var wrapped = keys.ToDictionary(p => p.Key, p => KeyHierarchy.WrapMessageKey(p.Value.Key, p.Key, blobId, messageKey), StringComparer.Ordinal);
            var summary = MailStore.SealSummary(messageKey, blobId, MailStore.HeaderSection(message.Span));
            var body = BlobStore.Seal(blobId, keys[targets[0].MailboxId].Org, messageKey, message.Span);
            var now = Now;
            var links = targets.Select((t, i) => new Link(t.MailboxId, folders[i], blobId, wrapped[t.MailboxId], keys[t.MailboxId].Generation, summary, message.Length,
                internalDate, t.Flags, [])).ToList();
            return await WriteAsync(async (tx, changes) =>
            {
                // The body first (the entries refer to it), before any row lock is taken: a big body does not hold up other writers.
                await _bodies.PutAsync(body, tx, cancellationToken).ConfigureAwait(false);
                return await LinkAsync(tx, changes, links, now, cancellationToken).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
            foreach (var (key, _, _) in keys.Values)
                CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">No messages, or no such mailbox or folder.</exception>
    public Task<IReadOnlyList<StoredMessage>> AppendAsync(string mailboxId, string folderName, IReadOnlyList<AppendItem> messages,
        CancellationToken cancellationToken) =>
        RetryOnKeyChangeAsync(() => AppendOnceAsync(mailboxId, folderName, messages, cancellationToken));

    private async Task<IReadOnlyList<StoredMessage>> AppendOnceAsync(string mailboxId, string folderName, IReadOnlyList<AppendItem> messages,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
            throw new ArgumentException("An append needs at least one message.", nameof(messages));
        cancellationToken.ThrowIfCancellationRequested();
        var mailbox = ReadMailbox(mailboxId) ?? throw new ArgumentException($"No mailbox {mailboxId}.", nameof(mailboxId));
        var (mailboxKey, generation) = CurrentMailboxKey(mailboxId, mailbox);
        try
        {
            var folderId = FolderIdByName(mailboxId, folderName, mailboxKey, generation)
                ?? throw new ArgumentException($"Mailbox {mailboxId} has no folder named as requested.", nameof(folderName));
            var bodies = new List<SealedBody>(messages.Count);
            var links = new List<Link>(messages.Count);
            foreach (var item in messages)
            {
                var blobId = BlobStore.NewBlobId(Now);
                var messageKey = Aead.NewKey();
                try
                {
                    bodies.Add(BlobStore.Seal(blobId, mailbox.Org, messageKey, item.Message.Span));
                    links.Add(new Link(mailboxId, folderId, blobId, KeyHierarchy.WrapMessageKey(mailboxKey, mailboxId, blobId, messageKey), generation,
                        MailStore.SealSummary(messageKey, blobId, MailStore.HeaderSection(item.Message.Span)), item.Message.Length, item.InternalDate,
                        item.Flags, item.Keywords.Distinct(StringComparer.OrdinalIgnoreCase).ToArray()));
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(messageKey);
                }
            }
            var now = Now;
            return await WriteAsync(async (tx, changes) =>
            {
                foreach (var body in bodies)
                    await _bodies.PutAsync(body, tx, cancellationToken).ConfigureAwait(false);
                return await LinkAsync(tx, changes, links, now, cancellationToken).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(mailboxKey);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such folder.</exception>
    public Task<IReadOnlyList<MessageMeta>> SetFlagsAsync(string folderId, IReadOnlyCollection<uint> uids, FlagOperation operation,
        MessageFlags flags, IReadOnlyList<string> keywords, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(uids);
        ArgumentNullException.ThrowIfNull(keywords);
        var now = Now;
        return WriteAsync<IReadOnlyList<MessageMeta>>(async (tx, changes) =>
        {
            var (mailbox, folders) = await LockFolderAsync(tx, [folderId], cancellationToken).ConfigureAwait(false);
            var folder = folders[folderId];
            var entries = new List<MessageMeta>();
            await using (var select = Command(tx, $"SELECT {MetaColumns} FROM entries WHERE folder_id = $1 AND uid = ANY($2) ORDER BY uid FOR UPDATE",
                folderId, uids.Select(u => (long)u).Distinct().ToArray()))
            await using (var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    entries.Add(ReadMeta(reader));
            var result = new List<MessageMeta>(entries.Count);
            var batch = new NpgsqlBatch(tx.Connection, tx);
            await using (batch.ConfigureAwait(false))
            {
                foreach (var entry in entries)
                {
                    var (newFlags, newKeywords) = operation switch
                    {
                        FlagOperation.Replace => (flags, keywords.Distinct(StringComparer.OrdinalIgnoreCase).ToList()),
                        FlagOperation.Add => (entry.Flags | flags, entry.Keywords.Union(keywords, StringComparer.OrdinalIgnoreCase).ToList()),
                        _ => (entry.Flags & ~flags, entry.Keywords.Except(keywords, StringComparer.OrdinalIgnoreCase).ToList()),
                    };
                    if (newFlags == entry.Flags && newKeywords.SequenceEqual(entry.Keywords, StringComparer.Ordinal))
                    {
                        result.Add(entry);
                        continue;
                    }
                    var modSeq = ++mailbox.ModSeq;
                    batch.BatchCommands.Add(BatchCommand("UPDATE entries SET flags = $2, keywords = $3, modseq = $4, last_action_ticks = $5 WHERE id = $1",
                        entry.EntryId, (int)newFlags, newKeywords.ToArray(), modSeq, now.UtcTicks));
                    if (entry.Flags.HasFlag(MessageFlags.Seen) != newFlags.HasFlag(MessageFlags.Seen))
                        folder.Unseen += newFlags.HasFlag(MessageFlags.Seen) ? -1 : 1;
                    folder.HighestModSeq = modSeq;
                    changes.Add(new MailboxChange.FlagsChanged(mailbox.Id, folderId, (ulong)modSeq, entry.Uid, newFlags, newKeywords));
                    result.Add(entry with { ModSeq = (ulong)modSeq, Flags = newFlags, Keywords = newKeywords, LastActionAt = new DateTimeOffset(now.UtcTicks, TimeSpan.Zero) });
                }
                if (batch.BatchCommands.Count > 0)
                {
                    await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    await SaveAsync(tx, mailbox, folders.Values, cancellationToken).ConfigureAwait(false);
                }
            }
            return result;
        }, cancellationToken);
    }

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such folder.</exception>
    public Task<IReadOnlyList<uint>> ExpungeAsync(string folderId, IReadOnlyCollection<uint>? uids, CancellationToken cancellationToken) =>
        WriteAsync<IReadOnlyList<uint>>(async (tx, changes) =>
        {
            var (mailbox, folders) = await LockFolderAsync(tx, [folderId], cancellationToken).ConfigureAwait(false);
            var doomed = await DoomedAsync(
                uids is null
                    ? Command(tx, "SELECT id, uid, flags, size, blob_id FROM entries WHERE folder_id = $1 AND flags & 8 <> 0 FOR UPDATE", folderId)
                    : Command(tx, "SELECT id, uid, flags, size, blob_id FROM entries WHERE folder_id = $1 AND flags & 8 <> 0 AND uid = ANY($2) FOR UPDATE",
                        folderId, uids.Select(u => (long)u).Distinct().ToArray()),
                cancellationToken).ConfigureAwait(false);
            var expunged = await RemoveAsync(tx, changes, mailbox, folders[folderId], doomed, tombstone: true, cancellationToken).ConfigureAwait(false);
            await SaveAsync(tx, mailbox, folders.Values, cancellationToken).ConfigureAwait(false);
            return expunged;
        }, cancellationToken);

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">A folder does not exist.</exception>
    /// <exception cref="ArgumentException">The folders belong to different mailboxes.</exception>
    public Task<IReadOnlyList<CopiedMessage>> CopyAsync(string sourceFolderId, IReadOnlyCollection<uint> uids, string destinationFolderId,
        CancellationToken cancellationToken) =>
        CopyOrMoveAsync(sourceFolderId, uids, destinationFolderId, move: false, cancellationToken);

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">A folder does not exist.</exception>
    /// <exception cref="ArgumentException">The folders belong to different mailboxes, or are the same folder.</exception>
    public Task<IReadOnlyList<CopiedMessage>> MoveAsync(string sourceFolderId, IReadOnlyCollection<uint> uids, string destinationFolderId,
        CancellationToken cancellationToken) =>
        CopyOrMoveAsync(sourceFolderId, uids, destinationFolderId, move: true, cancellationToken);

    private Task<IReadOnlyList<CopiedMessage>> CopyOrMoveAsync(string sourceFolderId, IReadOnlyCollection<uint> uids, string destinationFolderId, bool move,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(uids);
        if (move && sourceFolderId == destinationFolderId)
            throw new ArgumentException("A message cannot be moved to the folder it is in.", nameof(destinationFolderId));
        var now = Now;
        return WriteAsync<IReadOnlyList<CopiedMessage>>(async (tx, changes) =>
        {
            var (mailbox, folders) = await LockFolderAsync(tx, [sourceFolderId, destinationFolderId], cancellationToken).ConfigureAwait(false);
            var destination = folders[destinationFolderId];
            var originals = await DoomedAsync(Command(tx, "SELECT id, uid, flags, size, blob_id FROM entries WHERE folder_id = $1 AND uid = ANY($2) ORDER BY uid FOR UPDATE",
                sourceFolderId, uids.Select(u => (long)u).Distinct().ToArray()), cancellationToken).ConfigureAwait(false);
            if (destination.UidNext + originals.Count > uint.MaxValue)
                throw new InvalidOperationException($"Folder {destinationFolderId} has used up its UIDs."); // RFC 9051 §2.3.1.1
            var copied = new List<CopiedMessage>(originals.Count);
            var batch = new NpgsqlBatch(tx.Connection, tx);
            await using (batch.ConfigureAwait(false))
            {
                foreach (var original in originals)
                {
                    var uid = destination.UidNext++;
                    var modSeq = ++mailbox.ModSeq;
                    var entryId = MailStore.NewId();
                    // The copy shares the body and the wrapped message key (both bound to the mailbox); RFC 8514 §3: saved anew.
                    batch.BatchCommands.Add(BatchCommand(
                        "INSERT INTO entries (id, folder_id, mailbox_id, uid, modseq, flags, keywords, internal_date_ticks, internal_date_offset, size, " +
                        "last_action_ticks, saved_ticks, blob_id, wrapped_key, key_generation, summary) " +
                        "SELECT $1, $2, mailbox_id, $3, $4, flags, keywords, internal_date_ticks, internal_date_offset, size, $5, $5, blob_id, wrapped_key, " +
                        "key_generation, summary FROM entries WHERE id = $6",
                        entryId, destinationFolderId, (long)uid, modSeq, now.UtcTicks, original.Id));
                    destination.HighestModSeq = modSeq;
                    destination.Count++;
                    if (!original.Flags.HasFlag(MessageFlags.Seen))
                        destination.Unseen++;
                    mailbox.UsedBytes += original.Size;
                    mailbox.Count++;
                    copied.Add(new CopiedMessage(original.Uid, (uint)uid, entryId));
                    changes.Add(new MailboxChange.MessageAdded(mailbox.Id, destinationFolderId, (ulong)modSeq, (uint)uid));
                }
                if (batch.BatchCommands.Count > 0)
                    await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            if (move)
                await RemoveAsync(tx, changes, mailbox, folders[sourceFolderId], originals, tombstone: true, cancellationToken).ConfigureAwait(false);
            await SaveAsync(tx, mailbox, folders.Values, cancellationToken).ConfigureAwait(false);
            return copied;
        }, cancellationToken);
    }

    /// <inheritdoc/>
    /// <exception cref="FolderOperationException">The name exists already.</exception>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    /// <exception cref="ArgumentException"><paramref name="specialUse"/> is <see cref="SpecialUse.Inbox"/>.</exception>
    public Task<FolderInfo> CreateFolderAsync(string mailboxId, string name, SpecialUse specialUse, CancellationToken cancellationToken) =>
        RetryOnKeyChangeAsync(() => CreateFolderOnceAsync(mailboxId, name, specialUse, cancellationToken));

    private async Task<FolderInfo> CreateFolderOnceAsync(string mailboxId, string name, SpecialUse specialUse, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (specialUse == SpecialUse.Inbox || !Enum.IsDefined(specialUse))
            throw new ArgumentException("Only INBOX is the inbox.", nameof(specialUse));
        var row = ReadMailbox(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
        var (key, generation) = CurrentMailboxKey(mailboxId, row);
        try
        {
            var folderId = MailStore.NewId();
            var normalised = MailStore.NormaliseFolderName(name);
            var lookup = NameLookup(key, mailboxId, name);
            var sealedName = MailStore.SealFolderName(key, folderId, name);
            await WriteAsync(async (tx, changes) =>
            {
                var mailbox = await LockMailboxAsync(tx, mailboxId, cancellationToken).ConfigureAwait(false);
                RequireKeyGeneration(mailbox, generation);
                await using (var exists = Command(tx, "SELECT EXISTS (SELECT 1 FROM folders WHERE name_lookup = $1)", lookup))
                    if ((bool)(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
                        throw new FolderOperationException(FolderRefusal.AlreadyExists, "A folder with that name exists already.");
                try
                {
                    await InsertFolderAsync(tx, folderId, mailboxId, lookup, sealedName, specialUse, cancellationToken).ConfigureAwait(false);
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
                {
                    throw new FolderOperationException(FolderRefusal.AlreadyExists, "A folder with that name exists already.");
                }
                var names = OpenSubscriptionNames(key, mailboxId, mailbox.SubscriptionsSealed);
                if (names.Remove(normalised))
                    mailbox.SubscriptionsSealed = SealSubscriptionNames(key, mailboxId, names); // the folder's own flag holds it now
                var modSeq = ++mailbox.ModSeq;
                await SaveAsync(tx, mailbox, [], cancellationToken).ConfigureAwait(false);
                changes.Add(new MailboxChange.FoldersChanged(mailboxId, folderId, (ulong)modSeq));
                return true;
            }, cancellationToken).ConfigureAwait(false);
            return GetFolder(folderId) ?? throw new KeyNotFoundException($"Folder {folderId} was deleted as soon as it was created.");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="FolderOperationException">No such folder, the new name exists, or the folder is INBOX.</exception>
    public Task RenameFolderAsync(string mailboxId, string oldName, string newName, CancellationToken cancellationToken) =>
        RetryOnKeyChangeAsync(() => RenameFolderOnceAsync(mailboxId, oldName, newName, cancellationToken));

    private async Task<bool> RenameFolderOnceAsync(string mailboxId, string oldName, string newName, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(newName);
        if (MailStore.NormaliseFolderName(oldName) == WellKnownFolders.Inbox || MailStore.NormaliseFolderName(newName) == WellKnownFolders.Inbox)
            throw new FolderOperationException(FolderRefusal.Cannot, "INBOX cannot be renamed here.");
        var all = ListFolders(mailboxId);
        var target = all.FirstOrDefault(f => f.Name == MailStore.NormaliseFolderName(oldName))
            ?? throw new FolderOperationException(FolderRefusal.NonExistent, "No folder with that name.");
        var (key, generation) = CurrentMailboxKey(mailboxId);
        try
        {
            var renames = all.Where(f => f.FolderId == target.FolderId || f.Name.StartsWith(target.Name + "/", StringComparison.Ordinal))
                .Select(f =>
                {
                    var name = MailStore.NormaliseFolderName(newName) + f.Name[target.Name.Length..];
                    return (f.FolderId, Lookup: NameLookup(key, mailboxId, name), Sealed: MailStore.SealFolderName(key, f.FolderId, name));
                })
                .ToList();
            await WriteAsync(async (tx, changes) =>
            {
                var mailbox = await LockMailboxAsync(tx, mailboxId, cancellationToken).ConfigureAwait(false);
                RequireKeyGeneration(mailbox, generation);
                await using (var clash = Command(tx, "SELECT id FROM folders WHERE name_lookup = ANY($1) AND NOT id = ANY($2) LIMIT 1",
                    renames.Select(r => r.Lookup).ToArray(), renames.Select(r => r.FolderId).ToArray()))
                    if (await clash.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is string)
                        throw new FolderOperationException(FolderRefusal.AlreadyExists, "A folder with the new name exists already.");
                var modSeq = ++mailbox.ModSeq;
                // Two passes so a rename never collides with a name it is about to free (the lookup is unique).
                foreach (var (folderId, _, _) in renames)
                {
                    await using var park = Command(tx, "UPDATE folders SET name_lookup = 'renaming|' || id WHERE id = $1", folderId);
                    if (await park.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
                        throw new FolderOperationException(FolderRefusal.NonExistent, "The folder was deleted meanwhile.");
                }
                foreach (var (folderId, lookup, sealedName) in renames)
                {
                    await using var rename = Command(tx, "UPDATE folders SET name_lookup = $2, name_sealed = $3 WHERE id = $1", folderId, lookup, sealedName);
                    await rename.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    changes.Add(new MailboxChange.FoldersChanged(mailboxId, folderId, (ulong)modSeq));
                }
                await SaveAsync(tx, mailbox, [], cancellationToken).ConfigureAwait(false);
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
    /// <exception cref="FolderOperationException">No such folder, INBOX, or the folder has children.</exception>
    public async Task DeleteFolderAsync(string mailboxId, string name, CancellationToken cancellationToken)
    {
        if (MailStore.NormaliseFolderName(name) == WellKnownFolders.Inbox)
            throw new FolderOperationException(FolderRefusal.Cannot, "INBOX cannot be deleted.");
        var all = ListFolders(mailboxId);
        var target = all.FirstOrDefault(f => f.Name == MailStore.NormaliseFolderName(name))
            ?? throw new FolderOperationException(FolderRefusal.NonExistent, "No folder with that name.");
        if (all.Any(f => f.Name.StartsWith(target.Name + "/", StringComparison.Ordinal)))
            throw new FolderOperationException(FolderRefusal.Cannot, "The folder has children; delete them first.");
        await WriteAsync(async (tx, changes) =>
        {
            var mailbox = await LockMailboxAsync(tx, mailboxId, cancellationToken).ConfigureAwait(false);
            var folders = await LockFoldersAsync(tx, [target.FolderId], cancellationToken).ConfigureAwait(false);
            if (!folders.TryGetValue(target.FolderId, out var folder))
                throw new FolderOperationException(FolderRefusal.NonExistent, "No folder with that name.");
            var doomed = await DoomedAsync(Command(tx, "SELECT id, uid, flags, size, blob_id FROM entries WHERE folder_id = $1 FOR UPDATE", target.FolderId),
                cancellationToken).ConfigureAwait(false);
            await RemoveAsync(tx, changes, mailbox, folder, doomed, tombstone: false, cancellationToken).ConfigureAwait(false);
            await using (var delete = Command(tx, "DELETE FROM folders WHERE id = $1", target.FolderId))
                await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await using (var tombstones = Command(tx, "DELETE FROM tombstones WHERE folder_id = $1", target.FolderId))
                await tombstones.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false); // its UIDVALIDITY dies with it
            var modSeq = ++mailbox.ModSeq;
            await SaveAsync(tx, mailbox, [], cancellationToken).ConfigureAwait(false);
            changes.Add(new MailboxChange.FoldersChanged(mailboxId, target.FolderId, (ulong)modSeq));
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    public Task SetSubscribedAsync(string mailboxId, string name, bool subscribed, CancellationToken cancellationToken) =>
        RetryOnKeyChangeAsync(() => SetSubscribedOnceAsync(mailboxId, name, subscribed, cancellationToken));

    private async Task<bool> SetSubscribedOnceAsync(string mailboxId, string name, bool subscribed, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var normalised = MailStore.NormaliseFolderName(name);
        var (key, generation) = CurrentMailboxKey(mailboxId);
        try
        {
            var lookup = NameLookup(key, mailboxId, normalised);
            await WriteAsync(async (tx, changes) =>
            {
                var mailbox = await LockMailboxAsync(tx, mailboxId, cancellationToken).ConfigureAwait(false);
                RequireKeyGeneration(mailbox, generation);
                await using (var folder = Command(tx, "UPDATE folders SET subscribed = $2 WHERE name_lookup = $1 AND subscribed <> $2", lookup, subscribed))
                    if (await folder.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0)
                    {
                        changes.Add(new MailboxChange.SubscriptionsChanged(mailboxId));
                        return true;
                    }
                await using (var exists = Command(tx, "SELECT 1 FROM folders WHERE name_lookup = $1", lookup))
                    if (await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not null)
                        return true; // a folder already in that state
                var names = OpenSubscriptionNames(key, mailboxId, mailbox.SubscriptionsSealed);
                if (subscribed ? names.Add(normalised) : names.Remove(normalised))
                {
                    mailbox.SubscriptionsSealed = SealSubscriptionNames(key, mailboxId, names);
                    await SaveAsync(tx, mailbox, [], cancellationToken).ConfigureAwait(false);
                    changes.Add(new MailboxChange.SubscriptionsChanged(mailboxId));
                }
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
    public Task RaiseRecentMarkAsync(string folderId, uint uid, CancellationToken cancellationToken) =>
        WriteAsync(async (tx, _) =>
        {
            await using var raise = Command(tx, "UPDATE folders SET recent_mark = $2 WHERE id = $1 AND recent_mark < $2", folderId, (long)uid);
            await raise.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    // ---- shared steps -----------------------------------------------------------------------------------------

    /// <summary>One entry to link: where, which body, its wrapped key and sealed summary, and its IMAP attributes.</summary>
    /// <remarks><paramref name="KeyGeneration"/>: the mailbox key generation <paramref name="WrappedKey"/> is under, checked against the locked mailbox row.</remarks>
    private sealed record Link(string MailboxId, string FolderId, string BlobId, byte[] WrappedKey, int KeyGeneration, byte[] Summary, long Size,
        DateTimeOffset InternalDate, MessageFlags Flags, string[] Keywords);

    /// <summary>A mailbox row locked for this transaction, with the values it will be saved with.</summary>
    private sealed class LockedMailbox
    {
        public required string Id { get; init; }
        public long ModSeq { get; set; }
        public long UsedBytes { get; set; }
        public long Count { get; set; }
        public byte[]? SubscriptionsSealed { get; set; }
        public int KeyGeneration { get; init; }
    }

    /// <summary>A folder row locked for this transaction, with the values it will be saved with.</summary>
    private sealed class LockedFolder
    {
        public required string Id { get; init; }
        public required string MailboxId { get; init; }
        public long UidNext { get; set; }
        public long HighestModSeq { get; set; }
        public int Count { get; set; }
        public int Unseen { get; set; }
    }

    /// <summary>An entry about to be removed (or copied).</summary>
    private sealed record Doomed(string Id, uint Uid, MessageFlags Flags, long Size, string BlobId);

    /// <summary>Links entries: locks the mailboxes, then the folders (each in id order), allocates UIDs and MODSEQs under
    /// those locks, inserts the entries and saves the counters.</summary>
    private async Task<IReadOnlyList<StoredMessage>> LinkAsync(NpgsqlTransaction tx, List<MailboxChange> changes, IReadOnlyList<Link> links, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var mailboxes = new Dictionary<string, LockedMailbox>(StringComparer.Ordinal);
        foreach (var mailboxId in links.Select(l => l.MailboxId).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
            mailboxes[mailboxId] = await LockMailboxAsync(tx, mailboxId, cancellationToken, refusal: id => new ArgumentException($"Mailbox {id} no longer exists."))
                .ConfigureAwait(false);
        var folders = await LockFoldersAsync(tx, links.Select(l => l.FolderId), cancellationToken).ConfigureAwait(false);
        foreach (var link in links)
        {
            if (!folders.TryGetValue(link.FolderId, out var folder) || folder.MailboxId != link.MailboxId)
                throw new ArgumentException($"Folder {link.FolderId} no longer exists in mailbox {link.MailboxId}.");
            RequireKeyGeneration(mailboxes[link.MailboxId], link.KeyGeneration);
        }
        foreach (var group in links.GroupBy(l => l.FolderId))
            if (folders[group.Key].UidNext + group.Count() - 1 >= uint.MaxValue)
                throw new InvalidOperationException($"Folder {group.Key} has used up its UIDs."); // RFC 9051 §2.3.1.1

        var stored = new List<StoredMessage>(links.Count);
        await using var batch = new NpgsqlBatch(tx.Connection, tx);
        foreach (var link in links)
        {
            var folder = folders[link.FolderId];
            var mailbox = mailboxes[link.MailboxId];
            var uid = folder.UidNext++;
            var modSeq = ++mailbox.ModSeq;
            var entryId = MailStore.NewId();
            batch.BatchCommands.Add(BatchCommand(
                "INSERT INTO entries (id, folder_id, mailbox_id, uid, modseq, flags, keywords, internal_date_ticks, internal_date_offset, size, " +
                "last_action_ticks, saved_ticks, blob_id, wrapped_key, key_generation, summary) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14, $15)",
                entryId, link.FolderId, link.MailboxId, uid, modSeq, (int)link.Flags, link.Keywords, link.InternalDate.UtcTicks,
                (int)link.InternalDate.Offset.TotalMinutes, link.Size, now.UtcTicks, link.BlobId, link.WrappedKey, link.KeyGeneration, link.Summary));
            folder.HighestModSeq = modSeq;
            folder.Count++;
            if (!link.Flags.HasFlag(MessageFlags.Seen))
                folder.Unseen++;
            mailbox.UsedBytes += link.Size;
            mailbox.Count++;
            stored.Add(new StoredMessage(link.MailboxId, link.FolderId, entryId, (uint)uid, (ulong)modSeq));
            changes.Add(new MailboxChange.MessageAdded(link.MailboxId, link.FolderId, (ulong)modSeq, (uint)uid));
        }
        foreach (var mailbox in mailboxes.Values)
            batch.BatchCommands.Add(SaveCommand(mailbox));
        foreach (var folder in folders.Values)
            batch.BatchCommands.Add(SaveCommand(folder));
        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return stored;
    }

    /// <summary>Locks a mailbox row for the rest of the transaction and reads its counters.</summary>
    /// <exception cref="KeyNotFoundException">No such mailbox (or what <paramref name="refusal"/> makes of it).</exception>
    private static async Task<LockedMailbox> LockMailboxAsync(NpgsqlTransaction tx, string mailboxId, CancellationToken cancellationToken,
        Func<string, Exception>? refusal = null)
    {
        await using var command = Command(tx, "SELECT modseq, used_bytes, message_count, subscriptions_sealed, key_generation FROM mailboxes WHERE id = $1 FOR UPDATE", mailboxId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            throw refusal?.Invoke(mailboxId) ?? new KeyNotFoundException($"No mailbox {mailboxId}.");
        return new LockedMailbox
        {
            Id = mailboxId,
            ModSeq = reader.GetInt64(0),
            UsedBytes = reader.GetInt64(1),
            Count = reader.GetInt64(2),
            SubscriptionsSealed = reader.IsDBNull(3) ? null : reader.GetFieldValue<byte[]>(3),
            KeyGeneration = reader.GetInt32(4),
        };
    }

    /// <summary>Locks folder rows (those that exist) in id order, after their mailbox's row.</summary>
    private static async Task<Dictionary<string, LockedFolder>> LockFoldersAsync(NpgsqlTransaction tx, IEnumerable<string> folderIds, CancellationToken cancellationToken)
    {
        var ids = folderIds.Distinct(StringComparer.Ordinal).ToArray();
        var result = new Dictionary<string, LockedFolder>(StringComparer.Ordinal);
        await using var command = Command(tx,
            "SELECT id, mailbox_id, uid_next, highest_modseq, message_count, unseen_count FROM folders WHERE id = ANY($1) ORDER BY id FOR UPDATE", (object)ids);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            result[reader.GetString(0)] = new LockedFolder
            {
                Id = reader.GetString(0),
                MailboxId = reader.GetString(1),
                UidNext = reader.GetInt64(2),
                HighestModSeq = reader.GetInt64(3),
                Count = reader.GetInt32(4),
                Unseen = reader.GetInt32(5),
            };
        return result;
    }

    /// <summary>Locks the mailbox of <paramref name="folderIds"/>, then the folders.</summary>
    /// <exception cref="KeyNotFoundException">A folder does not exist.</exception>
    /// <exception cref="ArgumentException">The folders belong to different mailboxes.</exception>
    private static async Task<(LockedMailbox Mailbox, Dictionary<string, LockedFolder> Folders)> LockFolderAsync(NpgsqlTransaction tx, string[] folderIds,
        CancellationToken cancellationToken)
    {
        var owners = new List<string>();
        await using (var command = Command(tx, "SELECT DISTINCT mailbox_id FROM folders WHERE id = ANY($1)", (object)folderIds.Distinct(StringComparer.Ordinal).ToArray()))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                owners.Add(reader.GetString(0));
        if (owners.Count > 1)
            throw new ArgumentException("Messages can only be copied or moved within one mailbox.", nameof(folderIds));
        if (owners.Count == 0)
            throw new KeyNotFoundException($"No folder {folderIds[0]}.");
        var mailbox = await LockMailboxAsync(tx, owners[0], cancellationToken).ConfigureAwait(false);
        var folders = await LockFoldersAsync(tx, folderIds, cancellationToken).ConfigureAwait(false);
        foreach (var id in folderIds)
            if (!folders.TryGetValue(id, out var folder) || folder.MailboxId != mailbox.Id)
                throw new KeyNotFoundException($"No folder {id}.");
        return (mailbox, folders);
    }

    private static async Task<List<Doomed>> DoomedAsync(NpgsqlCommand select, CancellationToken cancellationToken)
    {
        var result = new List<Doomed>();
        await using (select)
        await using (var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                result.Add(new Doomed(reader.GetString(0), (uint)reader.GetInt64(1), (MessageFlags)reader.GetInt32(2), reader.GetInt64(3), reader.GetString(4)));
        return result;
    }

    /// <summary>Deletes entries of one folder with one new MODSEQ (RFC 7162 §3.2.10: an expunge is a change), records a
    /// tombstone for QRESYNC, and deletes the bodies no entry refers to any more (crypto-erase with their wrapped keys).</summary>
    private async Task<IReadOnlyList<uint>> RemoveAsync(NpgsqlTransaction tx, List<MailboxChange> changes, LockedMailbox mailbox, LockedFolder folder,
        IReadOnlyList<Doomed> doomed, bool tombstone, CancellationToken cancellationToken)
    {
        if (doomed.Count == 0)
            return [];
        await using (var delete = Command(tx, "DELETE FROM entries WHERE id = ANY($1)", (object)doomed.Select(d => d.Id).ToArray()))
            await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        foreach (var entry in doomed)
        {
            folder.Count--;
            if (!entry.Flags.HasFlag(MessageFlags.Seen))
                folder.Unseen--;
            mailbox.UsedBytes -= entry.Size;
            mailbox.Count--;
        }
        var modSeq = ++mailbox.ModSeq;
        folder.HighestModSeq = modSeq;
        var expunged = doomed.Select(d => d.Uid).Order().ToList();
        if (tombstone)
        {
            await using var record = Command(tx, "INSERT INTO tombstones (folder_id, modseq, uids) VALUES ($1, $2, $3)",
                folder.Id, modSeq, expunged.Select(u => (long)u).ToArray());
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await _bodies.DeleteUnreferencedAsync(doomed.Select(d => d.BlobId).Distinct(StringComparer.Ordinal).ToList(), tx, cancellationToken).ConfigureAwait(false);
        changes.Add(new MailboxChange.MessagesExpunged(mailbox.Id, folder.Id, (ulong)modSeq, expunged));
        return expunged;
    }

    /// <summary>Writes back the counters of locked rows.</summary>
    private static async Task SaveAsync(NpgsqlTransaction tx, LockedMailbox mailbox, IEnumerable<LockedFolder> folders, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(tx.Connection, tx);
        batch.BatchCommands.Add(SaveCommand(mailbox));
        foreach (var folder in folders)
            batch.BatchCommands.Add(SaveCommand(folder));
        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static NpgsqlBatchCommand SaveCommand(LockedMailbox m) =>
        BatchCommand("UPDATE mailboxes SET modseq = $2, used_bytes = $3, message_count = $4, subscriptions_sealed = $5 WHERE id = $1",
            m.Id, m.ModSeq, m.UsedBytes, m.Count, m.SubscriptionsSealed);

    private static NpgsqlBatchCommand SaveCommand(LockedFolder f) =>
        BatchCommand("UPDATE folders SET uid_next = $2, highest_modseq = $3, message_count = $4, unseen_count = $5 WHERE id = $1",
            f.Id, f.UidNext, f.HighestModSeq, f.Count, f.Unseen);

    private static NpgsqlBatchCommand BatchCommand(string sql, params object?[] arguments)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var argument in arguments)
            // The only nullable value written this way is a sealed (bytea) column.
            command.Parameters.Add(argument is null ? new NpgsqlParameter { Value = DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bytea } : new NpgsqlParameter { Value = argument });
        return command;
    }

    /// <summary>The id of the folder named <paramref name="name"/> in a mailbox, or null.</summary>
    /// <exception cref="MailboxKeyChangedException">Not found because a rotation re-sealed the names under a new key since
    /// <paramref name="mailboxKey"/> (of <paramref name="generation"/>) was read; the caller's operation starts again.</exception>
    private string? FolderIdByName(string mailboxId, string name, byte[] mailboxKey, int generation)
    {
        var lookup = NameLookup(mailboxKey, mailboxId, name);
        var found = Guard(() =>
        {
            using var command = Command("SELECT id FROM folders WHERE name_lookup = $1", lookup);
            return command.ExecuteScalar() as string;
        });
        if (found is null && ReadMailbox(mailboxId)?.KeyGeneration is { } current && current != generation)
            throw new MailboxKeyChangedException(mailboxId);
        return found;
    }
}
