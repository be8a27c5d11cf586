using Microsoft.Extensions.Logging;

namespace MailServer.Server.Logging;

/// <summary>
/// Sender-authentication log events. Event ids 6000–6099 are reserved for this area and never reused.
/// Domains and verdicts are logged; message contents never are.
/// </summary>
internal static partial class SenderAuthenticationLog
{
    [LoggerMessage(EventId = 6000, Level = LogLevel.Information,
        Message = "Transaction {TransactionId}: spf={Spf} ({SpfDomain}) dkim={Dkim} dmarc={Dmarc} dmarcPolicy={DmarcPolicy} arc={Arc} from={FromDomain}")]
    public static partial void Verdict(this ILogger logger, string transactionId, string spf, string spfDomain, string dkim, string dmarc, string dmarcPolicy, string arc, string fromDomain);

    [LoggerMessage(EventId = 6001, Level = LogLevel.Warning,
        Message = "Transaction {TransactionId}: DMARC policy {Policy} of {FromDomain} applied for organization {OrganizationId}: {Disposition}, {Recipients} recipient(s)")]
    public static partial void PolicyApplied(this ILogger logger, string transactionId, string policy, string fromDomain, string organizationId, string disposition, int recipients);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Information,
        Message = "Transaction {TransactionId}: DMARC failed for {FromDomain} but organization {OrganizationId} does not enforce; delivered as usual")]
    public static partial void NotEnforced(this ILogger logger, string transactionId, string fromDomain, string organizationId);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Error,
        Message = "Transaction {TransactionId}: sender authentication failed unexpectedly; delivered without verdicts")]
    public static partial void AuthenticationFailed(this ILogger logger, string transactionId, Exception exception);

    [LoggerMessage(EventId = 6004, Level = LogLevel.Information,
        Message = "Transaction {TransactionId}: dkim {Result} d={Domain} s={Selector} a={Algorithm} ({Problem})")]
    public static partial void DkimSignature(this ILogger logger, string transactionId, string result, string domain, string selector, string algorithm, string problem);
}
