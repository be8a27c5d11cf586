using System.Security.Cryptography;
using LiteDB;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;
using E = MailServer.Storage.Schema.EntryFields;
using I = MailServer.Storage.Schema.ImportFields;
using M = MailServer.Storage.Schema.MailboxFields;

namespace MailServer.Storage;

/// <summary>What <see cref="MailStore.ImportAsync(string, string, AppendItem, CancellationToken)"/> did with one message.</summary>
/// <param name="Stored">The new copy, or null when this message was imported into that folder before.</param>
public sealed record ImportOutcome(StoredMessage? Stored)
{
    /// <summary>True when an earlier import had stored the same message in the same folder (nothing was written).</summary>
    public bool Duplicate => Stored is null;
}

public sealed partial class MailStore : IMailboxImportStore
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
    public async Task<ImportOutcome> ImportAsync(string mailboxId, string folderName, AppendItem message, CancellationToken cancellationToken) =>
        (await ImportAsync(mailboxId, folderName, [message], cancellationToken).ConfigureAwait(false))[0];

    /// <summary>
    /// Several messages of an import into one folder in one transaction (one fsync for all), UIDs ascending in the
    /// given order; each is stored or found already imported as <see cref="ImportAsync(string, string, AppendItem, CancellationToken)"/> says.
    /// </summary>
    /// <returns>One outcome per message, in order.</returns>
    /// <exception cref="ArgumentException">No messages, or the mailbox or folder does not exist.</exception>
    /// <exception cref="WriteOutcomeUnknownException">The commit or fsync failed; nothing was acknowledged.</exception>
    /// <exception cref="IOException">A blob could not be written.</exception>
    public Task<IReadOnlyList<ImportOutcome>> ImportAsync(string mailboxId, string folderName, IReadOnlyList<AppendItem> messages,
        CancellationToken cancellationToken) =>
        RetryOnKeyChangeAsync(() => ImportOnceAsync(mailboxId, folderName, messages, cancellationToken));

    private async Task<IReadOnlyList<ImportOutcome>> ImportOnceAsync(string mailboxId, string folderName, IReadOnlyList<AppendItem> messages,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
            throw new ArgumentException("An import needs at least one message.", nameof(messages));
        cancellationToken.ThrowIfCancellationRequested();
        var mailbox = Collection(Schema.Mailboxes).FindById(mailboxId) ?? throw new ArgumentException($"No mailbox {mailboxId}.", nameof(mailboxId));
        var organizationId = mailbox[M.Organization].AsString;
        var (mailboxKey, generation) = CurrentMailboxKey(mailbox);
        var generations = new Dictionary<string, int>(StringComparer.Ordinal) { [mailboxId] = generation };
        var written = new List<(int Index, string ImportId, string BlobId, byte[] Wrapped, byte[] Summary)>();
        var committed = false;
        try
        {
            var folder = FindFolderDocument(mailboxId, folderName, mailboxKey)
                ?? throw new ArgumentException($"Mailbox {mailboxId} has no folder named as requested.", nameof(folderName));
            var folderId = folder["_id"].AsString;
            var importIds = ImportIds(Ledger(organizationId), mailboxId, folderName, messages);
            var ledger = Collection(Schema.Imports);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < messages.Count; i++)
            {
                // Already imported (or twice in this batch): no blob is written (a resumed import re-reads its last messages).
                if (!seen.Add(importIds[i]) || ledger.FindById(importIds[i]) is not null)
                    continue;
                var blobId = BlobStore.NewBlobId(Now);
                var messageKey = Aead.NewKey();
                try
                {
                    var wrapped = KeyHierarchy.WrapMessageKey(mailboxKey, mailboxId, blobId, messageKey);
                    var summary = SealSummary(messageKey, blobId, HeaderSection(messages[i].Message.Span));
                    _inFlightBlobs.TryAdd(blobId, 0);
                    written.Add((i, importIds[i], blobId, wrapped, summary));
                    _blobs.Write(blobId, organizationId, messageKey, messages[i].Message.Span);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(messageKey);
                }
            }
            var outcomes = Enumerable.Repeat(new ImportOutcome(null), messages.Count).ToArray();
            if (written.Count == 0)
                return outcomes;
            var now = Now;
            var stored = await RunOnWriter(ctx =>
            {
                var copies = new List<(int Index, StoredMessage Copy)>(written.Count);
                foreach (var (index, importId, blobId, wrapped, summary) in written)
                {
                    // Checked again on the writer: two imports of one message racing store it once.
                    if (ctx.Read(Schema.Imports).FindById(importId) is not null)
                        continue;
                    var item = messages[index];
                    var copy = LinkEntries(ctx, [(new DeliveryTarget(mailboxId, folderName, item.Flags), folderId)], blobId,
                        new Dictionary<string, byte[]>(StringComparer.Ordinal) { [mailboxId] = wrapped }, generations, summary, item.Message.Length,
                        item.InternalDate, now)[0];
                    if (item.Keywords.Count > 0)
                    {
                        var entry = ctx.Read(Schema.Entries).FindById(copy.EntryId);
                        entry[E.Keywords] = new BsonArray(item.Keywords.Distinct(StringComparer.OrdinalIgnoreCase).Select(k => new BsonValue(k)));
                        ctx.Update(Schema.Entries, entry);
                    }
                    ctx.Insert(Schema.Imports, new BsonDocument
                    {
                        ["_id"] = importId,
                        [I.MailboxId] = mailboxId,
                        [I.EntryId] = copy.EntryId,
                        [I.ImportedTicks] = now.UtcTicks,
                    });
                    copies.Add((index, copy));
                }
                return copies;
            }, written.SelectMany(w => _blobs.SyncPaths(w.BlobId)).Distinct(StringComparer.Ordinal).ToList(), cancellationToken).ConfigureAwait(false);
            committed = true;
            foreach (var (index, copy) in stored)
                outcomes[index] = new ImportOutcome(copy);
            // A blob whose message the writer found imported meanwhile is nobody's.
            foreach (var (index, _, blobId, _, _) in written)
                if (outcomes[index].Stored is null)
                    _blobs.Delete(blobId);
            return outcomes;
        }
        catch (WriteOutcomeUnknownException)
        {
            committed = true; // the entries may be on disk: leave the blobs for reindex to judge
            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(mailboxKey);
            foreach (var (_, _, blobId, _, _) in written)
            {
                if (!committed)
                    _blobs.Delete(blobId); // rolled back or never queued: nobody refers to it
                _inFlightBlobs.TryRemove(blobId, out _);
            }
        }
    }

    /// <summary>
    /// The import ledger's ids of <paramref name="messages"/> (the same on every engine): a keyed HMAC of mailbox, folder
    /// and the message's SHA-256. The key must outlive mailbox key rotations (keys rotate --mailbox), or a re-run after
    /// one would import everything again: it is derived from the organization's owner-lookup key, which never rotates,
    /// and the mailbox id is part of what is hashed.
    /// </summary>
    internal static List<string> ImportIds(KeyLedger ledger, string mailboxId, string folderName, IReadOnlyList<AppendItem> messages)
    {
        var ledgerKey = KeyHierarchy.ImportHmacKey(ledger.OwnerHmacKey);
        try
        {
            var normalised = NormaliseFolderName(folderName);
            return messages.Select(m => mailboxId + "|" + KeyHierarchy.Hmac(ledgerKey,
                mailboxId + "\n" + normalised + "\n" + Convert.ToHexStringLower(SHA256.HashData(m.Message.Span)))).ToList();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ledgerKey);
        }
    }
}
