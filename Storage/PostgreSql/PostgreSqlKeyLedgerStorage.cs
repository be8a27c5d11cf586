using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using MailServer.Storage.Crypto;
using Npgsql;

namespace MailServer.Storage.PostgreSql;

/// <summary>
/// An organization's key ledger in the key database that every node of a PostgreSQL store shares (a database of its
/// own, never the mail database: a dump or backup of the mail database must not hold the secrets, or shredding would
/// not reach it). The same sealed boxes as the file (<see cref="KeyLedgerFile"/>): a <c>key_ledger</c> row per
/// organization (master key version, header box, generation) and a <c>key_ledger_secrets</c> row per mailbox secret
/// (only the box: no mailbox id in clear). An append inserts rows under the shared form of the organization's
/// advisory lock after checking that the ledger is still sealed under the version the rows were sealed under; a
/// rewrite (rotation, shredding) takes the exclusive form, reads what is stored, and deletes and inserts in one
/// transaction, then vacuums the secrets table so that the deleted rows' space is reused. The key database's own
/// backups and WAL archive must be kept apart from the mail database's and short-lived, as the ledger file's must: a
/// backup taken before a shredding still holds that mailbox's secret.
/// </summary>
internal sealed class PostgreSqlKeyLedgerStorage(NpgsqlDataSource keys, string organizationId) : IKeyLedgerStorage
{
    /// <summary>The key database's schema version; a newer one is refused.</summary>
    private const int SchemaVersion = 1;

    private const string Schema = """
        CREATE TABLE IF NOT EXISTS key_ledger_meta (
            id int PRIMARY KEY CHECK (id = 1),
            schema_version int NOT NULL);
        INSERT INTO key_ledger_meta VALUES (1, 1) ON CONFLICT (id) DO NOTHING;
        CREATE TABLE IF NOT EXISTS key_ledger (
            org text PRIMARY KEY,
            version int NOT NULL,
            header bytea NOT NULL,
            generation bigint NOT NULL);
        CREATE TABLE IF NOT EXISTS key_ledger_secrets (
            org text NOT NULL REFERENCES key_ledger (org),
            seq bigserial NOT NULL,
            box bytea NOT NULL,
            PRIMARY KEY (org, seq));
        """;

    /// <inheritdoc/>
    public string Description => $"in the key database (organization {organizationId})";

