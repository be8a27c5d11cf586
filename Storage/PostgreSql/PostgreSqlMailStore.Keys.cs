using System.Security.Cryptography;
using MailServer.Storage.Crypto;
using Npgsql;

namespace MailServer.Storage.PostgreSql;

// Master key rotation by re-wrap, crypto-shredding and the key listings on PostgreSQL (WorkMail Administrator Guide,
// "Mailbox encryption at rest"), with several nodes writing at once. The ledger (secrets, rotation state) is in the key
// database every node shares (PostgreSqlKeyLedgerStorage); the wraps are in the mail database. What keeps a wrap under
// a retired master key version out of the mail database, whichever node computed it: every write that stores a master
// key version (a new mailbox, a held or in-transit message) takes the organization's retirement lock in the mail
// database in shared mode inside its transaction, reads the ledger again if another node rewrote it, and refuses a
// version that is no longer usable; the end of a rotation takes the same lock exclusively, counts what is still
// wrapped under an old version, and retires the old versions in the ledger before its transaction releases the lock.
// So a write either committed before the last count (counted: one more pass re-wraps it) or waits for the retirement
// and is refused (MasterKeyVersionRetiredException, temporary: a retry wraps under the current version).
public sealed partial class PostgreSqlMailStore : IKeyAdministrationStore
{
    private readonly SemaphoreSlim _rotationGate = new(1, 1);

    /// <summary>How many rows one rotation batch re-wraps in one commit.</summary>
    internal int RotationBatchSize { get; set; } = 200;

    /// <summary>
    /// Inside a write's transaction, before it stores a wrap under master key version <paramref name="version"/>: takes
    /// the organization's retirement lock in shared mode (held to the commit) and refuses a version a rotation on any
    /// node has retired. Costs one read of the ledger's generation in the key database per write that stores a master key
    /// version (mailbox creation, held and in-transit messages; not deliveries or IMAP writes).
    /// </summary>
    /// <exception cref="MasterKeyVersionRetiredException">The version is retired; the caller's operation may be retried.</exception>
    private async Task RequireUsableVersionAsync(NpgsqlTransaction tx, string organizationId, int version, CancellationToken cancellationToken)
    {
        await using (var command = Command(tx, "SELECT pg_advisory_xact_lock_shared($1)", RetirementLock(organizationId)))
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        var ledger = Ledger(organizationId);
        // This node may not have heard of a rotation that ended on another one: one look at the ledger's generation
        // (a read of one row in the key database) tells, and a changed ledger is read again.
        ledger.Refresh();
        if (!ledger.IsUsable(version))
            throw new MasterKeyVersionRetiredException(organizationId, version);
    }

