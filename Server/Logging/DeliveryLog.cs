using Microsoft.Extensions.Logging;

namespace MailServer.Server.Logging;

/// <summary>Delivery pipeline log messages; event ids 3000–3099.</summary>
internal static partial class DeliveryLog
{
    // Debug: the SMTP transaction's own line (2030) already says how many local recipients were accepted.
    [LoggerMessage(EventId = 3000, Level = LogLevel.Debug, Message = "Message {MessageId}: stored {Copies} copies of a {Bytes}-byte message")]
    public static partial void Delivered(ILogger logger, string messageId, int copies, int bytes);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Mailbox {Mailbox} is full ({UsedBytes} of {QuotaBytes} bytes); not delivered there")]
    public static partial void MailboxFull(ILogger logger, string mailbox, long usedBytes, long quotaBytes);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Error, Message = "Session {SessionId}: the store failed to take a message")]
    public static partial void StoreFailed(ILogger logger, Exception exception, string sessionId);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "Session {SessionId}: journal record of organization {Organization} sent to {JournalingAddress}")]
    public static partial void Journaled(ILogger logger, string sessionId, string organization, string journalingAddress);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Error, Message = "Session {SessionId}: journal record of organization {Organization} could not be generated; reported to the report address")]
    public static partial void JournalFailed(ILogger logger, Exception exception, string sessionId, string organization);
}
