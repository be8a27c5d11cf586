using System.Security.Cryptography;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;

namespace MailServer.Storage.PostgreSql;

// Mailbox imports (IMailboxImportStore) on PostgreSQL: the same idempotence ledger as LiteDB's (an HMAC of mailbox,
// folder and the message's SHA-256 under a key derived from the organization's owner-lookup key, which never rotates),
// a row of `imports` inserted in the transaction that links the entry, so a re-run, a resume after a crash or two nodes
// importing the same message at once store it once.
public sealed partial class PostgreSqlMailStore : IMailboxImportStore
{
    /// <inheritdoc/>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed before the commit; nothing was stored.</exception>
    public Task<IReadOnlyList<ImportOutcome>> ImportAsync(string mailboxId, string folderName, IReadOnlyList<AppendItem> messages,
        CancellationToken cancellationToken) =>
        // A mailbox key rotation that switches keys between the key lookup and the link makes the link refuse the entries;
        // the import then starts again under the new key (nothing was stored).
        RetryOnKeyChangeAsync(() => ImportOnceAsync(mailboxId, folderName, messages, cancellationToken));

    private async Task<IReadOnlyList<ImportOutcome>> ImportOnceAsync(string mailboxId, string folderName, IReadOnlyList<AppendItem> messages,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
            throw new ArgumentException("An import needs at least one message.", nameof(messages));
        cancellationToken.ThrowIfCancellationRequested();
        var mailbox = ReadMailbox(mailboxId) ?? throw new ArgumentException($"No mailbox {mailboxId}.", nameof(mailboxId));
        var importIds = MailStore.ImportIds(Ledger(mailbox.Org), mailboxId, folderName, messages);
        var known = Guard(() =>
        {
            using var command = Command("SELECT id FROM imports WHERE id = ANY($1)", (object)importIds.Distinct().ToArray());
            using var reader = command.ExecuteReader();
            var ids = new HashSet<string>(StringComparer.Ordinal);
            while (reader.Read())
                ids.Add(reader.GetString(0));
            return ids;
        });
        var outcomes = Enumerable.Repeat(new ImportOutcome(null), messages.Count).ToArray();
        var (mailboxKey, generation) = CurrentMailboxKey(mailboxId, mailbox);
        var candidates = new List<(int Index, string ImportId, SealedBody Body, Link Link)>();
        try
        {
            var folderId = FolderIdByName(mailboxId, folderName, mailboxKey, generation)
                ?? throw new ArgumentException($"Mailbox {mailboxId} has no folder named as requested.", nameof(folderName));
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < messages.Count; i++)
            {
                // Imported before, or twice in this batch: nothing is sealed (a resumed import re-reads its last messages).
                if (known.Contains(importIds[i]) || !seen.Add(importIds[i]))
                    continue;
                var item = messages[i];
                var blobId = BlobStore.NewBlobId(Now);
                var messageKey = Aead.NewKey();
                try
                {
                    candidates.Add((i, importIds[i], BlobStore.Seal(blobId, mailbox.Org, messageKey, item.Message.Span),
                        new Link(mailboxId, folderId, blobId, KeyHierarchy.WrapMessageKey(mailboxKey, mailboxId, blobId, messageKey), generation,
                            MailStore.SealSummary(messageKey, blobId, MailStore.HeaderSection(item.Message.Span)), item.Message.Length, item.InternalDate,
                            item.Flags, item.Keywords.Distinct(StringComparer.OrdinalIgnoreCase).ToArray())));
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(messageKey);
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(mailboxKey);
        }
        if (candidates.Count == 0)
            return outcomes;
        var now = Now;
        var stored = await WriteAsync<List<(int Index, StoredMessage Copy)>>(async (tx, changes) =>
        {
            // Checked again in the transaction: an import of the same message committed meanwhile (another node, a
            // concurrent job) wins, and this one stores nothing for it.
            var kept = new List<(int Index, SealedBody Body, Link Link)>(candidates.Count);
            foreach (var (index, importId, body, link) in candidates)
            {
                await using var claim = Command(tx, "INSERT INTO imports (id, mailbox_id) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", importId, mailboxId);
                if (await claim.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1)
                    kept.Add((index, body, link));
            }
            if (kept.Count == 0)
                return new List<(int Index, StoredMessage Copy)>();
            foreach (var (_, body, _) in kept)
                await _bodies.PutAsync(body, tx, cancellationToken).ConfigureAwait(false);
            var copies = await LinkAsync(tx, changes, kept.Select(k => k.Link).ToList(), now, cancellationToken).ConfigureAwait(false);
            return kept.Select((k, n) => (k.Index, Copy: copies[n])).ToList();
        }, cancellationToken).ConfigureAwait(false);
        foreach (var (index, copy) in stored)
            outcomes[index] = new ImportOutcome(copy);
        return outcomes;
    }
}
