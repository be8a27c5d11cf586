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

    /// <summary><c>LeaseSeconds</c>: how long a node's claim on a queued message lives without renewal (5 to 3600
    /// seconds; 300 when absent). A node renews it every third of this while it delivers; when a node dies, another
    /// takes its queue over once the lease ran out. Shorter: faster takeover, more renewals. Messages held for a hook
    /// keep a 5-minute lease (not renewed: it must outlast one hook call).</summary>
    public TimeSpan Lease { get; init; } = DefaultLease;

    /// <summary>The lease when <c>LeaseSeconds</c> is absent: five minutes.</summary>
    public static TimeSpan DefaultLease { get; } = TimeSpan.FromMinutes(5);

    /// <summary>The default when the section is absent.</summary>
    public static StorageConfig LiteDb { get; } = new(StorageEngine.LiteDb, null);
}

// MailServer.Storage: read here so the shared loader changes by one line.
public static partial class ConfigLoader
{
    private sealed partial class Parser
    {
        /// <summary><c>"Storage": { "Engine": "LiteDb" | "PostgreSql", "ConnectionString", "KeyLedgerConnectionString", "LeaseSeconds" }</c>; LiteDB when absent.</summary>
        private static StorageConfig ReadStorage(JsonObjectReader? s)
        {
            if (s is null)
                return StorageConfig.LiteDb;
            var engine = s.Enum<StorageEngine>("Engine", StorageEngine.LiteDb) ?? StorageEngine.LiteDb;
            var connectionString = s.String("ConnectionString");
            var keyLedger = s.String("KeyLedgerConnectionString");
            var lease = TimeSpan.FromSeconds(s.Int("LeaseSeconds", (int)StorageConfig.DefaultLease.TotalSeconds, 5, 3600));
            s.Finish();
            if (engine == StorageEngine.LiteDb)
            {
                if (connectionString is not null)
                    s.Error("ConnectionString", "is only for Engine PostgreSql (LiteDB keeps its file in DataDirectory)");
                if (keyLedger is not null)
                    s.Error("KeyLedgerConnectionString", "is only for Engine PostgreSql (LiteDB keeps its key ledgers beside the master keys in DataDirectory/keys)");
                return StorageConfig.LiteDb with { Lease = lease };
            }
            var mailOk = CheckConnectionString(s, "ConnectionString", connectionString, "Host=db.example.test;Database=mailserver;Username=mailserver");
            // The key ledgers (mailbox secrets) live in a database of their own: a backup of the mail database must not
            // hold them, or crypto-shredding would not reach it (README, "The key ledger on PostgreSQL").
            var ledgerOk = CheckConnectionString(s, "KeyLedgerConnectionString", keyLedger, "Host=db.example.test;Database=mailserver_keys;Username=mailserver");
            if (mailOk && ledgerOk && MailServer.Storage.PostgreSql.PostgreSqlStoreOptions.SameDatabase(connectionString!, keyLedger!))
                s.Error("KeyLedgerConnectionString", "names the same database as ConnectionString; the key ledger needs a database of its own, kept and backed up apart from the mail");
            return new StorageConfig(engine, connectionString) { KeyLedgerConnectionString = keyLedger, Lease = lease };
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
