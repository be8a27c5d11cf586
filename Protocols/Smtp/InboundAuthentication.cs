using MailServer.Rules.SenderAuthentication;

namespace MailServer.Protocols.Smtp;

/// <summary>Per-organization DMARC settings (config Dmarc.Enforce), read live on every message.</summary>
public interface IDmarcEnforcementSource
{
    /// <summary>True when the organization enforces senders' DMARC policies (the default, §12).</summary>
    bool IsEnforced(string organizationId);
}

/// <summary>What the MX listener needs to authenticate senders; without it no verdict is computed.</summary>
/// <param name="Authenticator">Computes SPF, DKIM, ARC and DMARC verdicts.</param>
/// <param name="Enforcement">Whether each organization enforces DMARC.</param>
public sealed record InboundAuthenticationOptions(SenderAuthenticator Authenticator, IDmarcEnforcementSource Enforcement);

/// <summary>
/// The sender-authentication verdict of an inbound transaction and what DMARC enforcement decided for each
/// organization among its recipients. Travels with <see cref="SmtpTransaction.Authentication"/>; recipients of an
/// organization that rejected never reach delivery.
/// </summary>
/// <param name="Verdict">SPF, DKIM, ARC and DMARC results (the event log's dkimVerdict, spfVerdict, dmarcVerdict, dmarcPolicy).</param>
/// <param name="ByOrganization">The disposition per organization id of the envelope's recipients.</param>
public sealed record InboundAuthentication(SenderAuthenticationVerdict Verdict, IReadOnlyDictionary<string, DmarcDisposition> ByOrganization)
{
    /// <summary>The disposition for recipients of <paramref name="organizationId"/> (Deliver when not decided).</summary>
    public DmarcDisposition DispositionFor(string organizationId) =>
        ByOrganization.GetValueOrDefault(organizationId, DmarcDisposition.Deliver);

    /// <summary>True when enforcement sends this organization's copies to Junk E-mail.</summary>
    public bool IsQuarantined(string organizationId) => DispositionFor(organizationId) == DmarcDisposition.Quarantine;

    /// <summary>True when enforcement changed delivery for some organization (a DMARC_POLICY_APPLIED event, §18).</summary>
    public bool PolicyApplied => ByOrganization.Values.Any(d => d != DmarcDisposition.Deliver);
}
