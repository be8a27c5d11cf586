using Microsoft.Extensions.Logging;

namespace MailServer.Server.Hooks;

/// <summary>Log events of messages held for a synchronous hook (7015–7029). Never the hook secret.</summary>
internal static partial class HeldHookLog
{
    [LoggerMessage(EventId = 7015, Level = LogLevel.Information, Message = "Session {SessionId}: held {HeldId} ({Direction}) for synchronous hook rule {Rule}, invocation {InvocationId}, {Recipients} recipient(s)")]
    public static partial void Held(ILogger logger, string sessionId, string heldId, string direction, string rule, string invocationId, int recipients);

    [LoggerMessage(EventId = 7016, Level = LogLevel.Warning, Message = "Held {HeldId}: hook {Rule} invocation {InvocationId} attempt {Attempt} failed ({Reason}); next attempt {NextAttempt:u}")]
    public static partial void AttemptFailed(ILogger logger, string heldId, string rule, string invocationId, int attempt, string reason, DateTimeOffset nextAttempt);

    [LoggerMessage(EventId = 7017, Level = LogLevel.Information, Message = "Held {HeldId}: hook {Rule} invocation {InvocationId} decided at attempt {Attempt}")]
    public static partial void Decided(ILogger logger, string heldId, string rule, string invocationId, int attempt);

    [LoggerMessage(EventId = 7018, Level = LogLevel.Warning, Message = "Held {HeldId}: hook {Rule} invocation {InvocationId} gave up after {Attempts} attempt(s) ({Reason}); fallback {Fallback} for every recipient")]
    public static partial void FallbackApplied(ILogger logger, string heldId, string rule, string invocationId, int attempts, string reason, string fallback);

    [LoggerMessage(EventId = 7019, Level = LogLevel.Information, Message = "Resumed {Count} message(s) held for synchronous hooks")]
    public static partial void Resumed(ILogger logger, int count);

    [LoggerMessage(EventId = 7020, Level = LogLevel.Warning, Message = "Held {HeldId}: {Recipient} not delivered after the hook decided: {Reason}")]
    public static partial void RecipientNotDelivered(ILogger logger, string heldId, string recipient, string reason);

    [LoggerMessage(EventId = 7021, Level = LogLevel.Error, Message = "Held {HeldId}: processing failed; it stays held and is tried again")]
    public static partial void ProcessingFailed(ILogger logger, Exception exception, string heldId);

    [LoggerMessage(EventId = 7022, Level = LogLevel.Warning, Message = "Held {HeldId}: {Recipient} no longer reaches a mailbox here; left out")]
    public static partial void RecipientGone(ILogger logger, string heldId, string recipient);

    [LoggerMessage(EventId = 7023, Level = LogLevel.Warning, Message = "Held messages could not be claimed this round; the next round tries again")]
    public static partial void ClaimFailed(ILogger logger, Exception exception);
}
