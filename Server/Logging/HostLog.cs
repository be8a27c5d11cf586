using Microsoft.Extensions.Logging;

namespace MailServer.Server.Logging;

/// <summary>Host lifecycle log messages; event ids 100–199.</summary>
internal static partial class HostLog
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "mailserver {ServerName} started")]
    public static partial void Started(ILogger logger, string serverName);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "mailserver stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(EventId = 102, Level = LogLevel.Critical, Message = "mailserver could not start")]
    public static partial void StartFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "admin HTTP listener on {EndPoint}")]
    public static partial void AdminListening(ILogger logger, string endPoint);

    [LoggerMessage(EventId = 104, Level = LogLevel.Error, Message = "The search indexer failed; it tries again in a minute (SEARCH reads the messages meanwhile)")]
    public static partial void SearchIndexerFailed(ILogger logger, Exception exception);
}
