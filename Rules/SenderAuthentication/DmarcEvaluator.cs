using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MailServer.Rules.Dns;
using MimeKit;

namespace MailServer.Rules.SenderAuthentication;

/// <summary>
/// RFC 7489 DMARC: the From domain from a strictly parsed From header, policy discovery at
/// <c>_dmarc.&lt;From domain&gt;</c> then at the organizational domain, relaxed/strict alignment of the SPF and
/// DKIM results, p=/sp= and pct= sampling. Never throws for anything a message or DNS can do.
/// </summary>
public sealed class DmarcEvaluator
{
    private readonly IDnsResolver _dns;
    private readonly PublicSuffixList _suffixes;

    /// <summary>Parser options for the From header: strict, because its domain authorises (docs/dependencies.md, "MimeKit").</summary>
    internal static readonly ParserOptions StrictAddresses = new()
    {
        AddressParserComplianceMode = RfcComplianceMode.Strict,
        AllowAddressesWithoutDomain = false,
        AllowUnquotedCommasInAddresses = false,
        Rfc2047ComplianceMode = RfcComplianceMode.Strict,
        MaxAddressGroupDepth = 1,
    };

    /// <summary>Creates an evaluator over the server's resolver and a public suffix list.</summary>
    public DmarcEvaluator(IDnsResolver dns, PublicSuffixList suffixes)
    {
        _dns = dns ?? throw new ArgumentNullException(nameof(dns));
        _suffixes = suffixes ?? throw new ArgumentNullException(nameof(suffixes));
    }

