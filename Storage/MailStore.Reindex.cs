using System.Security.Cryptography;
using LiteDB;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;
using E = MailServer.Storage.Schema.EntryFields;
using F = MailServer.Storage.Schema.FolderFields;
using M = MailServer.Storage.Schema.MailboxFields;

namespace MailServer.Storage;

/// <summary>What <see cref="MailStore.ReindexAsync"/> checked and repaired.</summary>
/// <param name="EntriesChecked">Entries whose blob was looked at.</param>
/// <param name="EntriesRemovedBlobMissing">Entries removed because their blob file was gone.</param>
/// <param name="EntriesUndecryptable">Entries kept but whose blob did not decrypt (wrong key or tampering): investigate.</param>
/// <param name="SummariesRebuilt">Encrypted header summaries rebuilt from the body.</param>
/// <param name="OrphanBlobsDeleted">Blob files no entry refers to (a crash between blob write and commit).</param>
/// <param name="TempFilesDeleted">Half-written temporary blob files.</param>
/// <param name="FoldersCorrected">Folders whose counts, UIDNEXT or HIGHESTMODSEQ were wrong.</param>
/// <param name="MailboxesCorrected">Mailboxes whose usage, count or MODSEQ was wrong.</param>
public sealed record ReindexReport(
    int EntriesChecked,
    int EntriesRemovedBlobMissing,
    int EntriesUndecryptable,
    int SummariesRebuilt,
    int OrphanBlobsDeleted,
    int TempFilesDeleted,
    int FoldersCorrected,
    int MailboxesCorrected)
{
    /// <summary>Messages the rebuilt search index holds (set by the caller that rebuilds it; the store only drops it).</summary>
    public long SearchIndexMessages { get; init; }
}

public sealed partial class MailStore
{
    /// <summary>
    /// Checks the store against its blobs and repairs what a crash or a lost file can leave behind (the
    /// <c>mailserver reindex</c> verb). Safe on an open, busy store: deliveries in flight are left alone.
    /// Entries whose blob does not decrypt are reported, never deleted (a misconfigured key is not data loss).
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled before the repairs were committed.</exception>
    public async Task<ReindexReport> ReindexAsync(CancellationToken cancellationToken)
    {
        // 1. Outside the writer: decrypt every entry's blob and summary (slow work, no lock held).
        var missing = new List<string>();
        var undecryptable = 0;
        var summaries = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var entries = Collection(Schema.Entries).FindAll().ToList();
        foreach (var entry in entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var entryId = entry["_id"].AsString;
            var blobId = entry[E.BlobId].AsString;
            if (!_blobs.Exists(blobId))
            {
                missing.Add(entryId);
                StoreLog.EntryBlobMissing(_log, entryId, blobId);
                continue;
            }
            byte[] messageKey;
            try
            {
                (_, messageKey) = OpenEntry(entry[E.MailboxId].AsString, entryId);
            }
            catch (Exception ex) when (ex is CryptographicException or KeyNotFoundException)
            {
                undecryptable++;
                StoreLog.EntryUndecryptable(_log, entryId, ex.GetType().Name);
                continue;
            }
            try
            {
                // Every segment is opened (a segment altered, moved, dropped or cut off is reported), one at a time:
                // memory stays at a segment plus the header section, whatever the message size.
                using var body = _blobs.OpenRead(blobId, messageKey);
                var head = new byte[(int)Math.Min(body.Length, MaxSummaryBytes + 4)];
                body.ReadExactly(head);
                VerifyToEnd(body);
                var summaryOk = entry.TryGetValue(E.SummarySealed, out var sealedSummary) && sealedSummary.IsBinary && TryOpen(messageKey, sealedSummary.AsBinary, SummaryContext(blobId));
                if (!summaryOk)
                    summaries[entryId] = SealSummary(messageKey, blobId, HeaderSection(head));
            }
            catch (CryptographicException ex)
            {
                undecryptable++;
                StoreLog.EntryUndecryptable(_log, entryId, ex.GetType().Name);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(messageKey);
            }
        }

        var blobFiles = _blobs.EnumerateBlobIds().ToList();
        var tempFiles = _blobs.EnumerateTempFiles().ToList();

        // 2. On the writer: remove dead entries, store rebuilt summaries, recompute counters, find orphans.
        return await RunOnWriter(ctx => Repair(ctx, entries.Count, missing, undecryptable, summaries, blobFiles, tempFiles),
            [], cancellationToken).ConfigureAwait(false);
    }

