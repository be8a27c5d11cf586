using MailServer.Storage.Crypto;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MailServer.Storage.PostgreSql;

/// <summary>How to open a <see cref="PostgreSqlMailStore"/>. Validated by <see cref="PostgreSqlMailStore.OpenAsync"/>.</summary>
public sealed record PostgreSqlStoreOptions
{
    /// <summary>The Npgsql connection string (host, port, database, user; a password or a client certificate).</summary>
    public required string ConnectionString { get; init; }

    /// <summary>
    /// The Npgsql connection string of the key database: the key ledgers (per-mailbox secrets, lookup keys, rotation
    /// state) that every node shares, sealed under the master keys. It must be a database of its own, never the mail
    /// database: a dump or backup of the mail database must not hold the secrets, or crypto-shredding would not reach it.
    /// </summary>
    public required string KeyLedgerConnectionString { get; init; }

    /// <summary>Gives the master key of each organization.</summary>
    public required IMasterKeyProvider MasterKeys { get; init; }

    /// <summary>How long a plain mailbox key stays cached: more than zero, at most 60 s.</summary>
    public TimeSpan KeyCacheTimeToLive { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How many unread changes a subscriber may hold before it is marked overflowed.</summary>
    public int ChangeFeedCapacity { get; init; } = 1024;

    /// <summary>How long the LISTEN connection may be silent before it is checked (and, if dead, reconnected).</summary>
    public TimeSpan ListenerKeepAlive { get; init; } = TimeSpan.FromSeconds(15);

    public ILogger Logger { get; init; } = NullLogger.Instance;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// True when two connection strings name one database (same host, port and database name). A mistake this does not
    /// see (two host names for one server) is refused at open: the key database then holds the mail store's tables.
    /// </summary>
    /// <exception cref="ArgumentException">A connection string is not valid.</exception>
    public static bool SameDatabase(string first, string second)
    {
        var a = new Npgsql.NpgsqlConnectionStringBuilder(first);
        var b = new Npgsql.NpgsqlConnectionStringBuilder(second);
        return string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port
               && string.Equals(a.Database ?? a.Username, b.Database ?? b.Username, StringComparison.Ordinal);
    }

    /// <exception cref="ArgumentException">An option is out of range.</exception>
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
            throw new ArgumentException("PostgreSqlStoreOptions.ConnectionString is required.", nameof(ConnectionString));
        if (string.IsNullOrWhiteSpace(KeyLedgerConnectionString))
            throw new ArgumentException("PostgreSqlStoreOptions.KeyLedgerConnectionString is required.", nameof(KeyLedgerConnectionString));
        if (SameDatabase(ConnectionString, KeyLedgerConnectionString))
            throw new ArgumentException("PostgreSqlStoreOptions.KeyLedgerConnectionString names the mail database; the key ledger needs a database of its own.",
                nameof(KeyLedgerConnectionString));
        ArgumentNullException.ThrowIfNull(MasterKeys);
        if (KeyCacheTimeToLive <= TimeSpan.Zero || KeyCacheTimeToLive > TimeSpan.FromSeconds(60))
            throw new ArgumentException("PostgreSqlStoreOptions.KeyCacheTimeToLive must be more than 0 and at most 60 seconds.", nameof(KeyCacheTimeToLive));
        if (ChangeFeedCapacity < 1)
            throw new ArgumentException("PostgreSqlStoreOptions.ChangeFeedCapacity must be at least 1.", nameof(ChangeFeedCapacity));
        if (ListenerKeepAlive <= TimeSpan.Zero)
            throw new ArgumentException("PostgreSqlStoreOptions.ListenerKeepAlive must be positive.", nameof(ListenerKeepAlive));
    }
}
