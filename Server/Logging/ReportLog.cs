using Microsoft.Extensions.Logging;

namespace MailServer.Server.Logging;

/// <summary>Aggregate reports: TLS-RPT (RFC 8460) and DMARC (RFC 7489 §7.2) (events 9370–9389).</summary>
internal static partial class ReportLog
{
    [LoggerMessage(EventId = 9370, Level = LogLevel.Warning, Message = "Reports: {File} unreadable ({Reason}); counting starts afresh")]
    public static partial void LedgerUnreadable(ILogger logger, string file, string reason);

    [LoggerMessage(EventId = 9371, Level = LogLevel.Warning, Message = "Reports: {File} could not be written ({Reason}); tried again shortly")]
    public static partial void LedgerUnwritable(ILogger logger, string file, string reason);

    [LoggerMessage(EventId = 9372, Level = LogLevel.Information,
        Message = "{Kind} report {ReportId} for {Domain} ({Day}) sent to {Destination}")]
    public static partial void Sent(ILogger logger, string kind, string reportId, string domain, string day, string destination);

    [LoggerMessage(EventId = 9373, Level = LogLevel.Information,
        Message = "{Kind} report for {Domain} ({Day}) not sent: {Reason}")]
    public static partial void NotSent(ILogger logger, string kind, string domain, string day, string reason);

    [LoggerMessage(EventId = 9374, Level = LogLevel.Warning,
        Message = "{Kind} report {ReportId} for {Domain} could not be sent to {Destination}: {Reason}")]
    public static partial void SendFailed(ILogger logger, string kind, string reportId, string domain, string destination, string reason);

    [LoggerMessage(EventId = 9375, Level = LogLevel.Error, Message = "Reports: the daily run failed")]
    public static partial void RunFailed(ILogger logger, Exception exception);
}
