using System.Globalization;
using System.Text;
using System.Xml;
using MailServer.Rules.Dns;

namespace MailServer.Rules.SenderAuthentication;

/// <summary>A domain's DMARC record as aggregate reporting needs it (RFC 7489 §6.3, §7.2.1.1 policy_published).</summary>
/// <param name="Domain">The domain the record was found at (the From domain or its organizational domain).</param>
/// <param name="Policy">p=.</param>
/// <param name="SubdomainPolicy">sp= (p= when absent, §6.3).</param>
/// <param name="DkimAlignment">adkim= ("r" or "s").</param>
/// <param name="SpfAlignment">aspf= ("r" or "s").</param>
/// <param name="Percent">pct=.</param>
/// <param name="ReportAddresses">The mailto: addresses of rua= (a "!size" limit removed), in order.</param>
public sealed record PublishedDmarcPolicy(string Domain, string Policy, string SubdomainPolicy, string DkimAlignment, string SpfAlignment,
    int Percent, IReadOnlyList<string> ReportAddresses);

/// <summary>One row of an aggregate report (RFC 7489 appendix C RecordType): a kind of message and how many.</summary>
/// <param name="SourceIp">The SMTP client's address.</param>
/// <param name="HeaderFrom">The RFC5322.From domain.</param>
/// <param name="Disposition">What the receiver did: none, quarantine, reject.</param>
/// <param name="DkimAligned">"pass" or "fail": an aligned DKIM pass.</param>
/// <param name="SpfAligned">"pass" or "fail": an aligned SPF pass.</param>
/// <param name="LocalPolicy">The disposition differs from the published policy because enforcement is off (reason local_policy).</param>
/// <param name="Dkim">Each signature: domain, selector, result (none, pass, fail, temperror, permerror).</param>
/// <param name="SpfDomain">The domain SPF checked (MAIL FROM's, or HELO's for a null sender).</param>
/// <param name="SpfScope">"mfrom" or "helo".</param>
/// <param name="SpfResult">none, neutral, pass, fail, softfail, temperror, permerror.</param>
/// <param name="Count">Messages of this kind.</param>
public sealed record DmarcReportRow(string SourceIp, string HeaderFrom, string Disposition, string DkimAligned, string SpfAligned, bool LocalPolicy,
    IReadOnlyList<(string Domain, string Selector, string Result)> Dkim, string SpfDomain, string SpfScope, string SpfResult, long Count)
{
    /// <summary>What makes two rows the same kind (everything but the count).</summary>
    public string Key => string.Join("|", [SourceIp, HeaderFrom.ToLowerInvariant(), Disposition, DkimAligned, SpfAligned, LocalPolicy.ToString(),
        .. Dkim.Select(d => $"{d.Domain}/{d.Selector}/{d.Result}"), SpfDomain, SpfScope, SpfResult]);
}

/// <summary>DMARC aggregate reporting (RFC 7489 §7.1, §7.2): where a domain wants its reports and whether a destination agreed.</summary>
public static class DmarcReporting
{
    /// <summary>
    /// The DMARC record for <paramref name="fromDomain"/> (§6.6.3: the domain's own, else its organizational domain's)
    /// with the rua= addresses; null when there is none, it does not parse, or it names no mailto: report address.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public static async Task<PublishedDmarcPolicy?> DiscoverAsync(IDnsResolver dns, string fromDomain, CancellationToken cancellationToken)
    {
        var domain = fromDomain.TrimEnd('.').ToLowerInvariant();
        var found = await LookupAsync(dns, domain, cancellationToken).ConfigureAwait(false);
        if (found is null)
        {
            var organizational = PublicSuffixList.Default.OrganizationalDomainOf(domain);
            if (!organizational.Equals(domain, StringComparison.OrdinalIgnoreCase))
            {
                domain = organizational;
                found = await LookupAsync(dns, domain, cancellationToken).ConfigureAwait(false);
            }
        }
        return found is null ? null : Parse(domain, found);
    }

    /// <summary>
    /// RFC 7489 §7.1: reports for <paramref name="policyDomain"/> may go to <paramref name="address"/> when both share an
    /// organizational domain, or when the destination publishes <c>POLICYDOMAIN._report._dmarc.DESTINATION</c> with a
    /// record starting <c>v=DMARC1</c>.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public static async Task<bool> AcceptsReportsForAsync(IDnsResolver dns, string policyDomain, string address, CancellationToken cancellationToken)
    {
        var at = address.LastIndexOf('@');
        if (at <= 0)
            return false;
        var destination = address[(at + 1)..].TrimEnd('.').ToLowerInvariant();
        var suffixes = PublicSuffixList.Default;
        if (suffixes.OrganizationalDomainOf(destination).Equals(suffixes.OrganizationalDomainOf(policyDomain), StringComparison.OrdinalIgnoreCase))
            return true;
        var txt = await dns.LookupTxtAsync($"{policyDomain}._report._dmarc.{destination}", cancellationToken).ConfigureAwait(false);
        return txt.Records.Any(r => r.StartsWith("v=DMARC1", StringComparison.Ordinal));
    }

    private static async Task<string?> LookupAsync(IDnsResolver dns, string domain, CancellationToken cancellationToken)
    {
        var txt = await dns.LookupTxtAsync("_dmarc." + domain, cancellationToken).ConfigureAwait(false);
        var records = txt.Records.Where(DmarcRecord.IsDmarcRecord).ToList();
        return records.Count == 1 ? records[0] : null; // §6.6.3: more than one is none
    }

