using System.Security.Cryptography;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;
using E = MailServer.Storage.Schema.EntryFields;

namespace MailServer.Storage;

/// <summary>What <see cref="MailStore.RewriteLegacyBodiesAsync"/> did.</summary>
/// <param name="BodiesChecked">Distinct message files looked at (one file is shared by every recipient of a delivery).</param>
/// <param name="BodiesRewritten">Version 1 files rewritten in the segmented format this run.</param>
/// <param name="BodiesAlreadySegmented">Files that were segmented already (written so, or rewritten by an earlier run).</param>
/// <param name="BodiesFailed">Version 1 files left as they were because they did not decrypt or could not be rewritten
/// (logged with the entry; <see cref="MailStore.ReindexAsync"/> reports the undecryptable ones too).</param>
public sealed record RewriteBodiesReport(int BodiesChecked, int BodiesRewritten, int BodiesAlreadySegmented, int BodiesFailed);

public sealed partial class MailStore
{
    /// <summary>
    /// Rewrites every message body still in the version 1 layout (one sealed box, which must be decrypted whole to read
    /// any part of it) in the segmented layout, so FETCH of a range or a part decrypts only the segments it needs
    /// (<c>mailserver reindex --rewrite-bodies</c>). Each file keeps its blob id, organization and message key, so no
    /// database record changes; each is replaced on its own by <see cref="BlobStore.RewriteLegacy"/> (temporary file,
    /// fsync, read back, rename, directory fsync), so a run stopped at any point (cancelled, killed, power lost) leaves
    /// every body readable, old or new, and the next run goes on with the files still in version 1: resumable without
    /// any progress record. Memory: one body at a time.
    /// </summary>
    /// <remarks>For a store no server is using (the CLI opens it with the server stopped): a message expunged by a live
    /// server while its file is rewritten could have its file put back, which <see cref="ReindexAsync"/> would then
    /// delete as an orphan.</remarks>
    /// <param name="progress">Told after each rewritten file, with the running count; may be null.</param>
    /// <param name="cancellationToken">Stops between two files.</param>
    /// <exception cref="OperationCanceledException">Cancelled; the files rewritten so far stay rewritten.</exception>
    public Task<RewriteBodiesReport> RewriteLegacyBodiesAsync(IProgress<int>? progress, CancellationToken cancellationToken) =>
        Task.Run(() =>
        {
            var checkedCount = 0;
            var rewritten = 0;
            var already = 0;
            var failed = 0;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var entry in Collection(Schema.Entries).FindAll().ToList())
            {
                cancellationToken.ThrowIfCancellationRequested();
                var entryId = entry["_id"].AsString;
                var blobId = entry[E.BlobId].AsString;
                if (!seen.Add(blobId) || !_blobs.Exists(blobId))
                    continue;
                checkedCount++;
                byte[]? messageKey = null;
                try
                {
                    if (_blobs.FormatVersion(blobId) != 1)
                    {
                        already++;
                        continue;
                    }
                    (_, messageKey) = OpenEntry(entry[E.MailboxId].AsString, entryId);
                    if (_blobs.RewriteLegacy(blobId, messageKey))
                    {
                        Durability.FsyncDirectory(_blobs.DirectoryOf(blobId)); // the rename is durable before the next file
                        rewritten++;
                        progress?.Report(rewritten);
                    }
                    else
                    {
                        already++;
                    }
                }
                catch (Exception ex) when (ex is CryptographicException or KeyNotFoundException or IOException)
                {
                    failed++;
                    StoreLog.BodyNotRewritten(_log, entryId, blobId, ex.GetType().Name);
                }
                finally
                {
                    if (messageKey is not null)
                        CryptographicOperations.ZeroMemory(messageKey);
                }
            }
            return new RewriteBodiesReport(checkedCount, rewritten, already, failed);
        }, cancellationToken);
}