    private ReindexReport Repair(WriterContext ctx, int checkedCount, List<string> missing, int undecryptable,
        Dictionary<string, byte[]> summaries, List<string> blobFiles, List<string> tempFiles)
    {
        var entriesCollection = ctx.Read(Schema.Entries);
        var mailboxes = ctx.Read(Schema.Mailboxes).FindAll().ToDictionary(d => d["_id"].AsString, StringComparer.Ordinal);
        var removed = 0;
        var expunged = new Dictionary<string, (string MailboxId, List<uint> Uids)>(StringComparer.Ordinal);
        foreach (var entryId in missing)
        {
            var entry = entriesCollection.FindById(entryId);
            if (entry is null || _blobs.Exists(entry[E.BlobId].AsString))
                continue;
            ctx.Delete(Schema.Entries, entryId);
            removed++;
            var folderId = entry[E.FolderId].AsString;
            if (!expunged.TryGetValue(folderId, out var list))
                expunged[folderId] = list = (entry[E.MailboxId].AsString, []);
            list.Uids.Add((uint)entry[E.Uid].AsInt64);
        }

        var rebuilt = 0;
        foreach (var (entryId, summary) in summaries)
        {
            var entry = entriesCollection.FindById(entryId);
            if (entry is null)
                continue;
            entry[E.SummarySealed] = summary;
            ctx.Update(Schema.Entries, entry);
            rebuilt++;
        }

        // Every expunge is a change: it takes a fresh MODSEQ in its mailbox (RFC 7162 §3.2.10).
        foreach (var (folderId, (mailboxId, uids)) in expunged)
        {
            if (!mailboxes.TryGetValue(mailboxId, out var mailbox))
                continue;
            var modSeq = mailbox[M.ModSeq].AsInt64 + 1;
            mailbox[M.ModSeq] = modSeq;
            ctx.Changes.Add(new MailboxChange.MessagesExpunged(mailboxId, folderId, (ulong)modSeq, uids));
        }

        // Recompute folder and mailbox counters from the entries that remain.
        var all = entriesCollection.FindAll().ToList();
        var foldersCorrected = 0;
        foreach (var folder in ctx.Read(Schema.Folders).FindAll().ToList())
        {
            var folderId = folder["_id"].AsString;
            var inFolder = all.Where(e => e[E.FolderId].AsString == folderId).ToList();
            var count = inFolder.Count;
            var unseen = inFolder.Count(e => !((MessageFlags)e[E.Flags].AsInt32).HasFlag(MessageFlags.Seen));
            var uidNext = Math.Max(folder[F.UidNext].AsInt64, inFolder.Count == 0 ? 1 : inFolder.Max(e => e[E.Uid].AsInt64) + 1);
            var highest = Math.Max(folder[F.HighestModSeq].AsInt64, inFolder.Count == 0 ? 1 : inFolder.Max(e => e[E.ModSeq].AsInt64));
            if (expunged.ContainsKey(folderId) && mailboxes.TryGetValue(folder[F.MailboxId].AsString, out var owner))
                highest = Math.Max(highest, owner[M.ModSeq].AsInt64);
            if (count != folder[F.MessageCount].AsInt32 || unseen != folder[F.UnseenCount].AsInt32
                || uidNext != folder[F.UidNext].AsInt64 || highest != folder[F.HighestModSeq].AsInt64)
            {
                folder[F.MessageCount] = count;
                folder[F.UnseenCount] = unseen;
                folder[F.UidNext] = uidNext;
                folder[F.HighestModSeq] = highest;
                ctx.Update(Schema.Folders, folder);
                foldersCorrected++;
            }
        }

        var mailboxesCorrected = 0;
        foreach (var (mailboxId, mailbox) in mailboxes)
        {
            var owned = all.Where(e => e[E.MailboxId].AsString == mailboxId).ToList();
            var used = owned.Sum(e => e[E.Size].AsInt64);
            var modSeq = Math.Max(mailbox[M.ModSeq].AsInt64, owned.Count == 0 ? 1 : owned.Max(e => e[E.ModSeq].AsInt64));
            var changed = expunged.Values.Any(v => v.MailboxId == mailboxId);
            if (changed || used != mailbox[M.UsedBytes].AsInt64 || owned.Count != mailbox[M.MessageCount].AsInt64 || modSeq != mailbox[M.ModSeq].AsInt64)
            {
                mailbox[M.UsedBytes] = used;
                mailbox[M.MessageCount] = (long)owned.Count;
                mailbox[M.ModSeq] = modSeq;
                ctx.Update(Schema.Mailboxes, mailbox);
                mailboxesCorrected++;
            }
        }

        // Orphans: on disk, referenced by no committed entry, and not a delivery in flight. Deleted after commit.
        var referenced = all.Select(e => e[E.BlobId].AsString).ToHashSet(StringComparer.Ordinal);
        referenced.UnionWith(QueueBlobIds()); // queued outbound messages own their blobs too
        var orphans = blobFiles.Where(b => !referenced.Contains(b) && !_inFlightBlobs.ContainsKey(b)).ToList();
        var temps = tempFiles.Where(t => !_inFlightBlobs.ContainsKey(BlobIdOfTemp(t))).ToList();
        ctx.AfterCommit.Add(() =>
        {
            foreach (var orphan in orphans)
            {
                _blobs.Delete(orphan);
                StoreLog.OrphanBlobDeleted(_log, orphan);
            }
            foreach (var temp in temps)
                File.Delete(temp);
        });

        var report = new ReindexReport(checkedCount, removed, undecryptable, rebuilt, orphans.Count, temps.Count, foldersCorrected, mailboxesCorrected);
        StoreLog.Reindexed(_log, report.EntriesChecked, report.EntriesRemovedBlobMissing, report.OrphanBlobsDeleted, report.SummariesRebuilt);
        return report;
    }

    private static string BlobIdOfTemp(string path)
    {
        var name = Path.GetFileName(path)[BlobStore.TempPrefix.Length..];
        var dash = name.LastIndexOf('-');
        return dash > 0 ? name[..dash] : name;
    }

    private static bool TryOpen(byte[] key, byte[] box, byte[] context)
    {
        try
        {
            Aead.Open(key, box, context);
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>Reads (and so authenticates) the rest of a blob stream, discarding the plaintext.</summary>
    private static void VerifyToEnd(Stream body)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(Blobs.BlobStore.SegmentSize);
        try
        {
            while (body.Read(buffer, 0, Blobs.BlobStore.SegmentSize) > 0) { }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
        }
    }
}
