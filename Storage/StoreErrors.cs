using System.Security.Cryptography;

namespace MailServer.Storage;

/// <summary>
/// The store's error taxonomy: what a caller may learn from any exception the store throws. Each protocol turns it
/// into its wire form in one place (SMTP: the mail flow's outcome; IMAP: the session's tagged reply).
/// </summary>
public enum StoreError
{
    /// <summary>The mailbox, folder or message does not exist (any more).</summary>
    NotFound,

    /// <summary>The operation conflicts with what is there (a folder that already exists, a name in use).</summary>
    Conflict,

    /// <summary>The store does not do this at all (INBOX cannot be deleted; a folder with children cannot be deleted).</summary>
    NotAllowed,

    /// <summary>The mailbox is at its quota.</summary>
    OverQuota,

    /// <summary>The store could not complete or confirm the operation (disk, fsync, closing); retrying may succeed.</summary>
    Unavailable,

    /// <summary>Stored data failed authentication (a damaged or tampered file or key); retrying will not help.</summary>
    Corrupt,
}

/// <summary>Classifies the store's exceptions into <see cref="StoreError"/>.</summary>
public static class StoreErrors
{
    /// <summary>
    /// The kind of store error <paramref name="exception"/> is, or null when it is none of the store's (a bug, a
    /// cancellation): the caller treats that as a server fault.
    /// </summary>
    public static StoreError? Classify(Exception exception) => exception switch
    {
        QuotaExceededException => StoreError.OverQuota,
        FolderOperationException { Refusal: FolderRefusal.AlreadyExists } => StoreError.Conflict,
        FolderOperationException { Refusal: FolderRefusal.NonExistent } => StoreError.NotFound,
        FolderOperationException => StoreError.NotAllowed,
        LeaseHeldElsewhereException or QueuedMessageChangedException => StoreError.Conflict,
        KeyNotFoundException => StoreError.NotFound,
        CryptographicException => StoreError.Corrupt,
        // WriteOutcomeUnknownException is an IOException: the commit may or may not have happened.
        IOException or ObjectDisposedException or TimeoutException => StoreError.Unavailable,
        _ => null,
    };
}

/// <summary>
/// The store's database could not be reached or failed a statement (a PostgreSQL node down, a connection cut, a
/// timeout). Nothing was acknowledged; retrying may succeed (<see cref="StoreError.Unavailable"/>).
/// </summary>
public sealed class StoreUnavailableException(string message, Exception inner) : IOException(message, inner);

/// <summary>
/// A queued or held message is claimed by another store instance (another node) whose lease has not run out: this
/// one's lease ran out and was taken over, or it never held one. Nothing was written (<see cref="StoreError.Conflict"/>).
/// </summary>
public sealed class LeaseHeldElsewhereException(string id)
    : InvalidOperationException($"{id} is claimed by another node whose lease has not run out; nothing was written.")
{
    /// <summary>The queue or held id.</summary>
    public string Id { get; } = id;
}

/// <summary>A queued message changed since the caller read it (another claimer recorded an outcome); nothing was
/// written (<see cref="StoreError.Conflict"/>). The caller reads it again if it still wants to change it.</summary>
public sealed class QueuedMessageChangedException(string queueId, long expected, long found)
    : InvalidOperationException($"Queued message {queueId} is at version {found}, not {expected} as read; nothing was written.")
{
    /// <summary>The queue id.</summary>
    public string QueueId { get; } = queueId;
}
