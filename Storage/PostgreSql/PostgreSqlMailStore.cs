using System.Security.Cryptography;
using MailServer.Storage.Crypto;
using Npgsql;

namespace MailServer.Storage.PostgreSql;

/// <summary>
/// The mail store on PostgreSQL, for several server processes sharing one database. It keeps the LiteDB engine's
/// promises (docs/storage-contract.md): the same key hierarchy and encryption (owners and folder names sealed and found
/// by keyed HMAC, bodies sealed in 64 KiB segments inside the database), a write's task completes only after its
/// transaction committed with <c>synchronous_commit = on</c>, UIDs and MODSEQs are allocated under row locks (the
/// mailbox row, then the folder rows, always in that order) so concurrent writers on different nodes never hand out
/// one twice, and the change feed reaches every node through LISTEN/NOTIFY. It implements delivery, the IMAP session
/// (REPLACE and METADATA included), the outbound queue and daily counters, held messages and in-transit copies (claimed
/// with leases), retention, and key administration (PostgreSqlMailStore.Keys.cs and .MailboxKeyRotation.cs; the key
/// ledgers in a key database of their own, PostgreSqlKeyLedgerStorage); the search index, backup and reindex are the
/// LiteDB engine's only so far.
/// </summary>
public sealed partial class PostgreSqlMailStore : IDeliveryStore, IImapSessionStore, IAsyncDisposable
{
    private readonly PostgreSqlStoreOptions _options;
    private readonly NpgsqlDataSource _data;
    private readonly NpgsqlDataSource _keyData;
    private readonly PostgreSqlBodyStore _bodies;
    private readonly ChangeFeed _changes;
    private readonly MailboxKeyCache _keyCache;
    private readonly string _origin = Guid.NewGuid().ToString("N");
    private readonly Dictionary<string, KeyLedger> _ledgers = new(StringComparer.Ordinal);
    private readonly Lock _ledgerLock = new();
    private PostgreSqlChangeListener? _listener;
    private int _disposed;

    private PostgreSqlMailStore(PostgreSqlStoreOptions options, NpgsqlDataSource data, NpgsqlDataSource keyData)
    {
        _options = options;
        _data = data;
        _keyData = keyData;
        _bodies = new PostgreSqlBodyStore(data);
        _changes = new ChangeFeed(options.ChangeFeedCapacity);
        _keyCache = new MailboxKeyCache(options.KeyCacheTimeToLive, options.TimeProvider);
    }

    /// <inheritdoc/>
    public IChangeFeed Changes => _changes;