    /// <summary>
    /// Creates the key database's tables when they are missing, under an advisory lock (nodes starting together),
    /// and refuses a key database written by a newer server or one that holds the mail store's tables.
    /// </summary>
    /// <exception cref="InvalidOperationException">The key database is the mail database, or has a newer schema.</exception>
    /// <exception cref="NpgsqlException">PostgreSQL failed.</exception>
    public static async Task PrepareAsync(NpgsqlDataSource keys, CancellationToken cancellationToken)
    {
        await using var connection = await keys.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", connection, transaction))
        {
            lockCommand.Parameters.Add(new NpgsqlParameter { Value = LockKey("schema") });
            await lockCommand.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await using (var mail = new NpgsqlCommand("SELECT to_regclass('mailserver_meta') IS NOT NULL", connection, transaction))
        {
            if ((bool)(await mail.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
                throw new InvalidOperationException(
                    "The key ledger database holds the mail store's tables: KeyLedgerConnectionString must name a database of its own, or a backup of the mail database would hold the mailbox secrets.");
        }
        await using (var create = new NpgsqlCommand(Schema, connection, transaction))
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        await using (var version = new NpgsqlCommand("SELECT schema_version FROM key_ledger_meta WHERE id = 1", connection, transaction))
        {
            var found = (int)(await version.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            if (found > SchemaVersion)
                throw new InvalidOperationException(
                    $"The key ledger database has schema version {found}; this server knows versions up to {SchemaVersion}. Upgrade the server (every node) first.");
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>True when the mail database holds the key ledger's tables (the two connection strings name one database).</summary>
    /// <exception cref="NpgsqlException">PostgreSQL failed.</exception>
    public static async Task<bool> HoldsLedgerAsync(NpgsqlDataSource mail, CancellationToken cancellationToken)
    {
        await using var command = mail.CreateCommand("SELECT to_regclass('key_ledger') IS NOT NULL");
        return (bool)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <inheritdoc/>
    public SealedLedger? Read() => Guard(() =>
    {
        using var connection = keys.OpenConnection();
        // One snapshot for the header and the records: a rewrite committing between two reads cannot mix versions.
        using var transaction = connection.BeginTransaction(System.Data.IsolationLevel.RepeatableRead);
        var result = ReadIn(transaction);
        transaction.Commit();
        return result;
    });

    /// <inheritdoc/>
    public void CreateIfAbsent(SealedLedger ledger) => Guard(() =>
    {
        using var connection = keys.OpenConnection();
        using var transaction = connection.BeginTransaction();
        Lock(transaction, shared: false);
        using (var insert = Command(transaction, "INSERT INTO key_ledger (org, version, header, generation) VALUES ($1, $2, $3, $4) ON CONFLICT (org) DO NOTHING",
                   organizationId, ledger.Version, ledger.Header, ledger.Generation))
        {
            if (insert.ExecuteNonQuery() == 0)
                return 0; // another node created it first: that one is read
        }
        InsertRecords(transaction, ledger.Records);
        transaction.Commit();
        return 0;
    });

    /// <inheritdoc/>
    public bool Append(int version, IReadOnlyList<byte[]> records) => Guard(() =>
    {
        using var connection = keys.OpenConnection();
        using var transaction = connection.BeginTransaction();
        Lock(transaction, shared: true);
        using (var current = Command(transaction, "SELECT version FROM key_ledger WHERE org = $1", organizationId))
        {
            if (current.ExecuteScalar() is not int stored || stored != version)
                return false;
        }
        InsertRecords(transaction, records);
        transaction.Commit();
        return true;
    });

    /// <inheritdoc/>
    public void Rewrite(Func<SealedLedger?, SealedLedger?> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var rewritten = Guard(() =>
        {
            using var connection = keys.OpenConnection();
            using var transaction = connection.BeginTransaction();
            Lock(transaction, shared: false);
            if (change(ReadIn(transaction)) is not { } next)
                return false;
            using (var delete = Command(transaction, "DELETE FROM key_ledger_secrets WHERE org = $1", organizationId))
                delete.ExecuteNonQuery();
            using (var header = Command(transaction,
                       "INSERT INTO key_ledger (org, version, header, generation) VALUES ($1, $2, $3, $4) " +
                       "ON CONFLICT (org) DO UPDATE SET version = EXCLUDED.version, header = EXCLUDED.header, generation = EXCLUDED.generation",
                       organizationId, next.Version, next.Header, next.Generation))
                header.ExecuteNonQuery();
            InsertRecords(transaction, next.Records);
            transaction.Commit();
            return true;
        });
        if (!rewritten)
            return;
        try
        {
            // The deleted rows' space is marked free at once rather than at the next autovacuum (their bytes remain on
            // disk until reused, as a file's blocks do: the key database's storage and backups are kept apart).
            using var vacuum = keys.CreateCommand("VACUUM key_ledger_secrets");
            vacuum.ExecuteNonQuery();
        }
        catch (NpgsqlException)
        {
            // Autovacuum does it later; the rewrite itself committed.
        }
    }

    /// <inheritdoc/>
    public long? Generation() => Guard(() =>
    {
        using var command = keys.CreateCommand("SELECT generation FROM key_ledger WHERE org = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = organizationId });
        return command.ExecuteScalar() is long generation ? generation : -1;
    });

    private SealedLedger? ReadIn(NpgsqlTransaction transaction)
    {
        int version;
        byte[] header;
        long generation;
        using (var select = Command(transaction, "SELECT version, header, generation FROM key_ledger WHERE org = $1", organizationId))
        using (var reader = select.ExecuteReader())
        {
            if (!reader.Read())
                return null;
            version = reader.GetInt32(0);
            header = reader.GetFieldValue<byte[]>(1);
            generation = reader.GetInt64(2);
        }
        var records = new List<byte[]>();
        using (var select = Command(transaction, "SELECT box FROM key_ledger_secrets WHERE org = $1 ORDER BY seq", organizationId))
        using (var reader = select.ExecuteReader())
        {
            while (reader.Read())
                records.Add(reader.GetFieldValue<byte[]>(0));
        }
        return new SealedLedger(version, header, records, generation);
    }

    private void InsertRecords(NpgsqlTransaction transaction, IReadOnlyList<byte[]> records)
    {
        if (records.Count == 0)
            return;
        using var insert = Command(transaction, "INSERT INTO key_ledger_secrets (org, box) SELECT $1, unnest($2::bytea[])", organizationId, (object)records.ToArray());
        insert.ExecuteNonQuery();
    }

    private void Lock(NpgsqlTransaction transaction, bool shared)
    {
        using var command = Command(transaction, shared ? "SELECT pg_advisory_xact_lock_shared($1)" : "SELECT pg_advisory_xact_lock($1)", LockKey(organizationId));
        command.ExecuteNonQuery();
    }

    /// <summary>The advisory lock key of a name: the first 8 bytes of its SHA-256 (collisions only serialize two organizations).</summary>
    internal static long LockKey(string name) =>
        BinaryPrimitives.ReadInt64BigEndian(SHA256.HashData(Encoding.UTF8.GetBytes("urn:mailserver:key-ledger/" + name)));

    private static NpgsqlCommand Command(NpgsqlTransaction transaction, string sql, params object?[] arguments)
    {
        var command = new NpgsqlCommand(sql, transaction.Connection, transaction);
        foreach (var argument in arguments)
            command.Parameters.Add(new NpgsqlParameter { Value = argument ?? DBNull.Value });
        return command;
    }

    private static T Guard<T>(Func<T> work)
    {
        try
        {
            return work();
        }
        catch (NpgsqlException e)
        {
            throw new StoreUnavailableException("The key ledger database failed: " + e.Message, e);
        }
    }
}

/// <summary>
/// Reads from the key database without opening a store: what the email event log needs (its key lives in each
/// organization's ledger, the same on every node and across master key rotations), for the server and for
/// <c>mailserver events query</c>.
/// </summary>
public static class PostgreSqlKeyLedgers
{
    /// <summary>The email event log key of <paramref name="organizationId"/> from its ledger in the key database, or null
    /// when the organization has no ledger yet (nothing was ever stored for it).</summary>
    /// <exception cref="StoreUnavailableException">The key database cannot be read.</exception>
    /// <exception cref="InvalidDataException">What is stored is not a key ledger of this organization.</exception>
    /// <exception cref="CryptographicException">The master key version named in the ledger does not open it.</exception>
    /// <exception cref="KeyNotFoundException">That master key version is not available.</exception>
    public static byte[]? EventLogKeyOf(string keyLedgerConnectionString, string organizationId, IMasterKeyProvider keys)
    {
        using var data = NpgsqlDataSource.Create(keyLedgerConnectionString);
        return KeyLedger.TryOpen(new PostgreSqlKeyLedgerStorage(data, organizationId), organizationId, keys)?.EventLogKey;
    }
}
