using System.Security.Cryptography;
using MailServer.Storage.Crypto;
using Npgsql;

namespace MailServer.Storage.PostgreSql;

// keys rotate --mailbox on PostgreSQL, the LiteDB engine's steps (MailStore.MailboxKeyRotation.cs; the WorkMail
// Administrator Guide, "Mailbox encryption at rest") with several nodes writing at once:
//  1. switch: a new key (generation g+1) under a new secret in the shared key ledger; in one transaction, with the mailbox
//     row locked, the row takes the new wrap and keeps the old one in previous_*, and the folder names and their lookups,
//     the subscription list and the annotations (IMAP METADATA) are re-sealed under the new key;
//  2. re-wrap: every entry whose key_generation is not g+1 is re-wrapped, RotationBatchSize per transaction, each a
//     compare-and-swap on the old wrap (bodies and summaries are sealed under message keys and are not touched);
//  3. finish: with the mailbox row locked, no entry left under another generation: previous_* are cleared; then the old
//     secret is destroyed in the key ledger, so no copy of the mail database opens the old key any more.
// What keeps a write under the old key out after the switch, whichever node computed it: every write that wraps or
// seals under the mailbox key reads the key's generation with it and checks it with the mailbox row locked, in its own
// transaction (RequireKeyGeneration); the switch changes the generation under that same row lock. So a write either
// committed before the switch (its entry is re-wrapped in step 2) or sees the new generation and starts again with the
// new key. COPY and MOVE carry an entry's wrap and generation as they are; they also lock the row, so step 3's count
// under the lock sees them. Keys are cached per generation: another node's cached key of generation g is only ever used
// for entries marked g, never to write after the switch.
public sealed partial class PostgreSqlMailStore
{
    /// <summary>The mail database's advisory lock key of an organization's replaced mailbox secrets: a switch holds it
    /// shared from the check that its new secret exists to its commit, the clean-up of orphan secrets exclusively.</summary>
    private static long SecretsLock(string organizationId) => PostgreSqlKeyLedgerStorage.LockKey("mailbox-secrets/" + organizationId);

    /// <summary>
    /// Gives the mailbox <paramref name="mailboxId"/> a new key, or resumes the rotation a crash, a cancellation or
    /// another node left unfinished: every message key of the mailbox is re-wrapped under the new key, the folder names,
    /// the subscription list and the annotations are re-sealed, bodies are not touched; then the old key's secret is
    /// destroyed in the shared key ledger. Runs in short transactions while every node reads and writes the mailbox;
    /// safe to interrupt at any point, and to run on two nodes at once.
    /// </summary>
    /// <param name="mailboxId">The mailbox.</param>
    /// <param name="progress">Told after each batch.</param>
    /// <param name="cancellationToken">Stops between batches; the next call (or a resume) finishes the rotation.</param>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    /// <exception cref="IOException">The key ledger could not be written.</exception>
    /// <exception cref="StoreUnavailableException">PostgreSQL (the mail or the key database) failed; the next call resumes.</exception>
    public async Task<MailboxKeyRotationResult> RotateMailboxKeyAsync(string mailboxId, IProgress<MailboxKeyRotationProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(mailboxId);
        await _rotationGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var mailbox = ReadMailbox(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
            var resumed = mailbox.PreviousKeyGeneration is not null;
            if (!resumed)
            {
                try
                {
                    await SwitchMailboxKeyAsync(mailbox, cancellationToken).ConfigureAwait(false);
                }
                catch (MailboxKeyChangedException)
                {
                    resumed = true; // another node switched first: this call finishes that rotation
                }
            }
            return await ContinueMailboxKeyRotationAsync(mailboxId, resumed, progress, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _rotationGate.Release();
        }
    }

    /// <summary>
    /// Finishes every mailbox key rotation of <paramref name="organizationId"/> that a crash or a stop (on any node) left
    /// unfinished, and destroys the secrets of replaced keys that a crash left in the key ledger. Returns the rotations finished.
    /// </summary>
    /// <exception cref="IOException">The key ledger could not be written.</exception>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed; the next call resumes.</exception>
    public async Task<IReadOnlyList<MailboxKeyRotationResult>> ResumeMailboxKeyRotationsAsync(string organizationId, IProgress<MailboxKeyRotationProgress>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(organizationId);
        await _rotationGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var results = new List<MailboxKeyRotationResult>();
            foreach (var mailboxId in MailboxKeyRotationsPending(organizationId))
                results.Add(await ContinueMailboxKeyRotationAsync(mailboxId, resumed: true, progress, cancellationToken).ConfigureAwait(false));
            await DestroyReplacedSecretsAsync(organizationId, cancellationToken).ConfigureAwait(false);
            return results;
        }
        finally
        {
            _rotationGate.Release();
        }
    }

