using Microsoft.Extensions.Logging;

namespace MailServer.Server.WorkMailApi;

/// <summary>Log messages of the WorkMail API (event ids 8100–8119). Never a secret, password or signature.</summary>
internal static partial class WorkMailApiLog
{
    [LoggerMessage(EventId = 8100, Level = LogLevel.Information, Message = "WorkMail API {Operation} by {AccessKeyId}: {Result}")]
    public static partial void Call(ILogger logger, string operation, string accessKeyId, string result);

    [LoggerMessage(EventId = 8101, Level = LogLevel.Warning, Message = "WorkMail API call refused before authentication from {SourceIp}: {ErrorType}")]
    public static partial void Refused(ILogger logger, string sourceIp, string errorType);

    [LoggerMessage(EventId = 8102, Level = LogLevel.Error, Message = "WorkMail API {Operation} failed")]
    public static partial void Failed(ILogger logger, Exception exception, string operation);

    [LoggerMessage(EventId = 8103, Level = LogLevel.Error, Message = "the admin audit trail could not be written")]
    public static partial void AuditWriteFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 8104, Level = LogLevel.Information, Message = "mailbox export job {JobId} completed: {Messages} message(s), {Bytes} bytes")]
    public static partial void ExportCompleted(ILogger logger, string jobId, long messages, long bytes);

    [LoggerMessage(EventId = 8105, Level = LogLevel.Error, Message = "mailbox export job {JobId} failed")]
    public static partial void ExportFailed(ILogger logger, Exception exception, string jobId);
}
