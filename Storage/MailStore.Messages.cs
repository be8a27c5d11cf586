using LiteDB;
using E = MailServer.Storage.Schema.EntryFields;
using F = MailServer.Storage.Schema.FolderFields;
using M = MailServer.Storage.Schema.MailboxFields;

namespace MailServer.Storage;

/// <summary>How <see cref="MailStore.SetFlagsAsync"/> combines the given flags with the stored ones (RFC 9051 §6.4.6).</summary>
public enum FlagOperation
{
    /// <summary>FLAGS: replace.</summary>
    Replace,
    /// <summary>+FLAGS: add.</summary>
    Add,
    /// <summary>-FLAGS: remove.</summary>
    Remove,
}

/// <summary>A message copied or moved: its UID in the source folder and in the destination (RFC 4315 COPYUID).</summary>
public sealed record CopiedMessage(uint SourceUid, uint DestinationUid, string DestinationEntryId);

public sealed partial class MailStore
{
    /// <summary>
    /// Changes the flags and keywords of the messages <paramref name="uids"/> of a folder. Each message whose
    /// flags actually change gets a new MODSEQ (RFC 7162 §3.1) and a <see cref="MailboxChange.FlagsChanged"/>.
    /// UIDs that do not exist are ignored (RFC 9051 §6.4.6 for UID STORE).
    /// </summary>
    /// <returns>The messages as they are after the change, changed or not.</returns>
    /// <exception cref="KeyNotFoundException">No such folder.</exception>
    public Task<IReadOnlyList<MessageMeta>> SetFlagsAsync(string folderId, IReadOnlyCollection<uint> uids, FlagOperation operation,
        MessageFlags flags, IReadOnlyList<string> keywords, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(uids);
        ArgumentNullException.ThrowIfNull(keywords);
        var now = Now;
        return RunOnWriter<IReadOnlyList<MessageMeta>>(ctx =>
        {
            var folder = ctx.Read(Schema.Folders).FindById(folderId) ?? throw new KeyNotFoundException($"No folder {folderId}.");
            var mailboxId = folder[F.MailboxId].AsString;
            var mailbox = ctx.Read(Schema.Mailboxes).FindById(mailboxId);
            var entries = ctx.Read(Schema.Entries);
            var result = new List<MessageMeta>(uids.Count);
            var modSeq = mailbox[M.ModSeq].AsInt64;
            var unseen = folder[F.UnseenCount].AsInt32;
            foreach (var uid in uids.Distinct().Order())
            {
                var entry = entries.FindOne(Schema.Equal(E.FolderUid, Schema.FolderUidKey(folderId, uid)));
                if (entry is null)
                    continue;
                var oldFlags = (MessageFlags)entry[E.Flags].AsInt32;
                var oldKeywords = entry[E.Keywords].AsArray.Select(k => k.AsString).ToList();
                var (newFlags, newKeywords) = operation switch
                {
                    FlagOperation.Replace => (flags, keywords.Distinct(StringComparer.OrdinalIgnoreCase).ToList()),
                    FlagOperation.Add => (oldFlags | flags, oldKeywords.Union(keywords, StringComparer.OrdinalIgnoreCase).ToList()),
                    _ => (oldFlags & ~flags, oldKeywords.Except(keywords, StringComparer.OrdinalIgnoreCase).ToList()),
                };
                if (newFlags != oldFlags || !newKeywords.SequenceEqual(oldKeywords, StringComparer.Ordinal))
                {
                    modSeq++;
                    entry[E.Flags] = (int)newFlags;
                    entry[E.Keywords] = new BsonArray(newKeywords.Select(k => new BsonValue(k)));
                    entry[E.ModSeq] = modSeq;
                    entry[E.LastActionTicks] = now.UtcTicks;
                    ctx.Update(Schema.Entries, entry);
                    if (oldFlags.HasFlag(MessageFlags.Seen) != newFlags.HasFlag(MessageFlags.Seen))
                        unseen += newFlags.HasFlag(MessageFlags.Seen) ? -1 : 1;
                    ctx.Changes.Add(new MailboxChange.FlagsChanged(mailboxId, folderId, (ulong)modSeq, uid, newFlags, newKeywords));
                }
                result.Add(ToMessageMeta(entry));
            }
            if (modSeq != mailbox[M.ModSeq].AsInt64)
            {
                mailbox[M.ModSeq] = modSeq;
                folder[F.HighestModSeq] = modSeq;
                folder[F.UnseenCount] = unseen;
                ctx.Update(Schema.Mailboxes, mailbox);
                ctx.Update(Schema.Folders, folder);
            }
            return result;
        }, [], cancellationToken);
    }