    /// <summary>
    /// The pct= sampling bucket (0–99) of a message: derived from its Message-Id so that a message is sampled the
    /// same way every time it is seen, and so tests can choose. A message without Message-Id is bucket 0 (always
    /// sampled: the policy applies in full).
    /// </summary>
    public static int SampleBucket(string? messageId)
    {
        if (string.IsNullOrWhiteSpace(messageId))
            return 0;
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(messageId.Trim()));
        return (int)(BitConverter.ToUInt32(hash, 0) % 100);
    }

    /// <summary>
    /// The RFC5322.From domain (RFC 7489 §6.6.1): exactly one From field holding exactly one mailbox with a domain,
    /// parsed strictly. Null, with <paramref name="problem"/>, otherwise.
    /// </summary>
    public static string? FromDomainOf(HeaderList headers, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(headers);
        var fields = headers.Where(h => h.Id == HeaderId.From).ToList();
        if (fields.Count != 1)
        {
            problem = fields.Count == 0 ? "no From header" : $"{fields.Count} From headers";
            return null;
        }
        if (!InternetAddressList.TryParse(StrictAddresses, fields[0].RawValue, out var list))
        {
            problem = "From header does not parse";
            return null;
        }
        var mailboxes = list.Mailboxes.ToList();
        if (mailboxes.Count != 1 || list.Count != 1)
        {
            problem = mailboxes.Count == 0 ? "no address in From" : $"{mailboxes.Count} addresses in From";
            return null;
        }
        var domain = mailboxes[0].Domain?.Trim().TrimEnd('.').ToLowerInvariant() ?? "";
        if (domain.Any(c => c > 127))
        {
            try
            {
                domain = new IdnMapping().GetAscii(domain);
            }
            catch (ArgumentException)
            {
                problem = "From domain is not a valid IDN";
                return null;
            }
        }
        if (!SpfEvaluator.IsValidDomain(domain))
        {
            problem = "From domain is not a domain name";
            return null;
        }
        problem = null;
        return domain;
    }

    /// <summary>Evaluates DMARC for a message whose SPF and DKIM results are known.</summary>
    /// <param name="headers">The message's header fields (From and Message-Id are read).</param>
    /// <param name="spf">The SPF verdict of the envelope.</param>
    /// <param name="dkim">One verdict per DKIM signature.</param>
    /// <param name="cancellationToken">Cancels the DNS queries.</param>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public async Task<DmarcVerdict> EvaluateAsync(HeaderList headers, SpfVerdict spf, IReadOnlyList<DkimSignatureVerdict> dkim, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(spf);
        ArgumentNullException.ThrowIfNull(dkim);
        var from = FromDomainOf(headers, out var fromProblem);
        if (from is null)
        {
            // RFC 7489 §6.6.1: no single author domain, so no policy can be found or passed: a failure
            // whose owner cannot be asked; it is logged and delivered.
            return new DmarcVerdict(DmarcResult.Fail, null, null, null, false, false, fromProblem);
        }

        var discovery = await DiscoverAsync(from, cancellationToken).ConfigureAwait(false);
        if (discovery.Error is { } error)
            return new DmarcVerdict(error, from, null, null, false, false, discovery.Problem);
        if (discovery.Record is not { } record)
            return new DmarcVerdict(DmarcResult.None, from, null, null, false, false);

        var spfAligned = spf.Result == SpfResult.Pass && Aligned(spf.Domain, from, record.SpfAlignment);
        var dkimAligned = dkim.Any(d => d.Result == DkimResult.Pass && Aligned(d.Domain, from, record.DkimAlignment));
        // RFC 7489 §6.3 sp=: applies when the record was found at the organizational domain for a subdomain.
        var policy = discovery.FoundAtOrganizationalDomain ? record.SubdomainPolicy ?? record.Policy : record.Policy;
        if (spfAligned || dkimAligned)
            return new DmarcVerdict(DmarcResult.Pass, from, policy, null, spfAligned, dkimAligned);

        // RFC 7489 §6.6.4: a message outside the pct= sample gets the next less strict policy.
        var messageId = headers[HeaderId.MessageId];
        var applied = SampleBucket(messageId) < record.Percent ? policy : policy switch
        {
            DmarcPolicy.Reject => DmarcPolicy.Quarantine,
            _ => DmarcPolicy.None,
        };
        return new DmarcVerdict(DmarcResult.Fail, from, policy, applied, false, false, "no aligned SPF or DKIM pass");
    }

    private bool Aligned(string authenticated, string from, DmarcAlignment mode)
    {
        if (string.IsNullOrEmpty(authenticated))
            return false;
        authenticated = authenticated.TrimEnd('.').ToLowerInvariant();
        return mode == DmarcAlignment.Strict
            ? authenticated == from
            : _suffixes.OrganizationalDomainOf(authenticated) == _suffixes.OrganizationalDomainOf(from);
    }

    private sealed record Discovery(DmarcRecord? Record, bool FoundAtOrganizationalDomain, DmarcResult? Error = null, string? Problem = null);

    /// <summary>RFC 7489 §6.6.3: the From domain's record, else the organizational domain's.</summary>
    private async Task<Discovery> DiscoverAsync(string from, CancellationToken cancellationToken)
    {
        var (record, temporary) = await LookupAsync(from, cancellationToken).ConfigureAwait(false);
        if (temporary)
            return new Discovery(null, false, DmarcResult.TempError, $"DNS failure looking up _dmarc.{from}");
        if (record is not null)
            return new Discovery(record, false);
        var organizational = _suffixes.OrganizationalDomainOf(from);
        if (organizational == from)
            return new Discovery(null, false);
        (record, temporary) = await LookupAsync(organizational, cancellationToken).ConfigureAwait(false);
        if (temporary)
            return new Discovery(null, true, DmarcResult.TempError, $"DNS failure looking up _dmarc.{organizational}");
        return new Discovery(record, true);
    }

    private async Task<(DmarcRecord? Record, bool Temporary)> LookupAsync(string domain, CancellationToken cancellationToken)
    {
        var answer = await _dns.LookupTxtAsync("_dmarc." + domain, cancellationToken).ConfigureAwait(false);
        if (answer.IsTemporaryFailure)
            return (null, true);
        var records = answer.Records.Where(DmarcRecord.IsDmarcRecord).ToList();
        // RFC 7489 §6.6.3 step 5: none or several records: no policy here.
        return records.Count == 1 ? (DmarcRecord.Parse(records[0]), false) : (null, false);
    }
}
