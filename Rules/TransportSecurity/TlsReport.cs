using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MailServer.Rules.TransportSecurity;

/// <summary>
/// The TLS-RPT record of a domain (RFC 8460 §3): <c>_smtp._tls.DOMAIN</c> TXT <c>v=TLSRPTv1; rua=mailto:...,https://...</c>.
/// </summary>
public static class TlsRptRecord
{
    /// <summary>
    /// The report destinations of the TXT records at <c>_smtp._tls.DOMAIN</c>: none unless exactly one record starts
    /// with <c>v=TLSRPTv1</c> (§3); of its <c>rua</c> URIs only <c>mailto:</c> and <c>https:</c> ones (§3, the two
    /// schemes defined), in the order given.
    /// </summary>
    public static IReadOnlyList<Uri> ReportUris(IEnumerable<string> txtRecords)
    {
        var records = txtRecords.Where(r => r.StartsWith("v=TLSRPTv1", StringComparison.Ordinal)).ToList();
        if (records.Count != 1)
            return [];
        var fields = records[0].Split(';').Select(f => f.Trim()).ToList();
        if (fields[0] != "v=TLSRPTv1")
            return [];
        var uris = new List<Uri>();
        foreach (var field in fields.Skip(1))
        {
            var parts = field.Split('=', 2);
            if (parts.Length != 2 || parts[0].Trim() != "rua")
                continue;
            foreach (var item in parts[1].Split(','))
            {
                if (Uri.TryCreate(item.Trim(), UriKind.Absolute, out var uri)
                    && (uri.Scheme == Uri.UriSchemeMailto && uri.UserInfo.Length > 0 || uri.Scheme == Uri.UriSchemeHttps))
                    uris.Add(uri);
            }
        }
        return uris;
    }
}

/// <summary>The policy a session was judged by (RFC 8460 §4.3 "policy").</summary>
/// <param name="Type"><c>sts</c> (MTA-STS) or <c>tlsa</c> (DANE).</param>
/// <param name="Domain">The recipient domain the policy is for.</param>
/// <param name="Strings">The policy as text: the MTA-STS policy's lines, or the TLSA records in presentation form.</param>
/// <param name="MxHosts">The MTA-STS policy's <c>mx</c> patterns, or the MX host whose TLSA records these are.</param>
public sealed record TlsPolicyReference(string Type, string Domain, IReadOnlyList<string> Strings, IReadOnlyList<string> MxHosts)
{
    /// <summary>The policy of an MTA-STS policy (its lines, §4.3 "policy-string").</summary>
    public static TlsPolicyReference Sts(string domain, MtaStsPolicy policy) => new("sts", domain,
        [
            "version: STSv1",
            "mode: " + policy.Mode.ToString().ToLowerInvariant(),
            .. policy.MxPatterns.Select(p => "mx: " + p),
            "max_age: " + ((long)policy.MaxAge.TotalSeconds).ToString(CultureInfo.InvariantCulture),
        ], policy.MxPatterns);

    /// <summary>
    /// An MTA-STS policy the domain announces (its <c>_mta-sts</c> record) but that could not be fetched or was not valid:
    /// type <c>sts</c> with no policy text and no MX patterns, under which RFC 8460 §4.3.2.1's
    /// <c>sts-policy-fetch-error</c>, <c>sts-policy-invalid</c> and <c>sts-webpki-invalid</c> failures are counted.
    /// </summary>
    public static TlsPolicyReference StsNotFetched(string domain) => new("sts", domain, [], []);

    /// <summary>The policy of an MX host's TLSA records (RFC 6698 §2.2 presentation form: usage selector type hex).</summary>
    public static TlsPolicyReference Tlsa(string domain, string mxHost, IEnumerable<MailServer.Rules.Dns.TlsaRecord> records) => new("tlsa", domain,
        records.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Usage} {r.Selector} {r.MatchingType} {Convert.ToHexString(r.Data)}")).ToList(),
        [mxHost]);

    /// <summary>One key for counting (the policy's type, domain, text and hosts).</summary>
    public string Key => string.Join("\n", [Type, Domain.ToLowerInvariant(), .. Strings, "|", .. MxHosts]);
}

