using System.Globalization;

namespace MailServer.Rules.SenderAuthentication;

/// <summary>Identifier alignment mode (RFC 7489 §3.1).</summary>
public enum DmarcAlignment
{
    /// <summary>Same organizational domain.</summary>
    Relaxed,
    /// <summary>Exactly the same domain.</summary>
    Strict,
}

/// <summary>A parsed DMARC policy record (RFC 7489 §6.3); only the tags that decide handling are kept.</summary>
public sealed record DmarcRecord(DmarcPolicy Policy, DmarcPolicy? SubdomainPolicy, DmarcAlignment DkimAlignment, DmarcAlignment SpfAlignment, int Percent)
{
    /// <summary>RFC 7489 §6.6.3: a record starts with the tag v=DMARC1.</summary>
    public static bool IsDmarcRecord(string txt)
    {
        var first = txt.Split(';')[0].Trim();
        var equals = first.IndexOf('=');
        return equals > 0 && first[..equals].Trim() == "v" && first[(equals + 1)..].Trim() == "DMARC1";
    }

    /// <summary>
    /// Parses a record that <see cref="IsDmarcRecord"/> accepted. RFC 7489 §6.6.3 step 6: without a valid p=
    /// (or with an invalid sp=), a record with a rua= tag acts as p=none; otherwise it is unusable (null).
    /// Unknown tags are ignored (§6.3); an invalid adkim/aspf/pct takes its default.
    /// </summary>
    public static DmarcRecord? Parse(string txt)
    {
        var tags = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in txt.Split(';'))
        {
            var equals = part.IndexOf('=');
            if (equals <= 0)
                continue;
            tags.TryAdd(part[..equals].Trim(), part[(equals + 1)..].Trim());
        }
        var policy = tags.TryGetValue("p", out var p) ? ParsePolicy(p) : null;
        DmarcPolicy? subdomain = null;
        var subdomainValid = true;
        if (tags.TryGetValue("sp", out var sp))
        {
            subdomain = ParsePolicy(sp);
            subdomainValid = subdomain is not null;
        }
        if (policy is null || !subdomainValid)
        {
            if (!tags.TryGetValue("rua", out var rua) || !rua.Contains(':'))
                return null;
            policy = DmarcPolicy.None;
            subdomain = null;
        }
        var percent = 100;
        if (tags.TryGetValue("pct", out var pct) && int.TryParse(pct, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value <= 100)
            percent = value;
        return new DmarcRecord(policy.Value, subdomain, Alignment(tags, "adkim"), Alignment(tags, "aspf"), percent);
    }

    private static DmarcPolicy? ParsePolicy(string value) => value.ToLowerInvariant() switch
    {
        "none" => DmarcPolicy.None,
        "quarantine" => DmarcPolicy.Quarantine,
        "reject" => DmarcPolicy.Reject,
        _ => null,
    };

    private static DmarcAlignment Alignment(Dictionary<string, string> tags, string name) =>
        tags.TryGetValue(name, out var v) && v.Equals("s", StringComparison.OrdinalIgnoreCase) ? DmarcAlignment.Strict : DmarcAlignment.Relaxed;
}
