using Microsoft.Extensions.Logging;

namespace MailServer.Server.Logging;

/// <summary>Certificates from ACME (events 9320–9329).</summary>
internal static partial class AcmeLog
{
    [LoggerMessage(EventId = 9320, Level = LogLevel.Information, Message = "ACME: requesting a certificate for {Domains} from {Directory}")]
    public static partial void Requesting(ILogger logger, string domains, string directory);

    [LoggerMessage(EventId = 9321, Level = LogLevel.Information,
        Message = "ACME: certificate for {Domains} issued by {Issuer}, valid until {NotAfter:yyyy-MM-ddTHH:mm:ssZ}, SHA-256 fingerprint {Fingerprint}; " +
                  "every listener presents it from its next handshake; renewal at {RenewAt:yyyy-MM-ddTHH:mm:ssZ}")]
    public static partial void Issued(ILogger logger, string domains, string issuer, DateTime notAfter, string fingerprint, DateTime renewAt);

    [LoggerMessage(EventId = 9322, Level = LogLevel.Warning,
        Message = "ACME: could not obtain a certificate for {Domains}: {Reason}; next attempt in {Wait}")]
    public static partial void Failed(ILogger logger, string domains, string reason, TimeSpan wait);

    [LoggerMessage(EventId = 9323, Level = LogLevel.Information,
        Message = "ACME: certificate valid until {NotAfter:yyyy-MM-ddTHH:mm:ssZ}, renewal at {RenewAt:yyyy-MM-ddTHH:mm:ssZ}")]
    public static partial void RenewalScheduled(ILogger logger, DateTime notAfter, DateTime renewAt);

    [LoggerMessage(EventId = 9324, Level = LogLevel.Information, Message = "ACME: account {AccountUrl} registered")]
    public static partial void Registered(ILogger logger, string accountUrl);

    [LoggerMessage(EventId = 9325, Level = LogLevel.Information, Message = "HTTP listener for ACME HTTP-01 challenges on {EndPoint}")]
    public static partial void HttpListening(ILogger logger, string endPoint);
}