    /// <summary>
    /// Connects, applies the schema migrations this build has and the database lacks, checks that commits are
    /// synchronous, and starts listening for other nodes' changes.
    /// </summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    /// <exception cref="StoreSchemaTooNewException">The database was written by a newer server.</exception>
    /// <exception cref="StoreUnavailableException">PostgreSQL cannot be reached or refused the connection.</exception>
    public static async Task<PostgreSqlMailStore> OpenAsync(PostgreSqlStoreOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var builder = new NpgsqlConnectionStringBuilder(options.ConnectionString);
        // An acknowledged write is on the server's disk: synchronous_commit is forced on for every session, whatever
        // the server's default (a 250 after a commit that only reached memory could be lost by a crash).
        builder.Options = (string.IsNullOrWhiteSpace(builder.Options) ? "" : builder.Options + " ") + "-c synchronous_commit=on";
        var data = NpgsqlDataSource.Create(builder);
        var keyBuilder = new NpgsqlConnectionStringBuilder(options.KeyLedgerConnectionString);
        keyBuilder.Options = (string.IsNullOrWhiteSpace(keyBuilder.Options) ? "" : keyBuilder.Options + " ") + "-c synchronous_commit=on";
        var keyData = NpgsqlDataSource.Create(keyBuilder);
        PostgreSqlMailStore? store = null;
        try
        {
            await PostgreSqlKeyLedgerStorage.PrepareAsync(keyData, cancellationToken).ConfigureAwait(false);
            if (await PostgreSqlKeyLedgerStorage.HoldsLedgerAsync(data, cancellationToken).ConfigureAwait(false))
                throw new InvalidOperationException(
                    "The mail database holds the key ledger's tables: KeyLedgerConnectionString must name a database of its own, or a backup of the mail database would hold the mailbox secrets.");
            var found = await PostgreSqlSchema.MigrateAsync(data, cancellationToken).ConfigureAwait(false);
            if (found != PostgreSqlSchema.Version)
                PostgreSqlLog.Migrated(options.Logger, found, PostgreSqlSchema.Version);
            await using (var command = data.CreateCommand("SHOW synchronous_commit"))
            {
                var setting = (string?)await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
                if (setting is not ("on" or "remote_write" or "remote_apply"))
                    throw new InvalidOperationException($"PostgreSQL runs with synchronous_commit = {setting}; the store needs commits on disk before it acknowledges.");
            }
            store = new PostgreSqlMailStore(options, data, keyData);
            store._listener = new PostgreSqlChangeListener(data, store._changes, store._origin, options.ListenerKeepAlive, options.Logger);
            await store._listener.Listening.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
            PostgreSqlLog.Opened(options.Logger, builder.Database ?? "", builder.Host ?? "", PostgreSqlSchema.Version);
            return store;
        }
        catch (Exception e)
        {
            if (store is not null)
                await store.DisposeAsync().ConfigureAwait(false);
            else
            {
                await data.DisposeAsync().ConfigureAwait(false);
                await keyData.DisposeAsync().ConfigureAwait(false);
            }
            if (e is NpgsqlException or TimeoutException)
                throw new StoreUnavailableException("The PostgreSQL store could not be opened: " + e.Message, e);
            throw;
        }
    }

