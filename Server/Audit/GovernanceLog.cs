using Microsoft.Extensions.Logging;

namespace MailServer.Server.Audit;

/// <summary>Log messages of the governance area (event log, audit log, metrics, access, retention): ids 8000–8099.</summary>
internal static partial class GovernanceLog
{
    [LoggerMessage(EventId = 8000, Level = LogLevel.Warning, Message = "Could not write the email event log of organization {OrganizationId}")]
    public static partial void EventLogWriteFailed(ILogger logger, Exception exception, string organizationId);

    [LoggerMessage(EventId = 8001, Level = LogLevel.Warning, Message = "Could not write the audit log of organization {OrganizationId}")]
    public static partial void AuditLogWriteFailed(ILogger logger, Exception exception, string organizationId);

    [LoggerMessage(EventId = 8002, Level = LogLevel.Information, Message = "Deleted {Count} log file(s) older than the retention period from {Folder}")]
    public static partial void LogFilesExpired(ILogger logger, int count, string folder);

    [LoggerMessage(EventId = 8010, Level = LogLevel.Information, Message = "Login over {Protocol} from {RemoteAddress} as {User} refused by access control ({Rule})")]
    public static partial void AccessDenied(ILogger logger, string protocol, string remoteAddress, string user, string rule);

    [LoggerMessage(EventId = 8020, Level = LogLevel.Information, Message = "Retention run: {Moved} message(s) moved to Deleted Items, {Deleted} permanently deleted in {Mailboxes} mailbox(es){DryRun}")]
    public static partial void RetentionRan(ILogger logger, int moved, int deleted, int mailboxes, string dryRun);

    [LoggerMessage(EventId = 8021, Level = LogLevel.Error, Message = "Retention run failed")]
    public static partial void RetentionFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 8030, Level = LogLevel.Information, Message = "Quota warning sent to {User}: {UsedBytes} of {QuotaBytes} bytes used")]
    public static partial void QuotaWarningSent(ILogger logger, string user, long usedBytes, long quotaBytes);

    [LoggerMessage(EventId = 8031, Level = LogLevel.Warning, Message = "Could not send the quota warning to {User}")]
    public static partial void QuotaWarningFailed(ILogger logger, Exception exception, string user);
}
