using Microsoft.Extensions.Logging;

namespace MailServer.Server.Logging;

/// <summary>Outbound queue and remote delivery log messages; event ids 3100–3199. Never a password or a message body.</summary>
internal static partial class QueueLog
{
    [LoggerMessage(EventId = 3100, Level = LogLevel.Information, Message = "Queued {QueueId}: {Recipients} remote recipient(s), {Bytes} bytes")]
    public static partial void Queued(ILogger logger, string queueId, int recipients, long bytes);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "{QueueId}: delivered to <{Recipient}> via {RemoteMta}")]
    public static partial void RecipientDelivered(ILogger logger, string queueId, string recipient, string remoteMta);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Information, Message = "{QueueId}: <{Recipient}> deferred (attempt {Attempt}, next at {NextAttempt:o}): {Reason}")]
    public static partial void RecipientDeferred(ILogger logger, string queueId, string recipient, int attempt, DateTimeOffset nextAttempt, string reason);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "{QueueId}: <{Recipient}> bounced ({Status}): {Reason}")]
    public static partial void RecipientBounced(ILogger logger, string queueId, string recipient, string status, string reason);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Information, Message = "{QueueId}: {Kind} DSN sent to <{Sender}>")]
    public static partial void DsnSent(ILogger logger, string queueId, string kind, string sender);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Error, Message = "{QueueId}: the DSN to <{Sender}> could not be stored")]
    public static partial void DsnFailed(ILogger logger, Exception exception, string queueId, string sender);

    [LoggerMessage(EventId = 3106, Level = LogLevel.Error, Message = "{QueueId}: a delivery run failed; the message stays queued")]
    public static partial void RunFailed(ILogger logger, Exception exception, string queueId);

    [LoggerMessage(EventId = 3107, Level = LogLevel.Error, Message = "Session {SessionId}: the outbound queue could not take the message")]
    public static partial void EnqueueFailed(ILogger logger, Exception exception, string sessionId);

    [LoggerMessage(EventId = 3108, Level = LogLevel.Information, Message = "Outbound queue started: {Queued} message(s) waiting")]
    public static partial void Started(ILogger logger, int queued);

    [LoggerMessage(EventId = 3109, Level = LogLevel.Warning, Message = "{QueueId}: SMTP gateway {Gateway} is not configured any more; routed directly")]
    public static partial void GatewayMissing(ILogger logger, string queueId, string gateway);

    [LoggerMessage(EventId = 3110, Level = LogLevel.Information, Message = "{QueueId}: removed from the queue by an administrator")]
    public static partial void Deleted(ILogger logger, string queueId);

    [LoggerMessage(EventId = 3111, Level = LogLevel.Error, Message = "Session {SessionId}: DKIM signing failed; the message goes out unsigned")]
    public static partial void SigningFailed(ILogger logger, Exception exception, string sessionId);

    [LoggerMessage(EventId = 3112, Level = LogLevel.Warning, Message = "{QueueId}: the claim on the message was taken over by another node after its lease ran out; this run writes nothing back")]
    public static partial void LeaseLost(ILogger logger, string queueId);

    [LoggerMessage(EventId = 3113, Level = LogLevel.Warning, Message = "The outbound queue could not claim due messages this round; it tries again at the next")]
    public static partial void ClaimFailed(ILogger logger, Exception exception);
}
