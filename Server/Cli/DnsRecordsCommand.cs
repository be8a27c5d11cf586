using System.Text;
using MailServer.Server.Configuration;
using MailServer.Server.Dkim;
using MailServer.Rules.Addressing;

namespace MailServer.Server.Cli;

/// <summary><c>mailserver dns-records [DOMAIN]</c>: prints the records each domain should publish, in zone-file syntax.</summary>
internal sealed class DnsRecordsCommand : ICliCommand
{
    private const int Ttl = 3600;

    public IReadOnlyList<string> Name { get; } = ["dns-records"];
    public string ArgumentSyntax => "[DOMAIN]";
    public int ArgumentCount => 1;
    public int MinArgumentCount => 0;
    public string Summary => "print the MX, SPF, DKIM, DMARC, client setup and MTA-STS records to publish";
    public string Details =>
        "For DOMAIN, or every domain of every organization: MX pointing at ServerName, SPF (v=spf1 mx -all),\n" +
        "one DKIM TXT record per key in <DataDirectory>/dkim/DOMAIN/ (create keys with 'mailserver dkim generate'),\n" +
        "DMARC (p=quarantine, relaxed alignment, reports to postmaster), client setup (RFC 6186 SRV records for\n" +
        "IMAP and submission, the autoconfig and autodiscover names the HTTPS listener answers) and, when the\n" +
        "organization has an MtaSts section, the _mta-sts TXT record and the mta-sts name (RFC 8461).\n" +
        "Refused when ServerName is not a fully qualified domain name: an MX cannot point at a bare machine name.";

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
        {
            await console.Error.WriteLineAsync($"mailserver: {arguments.ConfigPath} is invalid; run 'mailserver config check'.").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        if (!AddressSyntax.IsFullyQualifiedServerName(config.ServerName))
        {
            await console.Error.WriteLineAsync(
                $"mailserver: ServerName '{config.ServerName}' is not a fully qualified domain name; MX, SRV and CNAME records must name the " +
                $"host other servers and clients reach. Set $.MailServer.ServerName in {arguments.ConfigPath} (for example mail.example.com).").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        var domains = config.Organizations.SelectMany(o => o.Domains.Select(d => d.Name)).ToList();
        if (arguments.Arguments.Count == 1)
        {
            var wanted = arguments.Arguments[0].Trim().TrimEnd('.').ToLowerInvariant();
            if (!domains.Contains(wanted, StringComparer.OrdinalIgnoreCase))
            {
                await console.Error.WriteLineAsync($"mailserver: {wanted} is not a domain of any organization in {arguments.ConfigPath}.").ConfigureAwait(false);
                return ExitCodes.InvalidInput;
            }
            domains = [wanted];
        }
        var directory = config.ToDirectory();
        foreach (var domain in domains)
        {
            IReadOnlyList<DkimKeyFile> keys;
            try
            {
                keys = DkimKeyFile.LoadAll(config.DataDirectory, domain);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                await console.Error.WriteLineAsync($"mailserver: cannot read the DKIM keys of {domain}: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
            await console.Out.WriteAsync(Records(domain, config, keys, ReportAddress(directory, domain))).ConfigureAwait(false);
        }
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Where DMARC aggregate reports for <paramref name="domain"/> should go: its postmaster@, which reaches the
    /// organization's postmaster (RFC 5321 §4.5.1); null when the organization has none, so no record names an
    /// address that would refuse the reports.
    /// </summary>
    internal static string? ReportAddress(MailServer.Rules.Directory.MailDirectory directory, string domain)
    {
        var address = "postmaster@" + domain;
        return directory.Resolve(address) is MailServer.Rules.Directory.RecipientResolution.Local ? address : null;
    }

    /// <summary>The zone-file lines of one domain; <paramref name="reportAddress"/> receives DMARC aggregate reports (none when null).</summary>
    internal static string Records(string domain, ServerConfig config, IReadOnlyList<DkimKeyFile> keys, string? reportAddress)
    {
        var listeners = config.Listeners;
        var organization = ClientSetup.DomainLookup.Find(config, domain)?.Organization;
        var host = config.ServerName.TrimEnd('.') + ".";
        var sb = new StringBuilder($"; {domain}\n");
        sb.Append(Line(domain, "MX", $"10 {host}"));
        // RFC 7208: only the MX hosts may send for the domain; anything else fails.
        sb.Append(Line(domain, "TXT", Quoted("v=spf1 mx -all")));
        if (keys.Count == 0)
            sb.Append($"; no DKIM key yet: run 'mailserver dkim generate {domain}'\n");
        foreach (var key in keys)
            sb.Append(DkimRecord(key));
        // RFC 7489 §6.3: quarantine what fails, relaxed alignment, aggregate reports to the domain's postmaster.
        if (reportAddress is null)
            sb.Append("; no enabled user and no Postmaster in this organization: DMARC reports have nowhere to go, so none are asked for\n");
        var rua = reportAddress is null ? "" : $"; rua=mailto:{reportAddress}";
        sb.Append(Line($"_dmarc.{domain}", "TXT", Quoted($"v=DMARC1; p=quarantine; adkim=r; aspf=r; pct=100{rua}")));
        // RFC 6186 §3.1–3.2 (and RFC 8314 §5.1 for _submissions): client autoconfiguration.
        sb.Append(Line($"_imaps._tcp.{domain}", "SRV", $"0 1 {listeners.Imaps} {host}"));
        sb.Append(Line($"_imap._tcp.{domain}", "SRV", $"10 1 {listeners.Imap} {host}"));
        sb.Append(Line($"_submissions._tcp.{domain}", "SRV", $"0 1 {listeners.Submissions} {host}"));
        sb.Append(Line($"_submission._tcp.{domain}", "SRV", $"10 1 {listeners.Submission} {host}"));
        // The HTTPS listener answers these names (Thunderbird autoconfig, Outlook autodiscover). Clients fetch
        // them on port 443; Outlook also follows the _autodiscover SRV record to another port.
        if (listeners.Https != 443)
            sb.Append($"; autoconfig and autodiscover are fetched on port 443: forward it to the HTTPS listener's port {listeners.Https}\n");
        sb.Append(Line($"autoconfig.{domain}", "CNAME", host));
        sb.Append(Line($"autodiscover.{domain}", "CNAME", host));
        sb.Append(Line($"_autodiscover._tcp.{domain}", "SRV", $"0 0 {listeners.Https} {host}"));
        if (organization?.MtaSts is { } mtaSts)
        {
            // RFC 8461 §3.1 and §3.3: the TXT record announces the policy (its id changes with the policy text), the
            // mta-sts name serves it over HTTPS on port 443 with a certificate valid for that name.
            var policy = ClientSetup.MtaStsPolicy.Text(mtaSts, [config.ServerName]);
            sb.Append(Line($"_mta-sts.{domain}", "TXT", Quoted(ClientSetup.MtaStsPolicy.DnsRecordText(policy))));
            sb.Append(Line($"mta-sts.{domain}", "CNAME", host));
        }
        return sb.Append('\n').ToString();
    }

    /// <summary>A key's TXT record, split into character-strings of at most 255 octets (RFC 1035 §3.3.14).</summary>
    internal static string DkimRecord(DkimKeyFile key) =>
        Line($"{key.Selector}._domainkey.{key.Domain}", "TXT", Quoted(key.DnsRecordText));

    private static string Line(string name, string type, string data) =>
        $"{name.TrimEnd('.') + ".",-40} {Ttl} IN {type,-5} {data}\n";

    private static string Quoted(string text)
    {
        var chunks = text.Chunk(255).Select(c => $"\"{new string(c)}\"").ToList();
        return chunks.Count == 1 ? chunks[0] : $"( {string.Join(' ', chunks)} )";
    }
}
