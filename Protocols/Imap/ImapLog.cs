using Microsoft.Extensions.Logging;

namespace MailServer.Protocols.Imap;

/// <summary>IMAP log messages, event ids 5000–5099. Never a password or message content.</summary>
internal static partial class ImapLog
{
    [LoggerMessage(EventId = 5000, Level = LogLevel.Information, Message = "IMAP listener ({Kind}) on {EndPoint}")]
    public static partial void ListenerStarted(this ILogger logger, ImapEndpointKind kind, string endPoint);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "IMAP listener stopped; {Sessions} session(s) told BYE")]
    public static partial void ListenerStopped(this ILogger logger, int sessions);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "IMAP connection from {RemoteEndPoint} on {Kind}")]
    public static partial void SessionStarted(this ILogger logger, string remoteEndPoint, ImapEndpointKind kind);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Information, Message = "IMAP session ended ({Reason})")]
    public static partial void SessionEnded(this ILogger logger, string reason);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "IMAP connection from {RemoteAddress} refused: {Connections} connections from that address already")]
    public static partial void TooManyConnections(this ILogger logger, string remoteAddress, int connections);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Information, Message = "IMAP TLS handshake failed")]
    public static partial void TlsFailed(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Information, Message = "IMAP login as {User} succeeded")]
    public static partial void LoginSucceeded(this ILogger logger, string user);

    [LoggerMessage(EventId = 5007, Level = LogLevel.Warning, Message = "IMAP login as {User} failed: {Outcome}")]
    public static partial void LoginFailed(this ILogger logger, string user, string outcome);

    [LoggerMessage(EventId = 5008, Level = LogLevel.Error, Message = "IMAP command {Command} failed with a server fault")]
    public static partial void CommandFault(this ILogger logger, string command, Exception exception);

    [LoggerMessage(EventId = 5009, Level = LogLevel.Warning, Message = "IMAP command {Command}: temporary failure")]
    public static partial void CommandTemporaryFailure(this ILogger logger, string command, Exception exception);

    [LoggerMessage(EventId = 5010, Level = LogLevel.Information, Message = "IMAP session idle for {Timeout}; closing")]
    public static partial void IdleTimeout(this ILogger logger, TimeSpan timeout);

    [LoggerMessage(EventId = 5011, Level = LogLevel.Warning, Message = "IMAP change feed overflowed for folder {FolderId}; resynchronising from the store")]
    public static partial void FeedOverflowed(this ILogger logger, string folderId);

    [LoggerMessage(EventId = 5012, Level = LogLevel.Warning, Message = "IMAP session ended by an unexpected error")]
    public static partial void SessionFaulted(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5013, Level = LogLevel.Information, Message = "IMAP input refused: {Reason}")]
    public static partial void FramingFailed(this ILogger logger, string reason);

    [LoggerMessage(EventId = 5017, Level = LogLevel.Warning, Message = "IMAP literal of {Size} octets refused with NO [LIMIT]: {InFlight} message bytes in flight, budget {Budget} (Limits.MaxBytesInFlightMiB)")]
    public static partial void LiteralRefusedOverBudget(this ILogger logger, long size, long inFlight, long budget);

    [LoggerMessage(EventId = 5014, Level = LogLevel.Information, Message = "IMAP selection lost: {Reason}; closing the session")]
    public static partial void SelectionLost(this ILogger logger, string reason);

    [LoggerMessage(EventId = 5066, Level = LogLevel.Debug, Message = "IMAP FETCH scanned the structure of UID {Uid} ({Size} octets) from the stored stream, keeping {Held} octets of header")]
    public static partial void FetchStructureScanned(this ILogger logger, uint uid, long size, int held);

    [LoggerMessage(EventId = 5068, Level = LogLevel.Debug, Message = "IMAP SEARCH scanned the structure of UID {Uid} ({Size} octets) from the stored stream; its text parts are read by range")]
    public static partial void SearchStructureScanned(this ILogger logger, uint uid, long size);

    [LoggerMessage(EventId = 5067, Level = LogLevel.Debug, Message = "IMAP FETCH of UID {Uid} reads the message whole: {Reason}")]
    public static partial void FetchStructureTooLarge(this ILogger logger, uint uid, string reason);

    [LoggerMessage(EventId = 5090, Level = LogLevel.Error, Message = "IMAP FETCH could not finish a message literal it had begun; closing the session")]
    public static partial void FetchLiteralBroken(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5015, Level = LogLevel.Warning, Message = "IMAP mailbox access observer failed in session {SessionId}")]
    public static partial void AccessObserverFailed(ILogger logger, Exception exception, string sessionId);

    [LoggerMessage(EventId = 5016, Level = LogLevel.Warning, Message = "IMAP recent mark of folder {FolderId} not stored; those messages may be recent again after a restart")]
    public static partial void RecentMarkNotStored(ILogger logger, Exception exception, string folderId);

    // 5060–5069: the encrypted search index (Search/).
    [LoggerMessage(EventId = 5060, Level = LogLevel.Debug, Message = "SEARCH in folder {FolderId}: the index decided {Decided} of {Messages} messages; {Read} read and tested")]
    public static partial void SearchIndexUsed(this ILogger logger, string folderId, int decided, int messages, int read);

    [LoggerMessage(EventId = 5061, Level = LogLevel.Debug, Message = "SEARCH in folder {FolderId} reads every message: {Reason}")]
    public static partial void SearchIndexFallback(this ILogger logger, string folderId, string reason);

    [LoggerMessage(EventId = 5062, Level = LogLevel.Information, Message = "Search index of folder {FolderId}: {Messages} messages indexed in {Milliseconds} ms")]
    public static partial void SearchIndexUpdatedInformation(this ILogger logger, string folderId, long messages, long milliseconds);

    [LoggerMessage(EventId = 5063, Level = LogLevel.Debug, Message = "Search index of folder {FolderId}: {Messages} messages indexed in {Milliseconds} ms")]
    public static partial void SearchIndexUpdatedDebug(this ILogger logger, string folderId, long messages, long milliseconds);

    /// <summary>Event 5062 for a large update (a rebuild, a catch-up after a start), 5063 for the trickle of new mail.</summary>
    public static void SearchIndexUpdated(this ILogger logger, string folderId, long messages, long milliseconds)
    {
        if (messages >= 1000)
            logger.SearchIndexUpdatedInformation(folderId, messages, milliseconds);
        else
            logger.SearchIndexUpdatedDebug(folderId, messages, milliseconds);
    }

    [LoggerMessage(EventId = 5064, Level = LogLevel.Warning, Message = "Search index: message UID {Uid} could not be read ({Error}); SEARCH reads it each time")]
    public static partial void SearchIndexMessageSkipped(this ILogger logger, uint uid, string error);

    [LoggerMessage(EventId = 5065, Level = LogLevel.Information, Message = "Search index of folder {FolderId}: a segment does not open ({Error}); rebuilding from the messages")]
    public static partial void SearchIndexSegmentUnreadable(this ILogger logger, string folderId, string error);

    [LoggerMessage(EventId = 5018, Level = LogLevel.Warning, Message = "IMAP NOTIFY: writing notifications failed; they are stopped for this session")]
    public static partial void NotificationsFailed(this ILogger logger, Exception exception);
}
