namespace MailServer.Rules.SenderAuthentication;

/// <summary>
/// The sender-authentication verdict of an inbound transaction and what DMARC enforcement decided for each
/// organization among its recipients. Recipients of an organization that rejected
/// never reach delivery.
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
