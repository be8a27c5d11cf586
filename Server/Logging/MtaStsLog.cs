using Microsoft.Extensions.Logging;

namespace MailServer.Server.Logging;

/// <summary>Outbound transport security: MTA-STS, DANE, REQUIRETLS (events 9340–9369).</summary>
internal static partial class MtaStsLog
{
    [LoggerMessage(EventId = 9340, Level = LogLevel.Information,
        Message = "MTA-STS: policy of {Domain} fetched: mode {Mode}, mx {Mx}, max_age {MaxAge} s")]
    public static partial void PolicyFetched(ILogger logger, string domain, string mode, string mx, long maxAge);

    [LoggerMessage(EventId = 9341, Level = LogLevel.Warning,
        Message = "MTA-STS: the policy of {Domain} could not be fetched: {Reason}; a cached policy stays in force until it expires")]
    public static partial void FetchFailed(ILogger logger, string domain, string reason);

    [LoggerMessage(EventId = 9342, Level = LogLevel.Warning, Message = "MTA-STS: policy cache {File} unusable: {Reason}")]
    public static partial void CacheUnreadable(ILogger logger, string file, string reason);

    [LoggerMessage(EventId = 9343, Level = LogLevel.Warning,
        Message = "MTA-STS (testing): delivery to {Domain} via {Host} would have been refused under enforce: {Reason}; delivered as usual")]
    public static partial void TestingFailure(ILogger logger, string domain, string host, string reason);

    [LoggerMessage(EventId = 9344, Level = LogLevel.Warning,
        Message = "{Mechanism}: {Host} for {Domain} refused: {Reason}")]
    public static partial void HostRefused(ILogger logger, string mechanism, string domain, string host, string reason);

    [LoggerMessage(EventId = 9345, Level = LogLevel.Information,
        Message = "TLS-Required: No: the MTA-STS and DANE policies of {Domain} are not enforced for this message (RFC 8689 §3)")]
    public static partial void PoliciesWaived(ILogger logger, string domain);

    [LoggerMessage(EventId = 9346, Level = LogLevel.Information,
        Message = "DANE: the MX answer of {Domain} is not DNSSEC-authenticated; the TLSA records of its hosts are not used (RFC 7672 §2.2.1)")]
    public static partial void InsecureMx(ILogger logger, string domain);
}
