using Microsoft.Extensions.Logging;

namespace MailServer.Storage.PostgreSql;

/// <summary>The PostgreSQL engine's log events (4100–4109). Never a connection string (it may hold a password).</summary>
internal static partial class PostgreSqlLog
{
    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "PostgreSQL store opened: database {Database} on {Host}, schema version {Version}")]
    public static partial void Opened(ILogger logger, string database, string host, int version);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "PostgreSQL store schema migrated from version {From} to {To}")]
    public static partial void Migrated(ILogger logger, int from, int to);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Warning, Message = "The PostgreSQL change listener lost its connection; reconnecting (subscribers resynchronise)")]
    public static partial void ListenerLost(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Warning, Message = "A change notification from another node could not be read; subscribers of every mailbox resynchronise")]
    public static partial void BadNotification(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Warning, Message = "A write met a deadlock or serialization failure and was retried (attempt {Attempt})")]
    public static partial void Retried(ILogger logger, int attempt);

    [LoggerMessage(EventId = 4105, Level = LogLevel.Critical, Message = "A PostgreSQL commit failed; its caller was told the outcome is unknown")]
    public static partial void CommitFailed(ILogger logger, Exception exception);
}
