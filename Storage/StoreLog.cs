using Microsoft.Extensions.Logging;

namespace MailServer.Storage;

/// <summary>The store's log events: ids 4000–4099. Never a key, an owner address or a folder name.</summary>
internal static partial class StoreLog
{
    [LoggerMessage(EventId = 4000, Level = LogLevel.Information, Message = "Mail store opened in {DataDirectory}")]
    public static partial void Opened(ILogger logger, string dataDirectory);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Critical, Message = "The store writer could not commit a batch; its callers were told the outcome is unknown")]
    public static partial void WriterFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "A write failed after it had written; the batch was rolled back and is replayed request by request")]
    public static partial void BatchRolledBack(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Error, Message = "A clean-up after a commit failed")]
    public static partial void AfterCommitFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Warning, Message = "Entry {EntryId} refers to blob {BlobId}, which is missing")]
    public static partial void EntryBlobMissing(ILogger logger, string entryId, string blobId);

    [LoggerMessage(EventId = 4026, Level = LogLevel.Error, Message = "Entry {EntryId}: its version 1 body {BlobId} was not rewritten in the segmented format ({Error}); the old file is kept")]
    public static partial void BodyNotRewritten(ILogger logger, string entryId, string blobId, string error);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Error, Message = "Entry {EntryId} does not decrypt ({Error})")]
    public static partial void EntryUndecryptable(ILogger logger, string entryId, string error);

    [LoggerMessage(EventId = 4012, Level = LogLevel.Information, Message = "Deleted orphan blob {BlobId}")]
    public static partial void OrphanBlobDeleted(ILogger logger, string blobId);

    [LoggerMessage(EventId = 4013, Level = LogLevel.Information, Message = "Reindex: {Checked} entries checked, {Removed} removed (blob missing), {Orphans} orphan blobs deleted, {Summaries} summaries rebuilt")]
    public static partial void Reindexed(ILogger logger, int @checked, int removed, int orphans, int summaries);

    [LoggerMessage(EventId = 4014, Level = LogLevel.Information, Message = "Folder metadata cache warmed: {Folders} folders, {Messages} messages in {Milliseconds} ms")]
    public static partial void MetadataCacheWarmed(ILogger logger, int folders, long messages, long milliseconds);

    [LoggerMessage(EventId = 4015, Level = LogLevel.Warning, Message = "Warming the folder metadata cache failed; folders are listed from the database on first use")]
    public static partial void MetadataCacheWarmupFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4020, Level = LogLevel.Information, Message = "Master key rotation of organization {OrganizationId} to version {Version}: {Outdated} documents to re-wrap")]
    public static partial void RotationStarted(ILogger logger, string organizationId, int version, long outdated);

    [LoggerMessage(EventId = 4021, Level = LogLevel.Information, Message = "Master key rotation of organization {OrganizationId} to version {Version} finished: {Rewrapped} documents re-wrapped in {Milliseconds} ms; older versions retired")]
    public static partial void RotationFinished(ILogger logger, string organizationId, int version, long rewrapped, long milliseconds);

    [LoggerMessage(EventId = 4022, Level = LogLevel.Warning, Message = "Mailbox {MailboxId} of organization {OrganizationId} deleted and its key destroyed ({Messages} messages)")]
    public static partial void MailboxShredded(ILogger logger, string organizationId, string mailboxId, int messages);

    [LoggerMessage(EventId = 4023, Level = LogLevel.Information, Message = "Snapshot of the database taken for a backup: {Bytes} bytes, writer paused {Milliseconds} ms")]
    public static partial void SnapshotTaken(ILogger logger, long bytes, long milliseconds);

    [LoggerMessage(EventId = 4024, Level = LogLevel.Information, Message = "Mailbox {MailboxId}: key generation {Generation} is current; re-wrapping its message keys")]
    public static partial void MailboxKeyRotationStarted(ILogger logger, string mailboxId, int generation);

    [LoggerMessage(EventId = 4025, Level = LogLevel.Information, Message = "Mailbox {MailboxId}: key rotation to generation {Generation} finished, {Rewrapped} message keys re-wrapped in {Milliseconds} ms; the previous key is destroyed")]
    public static partial void MailboxKeyRotationFinished(ILogger logger, string mailboxId, int generation, long rewrapped, long milliseconds);

    [LoggerMessage(EventId = 4090, Level = LogLevel.Warning, Message = "The folder metadata cache could not follow a commit and was emptied")]
    public static partial void MetadataCacheReset(ILogger logger, Exception exception);
}
