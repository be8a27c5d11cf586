using System.Security.Cryptography;
using LiteDB;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;
using E = MailServer.Storage.Schema.EntryFields;
using I = MailServer.Storage.Schema.ImportFields;
using M = MailServer.Storage.Schema.MailboxFields;

namespace MailServer.Storage;

/// <summary>What <see cref="MailStore.ImportAsync"/> did with one message.</summary>
/// <param name="Stored">The new copy, or null when this message was imported into that folder before.</param>
public sealed record ImportOutcome(StoredMessage? Stored)
{
    /// <summary>True when an earlier import had stored the same message in the same folder (nothing was written).</summary>
    public bool Duplicate => Stored is null;
}

public sealed partial class MailStore
{
    /// <summary>
    /// Stores one message of a mailbox import (mail that already exists elsewhere: no flow rules ran for it, and
    /// none will) in a folder of a mailbox, with its flags, keywords and internal date, encrypted like delivered
    /// mail. Idempotent: the mailbox's import ledger remembers each (folder, SHA-256 of the octets) it stored, in
    /// the same transaction as the entry, so a second import of the same message into the same folder (a re-run, a
    /// resume after a crash, the same mail from another source) stores nothing. The ledger is keyed by an HMAC under
    /// a key derived from the mailbox key: it reveals neither folder names nor message hashes. A message the user
    /// deleted after its import stays deleted when the import runs again.
    /// </summary>
    /// <remarks>Quota is the caller's decision (an import stops when the mailbox is full; delivery bounces).</remarks>
    /// <exception cref="ArgumentException">The mailbox or folder does not exist.</exception>
    /// <exception cref="WriteOutcomeUnknownException">The commit or fsync failed; nothing was acknowledged.</exception>
    /// <exception cref="IOException">The blob could not be written.</exception>
    public async Task<ImportOutcome> ImportAsync(string mailboxId, string folderName, AppendItem message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        cancellationToken.ThrowIfCancellationRequested();
        var mailbox = Collection(Schema.Mailboxes).FindById(mailboxId) ?? throw new ArgumentException($"No mailbox {mailboxId}.", nameof(mailboxId));
        var organizationId = mailbox[M.Organization].AsString;
        var mailboxKey = MailboxKey(mailbox);
        string? blobId = null;
        var committed = false;
        try
        {
            var folder = FindFolderDocument(mailboxId, folderName, mailboxKey)
                ?? throw new ArgumentException($"Mailbox {mailboxId} has no folder named as requested.", nameof(folderName));
            var folderId = folder["_id"].AsString;
            var ledgerKey = KeyHierarchy.ImportHmacKey(mailboxKey);
            var importId = mailboxId + "|" + KeyHierarchy.Hmac(ledgerKey,
                NormaliseFolderName(folderName) + "\n" + Convert.ToHexStringLower(SHA256.HashData(message.Message.Span)));
            CryptographicOperations.ZeroMemory(ledgerKey);
            // Already imported: answer without writing a blob (a resumed import re-reads its last messages).
            if (Collection(Schema.Imports).FindById(importId) is not null)
                return new ImportOutcome(null);

            blobId = BlobStore.NewBlobId(Now);
            var messageKey = Aead.NewKey();
            byte[] wrapped, summary;
            try
            {
                wrapped = KeyHierarchy.WrapMessageKey(mailboxKey, mailboxId, blobId, messageKey);
                summary = SealSummary(messageKey, blobId, HeaderSection(message.Message.Span));
                _inFlightBlobs.TryAdd(blobId, 0);
                _blobs.Write(blobId, organizationId, messageKey, message.Message.Span);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(messageKey);
            }
            var now = Now;
            var target = new DeliveryTarget(mailboxId, folderName, message.Flags);
            var stored = await RunOnWriter<StoredMessage?>(ctx =>
            {
                // Checked again on the writer: two imports of one message racing store it once.
                if (ctx.Read(Schema.Imports).FindById(importId) is not null)
                    return null;
                var copy = LinkEntries(ctx, [(target, folderId)], blobId,
                    new Dictionary<string, byte[]>(StringComparer.Ordinal) { [mailboxId] = wrapped }, summary, message.Message.Length,
                    message.InternalDate, now)[0];
                if (message.Keywords.Count > 0)
                {
                    var entry = ctx.Read(Schema.Entries).FindById(copy.EntryId);
                    entry[E.Keywords] = new BsonArray(message.Keywords.Distinct(StringComparer.OrdinalIgnoreCase).Select(k => new BsonValue(k)));
                    ctx.Update(Schema.Entries, entry);
                }
                ctx.Insert(Schema.Imports, new BsonDocument
                {
                    ["_id"] = importId,
                    [I.MailboxId] = mailboxId,
                    [I.EntryId] = copy.EntryId,
                    [I.ImportedTicks] = now.UtcTicks,
                });
                return copy;
            }, [_blobs.DirectoryOf(blobId)], cancellationToken).ConfigureAwait(false);
            committed = stored is not null;
            return new ImportOutcome(stored);
        }
        catch (WriteOutcomeUnknownException)
        {
            committed = true; // the entry may be on disk: leave the blob for reindex to judge
            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(mailboxKey);
            if (blobId is not null)
            {
                if (!committed)
                    _blobs.Delete(blobId);
                _inFlightBlobs.TryRemove(blobId, out _);
            }
        }
    }
}