    /// <summary>The mailboxes of an organization whose key rotation has not finished (on any node).</summary>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed.</exception>
    public IReadOnlyList<string> MailboxKeyRotationsPending(string organizationId) => Guard(() =>
    {
        using var command = Command("SELECT id FROM mailboxes WHERE org = $1 AND previous_key_generation IS NOT NULL ORDER BY id", organizationId);
        using var reader = command.ExecuteReader();
        var ids = new List<string>();
        while (reader.Read())
            ids.Add(reader.GetString(0));
        return (IReadOnlyList<string>)ids;
    });

    /// <summary>Step 1: the new key becomes current for every node; names, subscriptions and annotations are re-sealed in the same transaction.</summary>
    /// <exception cref="MailboxKeyChangedException">Another node switched the mailbox's key first.</exception>
    private async Task SwitchMailboxKeyAsync(MailboxRow mailbox, CancellationToken cancellationToken)
    {
        var ledger = Ledger(mailbox.Org);
        var oldGeneration = mailbox.KeyGeneration;
        var generation = oldGeneration + 1;
        var secretId = KeyLedger.SecretId(mailbox.Id, generation);
        var oldKey = MailboxKeyOf(mailbox, oldGeneration);
        var newKey = Aead.NewKey();
        var newNameKey = KeyHierarchy.FolderNameHmacKey(newKey);
        try
        {
            // Durable in the ledger before any row refers to it; a crash before the commit leaves an orphan secret that the
            // next resume destroys.
            var secret = ledger.AddMailboxes([secretId])[secretId];
            try
            {
                await WithUsableVersionAsync(() => WriteAsync(async (tx, changes) =>
                {
                    await using (var shared = Command(tx, "SELECT pg_advisory_xact_lock_shared($1)", SecretsLock(mailbox.Org)))
                        await shared.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    // A resume on another node may have taken the secret for an orphan before this lock: then it is gone.
                    if (MailboxSecret(mailbox.Org, secretId) is not { } kept || !kept.AsSpan().SequenceEqual(secret))
                        throw new MailboxKeyChangedException(mailbox.Id);
                    var locked = await LockMailboxAsync(tx, mailbox.Id, cancellationToken).ConfigureAwait(false);
                    RequireKeyGeneration(locked, oldGeneration);
                    byte[]? metadata;
                    await using (var read = Command(tx, "SELECT metadata_sealed, previous_key_generation FROM mailboxes WHERE id = $1", mailbox.Id))
                    await using (var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                    {
                        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                        if (!reader.IsDBNull(1))
                            throw new MailboxKeyChangedException(mailbox.Id); // a rotation is still running
                        metadata = reader.IsDBNull(0) ? null : reader.GetFieldValue<byte[]>(0);
                    }
                    var version = ledger.CurrentVersion;
                    await RequireUsableVersionAsync(tx, mailbox.Org, version, cancellationToken).ConfigureAwait(false);
                    var wrapped = KeyHierarchy.WrapMailboxKey(_options.MasterKeys.GetMasterKey(mailbox.Org, version), secret, version, mailbox.Org, mailbox.Id, newKey);
                    var folders = new List<(string Id, byte[] Sealed)>();
                    await using (var select = Command(tx, "SELECT id, name_sealed FROM folders WHERE mailbox_id = $1 ORDER BY id FOR UPDATE", mailbox.Id))
                    await using (var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                            folders.Add((reader.GetString(0), reader.GetFieldValue<byte[]>(1)));
                    await using (var batch = new NpgsqlBatch(tx.Connection, tx))
                    {
                        // Two passes, as a rename does: the lookup is unique.
                        batch.BatchCommands.Add(BatchCommand("UPDATE folders SET name_lookup = 'rekeying|' || id WHERE mailbox_id = $1", mailbox.Id));
                        var modSeq = ++locked.ModSeq;
                        foreach (var (folderId, nameSealed) in folders)
                        {
                            var name = MailStore.OpenFolderName(oldKey, folderId, nameSealed);
                            batch.BatchCommands.Add(BatchCommand("UPDATE folders SET name_lookup = $2, name_sealed = $3 WHERE id = $1",
                                folderId, MailStore.FolderLookup(newNameKey, mailbox.Id, name), MailStore.SealFolderName(newKey, folderId, name)));
                            changes.Add(new MailboxChange.FoldersChanged(mailbox.Id, folderId, (ulong)modSeq));
                        }
                        var subscriptions = locked.SubscriptionsSealed is null ? null
                            : SealSubscriptionNames(newKey, mailbox.Id, OpenSubscriptionNames(oldKey, mailbox.Id, locked.SubscriptionsSealed));
                        var annotations = metadata is null ? null : MailStore.SealMetadata(newKey, mailbox.Id, MailStore.OpenMetadata(oldKey, mailbox.Id, metadata));
                        batch.BatchCommands.Add(BatchCommand(
                            "UPDATE mailboxes SET previous_wrapped_key = wrapped_key, previous_key_version = key_version, previous_key_generation = key_generation, " +
                            "wrapped_key = $2, key_version = $3, key_generation = $4, subscriptions_sealed = $5, metadata_sealed = $6, modseq = $7 WHERE id = $1",
                            mailbox.Id, wrapped, version, generation, subscriptions, annotations, locked.ModSeq));
                        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }
                    return true;
                }, cancellationToken)).ConfigureAwait(false);
            }
            catch (MailboxKeyChangedException)
            {
                try { ledger.Forget(secretId); }
                catch (IOException) { /* an unused secret is destroyed by the next resume */ }
                throw;
            }
            PostgreSqlLog.MailboxKeyRotationStarted(_options.Logger, mailbox.Id, generation);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(oldKey);
            CryptographicOperations.ZeroMemory(newKey);
            CryptographicOperations.ZeroMemory(newNameKey);
        }
    }

    /// <summary>Steps 2 and 3: re-wrap what is left, then retire the previous key.</summary>
    private async Task<MailboxKeyRotationResult> ContinueMailboxKeyRotationAsync(string mailboxId, bool resumed, IProgress<MailboxKeyRotationProgress>? progress,
        CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        long done = 0;
        var mailbox = ReadMailbox(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
        var generation = mailbox.KeyGeneration;
        if (mailbox.PreviousKeyGeneration is not { } previous)
            return new MailboxKeyRotationResult(mailboxId, generation, 0, TimeSpan.Zero, resumed, false);
        while (true)
        {
            var pending = Guard(() =>
            {
                using var command = Command("SELECT id FROM entries WHERE mailbox_id = $1 AND key_generation <> $2 ORDER BY id", mailboxId, generation);
                using var reader = command.ExecuteReader();
                var ids = new List<string>();
                while (reader.Read())
                    ids.Add(reader.GetString(0));
                return ids;
            });
            var total = done + pending.Count;
            progress?.Report(new MailboxKeyRotationProgress(mailboxId, generation, done, total));
            foreach (var chunk in pending.Chunk(RotationBatchSize))
            {
                cancellationToken.ThrowIfCancellationRequested();
                done += await RewrapEntriesAsync(mailbox, generation, chunk, cancellationToken).ConfigureAwait(false);
                progress?.Report(new MailboxKeyRotationProgress(mailboxId, generation, done, Math.Max(total, done)));
            }
            // The last count, with the mailbox row locked: every write that links an entry holds that lock, so none can
            // add one under the previous key after this transaction.
            var finished = await WriteAsync(async (tx, _) =>
            {
                await using (var select = Command(tx, "SELECT key_generation FROM mailboxes WHERE id = $1 FOR UPDATE", mailboxId))
                    if (await select.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not int current || current != generation)
                        return true; // deleted (shredding took every generation), or already finished by another node that rotated again
                await using (var left = Command(tx, "SELECT EXISTS (SELECT 1 FROM entries WHERE mailbox_id = $1 AND key_generation <> $2)", mailboxId, generation))
                    if ((bool)(await left.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
                        return false;
                await using var clear = Command(tx,
                    "UPDATE mailboxes SET previous_wrapped_key = NULL, previous_key_version = NULL, previous_key_generation = NULL WHERE id = $1", mailboxId);
                await clear.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
            if (finished)
                break;
        }
        Ledger(mailbox.Org).DestroySecrets([KeyLedger.SecretId(mailboxId, previous)], Now);
        _keyCache.Evict(KeyLedger.SecretId(mailboxId, previous));
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        PostgreSqlLog.MailboxKeyRotationFinished(_options.Logger, mailboxId, generation, done, (long)elapsed.TotalMilliseconds);
        // Every mailbox of this engine has a ledger secret: no replaced key predates ledgers.
        return new MailboxKeyRotationResult(mailboxId, generation, done, elapsed, resumed, false);
    }

    /// <summary>One batch: unwraps with the key of each entry's generation and wraps under the new one outside the
    /// transaction, then swaps each wrap only where the entry still holds the wrap it was computed from.</summary>
    private async Task<int> RewrapEntriesAsync(MailboxRow mailbox, int generation, IReadOnlyList<string> entryIds, CancellationToken cancellationToken)
    {
        var rows = Guard(() =>
        {
            using var command = Command("SELECT id, blob_id, wrapped_key, key_generation FROM entries WHERE id = ANY($1) AND key_generation <> $2",
                entryIds.ToArray(), generation);
            using var reader = command.ExecuteReader();
            var found = new List<(string Id, string BlobId, byte[] Wrapped, int Generation)>();
            while (reader.Read())
                found.Add((reader.GetString(0), reader.GetString(1), reader.GetFieldValue<byte[]>(2), reader.GetInt32(3)));
            return found;
        });
        if (rows.Count == 0)
            return 0;
        var changes = new List<(string Id, byte[] Old, byte[] New)>(rows.Count);
        var newKey = MailboxKeyOf(mailbox, generation);
        try
        {
            foreach (var row in rows)
            {
                var oldKey = MailboxKeyOf(mailbox, row.Generation);
                byte[] messageKey;
                try
                {
                    messageKey = KeyHierarchy.UnwrapMessageKey(oldKey, mailbox.Id, row.BlobId, row.Wrapped);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(oldKey);
                }
                changes.Add((row.Id, row.Wrapped, KeyHierarchy.WrapMessageKey(newKey, mailbox.Id, row.BlobId, messageKey)));
                CryptographicOperations.ZeroMemory(messageKey);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(newKey);
        }
        return await WriteAsync(async (tx, _) =>
        {
            await using var batch = new NpgsqlBatch(tx.Connection, tx);
            foreach (var (id, old, rewrapped) in changes)
                batch.BatchCommands.Add(BatchCommand("UPDATE entries SET wrapped_key = $3, key_generation = $4 WHERE id = $1 AND wrapped_key = $2",
                    id, old, rewrapped, generation));
            // Expunged or changed meanwhile: the next scan decides.
            return await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Secrets of key generations no mailbox row refers to: the old key of a rotation that ended just before a crash, or
    /// the new key of a switch that never committed. Destroyed under the exclusive secrets lock, so a switch in flight on
    /// another node (which holds it shared until its commit) never loses its new secret.
    /// </summary>
    private async Task DestroyReplacedSecretsAsync(string organizationId, CancellationToken cancellationToken)
    {
        var ledger = Ledger(organizationId);
        await WriteAsync(async (tx, _) =>
        {
            await using (var exclusive = Command(tx, "SELECT pg_advisory_xact_lock($1)", SecretsLock(organizationId)))
                await exclusive.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            ledger.Refresh();
            var rotated = ledger.SecretIds.Where(id => id.Contains("/k", StringComparison.Ordinal))
                .Select(id => id[..id.IndexOf('/', StringComparison.Ordinal)]).Distinct(StringComparer.Ordinal).ToArray();
            if (rotated.Length == 0)
                return true;
            var live = new HashSet<string>(StringComparer.Ordinal);
            var present = new HashSet<string>(StringComparer.Ordinal);
            await using (var select = Command(tx, "SELECT id, key_generation, previous_key_generation FROM mailboxes WHERE id = ANY($1)", (object)rotated))
            await using (var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var id = reader.GetString(0);
                    present.Add(id);
                    live.Add(KeyLedger.SecretId(id, reader.GetInt32(1)));
                    if (!reader.IsDBNull(2))
                        live.Add(KeyLedger.SecretId(id, reader.GetInt32(2)));
                }
            // A mailbox without a row was shredded, which removes every generation itself.
            var orphans = ledger.SecretIds.Where(id => present.Any(m => id == m || id.StartsWith(m + "/k", StringComparison.Ordinal)) && !live.Contains(id)).ToList();
            if (orphans.Count > 0)
                ledger.DestroySecrets(orphans, Now);
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>With the mailbox row locked: the key a write sealed or wrapped under must still be the current one.</summary>
    /// <exception cref="MailboxKeyChangedException">A rotation switched keys since; the caller's operation starts again.</exception>
    private static void RequireKeyGeneration(LockedMailbox mailbox, int generation)
    {
        if (mailbox.KeyGeneration != generation)
            throw new MailboxKeyChangedException(mailbox.Id);
    }

    /// <summary>Runs a write again (three attempts at most) when a mailbox key rotation on any node switched keys between
    /// its key lookup and its commit; nothing was written by the refused attempt (its transaction rolled back).</summary>
    private static async Task<T> RetryOnKeyChangeAsync<T>(Func<Task<T>> operation)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await operation().ConfigureAwait(false);
            }
            catch (MailboxKeyChangedException) when (attempt < 3)
            {
            }
        }
    }

    /// <summary>Runs a read of something sealed under the mailbox's current key once more when a rotation switched keys
    /// between its read of the mailbox row and its read of the sealed data (a second failure is real and is thrown).</summary>
    private static T ReadUnderCurrentKey<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is MailboxKeyChangedException or (CryptographicException and not MailboxShreddedException))
        {
            return read();
        }
    }
}
