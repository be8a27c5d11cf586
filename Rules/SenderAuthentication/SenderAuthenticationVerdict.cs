namespace MailServer.Rules.SenderAuthentication;

/// <summary>DKIM results per signature, as RFC 8601 §2.7.1 names them.</summary>
public enum DkimResult
{
    /// <summary>The message carries no signature.</summary>
    None,
    /// <summary>The signature verified.</summary>
    Pass,
    /// <summary>The signature did not verify (body or header hash mismatch, disabled algorithm).</summary>
    Fail,
    /// <summary>The public key could not be fetched now.</summary>
    TempError,
    /// <summary>The signature or key record is unusable (malformed, expired, no key, revoked key).</summary>
    PermError,
}

/// <summary>The result of one DKIM-Signature header field.</summary>
/// <param name="Result">Pass, fail or an error.</param>
/// <param name="Domain">The signing domain (d=), "" when unreadable.</param>
/// <param name="Selector">The selector (s=), "" when unreadable.</param>
/// <param name="Algorithm">The algorithm (a=), "" when unreadable.</param>
/// <param name="SignaturePrefix">The first 8 characters of b=, to tell signatures apart (RFC 6008).</param>
/// <param name="Problem">Why it did not pass, for logs and the header comment.</param>
public sealed record DkimSignatureVerdict(DkimResult Result, string Domain, string Selector, string Algorithm, string SignaturePrefix, string? Problem = null);

/// <summary>The ARC chain validation result (RFC 8617 §4.4), reported only.</summary>
public enum ArcResult
{
    /// <summary>No ARC sets.</summary>
    None,
    /// <summary>The chain validated.</summary>
    Pass,
    /// <summary>The chain is broken.</summary>
    Fail,
}

/// <summary>DMARC results (RFC 7489 §11.2 / RFC 8601).</summary>
public enum DmarcResult
{
    /// <summary>No DMARC record for the From domain or its organizational domain.</summary>
    None,
    /// <summary>An aligned SPF or DKIM pass.</summary>
    Pass,
    /// <summary>No aligned pass, or the From header is unusable (RFC 7489 §6.6.1).</summary>
    Fail,
    /// <summary>The policy could not be fetched now.</summary>
    TempError,
    /// <summary>The published policy could not be read.</summary>
    PermError,
}

/// <summary>A domain owner's requested handling (RFC 7489 §6.3 p= / sp=).</summary>
public enum DmarcPolicy
{
    /// <summary>Monitor only.</summary>
    None,
    /// <summary>Treat as suspicious: Junk E-mail.</summary>
    Quarantine,
    /// <summary>Refuse in the SMTP session.</summary>
    Reject,
}

/// <summary>The DMARC evaluation of one message.</summary>
/// <param name="Result">Pass, fail, none or an error.</param>
/// <param name="FromDomain">The RFC5322.From domain, null when the From header was unusable.</param>
/// <param name="Policy">The policy the domain owner published for this domain (p=, or sp= for a subdomain); null without a record.</param>
/// <param name="AppliedPolicy">The policy after pct= sampling (RFC 7489 §6.6.4); what enforcement acts on for a failure.</param>
/// <param name="SpfAligned">An SPF pass for an aligned domain.</param>
/// <param name="DkimAligned">A DKIM pass for an aligned domain.</param>
/// <param name="Problem">Why the result is fail/temperror/permerror, for logs.</param>
public sealed record DmarcVerdict(
    DmarcResult Result,
    string? FromDomain,
    DmarcPolicy? Policy,
    DmarcPolicy? AppliedPolicy,
    bool SpfAligned,
    bool DkimAligned,
    string? Problem = null);

/// <summary>What DMARC enforcement does with a message for one organization.</summary>
public enum DmarcDisposition
{
    /// <summary>Delivered as usual.</summary>
    Deliver,
    /// <summary>Delivered to Junk E-mail (policy quarantine, enforcement on).</summary>
    Quarantine,
    /// <summary>Refused in the SMTP session with 550 5.7.1 (policy reject, enforcement on).</summary>
    Reject,
}

/// <summary>
/// Every sender-authentication verdict for one inbound message. The <c>*Verdict</c> properties are the
/// email event log's values (§18: dkimVerdict, spfVerdict, dmarcVerdict, dmarcPolicy).
/// </summary>
public sealed record SenderAuthenticationVerdict(
    SpfVerdict Spf,
    IReadOnlyList<DkimSignatureVerdict> Dkim,
    ArcResult Arc,
    DmarcVerdict Dmarc)
{
    /// <summary>PASS, FAIL, SOFTFAIL, NEUTRAL, NONE, TEMPERROR or PERMERROR.</summary>
    public string SpfVerdictName => Spf.Result.ToString().ToUpperInvariant();

    /// <summary>PASS when any signature passed; else the first signature's result; NONE without signatures.</summary>
    public string DkimVerdictName =>
        Dkim.Count == 0 ? "NONE"
        : Dkim.Any(d => d.Result == DkimResult.Pass) ? "PASS"
        : Dkim[0].Result.ToString().ToUpperInvariant();

    /// <summary>PASS, FAIL, NONE, TEMPERROR or PERMERROR.</summary>
    public string DmarcVerdictName => Dmarc.Result.ToString().ToUpperInvariant();

    /// <summary>NONE, QUARANTINE or REJECT: present only when the DMARC verdict is FAIL (§12, ag-022).</summary>
    public string? DmarcPolicyName =>
        Dmarc.Result == DmarcResult.Fail ? (Dmarc.Policy ?? DmarcPolicy.None).ToString().ToUpperInvariant() : null;

    /// <summary>
    /// Enforcement (§12): with <paramref name="enforce"/> a DMARC failure is handled by the policy left after
    /// pct= sampling; without it every message is delivered as usual and the verdict is only logged.
    /// A failure to fetch the policy (temperror) never rejects.
    /// </summary>
    public DmarcDisposition DispositionFor(bool enforce)
    {
        if (!enforce || Dmarc.Result != DmarcResult.Fail)
            return DmarcDisposition.Deliver;
        return Dmarc.AppliedPolicy switch
        {
            DmarcPolicy.Reject => DmarcDisposition.Reject,
            DmarcPolicy.Quarantine => DmarcDisposition.Quarantine,
            _ => DmarcDisposition.Deliver,
        };
    }
}
