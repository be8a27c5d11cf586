using Microsoft.Extensions.Logging;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// SMTP listener log events. Event ids 2000–2099 are reserved for this area and never reused.
/// Addresses and reasons are logged; message contents never are.
/// </summary>
internal static partial class SmtpLog
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "SMTP {Kind} listening on {EndPoint}")]
    public static partial void ListenerStarted(this ILogger logger, SmtpListenerKind kind, string endPoint);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "SMTP listener stopping; {Sessions} open session(s) are told 421")]
    public static partial void ListenerStopping(this ILogger logger, int sessions);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "SMTP listener stopped")]
    public static partial void ListenerStopped(this ILogger logger);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "SMTP session {SessionId} started on {Kind} from {Remote}")]
    public static partial void SessionStarted(this ILogger logger, string sessionId, SmtpListenerKind kind, string remote);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Information, Message = "SMTP session {SessionId} ended ({How})")]
    public static partial void SessionEnded(this ILogger logger, string sessionId, string how);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Warning, Message = "SMTP session {SessionId} faulted")]
    public static partial void SessionFaulted(this ILogger logger, string sessionId, Exception exception);

    [LoggerMessage(EventId = 2016, Level = LogLevel.Information, Message = "SMTP session {SessionId}: the client disconnected ({Reason})")]
    public static partial void ClientDisconnected(this ILogger logger, string sessionId, string reason);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Warning, Message = "SMTP connection from {Remote} refused: too many connections from this address")]
    public static partial void TooManyConnections(this ILogger logger, string remote);

    [LoggerMessage(EventId = 2014, Level = LogLevel.Warning, Message = "SMTP session ended by the input guard: {Verdict}")]
    public static partial void GuardTripped(this ILogger logger, GuardVerdict verdict);

    [LoggerMessage(EventId = 2015, Level = LogLevel.Warning, Message = "SMTP accept failed")]
    public static partial void AcceptFailed(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2020, Level = LogLevel.Information, Message = "MAIL FROM refused: {Reason}")]
    public static partial void SenderRefused(this ILogger logger, string reason);

    [LoggerMessage(EventId = 2021, Level = LogLevel.Information, Message = "RCPT TO <{Address}> refused: {Reason}")]
    public static partial void RecipientRefused(this ILogger logger, string address, string reason);

    [LoggerMessage(EventId = 2023, Level = LogLevel.Error, Message = "RCPT TO <{Address}>: the recipient check failed; answered 451")]
    public static partial void RecipientCheckFailed(this ILogger logger, string address, Exception exception);

    [LoggerMessage(EventId = 2022, Level = LogLevel.Information, Message = "DATA refused: {Reason}")]
    public static partial void MessageRefused(this ILogger logger, string reason);

    [LoggerMessage(EventId = 2024, Level = LogLevel.Error, Message = "DATA: the message could not be spooled (disk full or I/O error in the spool directory); answered 451")]
    public static partial void SpoolFailed(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2030, Level = LogLevel.Information, Message = "Transaction {TransactionId}: {Local} local recipient(s) accepted, {Queued} remote recipient(s) queued for delivery, {Temporary} temporary and {Permanent} permanent failure(s); replied {Reply}")]
    private static partial void DeliveryCompleted(this ILogger logger, string transactionId, int local, int queued, int temporary, int permanent, int reply);

    /// <summary>
    /// Event 2030, worded by what each recipient's success means: a local recipient was accepted by the pipeline
    /// (stored in a mailbox, or held, junked or dropped by a rule), a remote one only queued (its delivery is the
    /// outbound queue's, logged there); never "delivered" for either.
    /// </summary>
    public static void DeliveryCompleted(this ILogger logger, string transactionId, TransactionOutcome outcome, int reply) =>
        logger.DeliveryCompleted(
            transactionId,
            outcome.Recipients.Count(r => r.Outcome is DeliveryOutcome.Delivered && !r.Recipient.IsRemote),
            outcome.Recipients.Count(r => r.Outcome is DeliveryOutcome.Delivered && r.Recipient.IsRemote),
            outcome.Recipients.Count(r => r.Outcome is DeliveryOutcome.TemporaryFailure),
            outcome.Recipients.Count(r => r.Outcome is DeliveryOutcome.PermanentFailure),
            reply);

    [LoggerMessage(EventId = 2031, Level = LogLevel.Error, Message = "Transaction {TransactionId}: delivery threw; replied 451")]
    public static partial void DeliveryFailed(this ILogger logger, string transactionId, Exception exception);

    [LoggerMessage(EventId = 2040, Level = LogLevel.Information, Message = "AUTH succeeded for {User}")]
    public static partial void AuthSucceeded(this ILogger logger, string user);

    [LoggerMessage(EventId = 2041, Level = LogLevel.Warning, Message = "AUTH failed for {User}: {Reason}")]
    public static partial void AuthFailed(this ILogger logger, string user, string reason);

    [LoggerMessage(EventId = 2042, Level = LogLevel.Information, Message = "Submission by {User} refused: {Reason}")]
    public static partial void SubmissionRefused(this ILogger logger, string user, string reason);

    [LoggerMessage(EventId = 2090, Level = LogLevel.Warning, Message = "DATA deferred with 452 4.3.1: {InFlight} message bytes in flight, budget {Budget} (Limits.MaxBytesInFlightMiB)")]
    public static partial void DataDeferredOverBudget(this ILogger logger, long inFlight, long budget);

    [LoggerMessage(EventId = 2091, Level = LogLevel.Information, Message = "Message {TransactionId} of {Size} bytes waits for the budget of bytes in flight: {InFlight} of {Budget} in use, {Waiting} waiting before it (Limits.MaxBytesInFlightMiB)")]
    public static partial void WaitingForBudget(this ILogger logger, string transactionId, long size, long inFlight, long budget, int waiting);

    [LoggerMessage(EventId = 2092, Level = LogLevel.Warning, Message = "Message {TransactionId} of {Size} bytes deferred with 452 4.3.1: no room in the budget of bytes in flight within {WaitSeconds} s (Limits.BytesInFlightWaitSeconds)")]
    public static partial void BudgetWaitTimedOut(this ILogger logger, string transactionId, long size, int waitSeconds);
}
