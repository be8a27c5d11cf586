using MailServer.Rules.Addressing;
namespace MailServer.Rules.FlowRules;

/// <summary>The four pattern forms of §9.4, least specific first (the enum order is the specificity order).</summary>
public enum PatternKind
{
    /// <summary><c>*</c>: any address under any domain.</summary>
    Any = 0,

    /// <summary><c>*.example.com</c>: the domain and all of its subdomains.</summary>
    WildcardDomain = 1,

    /// <summary><c>example.com</c>: every address under exactly that domain.</summary>
    Domain = 2,

    /// <summary><c>user@example.com</c>: one address.</summary>
    Address = 3,
}

/// <summary>
/// How specific a matched pattern is (docs/decisions.md, "Email flow rules"): address &gt; exact domain &gt;
/// <c>*.domain</c> (a longer domain beats a shorter one) &gt; <c>*</c>. Compares by kind, then by the number of
/// labels of a wildcard's domain.
/// </summary>
public readonly record struct Specificity(PatternKind Kind, int DomainLabels) : IComparable<Specificity>
{
    /// <summary>Lower than every real match: used for "nothing matched".</summary>
    public static Specificity None { get; } = new((PatternKind)(-1), 0);

    /// <inheritdoc />
    public int CompareTo(Specificity other) =>
        Kind != other.Kind ? Kind.CompareTo(other.Kind) : DomainLabels.CompareTo(other.DomainLabels);

    /// <summary>True when this is strictly more specific.</summary>
    public static bool operator >(Specificity a, Specificity b) => a.CompareTo(b) > 0;

    /// <summary>True when this is strictly less specific.</summary>
    public static bool operator <(Specificity a, Specificity b) => a.CompareTo(b) < 0;

    /// <summary>True when at least as specific.</summary>
    public static bool operator >=(Specificity a, Specificity b) => a.CompareTo(b) >= 0;

    /// <summary>True when at most as specific.</summary>
    public static bool operator <=(Specificity a, Specificity b) => a.CompareTo(b) <= 0;

    /// <summary>Words for the rule tester: "address", "domain", "*.domain (3 labels)", "*".</summary>
    public override string ToString() => Kind switch
    {
        PatternKind.Address => "address",
        PatternKind.Domain => "domain",
        PatternKind.WildcardDomain => $"*.domain ({DomainLabels} labels)",
        PatternKind.Any => "*",
        _ => "none",
    };
}

/// <summary>
/// One sender or recipient pattern of a flow rule (§9.4), parsed and lower-cased. Matching is
/// case-insensitive on the whole address. A subaddress is not stripped: <c>user+tag@example.com</c>
/// matches the domain, wildcard and star forms, never the address pattern <c>user@example.com</c>
/// (§9.4 [INF]: '+' is not valid in a pattern, so an address pattern cannot name a subaddress).
/// </summary>
public sealed class FlowPattern
{
    private FlowPattern(string text, PatternKind kind, string value)
    {
        Text = text;
        Kind = kind;
        Value = value;
        Specificity = new Specificity(kind, kind == PatternKind.WildcardDomain ? value.Count(c => c == '.') + 1 : 0);
    }

    /// <summary>The pattern as written, lower-cased.</summary>
    public string Text { get; }

    /// <summary>Its form.</summary>
    public PatternKind Kind { get; }

    /// <summary>The address or domain it names (without "*."); empty for <c>*</c>.</summary>
    public string Value { get; }

    /// <summary>How specific a match on this pattern is.</summary>
    public Specificity Specificity { get; }

    /// <summary>
    /// Parses one pattern. §9.4: an address, a domain, <c>*.domain</c> or <c>*</c>; a wildcard only as the
    /// whole pattern or a leading <c>*.</c> label; '+' never.
    /// </summary>
    /// <returns>The pattern, or null with <paramref name="error"/> saying why.</returns>
    public static FlowPattern? TryParse(string text, out string? error)
    {
        error = null;
        var p = text.Trim().ToLowerInvariant();
        if (p.Length == 0)
        {
            error = "a pattern cannot be empty";
            return null;
        }
        if (p.Contains('+'))
        {
            error = $"'{text}': the + symbol is not valid in a pattern";
            return null;
        }
        if (p == "*")
            return new FlowPattern(p, PatternKind.Any, "");
        if (p.StartsWith("*.", StringComparison.Ordinal))
        {
            var domain = p[2..];
            if (AddressSyntax.IsValidDomain(domain, requireDot: false))
                return new FlowPattern(p, PatternKind.WildcardDomain, domain);
        }
        else if (!p.Contains('*'))
        {
            var at = p.LastIndexOf('@');
            if (at < 0 && AddressSyntax.IsValidDomain(p, requireDot: false))
                return new FlowPattern(p, PatternKind.Domain, p);
            if (at > 0 && AddressSyntax.IsValidAddress(p))
                return new FlowPattern(p, PatternKind.Address, p);
        }
        error = $"'{text}' is not an address, a domain, *.domain or *";
        return null;
    }

    /// <summary>True when <paramref name="address"/> (any case) is matched by this pattern.</summary>
    public bool Matches(string address)
    {
        var a = address.Trim();
        var at = a.LastIndexOf('@');
        if (at <= 0 || at == a.Length - 1)
            return Kind == PatternKind.Any && a.Length > 0;
        var domain = a.AsSpan(at + 1);
        return Kind switch
        {
            PatternKind.Any => true,
            PatternKind.Address => string.Equals(a, Value, StringComparison.OrdinalIgnoreCase),
            PatternKind.Domain => domain.Equals(Value, StringComparison.OrdinalIgnoreCase),
            PatternKind.WildcardDomain => domain.Equals(Value, StringComparison.OrdinalIgnoreCase)
                                          || (domain.Length > Value.Length + 1
                                              && domain.EndsWith(Value, StringComparison.OrdinalIgnoreCase)
                                              && domain[domain.Length - Value.Length - 1] == '.'),
            _ => false,
        };
    }

    /// <inheritdoc />
    public override string ToString() => Text;
}
