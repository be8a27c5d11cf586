using System.Globalization;
using System.Reflection;

namespace MailServer.Rules.SenderAuthentication;

/// <summary>
/// The Public Suffix List (https://publicsuffix.org/list/), used to find a domain's Organizational Domain
/// (RFC 7489 §3.2). The list ships with the server as an embedded copy of public_suffix_list.dat (ICANN and
/// private sections); replace that file and rebuild to update it.
/// </summary>
public sealed class PublicSuffixList
{
    private static readonly Lazy<PublicSuffixList> Embedded = new(LoadEmbedded);

    private readonly HashSet<string> _rules;
    private readonly HashSet<string> _wildcards;
    private readonly HashSet<string> _exceptions;

    private PublicSuffixList(HashSet<string> rules, HashSet<string> wildcards, HashSet<string> exceptions)
    {
        _rules = rules;
        _wildcards = wildcards;
        _exceptions = exceptions;
    }

    /// <summary>The copy built into the server.</summary>
    public static PublicSuffixList Default => Embedded.Value;

    /// <summary>Number of rules loaded (for diagnostics).</summary>
    public int RuleCount => _rules.Count + _wildcards.Count + _exceptions.Count;

    /// <summary>Parses the list's text format: one rule per line, "//" comments, "*." wildcards, "!" exceptions.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    public static PublicSuffixList Parse(TextReader text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var rules = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var wildcards = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var exceptions = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var idn = new IdnMapping();
        while (text.ReadLine() is { } line)
        {
            var rule = line.Trim();
            if (rule.Length == 0 || rule.StartsWith("//", StringComparison.Ordinal))
                continue;
            var space = rule.IndexOfAny([' ', '\t']);
            if (space > 0)
                rule = rule[..space];
            var target = rule.StartsWith('!') ? exceptions : rule.StartsWith("*.", StringComparison.Ordinal) ? wildcards : rules;
            var name = rule.TrimStart('!').TrimStart('*').TrimStart('.');
            // Mail domains arrive in A-label form; the list is written in U-labels.
            if (name.Any(c => c > 127))
            {
                try
                {
                    name = idn.GetAscii(name);
                }
                catch (ArgumentException)
                {
                    continue;
                }
            }
            target.Add(name.ToLowerInvariant());
        }
        return new PublicSuffixList(rules, wildcards, exceptions);
    }

    private static PublicSuffixList LoadEmbedded()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("MailServer.Rules.SenderAuthentication.public_suffix_list.dat")
                           ?? throw new InvalidOperationException("The embedded public suffix list is missing from the build.");
        using var reader = new StreamReader(stream);
        return Parse(reader);
    }

    /// <summary>The public suffix of <paramref name="domain"/> (the default rule "*" when none matches).</summary>
    public string PublicSuffixOf(string domain)
    {
        var labels = Normalize(domain).Split('.');
        // Longest matching rule wins; an exception rule means its parent is the suffix.
        for (var i = 0; i < labels.Length; i++)
        {
            var candidate = string.Join('.', labels[i..]);
            if (_exceptions.Contains(candidate))
                return string.Join('.', labels[(i + 1)..]);
            if (_rules.Contains(candidate))
                return candidate;
            if (i + 1 < labels.Length && _wildcards.Contains(string.Join('.', labels[(i + 1)..])))
                return candidate;
        }
        return labels[^1];
    }

    /// <summary>
    /// RFC 7489 §3.2: the public suffix plus one label. A domain that is itself a public suffix is its own
    /// organizational domain.
    /// </summary>
    public string OrganizationalDomainOf(string domain)
    {
        var normalized = Normalize(domain);
        var suffix = PublicSuffixOf(normalized);
        if (normalized.Length <= suffix.Length)
            return normalized;
        var head = normalized[..(normalized.Length - suffix.Length - 1)];
        var lastDot = head.LastIndexOf('.');
        return (lastDot < 0 ? head : head[(lastDot + 1)..]) + "." + suffix;
    }

    private static string Normalize(string domain) => domain.Trim().TrimEnd('.').ToLowerInvariant();
}
