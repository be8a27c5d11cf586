using Microsoft.Extensions.Logging;

namespace MailServer.Server.Logging;

/// <summary>Mailbox rules applied at delivery (§9.8); event ids 7050–7059.</summary>
internal static partial class MailboxRulesLog
{
    [LoggerMessage(EventId = 7050, Level = LogLevel.Information, Message = "Session {SessionId}: mailbox rule {Rule} of {Mailbox} applied: {Actions}")]
    public static partial void Applied(ILogger logger, string sessionId, string mailbox, string rule, string actions);

    [LoggerMessage(EventId = 7051, Level = LogLevel.Warning, Message = "Session {SessionId}: folder {Folder} of {Mailbox} could not be created ({Reason}); the message goes to {Fallback} instead")]
    public static partial void FolderNotCreated(ILogger logger, string sessionId, string mailbox, string folder, string reason, string fallback);

    [LoggerMessage(EventId = 7052, Level = LogLevel.Warning, Message = "Session {SessionId}: {Action} of a message for {Mailbox} to {Target} refused: the daily external recipient limit of {Limit} is reached")]
    public static partial void LimitReached(ILogger logger, string sessionId, string action, string mailbox, string target, int limit);

    [LoggerMessage(EventId = 7053, Level = LogLevel.Warning, Message = "Session {SessionId}: forwarding by {Mailbox} suppressed: the message already passed through it or through too many forwards (loop protection)")]
    public static partial void LoopSuppressed(ILogger logger, string sessionId, string mailbox);

    [LoggerMessage(EventId = 7054, Level = LogLevel.Information, Message = "Session {SessionId}: {Action} of a message for {Mailbox} handed to {Target}")]
    public static partial void Sent(ILogger logger, string sessionId, string action, string mailbox, string target);

    [LoggerMessage(EventId = 7055, Level = LogLevel.Warning, Message = "Session {SessionId}: {Action} of a message for {Mailbox} to {Target} not sent: {Reason}")]
    public static partial void NotSent(ILogger logger, string sessionId, string action, string mailbox, string target, string reason);

    [LoggerMessage(EventId = 7056, Level = LogLevel.Error, Message = "Session {SessionId}: {Action} of a message for {Mailbox} failed; the original is delivered")]
    public static partial void SendFailed(ILogger logger, Exception exception, string sessionId, string action, string mailbox);

    [LoggerMessage(EventId = 7057, Level = LogLevel.Debug, Message = "Session {SessionId}: mailbox rules of {Mailbox} not run: {Exemption}")]
    public static partial void Exempt(ILogger logger, string sessionId, string mailbox, string exemption);

    [LoggerMessage(EventId = 7058, Level = LogLevel.Warning, Message = "Session {SessionId}: {Copies} rule copies for {Mailbox} not made: they would take the mailbox over its quota")]
    public static partial void CopiesOverQuota(ILogger logger, string sessionId, string mailbox, int copies);
}