    /// <summary>
    /// Runs a write that stores a master key version; when it is refused because a rotation (on any node) retired the
    /// version its wrap was computed under, computes it again: the refusal read the ledger again, so the next attempt
    /// wraps under the current version (the LiteDB engine re-wraps on its writer instead). Three attempts at most.
    /// </summary>
    /// <exception cref="MasterKeyVersionRetiredException">Refused three times (rotations one after another); temporary.</exception>
    private static async Task<T> WithUsableVersionAsync<T>(Func<Task<T>> write)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await write().ConfigureAwait(false);
            }
            catch (MasterKeyVersionRetiredException) when (attempt < 3)
            {
                // Nothing was written (the transaction rolled back); the ledger copy is fresh now.
            }
        }
    }

    /// <summary>The mail database's advisory lock key of an organization's master key retirement.</summary>
    private static long RetirementLock(string organizationId) => PostgreSqlKeyLedgerStorage.LockKey("retirement/" + organizationId);

    /// <inheritdoc/>
    /// <exception cref="StoreUnavailableException">The key database failed.</exception>
    public int BeginRotation(string organizationId)
    {
        var ledger = Ledger(organizationId);
        ledger.Refresh(); // a rotation another node began is joined, not begun twice
        return ledger.BeginRotation();
    }

    /// <summary>
    /// Starts (or resumes) the rotation of <paramref name="organizationId"/>'s master key, as the LiteDB engine does
    /// (<see cref="MailStore.RotateAsync"/>): a new version becomes current at once for every node (the shared ledger is
    /// re-sealed under it), then every mailbox key and every held and in-transit message key still wrapped under an
    /// older version is re-wrapped, <see cref="RotationBatchSize"/> rows per commit while mail flows; when nothing
    /// refers to the old versions any more they are retired and destroyed. Safe to interrupt, and to run on two nodes at
    /// once (each re-wrap is a compare-and-swap on the old wrap; the retirement is under the exclusive lock).
    /// </summary>
    /// <exception cref="NotSupportedException">The provider cannot create the next version and the operator has not provisioned it.</exception>
    /// <exception cref="StoreUnavailableException">PostgreSQL (the mail or the key database) failed; the next call resumes.</exception>
    public async Task<RotationResult> RotateAsync(string organizationId, bool start, IProgress<RotationProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(organizationId);
        await _rotationGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var ledger = Ledger(organizationId);
            ledger.Refresh();
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            if (start || ledger.RetiringVersions.Count > 0)
                ledger.BeginRotation();
            var version = ledger.CurrentVersion;
            var total = await CountOutdatedAsync(null, ledger, organizationId, version, cancellationToken).ConfigureAwait(false);
            long done = 0;
            PostgreSqlLog.RotationStarted(_options.Logger, organizationId, version, total);
            IReadOnlyList<int>? left = null;
            while (left is null)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var batch = await RewrapBatchAsync(organizationId, ledger, version, cancellationToken).ConfigureAwait(false);
                if (batch > 0)
                {
                    done += batch;
                    progress?.Report(new RotationProgress(organizationId, version, done, Math.Max(total, done)));
                    continue;
                }
                left = await WriteAsync(async (tx, _) =>
                {
                    await using (var command = Command(tx, "SELECT pg_advisory_xact_lock($1)", RetirementLock(organizationId)))
                        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    // The last count, under the exclusive lock: no write under an old version is in flight on any node.
                    return await CountOutdatedAsync(tx, ledger, organizationId, version, cancellationToken).ConfigureAwait(false) == 0
                        ? ledger.FinishRotation(version)
                        : null;
                }, cancellationToken).ConfigureAwait(false);
            }
            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            PostgreSqlLog.RotationFinished(_options.Logger, organizationId, version, done, (long)elapsed.TotalMilliseconds);
            return new RotationResult(organizationId, version, done, elapsed, left);
        }
        finally
        {
            _rotationGate.Release();
        }
    }

    /// <summary>Rows of the organization wrapped under another master key version than <paramref name="version"/>; a
    /// shredded mailbox whose row a crash left behind holds nothing to re-wrap and is not counted.</summary>
    private async Task<long> CountOutdatedAsync(NpgsqlTransaction? tx, KeyLedger ledger, string organizationId, int version, CancellationToken cancellationToken)
    {
        const string Sql =
            "SELECT 'm', id FROM mailboxes WHERE org = $1 AND (key_version <> $2 OR previous_key_version <> $2) " +
            "UNION ALL SELECT 'h', id FROM held WHERE org = $1 AND key_version <> $2 " +
            "UNION ALL SELECT 'f', id FROM message_flow WHERE org = $1 AND key_version <> $2";
        var connection = tx is null ? await _data.OpenConnectionAsync(cancellationToken).ConfigureAwait(false) : null;
        try
        {
            await using var command = tx is null ? new NpgsqlCommand(Sql, connection) : Command(tx, Sql);
            command.Parameters.Add(new NpgsqlParameter { Value = organizationId });
            command.Parameters.Add(new NpgsqlParameter { Value = version });
            long count = 0;
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                if (reader.GetString(0) != "m" || !ledger.IsShredded(reader.GetString(1)))
                    count++;
            return count;
        }
        catch (NpgsqlException e)
        {
            throw new StoreUnavailableException("The PostgreSQL store failed a read: " + e.Message, e);
        }
        finally
        {
            if (connection is not null)
                await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// One batch: unwraps outside the transaction, then swaps each wrap only where the row still holds the wrap it was
    /// computed from (a concurrent change, or another node's rotation pass, leaves it to the next scan). Returns the
    /// rows looked at (at least one when there were any, so that a batch that lost every race is followed by another).
    /// </summary>
    private async Task<int> RewrapBatchAsync(string organizationId, KeyLedger ledger, int version, CancellationToken cancellationToken)
    {
        var newMaster = _options.MasterKeys.GetMasterKey(organizationId, version);
        var changes = new List<(string Table, string Column, string Id, byte[] Old, byte[] New)>();
        var mailboxes = ReadMailboxRows($"SELECT {MailboxRowColumns} FROM mailboxes WHERE org = $1 AND (key_version <> $2 OR previous_key_version <> $2) ORDER BY id",
            organizationId, version).Where(m => !ledger.IsShredded(m.Id)).Take(RotationBatchSize).ToList();
        foreach (var mailbox in mailboxes)
        {
            // The current wrap, and while a mailbox key rotation runs the wrap of the key it replaces (keys rotate --mailbox).
            var wraps = new List<(string Column, int Generation, byte[] Wrapped)>();
            if (mailbox.KeyVersion != version)
                wraps.Add(("wrapped_key", mailbox.KeyGeneration, mailbox.WrappedKey));
            if (mailbox is { PreviousKeyGeneration: { } previous, PreviousWrappedKey: { } previousWrap, PreviousKeyVersion: { } previousVersion } && previousVersion != version)
                wraps.Add(("previous_wrapped_key", previous, previousWrap));
            foreach (var (column, generation, wrapped) in wraps)
            {
                byte[] key;
                try
                {
                    key = UnwrapMailboxKey(mailbox, generation);
                }
                catch (CryptographicException e) when (e is MailboxShreddedException or StaleKeyGenerationException)
                {
                    continue; // deleted, or its mailbox key rotation ended, under our feet: nothing to re-wrap
                }
                try
                {
                    var secret = MailboxSecret(organizationId, KeyLedger.SecretId(mailbox.Id, generation))!;
                    changes.Add(("mailboxes", column, mailbox.Id, wrapped, KeyHierarchy.WrapMailboxKey(newMaster, secret, version, organizationId, mailbox.Id, key)));
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(key);
                }
            }
        }
        foreach (var (table, context) in new (string, Func<string, string, byte[]>)[]
                 {
                     ("held", (id, blob) => MailStore.HeldKeyContext(organizationId, id, blob)),
                     ("message_flow", (id, blob) => MailStore.FlowKeyContext(organizationId, id, blob)),
                 })
        {
            var room = RotationBatchSize - changes.Count;
            if (room <= 0)
                break;
            var rows = Guard(() =>
            {
                using var command = Command($"SELECT id, blob_id, wrapped_key, key_version FROM {table} WHERE org = $1 AND key_version <> $2 ORDER BY id LIMIT $3",
                    organizationId, version, room);
                using var reader = command.ExecuteReader();
                var found = new List<(string Id, string BlobId, byte[] Wrapped, int Version)>();
                while (reader.Read())
                    found.Add((reader.GetString(0), reader.GetString(1), reader.GetFieldValue<byte[]>(2), reader.GetInt32(3)));
                return found;
            });
            foreach (var row in rows)
            {
                var aad = context(row.Id, row.BlobId);
                var key = Aead.Open(_options.MasterKeys.GetMasterKey(organizationId, row.Version), row.Wrapped, aad);
                changes.Add((table, "wrapped_key", row.Id, row.Wrapped, Aead.Seal(newMaster, key, aad)));
                CryptographicOperations.ZeroMemory(key);
            }
        }
        if (changes.Count == 0)
            return mailboxes.Count;
        await WriteAsync(async (tx, _) =>
        {
            await using var batch = new NpgsqlBatch(tx.Connection, tx);
            foreach (var change in changes)
            {
                var versionColumn = change.Column == "wrapped_key" ? "key_version" : "previous_key_version";
                var command = new NpgsqlBatchCommand($"UPDATE {change.Table} SET {change.Column} = $3, {versionColumn} = $4 WHERE id = $1 AND {change.Column} = $2");
                foreach (var value in new object[] { change.Id, change.Old, change.New, version })
                    command.Parameters.Add(new NpgsqlParameter { Value = value });
                batch.BatchCommands.Add(command);
            }
            return await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        return changes.Count;
    }

    /// <summary>What refers to which master key version in an organization (for <c>mailserver keys status</c>).</summary>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed.</exception>
    public KeyStatus KeyStatusOf(string organizationId)
    {
        var ledger = Ledger(organizationId);
        ledger.Refresh();
        SortedDictionary<int, long> Count(string sql) => Guard(() =>
        {
            using var command = Command(sql, organizationId);
            using var reader = command.ExecuteReader();
            var result = new SortedDictionary<int, long>();
            while (reader.Read())
                result[reader.GetInt32(0)] = reader.GetInt64(1);
            return result;
        });
        var mailboxes = Count("SELECT key_version, count(*) FROM mailboxes WHERE org = $1 GROUP BY key_version");
        var transit = Count("SELECT key_version, count(*) FROM (SELECT key_version FROM held WHERE org = $1 UNION ALL SELECT key_version FROM message_flow WHERE org = $1) t GROUP BY key_version");
        var available = Enumerable.Range(1, ledger.CurrentVersion).Where(v => _options.MasterKeys.HasVersion(organizationId, v))
            .Select(v => new KeyVersionInfo(v, _options.MasterKeys.Describe(organizationId, v))).ToList();
        // Every mailbox of this engine has a ledger secret: none is in the scheme from before ledgers.
        return new KeyStatus(organizationId, ledger.CurrentVersion, ledger.RetiringVersions, available, mailboxes, transit, 0, ledger.Shredded.Count,
            ledger.Retired.Count);
    }

    /// <summary>A mailbox by id, owner decrypted, or null.</summary>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed.</exception>
    public MailboxInfo? GetMailbox(string mailboxId) =>
        ReadMailboxes("SELECT id, org, owner_sealed, used_bytes, message_count FROM mailboxes WHERE id = $1", mailboxId).FirstOrDefault();

    /// <summary>The mailboxes of an organization, owners decrypted (for listing mailboxes whose user left the configuration).</summary>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed.</exception>
    public IReadOnlyList<MailboxInfo> ListMailboxes(string organizationId) =>
        ReadMailboxes("SELECT id, org, owner_sealed, used_bytes, message_count FROM mailboxes WHERE org = $1 ORDER BY id", organizationId);

    private List<MailboxInfo> ReadMailboxes(string sql, string argument)
    {
        var rows = Guard(() =>
        {
            using var command = Command(sql, argument);
            using var reader = command.ExecuteReader();
            var found = new List<(string Id, string Org, byte[] Owner, long Used, long Count)>();
            while (reader.Read())
                found.Add((reader.GetString(0), reader.GetString(1), reader.GetFieldValue<byte[]>(2), reader.GetInt64(3), reader.GetInt64(4)));
            return found;
        });
        return rows.Select(r => new MailboxInfo(r.Id, r.Org,
            System.Text.Encoding.UTF8.GetString(Aead.Open(Ledger(r.Org).OwnerSealKey, r.Owner, KeyHierarchy.MailboxKeyContext(r.Org, r.Id))),
            r.Used, r.Count)).ToList();
    }

    /// <summary>
    /// Deletes a mailbox for good (crypto-shredding), as the LiteDB engine does (<see cref="MailStore.DeleteMailboxAsync"/>):
    /// first its secret is deleted from the shared key ledger, so no node and no copy of the mail database (dumps and
    /// backups included) can unwrap its key again (other nodes drop a plain key they cached within the key cache's
    /// time to live); then its folders, entries and expunge records go, and every body no other entry refers to.
    /// </summary>
    /// <returns>Null when the owner has no mailbox.</returns>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed; when the secret is already gone, the next call deletes the rows.</exception>
    public async Task<DeleteMailboxResult?> DeleteMailboxAsync(string organizationId, string owner, CancellationToken cancellationToken)
    {
        if (FindMailbox(organizationId, owner) is not { } info)
            return null;
        var mailboxId = info.MailboxId;
        var row = ReadMailbox(mailboxId);
        Ledger(organizationId).Shred(mailboxId, Now); // every key generation's secret
        foreach (var generation in new[] { 0, row?.KeyGeneration ?? 0, row?.PreviousKeyGeneration ?? 0 }.Distinct())
            _keyCache.Evict(KeyLedger.SecretId(mailboxId, generation));
        var (messages, blobs) = await WriteAsync(async (tx, changes) =>
        {
            var mailbox = await LockMailboxAsync(tx, mailboxId, cancellationToken).ConfigureAwait(false);
            var folders = new List<string>();
            await using (var select = Command(tx, "SELECT id FROM folders WHERE mailbox_id = $1", mailboxId))
            await using (var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    folders.Add(reader.GetString(0));
            var bodies = new List<string>();
            var entries = 0;
            await using (var select = Command(tx, "SELECT blob_id FROM entries WHERE mailbox_id = $1", mailboxId))
            await using (var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    entries++;
                    bodies.Add(reader.GetString(0));
                }
            await using (var delete = Command(tx, "DELETE FROM entries WHERE mailbox_id = $1", mailboxId))
                await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await using (var delete = Command(tx, "DELETE FROM tombstones WHERE folder_id = ANY($1)", (object)folders.ToArray()))
                await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await using (var delete = Command(tx, "DELETE FROM mailboxes WHERE id = $1", mailboxId)) // its folders go with it (ON DELETE CASCADE)
                await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            var deleted = await _bodies.DeleteUnreferencedAsync(bodies.Distinct(StringComparer.Ordinal).ToList(), tx, cancellationToken).ConfigureAwait(false);
            foreach (var folder in folders)
                changes.Add(new MailboxChange.FoldersChanged(mailboxId, folder, (ulong)mailbox.ModSeq + 1));
            return (entries, deleted);
        }, cancellationToken).ConfigureAwait(false);
        PostgreSqlLog.MailboxShredded(_options.Logger, organizationId, mailboxId, messages);
        return new DeleteMailboxResult(mailboxId, messages, blobs, false);
    }
}
