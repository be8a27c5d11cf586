using System.Globalization;

namespace MailServer.Rules.TransportSecurity;

/// <summary>RFC 8461 §5: what a policy tells a sending MTA to do.</summary>
public enum MtaStsMode
{
    /// <summary>No policy in force (§5: treat as if none was published).</summary>
    None,

    /// <summary>Deliver as usual; report what would have failed (TLS-RPT).</summary>
    Testing,

    /// <summary>Deliver only over TLS with a valid certificate to a listed MX; otherwise a temporary failure.</summary>
    Enforce,
}

/// <summary>
/// A parsed MTA-STS policy (RFC 8461 §3.2): its mode, the MX patterns and how long a sender may cache it.
/// </summary>
/// <param name="Id">The <c>id</c> of the TXT record it was fetched under (§3.1), to tell when to fetch again.</param>
/// <param name="Mode">The policy mode.</param>
/// <param name="MxPatterns">Host names, lower-case; a leading <c>*.</c> matches one left-most label (§4.1).</param>
/// <param name="MaxAge">How long the policy may be cached, at most one year (§3.2).</param>
public sealed record MtaStsPolicy(string Id, MtaStsMode Mode, IReadOnlyList<string> MxPatterns, TimeSpan MaxAge)
{
    /// <summary>The longest <c>max_age</c> a sender honours (31557600 s, RFC 8461 §3.2).</summary>
    public static readonly TimeSpan LongestMaxAge = TimeSpan.FromSeconds(31_557_600);

    /// <summary>
    /// Parses the policy text (§3.2: <c>key: value</c> lines, CRLF or LF). Null when it is not a valid STSv1
    /// policy: no <c>version: STSv1</c>, an unknown mode, no <c>max_age</c>, or no <c>mx</c> in a mode other than none.
    /// </summary>
    public static MtaStsPolicy? Parse(string id, string text)
    {
        string? version = null, mode = null;
        long? maxAge = null;
        var mx = new List<string>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
                continue;
            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            switch (key)
            {
                case "version": version ??= value; break;
                case "mode": mode ??= value; break;
                case "mx": mx.Add(value.TrimEnd('.').ToLowerInvariant()); break;
                case "max_age":
                    if (maxAge is null && value.Length is > 0 and <= 10 && value.All(char.IsAsciiDigit))
                        maxAge = long.Parse(value, CultureInfo.InvariantCulture);
                    break;
                default: break; // §3.2: unknown fields are ignored
            }
        }
        var parsedMode = mode switch
        {
            "enforce" => MtaStsMode.Enforce,
            "testing" => MtaStsMode.Testing,
            "none" => MtaStsMode.None,
            _ => (MtaStsMode?)null,
        };
        if (version != "STSv1" || parsedMode is null || maxAge is null || (parsedMode != MtaStsMode.None && mx.Count == 0))
            return null;
        var age = TimeSpan.FromSeconds(Math.Min(maxAge.Value, (long)LongestMaxAge.TotalSeconds));
        return new MtaStsPolicy(id, parsedMode.Value, mx, age);
    }

    /// <summary>
    /// The <c>id</c> of the domain's <c>_mta-sts</c> TXT records (§3.1), or null when there is not exactly one
    /// record starting with <c>v=STSv1</c> or it has no valid id (1–32 letters and digits).
    /// </summary>
    public static string? RecordId(IEnumerable<string> txtRecords)
    {
        var candidates = txtRecords.Where(r => r.StartsWith("v=STSv1", StringComparison.Ordinal)).ToList();
        if (candidates.Count != 1)
            return null;
        foreach (var field in candidates[0].Split(';'))
        {
            var parts = field.Split('=', 2);
            if (parts.Length == 2 && parts[0].Trim() == "id")
            {
                var id = parts[1].Trim();
                return id.Length is >= 1 and <= 32 && id.All(char.IsAsciiLetterOrDigit) ? id : null;
            }
        }
        return null;
    }

    /// <summary>True when <paramref name="mxHost"/> matches one of the policy's <c>mx</c> patterns (§4.1).</summary>
    public bool Lists(string mxHost)
    {
        var host = mxHost.TrimEnd('.').ToLowerInvariant();
        foreach (var pattern in MxPatterns)
        {
            if (pattern.StartsWith("*.", StringComparison.Ordinal))
            {
                // "*.example.com" matches "mx.example.com" but not "example.com" nor "a.b.example.com".
                var suffix = pattern[1..];
                if (host.EndsWith(suffix, StringComparison.Ordinal) && host.Length > suffix.Length
                    && !host[..^suffix.Length].Contains('.', StringComparison.Ordinal))
                    return true;
            }
            else if (host == pattern)
            {
                return true;
            }
        }
        return false;
    }
}
