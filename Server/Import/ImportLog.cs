using Microsoft.Extensions.Logging;

namespace MailServer.Server.Import;

/// <summary>Log events of mailbox imports (9400–9409). Never a password, never message content.</summary>
internal static partial class ImportLog
{
    [LoggerMessage(EventId = 9400, Level = LogLevel.Information, Message = "Import {JobId} into {User} from {Source} started")]
    public static partial void Started(ILogger logger, string jobId, string user, string source);

    [LoggerMessage(EventId = 9401, Level = LogLevel.Information, Message = "Import {JobId}: folder {Source} into {Target} done ({Imported} imported, {Duplicates} already there, {Failed} failed)")]
    public static partial void FolderDone(ILogger logger, string jobId, string source, string target, long imported, long duplicates, long failed);

    [LoggerMessage(EventId = 9402, Level = LogLevel.Warning, Message = "Import {JobId}: {Message} not imported: {Error}")]
    public static partial void MessageFailed(ILogger logger, string jobId, string message, string error);

    [LoggerMessage(EventId = 9403, Level = LogLevel.Error, Message = "Import {JobId} failed: {Error}")]
    public static partial void Failed(ILogger logger, string jobId, string error);

    [LoggerMessage(EventId = 9404, Level = LogLevel.Information, Message = "Import {JobId} ended {State}: {Imported} imported, {Duplicates} already there, {Failed} failed, {Bytes} bytes")]
    public static partial void Ended(ILogger logger, string jobId, string state, long imported, long duplicates, long failed, long bytes);

    [LoggerMessage(EventId = 9405, Level = LogLevel.Information, Message = "Import {JobId}: folder {Source} skipped (a virtual folder that repeats other folders' messages)")]
    public static partial void FolderSkipped(ILogger logger, string jobId, string source);

    [LoggerMessage(EventId = 9406, Level = LogLevel.Warning, Message = "Import {JobId} was running when the server stopped; run the same import command again to resume it")]
    public static partial void Interrupted(ILogger logger, string jobId);
}
