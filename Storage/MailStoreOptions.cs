using MailServer.Storage.Crypto;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MailServer.Storage;

/// <summary>How to open the <see cref="MailStore"/>. Validated by <see cref="MailStore.Open"/>.</summary>
public sealed record MailStoreOptions
{
    /// <summary>The data directory: the database is <c>mail.db</c> (+ <c>mail-log.db</c>), blobs go under <c>blobs/</c>.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>Gives the master key of each organization.</summary>
    public required IMasterKeyProvider MasterKeys { get; init; }

    /// <summary>How long a plain mailbox key stays cached: more than zero, at most 60 s (docs/decisions.md, "Storage and encryption").</summary>
    public TimeSpan KeyCacheTimeToLive { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How many unread changes an IMAP session may hold before it is marked overflowed.</summary>
    public int ChangeFeedCapacity { get; init; } = 1024;

    /// <summary>The most write requests the writer commits in one transaction (one fsync).</summary>
    public int MaxBatchSize { get; init; } = 256;

    /// <summary>How many messages' metadata the shared folder cache holds at most (about 300 bytes each); 0 turns it off.</summary>
    public long MetadataCacheMessages { get; init; } = 500_000;

    public ILogger Logger { get; init; } = NullLogger.Instance;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <exception cref="ArgumentException">An option is out of range.</exception>
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(DataDirectory))
            throw new ArgumentException("MailStoreOptions.DataDirectory is required.", nameof(DataDirectory));
        ArgumentNullException.ThrowIfNull(MasterKeys);
        if (KeyCacheTimeToLive <= TimeSpan.Zero || KeyCacheTimeToLive > TimeSpan.FromSeconds(60))
            throw new ArgumentException("MailStoreOptions.KeyCacheTimeToLive must be more than 0 and at most 60 seconds.", nameof(KeyCacheTimeToLive));
        if (ChangeFeedCapacity < 1)
            throw new ArgumentException("MailStoreOptions.ChangeFeedCapacity must be at least 1.", nameof(ChangeFeedCapacity));
        if (MetadataCacheMessages < 0)
            throw new ArgumentException("MailStoreOptions.MetadataCacheMessages must not be negative.", nameof(MetadataCacheMessages));
        if (MaxBatchSize < 1)
            throw new ArgumentException("MailStoreOptions.MaxBatchSize must be at least 1.", nameof(MaxBatchSize));
    }
}

/// <summary>Another process holds the data directory. The message is meant for the operator (CLI verbs show it).</summary>
public sealed class StoreLockedException(string dataDirectory, int? pid)
    : IOException(pid is { } p
        ? $"the database in {dataDirectory} is held by another mailserver process (pid {p})"
        : $"the database in {dataDirectory} is held by another mailserver process")
{
    public string DataDirectory { get; } = dataDirectory;

    /// <summary>The process id recorded by the holder, when it could be read.</summary>
    public int? HolderProcessId { get; } = pid;
}