    /// <summary>
    /// Releases this instance's leases on queued and held messages (a node stopping cleanly hands its work back at once
    /// instead of after the lease; call it after the workers that claimed have stopped), stops listening, completes
    /// subscribers' channels and closes every connection. Idempotent.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
            return;
        await ReleaseLeasesAsync().ConfigureAwait(false);
        if (_listener is not null)
            await _listener.DisposeAsync().ConfigureAwait(false);
        _changes.CompleteAll();
        _keyCache.Dispose();
        await _data.DisposeAsync().ConfigureAwait(false);
        await _keyData.DisposeAsync().ConfigureAwait(false);
    }

    private DateTimeOffset Now => _options.TimeProvider.GetUtcNow();

    /// <summary>A setting as the store's own sessions see it (SHOW).</summary>
    internal string? SessionSetting(string name) => Guard(() =>
    {
        using var command = _data.CreateCommand("SELECT current_setting($1)");
        command.Parameters.Add(new NpgsqlParameter { Value = name });
        return command.ExecuteScalar() as string;
    });

    // ---- keys -------------------------------------------------------------------------------------------------

    /// <summary>The key ledger of an organization, in the key database every node shares (opened, or created for a new
    /// organization, on first use).</summary>
    /// <exception cref="InvalidDataException">The ledger is missing while mailboxes depend on it, or damaged.</exception>
    /// <exception cref="StoreUnavailableException">The key database is unreachable.</exception>
    private KeyLedger Ledger(string organizationId)
    {
        lock (_ledgerLock)
        {
            if (_ledgers.TryGetValue(organizationId, out var ledger))
                return ledger;
            ledger = KeyLedger.OpenOrCreate(new PostgreSqlKeyLedgerStorage(_keyData, organizationId), organizationId, _options.MasterKeys,
                mayCreate: () => !Guard(() =>
                {
                    using var command = Command("SELECT EXISTS (SELECT 1 FROM mailboxes WHERE org = $1)", organizationId);
                    return (bool)command.ExecuteScalar()!;
                }));
            _ledgers[organizationId] = ledger;
            return ledger;
        }
    }

    /// <summary>A mailbox's ledger secret. The ledger is read again when another node rewrote it since (a shredding there is
    /// known here before a key is unwrapped), and when this copy lacks the secret (another node created the mailbox since).</summary>
    private byte[]? MailboxSecret(string organizationId, string secretId)
    {
        var ledger = Ledger(organizationId);
        ledger.Refresh();
        if (ledger.MailboxSecret(secretId) is { } secret)
            return secret;
        ledger.Reload();
        return ledger.MailboxSecret(secretId);
    }

    /// <summary>A copy of a mailbox's plain key of its current generation, from the cache or unwrapped now. The caller zeroes it.</summary>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    /// <exception cref="MailboxShreddedException">The mailbox's secret was destroyed.</exception>
    private byte[] MailboxKey(string mailboxId, MailboxRow? row = null) => CurrentMailboxKey(mailboxId, row).Key;

    /// <summary>
    /// A copy of a mailbox's current key and its generation. A write that seals or wraps under it checks, with the mailbox
    /// row locked, that the generation is still current (<see cref="RequireKeyGeneration"/>): a rotation on any node may
    /// have switched keys since this read. The cache is keyed by generation, so a key cached here before another node's
    /// switch is never taken for the new one.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    /// <exception cref="MailboxShreddedException">The mailbox's secret was destroyed.</exception>
    private (byte[] Key, int Generation) CurrentMailboxKey(string mailboxId, MailboxRow? row = null)
    {
        var mailbox = row ?? ReadMailbox(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
        return (MailboxKeyOf(mailbox, mailbox.KeyGeneration), mailbox.KeyGeneration);
    }

    /// <summary>A copy of the mailbox's key of <paramref name="generation"/> (current, or the one a running rotation replaces).</summary>
    /// <exception cref="StaleKeyGenerationException">The mailbox has no key of that generation any more.</exception>
    /// <exception cref="MailboxShreddedException">The mailbox's secret was destroyed.</exception>
    private byte[] MailboxKeyOf(MailboxRow mailbox, int generation) =>
        _keyCache.Get(KeyLedger.SecretId(mailbox.Id, generation), () => UnwrapMailboxKey(mailbox, generation));

    private byte[] UnwrapMailboxKey(MailboxRow mailbox, int generation)
    {
        var (wrapped, version) = generation == mailbox.KeyGeneration ? (mailbox.WrappedKey, mailbox.KeyVersion)
            : generation == mailbox.PreviousKeyGeneration && mailbox.PreviousWrappedKey is { } previous ? (previous, mailbox.PreviousKeyVersion!.Value)
            : throw new StaleKeyGenerationException(mailbox.Id, generation);
        var secret = MailboxSecret(mailbox.Org, KeyLedger.SecretId(mailbox.Id, generation))
            ?? throw (generation == mailbox.KeyGeneration ? new MailboxShreddedException(mailbox.Id) : new StaleKeyGenerationException(mailbox.Id, generation));
        return KeyHierarchy.UnwrapMailboxKey(_options.MasterKeys.GetMasterKey(mailbox.Org, version), secret, version, mailbox.Org, mailbox.Id, wrapped);
    }

    private string OwnerLookup(string organizationId, string owner) =>
        organizationId + "|" + KeyHierarchy.Hmac(Ledger(organizationId).OwnerHmacKey, MailStore.NormaliseOwner(owner));

    // ---- mailboxes --------------------------------------------------------------------------------------------

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No master key for <paramref name="organizationId"/>.</exception>
    /// <exception cref="StoreUnavailableException">PostgreSQL is unreachable.</exception>
    public Task<MailboxInfo> EnsureMailboxAsync(string organizationId, string owner, CancellationToken cancellationToken) =>
        WithUsableVersionAsync(() => EnsureMailboxOnceAsync(organizationId, owner, cancellationToken));

    private async Task<MailboxInfo> EnsureMailboxOnceAsync(string organizationId, string owner, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(organizationId);
        ArgumentException.ThrowIfNullOrEmpty(owner);
        if (FindMailbox(organizationId, owner) is { } existing)
            return existing;
        var ledger = Ledger(organizationId);
        var lookup = OwnerLookup(organizationId, owner);
        var mailboxId = MailStore.NewId();
        var mailboxKey = Aead.NewKey();
        var inserted = false;
        try
        {
            // The secret is durable in the ledger before the mailbox exists: a committed mailbox always has one.
            var secret = ledger.AddMailboxes([mailboxId])[mailboxId];
            var version = ledger.CurrentVersion;
            var wrapped = KeyHierarchy.WrapMailboxKey(_options.MasterKeys.GetMasterKey(organizationId, version), secret, version, organizationId, mailboxId, mailboxKey);
            var ownerSealed = MailStore.SealOwner(ledger, organizationId, mailboxId, owner);
            var folders = MailStore.NewWellKnownFolders(mailboxKey, mailboxId);
            inserted = await WriteAsync(async (tx, changes) =>
            {
                await RequireUsableVersionAsync(tx, organizationId, version, cancellationToken).ConfigureAwait(false);
                await using (var insert = Command(tx,
                    "INSERT INTO mailboxes (id, org, owner_lookup, owner_sealed, wrapped_key, key_version, modseq) VALUES ($1, $2, $3, $4, $5, $6, 1) " +
                    "ON CONFLICT (owner_lookup) DO NOTHING", mailboxId, organizationId, lookup, ownerSealed, wrapped, version))
                {
                    if (await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
                        return false; // another node created it meanwhile
                }
                foreach (var folder in folders)
                    await InsertFolderAsync(tx, folder.Id, mailboxId, folder.Lookup, folder.Sealed, folder.Use, cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(mailboxKey);
            if (!inserted)
            {
                try { ledger.Forget(mailboxId); }
                catch (IOException) { /* an unused secret in the ledger harms nothing */ }
            }
        }
        return inserted
            ? new MailboxInfo(mailboxId, organizationId, owner, 0, 0)
            : FindMailbox(organizationId, owner) ?? throw new InvalidOperationException("The mailbox vanished while it was created.");
    }

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No master key for <paramref name="organizationId"/>.</exception>
    /// <exception cref="StoreUnavailableException">PostgreSQL is unreachable.</exception>
    public MailboxInfo? FindMailbox(string organizationId, string owner)
    {
        var lookup = OwnerLookup(organizationId, owner);
        return Guard(() =>
        {
            using var command = Command("SELECT id, used_bytes, message_count FROM mailboxes WHERE owner_lookup = $1", lookup);
            using var reader = command.ExecuteReader();
            return reader.Read() ? new MailboxInfo(reader.GetString(0), organizationId, owner, reader.GetInt64(1), reader.GetInt64(2)) : null;
        });
    }

    private async Task InsertFolderAsync(NpgsqlTransaction tx, string folderId, string mailboxId, string lookup, byte[] nameSealed, SpecialUse use,
        CancellationToken cancellationToken)
    {
        // A fresh UIDVALIDITY: seconds since the epoch, never one handed out before (the meta row is locked until commit).
        long uidValidity;
        await using (var next = Command(tx, "UPDATE mailserver_meta SET last_uid_validity = GREATEST(last_uid_validity + 1, $1) WHERE id = 1 RETURNING last_uid_validity",
            Now.ToUnixTimeSeconds()))
            uidValidity = (long)(await next.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        if (uidValidity > uint.MaxValue)
            throw new InvalidOperationException("UIDVALIDITY space exhausted.");
        await using var insert = Command(tx,
            "INSERT INTO folders (id, mailbox_id, name_lookup, name_sealed, special_use, uid_validity, uid_next, highest_modseq, message_count, unseen_count, subscribed) " +
            "VALUES ($1, $2, $3, $4, $5, $6, 1, 1, 0, 0, true)", folderId, mailboxId, lookup, nameSealed, (int)use, uidValidity);
        await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A mailbox row's keys: the current wrap, and while a mailbox key rotation runs the wrap of the key it replaces.</summary>
    internal sealed record MailboxRow(string Id, string Org, byte[] WrappedKey, int KeyVersion, byte[]? SubscriptionsSealed, int KeyGeneration,
        byte[]? PreviousWrappedKey, int? PreviousKeyVersion, int? PreviousKeyGeneration);

    private const string MailboxRowColumns =
        "id, org, wrapped_key, key_version, subscriptions_sealed, key_generation, previous_wrapped_key, previous_key_version, previous_key_generation";

    private MailboxRow? ReadMailbox(string mailboxId) => ReadMailboxRows($"SELECT {MailboxRowColumns} FROM mailboxes WHERE id = $1", mailboxId).FirstOrDefault();

    private List<MailboxRow> ReadMailboxRows(string sql, params object?[] arguments) => Guard(() =>
    {
        using var command = Command(sql, arguments);
        using var reader = command.ExecuteReader();
        var rows = new List<MailboxRow>();
        while (reader.Read())
            rows.Add(new MailboxRow(reader.GetString(0), reader.GetString(1), reader.GetFieldValue<byte[]>(2), reader.GetInt32(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<byte[]>(4), reader.GetInt32(5),
                reader.IsDBNull(6) ? null : reader.GetFieldValue<byte[]>(6), reader.IsDBNull(7) ? null : reader.GetInt32(7),
                reader.IsDBNull(8) ? null : reader.GetInt32(8)));
        return rows;
    });

    // ---- plumbing ---------------------------------------------------------------------------------------------

    // Note: an array passed as the only argument must be cast to object, or C# takes it for the params array itself.
    private NpgsqlCommand Command(string sql, params object?[] arguments)
    {
        var command = _data.CreateCommand(sql);
        foreach (var argument in arguments)
            command.Parameters.Add(new NpgsqlParameter { Value = argument ?? DBNull.Value });
        return command;
    }

    private static NpgsqlCommand Command(NpgsqlTransaction tx, string sql, params object?[] arguments)
    {
        var command = new NpgsqlCommand(sql, tx.Connection, tx);
        foreach (var argument in arguments)
            command.Parameters.Add(new NpgsqlParameter { Value = argument ?? DBNull.Value });
        return command;
    }

    /// <summary>Runs a read; a database failure becomes <see cref="StoreUnavailableException"/>.</summary>
    private static T Guard<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (NpgsqlException e)
        {
            throw new StoreUnavailableException("The PostgreSQL store failed a read: " + e.Message, e);
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction, announces its changes with <c>pg_notify</c> in the same
    /// transaction, commits (synchronously: the task completes once PostgreSQL has the commit on disk), then publishes
    /// the changes to this process's subscribers. A deadlock or serialization failure rolls back and runs the work
    /// again (at most three more times). Refusals the work throws (not found, already exists) roll back.
    /// </summary>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed before the commit; nothing was written.</exception>
    /// <exception cref="WriteOutcomeUnknownException">The commit itself failed: it may or may not have happened.</exception>
    private async Task<T> WriteAsync<T>(Func<NpgsqlTransaction, List<MailboxChange>, Task<T>> work, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        for (var attempt = 1; ; attempt++)
        {
            var changes = new List<MailboxChange>();
            T result;
            NpgsqlConnection connection;
            try
            {
                connection = await _data.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (NpgsqlException e)
            {
                throw new StoreUnavailableException("The PostgreSQL store cannot be reached: " + e.Message, e);
            }
            await using (connection.ConfigureAwait(false))
            {
                NpgsqlTransaction tx;
                try
                {
                    tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (NpgsqlException e)
                {
                    throw new StoreUnavailableException("The PostgreSQL store failed a write: " + e.Message, e);
                }
                await using (tx.ConfigureAwait(false))
                {
                    try
                    {
                        result = await work(tx, changes).ConfigureAwait(false);
                        foreach (var payload in PostgreSqlChangeListener.Payloads(_origin, changes))
                        {
                            await using var notify = Command(tx, "SELECT pg_notify($1, $2)", PostgreSqlSchema.ChangeChannel, payload);
                            await notify.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                        }
                    }
                    catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure && attempt < 4)
                    {
                        PostgreSqlLog.Retried(_options.Logger, attempt);
                        continue;
                    }
                    catch (NpgsqlException e)
                    {
                        throw new StoreUnavailableException("The PostgreSQL store failed a write: " + e.Message, e);
                    }
                    try
                    {
                        await tx.CommitAsync(CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException or InvalidOperationException)
                    {
                        PostgreSqlLog.CommitFailed(_options.Logger, e);
                        throw new WriteOutcomeUnknownException(e);
                    }
                }
            }
            _changes.Publish(changes);
            return result;
        }
    }
}
