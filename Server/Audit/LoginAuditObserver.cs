using MailServer.Protocols.Authentication;
using MailServer.Rules.Directory;
using MailServer.Server.Metrics;
using MailServer.Server.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MailServer.Server.Audit;

/// <summary>
/// Turns every login attempt into its audit records and samples: an Authentication event (§19.3) and an
/// <c>AuthenticationFailure</c> sample for each attempt; an AccessControl event (§19.2) and an
/// <c>AccessDenied</c> sample when the access rules were evaluated. Both events share one request id.
/// An attempt whose user name belongs to no organization is counted but written nowhere.
/// </summary>
public sealed class LoginAuditObserver(IAuditLog audit, MailMetrics metrics, IDirectorySource directory, ILogger? logger = null) : ILoginObserver
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    /// <summary>The tenant tag value of an attempt that names no organization.</summary>
    public const string UnknownOrganization = "unknown";

    /// <inheritdoc />
    public void Observe(LoginAttempt attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        var organizationId = attempt.User?.OrganizationId ?? OrganizationOf(directory.Current, attempt.UserName);
        var protocol = ConfiguredLoginAccessRules.ProtocolName(attempt.Protocol);
        var ip = (attempt.RemoteAddress.IsIPv4MappedToIPv6 ? attempt.RemoteAddress.MapToIPv4() : attempt.RemoteAddress).ToString();
        var success = attempt.Result is LoginResult.Success;
        metrics.AuthenticationAttempt(organizationId ?? UnknownOrganization, failed: !success);
        if (attempt.Access is { } access)
        {
            metrics.AccessEvaluated(organizationId ?? UnknownOrganization, denied: !access.Granted);
            if (!access.Granted)
                GovernanceLog.AccessDenied(_logger, protocol, ip, attempt.User?.Email ?? attempt.UserName, access.RuleName ?? "no rule matched");
        }
        if (organizationId is null)
            return;

        var requestId = AuditEvent.NewRequestId();
        if (attempt.Access is { } evaluated && attempt.User is { } user)
            audit.Write(new AccessControlAuditEvent(organizationId, requestId, user.Email, protocol, ip,
                AccessControlAuditEvent.AccessControlScope, evaluated.RuleName, evaluated.Granted));
        audit.Write(new AuthenticationAuditEvent(organizationId, requestId, attempt.User?.Email, attempt.UserName, protocol, ip,
            "basic", success, FailureReason(attempt.Result)));
    }

    private static string? FailureReason(LoginResult result) => result switch
    {
        LoginResult.Success => null,
        LoginResult.InvalidCredentials => "InvalidCredentials",
        LoginResult.Disabled => "UserDisabled",
        LoginResult.Denied => "AccessDenied",
        LoginResult.Throttled => "Throttled",
        _ => result.GetType().Name,
    };

    /// <summary>The organization a typed user name points at: its domain's, or the only organization for a bare name.</summary>
    private static string? OrganizationOf(MailDirectory directory, string userName)
    {
        var name = userName.Trim();
        if (name.Contains('@', StringComparison.Ordinal))
            return directory.OrganizationOf(name)?.Id;
        return directory.Organizations.Count == 1 ? directory.Organizations[0].Id : null;
    }
}