/// <summary>One kind of failed session (RFC 8460 §4.3 "failure-details"), counted.</summary>
/// <param name="ResultType">A §4.3 result type: <c>starttls-not-supported</c>, <c>certificate-host-mismatch</c>,
/// <c>certificate-expired</c>, <c>certificate-not-trusted</c>, <c>validation-failure</c>, <c>sts-policy-fetch-error</c>,
/// <c>sts-policy-invalid</c>, <c>sts-webpki-invalid</c>...</param>
/// <param name="ReceivingMxHostname">The MX host; null for a failure before any MX host was tried (an MTA-STS policy fetch).</param>
/// <param name="ReceivingIp">Its address, when known.</param>
/// <param name="Count">Failed sessions of this kind.</param>
/// <param name="AdditionalInformation">Why, in words (§4.3 "additional-information" is a URI; we give the reason in failure-reason-code).</param>
public sealed record TlsFailureCount(string ResultType, string? ReceivingMxHostname, string? ReceivingIp, long Count, string? AdditionalInformation);

/// <summary>What was counted for one policy in one report period.</summary>
public sealed record TlsPolicyCounts(TlsPolicyReference Policy, long Successes, IReadOnlyList<TlsFailureCount> Failures)
{
    /// <summary>Failed sessions in all.</summary>
    public long FailureTotal => Failures.Sum(f => f.Count);
}

/// <summary>Builds the JSON report of RFC 8460 §4 (the field names of its §4.3 and the example of §4.4).</summary>
public static class TlsReportDocument
{
    /// <summary>The report as UTF-8 JSON (before gzip, §5.3).</summary>
    /// <param name="organizationName">The reporting organization (§4.3 "organization-name").</param>
    /// <param name="contactInfo">Whom to contact about the report (an address).</param>
    /// <param name="reportId">A unique id of this report.</param>
    /// <param name="start">First instant of the period (UTC).</param>
    /// <param name="end">Last instant of the period (UTC).</param>
    /// <param name="policies">The counts, one entry per policy.</param>
    public static byte[] Build(string organizationName, string contactInfo, string reportId, DateTimeOffset start, DateTimeOffset end,
        IReadOnlyList<TlsPolicyCounts> policies)
    {
        var report = new Report(organizationName, new DateRange(Stamp(start), Stamp(end)), contactInfo, reportId,
            policies.Select(p => new PolicyEntry(
                new PolicyJson(p.Policy.Type, p.Policy.Strings, p.Policy.Domain, p.Policy.MxHosts),
                new Summary(p.Successes, p.FailureTotal),
                p.Failures.Select(f => new FailureJson(f.ResultType, f.ReceivingMxHostname, f.ReceivingIp, f.Count, f.AdditionalInformation)).ToList()))
            .ToList());
        return JsonSerializer.SerializeToUtf8Bytes(report, Options);
    }

    private static string Stamp(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static readonly JsonSerializerOptions Options = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    private sealed record Report(
        [property: JsonPropertyName("organization-name")] string OrganizationName,
        [property: JsonPropertyName("date-range")] DateRange DateRange,
        [property: JsonPropertyName("contact-info")] string ContactInfo,
        [property: JsonPropertyName("report-id")] string ReportId,
        [property: JsonPropertyName("policies")] IReadOnlyList<PolicyEntry> Policies);

    private sealed record DateRange(
        [property: JsonPropertyName("start-datetime")] string Start,
        [property: JsonPropertyName("end-datetime")] string End);

    private sealed record PolicyEntry(
        [property: JsonPropertyName("policy")] PolicyJson Policy,
        [property: JsonPropertyName("summary")] Summary Summary,
        [property: JsonPropertyName("failure-details")] IReadOnlyList<FailureJson> FailureDetails);

    private sealed record PolicyJson(
        [property: JsonPropertyName("policy-type")] string Type,
        [property: JsonPropertyName("policy-string")] IReadOnlyList<string> Strings,
        [property: JsonPropertyName("policy-domain")] string Domain,
        [property: JsonPropertyName("mx-host")] IReadOnlyList<string> MxHosts);

    private sealed record Summary(
        [property: JsonPropertyName("total-successful-session-count")] long Successes,
        [property: JsonPropertyName("total-failure-session-count")] long Failures);

    private sealed record FailureJson(
        [property: JsonPropertyName("result-type")] string ResultType,
        [property: JsonPropertyName("receiving-mx-hostname")] string? ReceivingMxHostname,
        [property: JsonPropertyName("receiving-ip")] string? ReceivingIp,
        [property: JsonPropertyName("failed-session-count")] long Count,
        [property: JsonPropertyName("failure-reason-code")] string? Reason);
}
