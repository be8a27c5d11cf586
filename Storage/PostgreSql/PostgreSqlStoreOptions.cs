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
    /// The folder of the key ledgers (<c>keys/ledger/&lt;organization&gt;.ledger</c> under it): the per-mailbox secrets live
    /// beside the master keys, never in the database or its dumps, exactly as with the LiteDB engine. Every node of one
    /// store needs the same ledgers.
    /// </summary>
    public required string KeyDirectory { get; init; }

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

    /// <exception cref="ArgumentException">An option is out of range.</exception>
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
            throw new ArgumentException("PostgreSqlStoreOptions.ConnectionString is required.", nameof(ConnectionString));
        if (string.IsNullOrWhiteSpace(KeyDirectory))
            throw new ArgumentException("PostgreSqlStoreOptions.KeyDirectory is required.", nameof(KeyDirectory));
        ArgumentNullException.ThrowIfNull(MasterKeys);
        if (KeyCacheTimeToLive <= TimeSpan.Zero || KeyCacheTimeToLive > TimeSpan.FromSeconds(60))
            throw new ArgumentException("PostgreSqlStoreOptions.KeyCacheTimeToLive must be more than 0 and at most 60 seconds.", nameof(KeyCacheTimeToLive));
        if (ChangeFeedCapacity < 1)
            throw new ArgumentException("PostgreSqlStoreOptions.ChangeFeedCapacity must be at least 1.", nameof(ChangeFeedCapacity));
        if (ListenerKeepAlive <= TimeSpan.Zero)
            throw new ArgumentException("PostgreSqlStoreOptions.ListenerKeepAlive must be positive.", nameof(ListenerKeepAlive));
    }
}