    /// <summary>
    /// Removes the messages flagged \Deleted from a folder (EXPUNGE), or only those among <paramref name="uids"/>
    /// (UID EXPUNGE, RFC 4315 §2.1). A blob file goes when its last entry does.
    /// </summary>
    /// <returns>The expunged UIDs, ascending.</returns>
    /// <exception cref="KeyNotFoundException">No such folder.</exception>
    public Task<IReadOnlyList<uint>> ExpungeAsync(string folderId, IReadOnlyCollection<uint>? uids, CancellationToken cancellationToken) =>
        RunOnWriter<IReadOnlyList<uint>>(ctx =>
        {
            var folder = ctx.Read(Schema.Folders).FindById(folderId) ?? throw new KeyNotFoundException($"No folder {folderId}.");
            var only = uids?.ToHashSet();
            var doomed = ctx.Read(Schema.Entries).Find(Schema.EntriesOfFolder(folderId))
                .Where(e => ((MessageFlags)e[E.Flags].AsInt32).HasFlag(MessageFlags.Deleted))
                .Where(e => only is null || only.Contains((uint)e[E.Uid].AsInt64))
                .ToList();
            return RemoveEntries(ctx, folder, doomed);
        }, [], cancellationToken);

    /// <summary>
    /// Copies messages to another folder of the same mailbox. The copies share the blob and the wrapped key
    /// (both bound to the mailbox), get new UIDs in ascending source order, and the \Recent-free flags of the source.
    /// </summary>
    /// <exception cref="KeyNotFoundException">A folder does not exist.</exception>
    /// <exception cref="ArgumentException">The folders belong to different mailboxes.</exception>
    public Task<IReadOnlyList<CopiedMessage>> CopyAsync(string sourceFolderId, IReadOnlyCollection<uint> uids, string destinationFolderId, CancellationToken cancellationToken) =>
        CopyOrMoveAsync(sourceFolderId, uids, destinationFolderId, move: false, cancellationToken);

    /// <summary>Moves messages atomically (RFC 6851): copies them, then expunges them from the source in the same commit.</summary>
    /// <exception cref="KeyNotFoundException">A folder does not exist.</exception>
    /// <exception cref="ArgumentException">The folders belong to different mailboxes, or are the same folder.</exception>
    public Task<IReadOnlyList<CopiedMessage>> MoveAsync(string sourceFolderId, IReadOnlyCollection<uint> uids, string destinationFolderId, CancellationToken cancellationToken) =>
        CopyOrMoveAsync(sourceFolderId, uids, destinationFolderId, move: true, cancellationToken);

