using Microsoft.Extensions.Logging;

namespace MailServer.Server.Logging;

/// <summary>
/// Mail-flow core log events. Event ids 3200–3299 are reserved for this area and never reused. Addresses, rule
/// names and reasons are logged; message contents never are.
/// </summary>
internal static partial class MailFlowLog
{
    [LoggerMessage(EventId = 3200, Level = LogLevel.Error, Message = "Message {MessageId} ({Origin}): a stage failed; recipients not yet accepted get a temporary failure")]
    public static partial void StageFailed(ILogger logger, Exception exception, string messageId, string origin);

    [LoggerMessage(EventId = 3201, Level = LogLevel.Information, Message = "Message {MessageId}: bounce notice for {Recipients} recipient(s) sent to {Sender}")]
    public static partial void BounceNoticeSent(ILogger logger, string messageId, int recipients, string sender);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Information, Message = "Message {MessageId}: {Recipients} recipient(s) bounced by a rule; no notice, the sender passed neither SPF nor DMARC")]
    public static partial void BounceWithoutNotice(ILogger logger, string messageId, int recipients);

    [LoggerMessage(EventId = 3203, Level = LogLevel.Warning, Message = "Message {MessageId} ({Origin}): recipient <{Recipient}> not delivered: {Reason}")]
    public static partial void InternalNotDelivered(ILogger logger, string messageId, string origin, string recipient, string reason);

    [LoggerMessage(EventId = 3204, Level = LogLevel.Information, Message = "Message {MessageId}: submission by {User} refused: {Reason}")]
    public static partial void SubmissionRefused(ILogger logger, string messageId, string user, string reason);
}
