namespace MailServer.Server.Configuration;

/// <summary>Which store engine holds mailboxes, the queue and the keys' wraps.</summary>
public enum StorageEngine
{
    /// <summary>The embedded default: one process, one file (<c>DataDirectory/mail.db</c>), nothing to install.</summary>
    LiteDb,

    /// <summary>A PostgreSQL database shared by several server processes (docs/storage-contract.md).</summary>
    PostgreSql,
}

/// <summary><c>MailServer.Storage</c>: the engine and, for PostgreSQL, its connection strings. Read at start only.</summary>
/// <param name="Engine">The engine.</param>
/// <param name="ConnectionString">The Npgsql connection string (PostgreSql only); never logged (it may hold a password).</param>
public sealed record StorageConfig(StorageEngine Engine, string? ConnectionString)
{
    /// <summary>The Npgsql connection string of the key database (PostgreSql only): the key ledgers every node shares,
    /// in a database of its own, never the mail database. Never logged.</summary>
    public string? KeyLedgerConnectionString { get; init; }

    /// <summary>The default when the section is absent.</summary>
    public static StorageConfig LiteDb { get; } = new(StorageEngine.LiteDb, null);

    /// <summary>The store contract's parts (and the server's uses of the store) the PostgreSQL engine does not
    /// implement yet; while any is left, the loader refuses <see cref="StorageEngine.PostgreSql"/> rather than start a
    /// server that half works. Delivery, IMAP sessions (REPLACE and METADATA included), the change feed, the outbound queue
    /// and daily counters, held messages, in-transit copies, retention and key administration are implemented (docs/storage-contract.md).</summary>
    public static IReadOnlyList<string> PostgreSqlNotYetAvailable { get; } =
    [
        "the body search index (ISearchIndexStore)",
        "backup, restore, reindex, body rewrite, mailbox import and export",
        "opening it from the server host and the offline command line, which open the LiteDB store only",
    ];
}

// MailServer.Storage: read here so the shared loader changes by one line.
public static partial class ConfigLoader
{
    private sealed partial class Parser
    {
        /// <summary><c>"Storage": { "Engine": "LiteDb" | "PostgreSql", "ConnectionString", "KeyLedgerConnectionString" }</c>; LiteDB when absent.</summary>
        private static StorageConfig ReadStorage(JsonObjectReader? s)
        {
            if (s is null)
                return StorageConfig.LiteDb;
            var engine = s.Enum<StorageEngine>("Engine", StorageEngine.LiteDb) ?? StorageEngine.LiteDb;
            var connectionString = s.String("ConnectionString");
            var keyLedger = s.String("KeyLedgerConnectionString");
            s.Finish();
            if (engine == StorageEngine.LiteDb)
            {
                if (connectionString is not null)
                    s.Error("ConnectionString", "is only for Engine PostgreSql (LiteDB keeps its file in DataDirectory)");
                if (keyLedger is not null)
                    s.Error("KeyLedgerConnectionString", "is only for Engine PostgreSql (LiteDB keeps its key ledgers beside the master keys in DataDirectory/keys)");
                return StorageConfig.LiteDb;
            }
            var mailOk = CheckConnectionString(s, "ConnectionString", connectionString, "Host=db.example.test;Database=mailserver;Username=mailserver");
            // The key ledgers (mailbox secrets) live in a database of their own: a backup of the mail database must not
            // hold them, or crypto-shredding would not reach it (README, "The key ledger on PostgreSQL").
            var ledgerOk = CheckConnectionString(s, "KeyLedgerConnectionString", keyLedger, "Host=db.example.test;Database=mailserver_keys;Username=mailserver");
            if (mailOk && ledgerOk && MailServer.Storage.PostgreSql.PostgreSqlStoreOptions.SameDatabase(connectionString!, keyLedger!))
                s.Error("KeyLedgerConnectionString", "names the same database as ConnectionString; the key ledger needs a database of its own, kept and backed up apart from the mail");
            s.Error("Engine", "PostgreSql is not available yet: the PostgreSQL engine stores mail for delivery and IMAP (REPLACE and METADATA included), the outbound queue, held messages and retention, but not yet "
                + string.Join(", ", StorageConfig.PostgreSqlNotYetAvailable) + "; use LiteDb (the default) until it does");
            return new StorageConfig(engine, connectionString) { KeyLedgerConnectionString = keyLedger };
        }

        /// <summary>A required PostgreSQL connection string naming a host and a database; the value is never echoed (it may hold a password).</summary>
        private static bool CheckConnectionString(JsonObjectReader s, string name, string? value, string example)
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                s.Error(name, $"is required with Engine PostgreSql, e.g. \"{example}\"");
                return false;
            }
            try
            {
                var builder = new Npgsql.NpgsqlConnectionStringBuilder(value);
                var ok = true;
                if (string.IsNullOrWhiteSpace(builder.Host))
                {
                    s.Error(name, "names no Host");
                    ok = false;
                }
                if (string.IsNullOrWhiteSpace(builder.Database))
                {
                    s.Error(name, "names no Database");
                    ok = false;
                }
                return ok;
            }
            catch (ArgumentException)
            {
                s.Error(name, "is not a valid PostgreSQL connection string (Key=Value pairs separated by ';')");
                return false;
            }
        }
    }
}
