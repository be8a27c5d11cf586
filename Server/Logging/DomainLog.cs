using Microsoft.Extensions.Logging;

namespace MailServer.Server.Logging;

/// <summary>Client setup, MTA-STS and certificate notices; event ids 9300–9399.</summary>
internal static partial class DomainLog
{
    [LoggerMessage(EventId = 9300, Level = LogLevel.Information, Message = "HTTPS listener for autoconfig, autodiscover and MTA-STS on {EndPoint}")]
    public static partial void HttpsListening(ILogger logger, string endPoint);

    [LoggerMessage(EventId = 9301, Level = LogLevel.Information,
        Message = "TLS certificate {Subject} ({Source}), valid until {NotAfter:yyyy-MM-dd}, SHA-256 fingerprint {Fingerprint}")]
    public static partial void Certificate(ILogger logger, string subject, string source, DateTime notAfter, string fingerprint);

    [LoggerMessage(EventId = 9302, Level = LogLevel.Warning,
        Message = "ServerName '{ServerName}' is not a fully qualified domain name: other servers cannot reach it by MX and clients cannot " +
                  "verify the certificate; set $.MailServer.ServerName to the machine's public name (for example mail.example.com)")]
    public static partial void ServerNameNotQualified(ILogger logger, string serverName);

    [LoggerMessage(EventId = 9310, Level = LogLevel.Information, Message = "Apple profile for {User} refused: {Reason}")]
    public static partial void ProfileRefused(ILogger logger, string user, string reason);

    [LoggerMessage(EventId = 9311, Level = LogLevel.Information, Message = "Apple profile served to {User}")]
    public static partial void ProfileServed(ILogger logger, string user);
}
