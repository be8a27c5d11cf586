using Microsoft.Extensions.Logging;

namespace MailServer.Server.Hooks;

/// <summary>Rule engine and hook log messages; event ids 7000–7099. Never logs a hook secret or message content.</summary>
internal static partial class RulesLog
{
    [LoggerMessage(EventId = 7000, Level = LogLevel.Warning, Message = "Hook {Rule} invocation {InvocationId} attempt {Attempt} failed: {Reason}")]
    public static partial void HookAttemptFailed(ILogger logger, string rule, string invocationId, int attempt, string reason);

    [LoggerMessage(EventId = 7001, Level = LogLevel.Warning, Message = "Hook {Rule} invocation {InvocationId} gave up after {Attempts} attempt(s); fallback {Fallback} for every recipient")]
    public static partial void HookFallback(ILogger logger, string rule, string invocationId, int attempts, string fallback);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Information, Message = "Hook {Rule} invocation {InvocationId} decided after {Attempts} attempt(s)")]
    public static partial void HookDecided(ILogger logger, string rule, string invocationId, int attempts);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "Hook {Rule} invocation {InvocationId} added recipients outside the organization; ignored: {Recipients}")]
    public static partial void HookAddedForeignRecipients(ILogger logger, string rule, string invocationId, string recipients);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Debug, Message = "Async hook {Rule} invocation {InvocationId} answered")]
    public static partial void AsyncHookDone(ILogger logger, string rule, string invocationId);

    [LoggerMessage(EventId = 7005, Level = LogLevel.Warning, Message = "Session {SessionId}: the in-transit copy for the message flow API could not be stored")]
    public static partial void InTransitCopyFailed(ILogger logger, Exception exception, string sessionId);

    [LoggerMessage(EventId = 7010, Level = LogLevel.Information, Message = "Session {SessionId}: flow rule {Rule} ({Action}) for {Recipient}")]
    public static partial void RuleApplied(ILogger logger, string sessionId, string rule, string action, string recipient);

    [LoggerMessage(EventId = 7011, Level = LogLevel.Information, Message = "Session {SessionId}: {Recipient} dropped by flow rule {Rule}")]
    public static partial void Dropped(ILogger logger, string sessionId, string recipient, string rule);

    [LoggerMessage(EventId = 7012, Level = LogLevel.Information, Message = "Session {SessionId}: {Recipient} bounced by flow rule {Rule}; no DSN (partial refusal, sender not authenticated): logged and dropped")]
    public static partial void BounceWithoutDsn(ILogger logger, string sessionId, string recipient, string rule);
}
