using Microsoft.Extensions.Logging;

namespace MailServer.Server.Logging;

/// <summary>The content filter's log lines (spam and virus engines, Junk training). Ids 9600–9629.</summary>
internal static partial class ContentFilteringLog
{
    [LoggerMessage(EventId = 9600, Level = LogLevel.Information, Message = "Content filtering: rspamd {Rspamd}, clamd {Clamd}, timeout {TimeoutSeconds} s, fail mode {FailMode}, learning {Learning}")]
    public static partial void Configured(ILogger logger, string rspamd, string clamd, int timeoutSeconds, string failMode, string learning);

    [LoggerMessage(EventId = 9601, Level = LogLevel.Warning, Message = "Content filtering is off: no engine is configured (MailServer.ContentFiltering.RspamdUrl and ClamdAddress are null); spam is DMARC quarantine alone and nothing is scanned for viruses")]
    public static partial void Off(ILogger logger);

    [LoggerMessage(EventId = 9602, Level = LogLevel.Information, Message = "Message {MessageId}: spam {Action} score {Score} (symbols {Symbols}); virus {Virus}; decision {Decision}; rspamd {RspamdMs} ms, clamd {ClamdMs} ms")]
    public static partial void Scanned(ILogger logger, string messageId, string action, double score, string symbols, string virus, string decision, long rspamdMs, long clamdMs);

    [LoggerMessage(EventId = 9603, Level = LogLevel.Warning, Message = "Message {MessageId} from {ReversePath} ({ClientAddress}) refused: virus {Signature}")]
    public static partial void VirusFound(ILogger logger, string messageId, string reversePath, string clientAddress, string signature);

    [LoggerMessage(EventId = 9604, Level = LogLevel.Warning, Message = "Message {MessageId}: {Engine} failed ({Reason}); fail mode {FailMode}")]
    public static partial void EngineFailed(ILogger logger, string messageId, string engine, string reason, string failMode);

    [LoggerMessage(EventId = 9605, Level = LogLevel.Warning, Message = "Possible compromised account: {User} submitted message {MessageId} that rspamd scores {Score} ({Action}); {Count} such messages in the last hour (limit {Limit})")]
    public static partial void OutboundSpam(ILogger logger, string user, string messageId, double score, string action, int count, int limit);

    [LoggerMessage(EventId = 9606, Level = LogLevel.Warning, Message = "Submission of {User} deferred: {Count} spam-scored messages in the last hour reached the limit of {Limit} (a compromised-account signal)")]
    public static partial void OutboundThrottled(ILogger logger, string user, int count, int limit);

    [LoggerMessage(EventId = 9610, Level = LogLevel.Information, Message = "Junk training: {Count} message(s) of {Owner} learned as {Kind}")]
    public static partial void Learned(ILogger logger, string owner, int count, string kind);

    [LoggerMessage(EventId = 9611, Level = LogLevel.Warning, Message = "Junk training: message {Uid} of {Owner} could not be learned as {Kind} (attempt {Attempt}): {Reason}")]
    public static partial void LearnFailed(ILogger logger, string owner, uint uid, string kind, int attempt, string reason);

    [LoggerMessage(EventId = 9612, Level = LogLevel.Warning, Message = "Junk training: the queue is full ({Capacity} moves waiting); a move of {Owner} is not learned")]
    public static partial void QueueFull(ILogger logger, string owner, int capacity);

    [LoggerMessage(EventId = 9613, Level = LogLevel.Error, Message = "Junk training: a move of {Owner} failed")]
    public static partial void TrainingFault(ILogger logger, Exception exception, string owner);

    [LoggerMessage(EventId = 9614, Level = LogLevel.Error, Message = "The mailbox access observer {Observer} failed")]
    public static partial void ObserverFailed(ILogger logger, Exception exception, string observer);
}
