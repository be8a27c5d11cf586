namespace MailServer.Server.Configuration;

/// <summary>Which store engine holds mailboxes, the queue and the keys' wraps.</summary>
public enum StorageEngine
{
    /// <summary>The embedded default: one process, one file (<c>DataDirectory/mail.db</c>), nothing to install.</summary>
    LiteDb,

    /// <summary>A PostgreSQL database shared by several server processes (docs/storage-contract.md).</summary>
    PostgreSql,
}

/// <summary><c>MailServer.Storage</c>: the engine and, for PostgreSQL, its connection string. Read at start only.</summary>
/// <param name="Engine">The engine.</param>
/// <param name="ConnectionString">The Npgsql connection string (PostgreSql only); never logged (it may hold a password).</param>
public sealed record StorageConfig(StorageEngine Engine, string? ConnectionString)
{
    /// <summary>PostgreSql only: the folder holding the key ledgers (<c>keys/ledger/</c>), the same for every node of one
    /// database; null: the data folder. LiteDB keeps them in the data folder.</summary>
    public string? KeyDirectory { get; init; }

    /// <summary><c>LeaseSeconds</c>: how long a node's claim on a queued message lives without renewal (5 to 3600
    /// seconds; 300 when absent). A node renews it every third of this while it delivers; when a node dies, another
    /// takes its queue over once the lease ran out. Shorter: faster takeover, more renewals. Messages held for a hook
    /// keep a 5-minute lease (not renewed: it must outlast one hook call).</summary>
    public TimeSpan Lease { get; init; } = DefaultLease;

    /// <summary>The lease when <c>LeaseSeconds</c> is absent: five minutes.</summary>
    public static TimeSpan DefaultLease { get; } = TimeSpan.FromMinutes(5);

    /// <summary>The default when the section is absent.</summary>
    public static StorageConfig LiteDb { get; } = new(StorageEngine.LiteDb, null);

    /// <summary>The store contract's parts (and the server's uses of the store) the PostgreSQL engine does not
    /// implement yet; while any is left, the loader refuses <see cref="StorageEngine.PostgreSql"/> rather than start a
    /// server that half works. Delivery, IMAP sessions (REPLACE and METADATA included), the change feed, the outbound queue
    /// and daily counters, held messages, in-transit copies, retention, the body search index and reindex, mailbox export,
    /// and opening it from the server host and the offline command line are implemented (docs/storage-contract.md);
    /// backup and restore are PostgreSQL's own tools' (the verbs refuse and point to the README), and mailbox import
    /// refuses on PostgreSQL (its import ledger is LiteDB's) without holding the engine back.</summary>
    public static IReadOnlyList<string> PostgreSqlNotYetAvailable { get; } =
    [
        "key administration: master and mailbox key rotation, mailbox listing and deletion (IKeyAdministrationStore)",
    ];
}

// MailServer.Storage: read here so the shared loader changes by one line.
public static partial class ConfigLoader
{
    private sealed partial class Parser
    {
        /// <summary><c>"Storage": { "Engine": "LiteDb" | "PostgreSql", "ConnectionString" }</c>; LiteDB when absent.</summary>
        private static StorageConfig ReadStorage(JsonObjectReader? s)
        {
            if (s is null)
                return StorageConfig.LiteDb;
            var engine = s.Enum<StorageEngine>("Engine", StorageEngine.LiteDb) ?? StorageEngine.LiteDb;
            var connectionString = s.String("ConnectionString");
            var keyDirectory = s.String("KeyDirectory");
            var lease = TimeSpan.FromSeconds(s.Int("LeaseSeconds", (int)StorageConfig.DefaultLease.TotalSeconds, 5, 3600));
            s.Finish();
            if (engine == StorageEngine.LiteDb)
            {
                if (connectionString is not null)
                    s.Error("ConnectionString", "is only for Engine PostgreSql (LiteDB keeps its file in DataDirectory)");
                if (keyDirectory is not null)
                    s.Error("KeyDirectory", "is only for Engine PostgreSql (LiteDB keeps the key ledgers in DataDirectory)");
                return StorageConfig.LiteDb with { Lease = lease };
            }
            if (keyDirectory is not null && (string.IsNullOrWhiteSpace(keyDirectory) || !Path.IsPathFullyQualified(keyDirectory)))
                s.Error("KeyDirectory", "must be an absolute path (the folder every node shares for the key ledgers)");
            if (string.IsNullOrWhiteSpace(connectionString))
                s.Error("ConnectionString", "is required with Engine PostgreSql, e.g. \"Host=db.example.test;Database=mailserver;Username=mailserver\"");
            else
            {
                try
                {
                    var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
                    if (string.IsNullOrWhiteSpace(builder.Host))
                        s.Error("ConnectionString", "names no Host");
                    if (string.IsNullOrWhiteSpace(builder.Database))
                        s.Error("ConnectionString", "names no Database");
                }
                catch (ArgumentException)
                {
                    // The value is not echoed: it may hold a password.
                    s.Error("ConnectionString", "is not a valid PostgreSQL connection string (Key=Value pairs separated by ';')");
                }
            }
            s.Error("Engine", "PostgreSql is not available yet: the PostgreSQL engine stores mail for delivery and IMAP (REPLACE and METADATA included), the outbound queue, held messages, retention and the search index, but not yet "
                + string.Join(", ", StorageConfig.PostgreSqlNotYetAvailable) + "; use LiteDb (the default) until it does");
            return new StorageConfig(engine, connectionString) { KeyDirectory = keyDirectory, Lease = lease };
        }
    }
}