    private static PublishedDmarcPolicy? Parse(string domain, string text)
    {
        var tags = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var field in text.Split(';'))
        {
            var parts = field.Split('=', 2);
            if (parts.Length == 2)
                tags.TryAdd(parts[0].Trim(), parts[1].Trim());
        }
        var addresses = new List<string>();
        if (tags.TryGetValue("rua", out var rua))
        {
            foreach (var item in rua.Split(','))
            {
                var uri = item.Trim();
                var bang = uri.IndexOf('!', StringComparison.Ordinal);
                if (bang >= 0)
                    uri = uri[..bang]; // §6.4: "!" and a size limit
                if (uri.StartsWith("mailto:", StringComparison.OrdinalIgnoreCase) && uri.Length > 7 && uri.IndexOf('@', StringComparison.Ordinal) > 7)
                    addresses.Add(Uri.UnescapeDataString(uri[7..]));
            }
        }
        if (addresses.Count == 0)
            return null;
        var policy = tags.TryGetValue("p", out var p) && p is "none" or "quarantine" or "reject" ? p : "none";
        var subdomain = tags.TryGetValue("sp", out var sp) && sp is "none" or "quarantine" or "reject" ? sp : policy;
        var adkim = tags.TryGetValue("adkim", out var ad) && ad == "s" ? "s" : "r";
        var aspf = tags.TryGetValue("aspf", out var asp) && asp == "s" ? "s" : "r";
        var pct = tags.TryGetValue("pct", out var pc) && int.TryParse(pc, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= 100 ? n : 100;
        return new PublishedDmarcPolicy(domain, policy, subdomain, adkim, aspf, pct, addresses);
    }
}

/// <summary>Writes the aggregate report XML of RFC 7489 §7.2.1.1, in the elements and order of its appendix C schema.</summary>
public static class DmarcAggregateDocument
{
    /// <summary>The report as UTF-8 XML (before gzip).</summary>
    /// <param name="organizationName">The reporting organization (report_metadata/org_name).</param>
    /// <param name="email">Its contact address.</param>
    /// <param name="reportId">A unique id of the report.</param>
    /// <param name="begin">Start of the period.</param>
    /// <param name="end">End of the period.</param>
    /// <param name="policy">The published policy the report is about.</param>
    /// <param name="rows">One row per kind of message.</param>
    public static byte[] Build(string organizationName, string email, string reportId, DateTimeOffset begin, DateTimeOffset end,
        PublishedDmarcPolicy policy, IReadOnlyList<DmarcReportRow> rows)
    {
        using var output = new MemoryStream();
        using (var xml = XmlWriter.Create(output, new XmlWriterSettings { Encoding = new UTF8Encoding(false), Indent = true }))
        {
            xml.WriteStartDocument();
            xml.WriteStartElement("feedback");
            xml.WriteElementString("version", "1.0");
            xml.WriteStartElement("report_metadata");
            xml.WriteElementString("org_name", organizationName);
            xml.WriteElementString("email", email);
            xml.WriteElementString("report_id", reportId);
            xml.WriteStartElement("date_range");
            xml.WriteElementString("begin", begin.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
            xml.WriteElementString("end", end.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
            xml.WriteEndElement();
            xml.WriteEndElement();
            xml.WriteStartElement("policy_published");
            xml.WriteElementString("domain", policy.Domain);
            xml.WriteElementString("adkim", policy.DkimAlignment);
            xml.WriteElementString("aspf", policy.SpfAlignment);
            xml.WriteElementString("p", policy.Policy);
            xml.WriteElementString("sp", policy.SubdomainPolicy);
            xml.WriteElementString("pct", policy.Percent.ToString(CultureInfo.InvariantCulture));
            xml.WriteEndElement();
            foreach (var row in rows)
            {
                xml.WriteStartElement("record");
                xml.WriteStartElement("row");
                xml.WriteElementString("source_ip", row.SourceIp);
                xml.WriteElementString("count", row.Count.ToString(CultureInfo.InvariantCulture));
                xml.WriteStartElement("policy_evaluated");
                xml.WriteElementString("disposition", row.Disposition);
                xml.WriteElementString("dkim", row.DkimAligned);
                xml.WriteElementString("spf", row.SpfAligned);
                if (row.LocalPolicy)
                {
                    xml.WriteStartElement("reason");
                    xml.WriteElementString("type", "local_policy");
                    xml.WriteElementString("comment", "DMARC enforcement is off for this receiver");
                    xml.WriteEndElement();
                }
                xml.WriteEndElement();
                xml.WriteEndElement();
                xml.WriteStartElement("identifiers");
                xml.WriteElementString("header_from", row.HeaderFrom);
                xml.WriteEndElement();
                xml.WriteStartElement("auth_results");
                foreach (var (domain, selector, result) in row.Dkim)
                {
                    xml.WriteStartElement("dkim");
                    xml.WriteElementString("domain", domain);
                    if (selector.Length > 0)
                        xml.WriteElementString("selector", selector);
                    xml.WriteElementString("result", result);
                    xml.WriteEndElement();
                }
                xml.WriteStartElement("spf");
                xml.WriteElementString("domain", row.SpfDomain);
                xml.WriteElementString("scope", row.SpfScope);
                xml.WriteElementString("result", row.SpfResult);
                xml.WriteEndElement();
                xml.WriteEndElement();
                xml.WriteEndElement();
            }
            xml.WriteEndElement();
            xml.WriteEndDocument();
        }
        return output.ToArray();
    }
}
