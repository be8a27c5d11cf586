using Microsoft.Extensions.Logging;

namespace MailServer.Server.Logging;

/// <summary>DNS resolver log messages; event ids 200–299.</summary>
internal static partial class DnsLog
{
    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "DNS query {Name} {Type} failed: {Reason}")]
    public static partial void QueryFailed(ILogger logger, string name, string type, string reason);
}