    private Task<IReadOnlyList<CopiedMessage>> CopyOrMoveAsync(string sourceFolderId, IReadOnlyCollection<uint> uids, string destinationFolderId, bool move, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(uids);
        var now = Now;
        return RunOnWriter<IReadOnlyList<CopiedMessage>>(ctx =>
        {
            var source = ctx.Read(Schema.Folders).FindById(sourceFolderId) ?? throw new KeyNotFoundException($"No folder {sourceFolderId}.");
            var destination = ctx.Read(Schema.Folders).FindById(destinationFolderId) ?? throw new KeyNotFoundException($"No folder {destinationFolderId}.");
            var mailboxId = source[F.MailboxId].AsString;
            if (destination[F.MailboxId].AsString != mailboxId)
                throw new ArgumentException("Messages can only be copied or moved within one mailbox.", nameof(destinationFolderId));
            if (move && sourceFolderId == destinationFolderId)
                throw new ArgumentException("A message cannot be moved to the folder it is in.", nameof(destinationFolderId));
            var entries = ctx.Read(Schema.Entries);
            var originals = uids.Distinct().Order()
                .Select(uid => entries.FindOne(Schema.Equal(E.FolderUid, Schema.FolderUidKey(sourceFolderId, uid))))
                .Where(e => e is not null)
                .ToList();
            if ((long)destination[F.UidNext].AsInt64 + originals.Count > uint.MaxValue)
                throw new InvalidOperationException($"Folder {destinationFolderId} has used up its UIDs.");

            var mailbox = ctx.Read(Schema.Mailboxes).FindById(mailboxId);
            var copied = new List<CopiedMessage>(originals.Count);
            foreach (var original in originals)
            {
                var uid = (uint)destination[F.UidNext].AsInt64;
                var modSeq = mailbox[M.ModSeq].AsInt64 + 1;
                var copy = new BsonDocument(original.ToDictionary(p => p.Key, p => p.Value))
                {
                    ["_id"] = NewId(),
                    [E.FolderId] = destinationFolderId,
                    [E.FolderUid] = Schema.FolderUidKey(destinationFolderId, uid),
                    [E.Uid] = (long)uid,
                    [E.ModSeq] = modSeq,
                    [E.LastActionTicks] = now.UtcTicks,
                    [E.SavedTicks] = now.UtcTicks, // RFC 8514 §3: a copy or moved message is saved anew
                };
                ctx.Insert(Schema.Entries, copy);
                if ((copy[E.KeyGeneration].IsNull ? 0 : copy[E.KeyGeneration].AsInt32) != KeyGenerationOf(mailbox))
                    mailbox[M.KeyRotationDirty] = true; // a new entry under the previous key: the rotation scans again
                var flags = (MessageFlags)copy[E.Flags].AsInt32;
                destination[F.UidNext] = (long)uid + 1;
                destination[F.HighestModSeq] = modSeq;
                destination[F.MessageCount] = destination[F.MessageCount].AsInt32 + 1;
                if (!flags.HasFlag(MessageFlags.Seen))
                    destination[F.UnseenCount] = destination[F.UnseenCount].AsInt32 + 1;
                mailbox[M.ModSeq] = modSeq;
                mailbox[M.UsedBytes] = mailbox[M.UsedBytes].AsInt64 + copy[E.Size].AsInt64;
                mailbox[M.MessageCount] = mailbox[M.MessageCount].AsInt64 + 1;
                copied.Add(new CopiedMessage((uint)original[E.Uid].AsInt64, uid, copy["_id"].AsString));
                ctx.Changes.Add(new MailboxChange.MessageAdded(mailboxId, destinationFolderId, (ulong)modSeq, uid));
            }
            ctx.Update(Schema.Folders, destination);
            ctx.Update(Schema.Mailboxes, mailbox);
            if (move)
                RemoveEntries(ctx, ctx.Read(Schema.Folders).FindById(sourceFolderId), originals!);
            return copied;
        }, [], cancellationToken);
    }

    /// <summary>On the writer: deletes entries of one folder, fixes counters, and deletes blobs left without entries after commit.</summary>
    private IReadOnlyList<uint> RemoveEntries(WriterContext ctx, BsonDocument folder, IReadOnlyList<BsonDocument> doomed)
    {
        if (doomed.Count == 0)
            return [];
        var folderId = folder["_id"].AsString;
        var mailboxId = folder[F.MailboxId].AsString;
        var mailbox = ctx.Read(Schema.Mailboxes).FindById(mailboxId);
        foreach (var entry in doomed)
        {
            ctx.Delete(Schema.Entries, entry["_id"]);
            folder[F.MessageCount] = folder[F.MessageCount].AsInt32 - 1;
            if (!((MessageFlags)entry[E.Flags].AsInt32).HasFlag(MessageFlags.Seen))
                folder[F.UnseenCount] = folder[F.UnseenCount].AsInt32 - 1;
            mailbox[M.UsedBytes] = mailbox[M.UsedBytes].AsInt64 - entry[E.Size].AsInt64;
            mailbox[M.MessageCount] = mailbox[M.MessageCount].AsInt64 - 1;
        }
        var modSeq = mailbox[M.ModSeq].AsInt64 + 1; // RFC 7162 §3.2.10: an expunge is a change
        mailbox[M.ModSeq] = modSeq;
        folder[F.HighestModSeq] = modSeq;
        ctx.Update(Schema.Folders, folder);
        ctx.Update(Schema.Mailboxes, mailbox);

        var entries = ctx.Read(Schema.Entries);
        var unreferenced = doomed.Select(e => e[E.BlobId].AsString).Distinct(StringComparer.Ordinal)
            .Where(blobId => entries.Count(Schema.Equal(E.BlobId, blobId)) == 0)
            .ToList();
        ctx.AfterCommit.Add(() =>
        {
            foreach (var blobId in unreferenced)
                DeleteBlob(_blobs, blobId);
        });
        var expunged = doomed.Select(e => (uint)e[E.Uid].AsInt64).Order().ToList();
        ctx.Changes.Add(new MailboxChange.MessagesExpunged(mailboxId, folderId, (ulong)modSeq, expunged));
        return expunged;
    }
}
