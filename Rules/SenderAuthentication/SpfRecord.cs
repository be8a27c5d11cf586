using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace MailServer.Rules.SenderAuthentication;

/// <summary>The mechanisms of RFC 7208 §5.</summary>
internal enum SpfMechanism { All, Include, A, Mx, Ptr, Ip4, Ip6, Exists }

/// <summary>One directive: a qualifier and a mechanism with its arguments (RFC 7208 §4.6.1).</summary>
internal sealed record SpfDirective(
    SpfResult Qualifier,
    SpfMechanism Mechanism,
    string? DomainSpec,
    IPAddress? Network,
    int Ip4Prefix,
    int Ip6Prefix);

/// <summary>
/// A parsed <c>v=spf1</c> record. Parsing checks the whole record first: RFC 7208 §4.6 says a syntax error
/// anywhere makes the result permerror before anything is evaluated.
/// </summary>
internal sealed record SpfRecord(IReadOnlyList<SpfDirective> Directives, string? Redirect, string? Explanation)
{
    /// <summary>RFC 7208 §4.5: a record is selected when it is exactly "v=spf1" or starts with "v=spf1 ".</summary>
    public static bool IsSpfRecord(string txt) =>
        txt.Equals("v=spf1", StringComparison.OrdinalIgnoreCase)
        || txt.StartsWith("v=spf1 ", StringComparison.OrdinalIgnoreCase);

    /// <summary>Parses a selected record; null with <paramref name="error"/> set on any syntax error.</summary>
    public static SpfRecord? Parse(string txt, out string? error)
    {
        var directives = new List<SpfDirective>();
        string? redirect = null, explanation = null;
        // RFC 7208 §4.6.1: terms are separated by one or more SP.
        foreach (var term in txt[6..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = term.IndexOf('=');
            var colon = term.IndexOfAny([':', '/']);
            if (equals > 0 && (colon < 0 || equals < colon))
            {
                var name = term[..equals];
                var value = term[(equals + 1)..];
                if (!IsModifierName(name))
                    return Fail($"invalid modifier name '{name}'", out error);
                if (name.Equals("redirect", StringComparison.OrdinalIgnoreCase))
                {
                    // RFC 7208 §6: redirect and exp may each appear at most once.
                    if (redirect is not null)
                        return Fail("redirect appears twice", out error);
                    if (!SpfMacro.IsValidDomainSpec(value))
                        return Fail($"invalid redirect domain '{value}'", out error);
                    redirect = value;
                }
                else if (name.Equals("exp", StringComparison.OrdinalIgnoreCase))
                {
                    if (explanation is not null)
                        return Fail("exp appears twice", out error);
                    if (!SpfMacro.IsValidDomainSpec(value))
                        return Fail($"invalid exp domain '{value}'", out error);
                    explanation = value;
                }
                else if (!SpfMacro.IsValidMacroString(value, explanation: false))
                {
                    // RFC 7208 §6: unknown modifiers are ignored, but must still be syntactically valid.
                    return Fail($"invalid modifier value '{term}'", out error);
                }
                continue;
            }

            var directive = ParseDirective(term, out var why);
            if (directive is null)
                return Fail(why!, out error);
            directives.Add(directive);
        }
        error = null;
        return new SpfRecord(directives, redirect, explanation);
    }

    private static SpfRecord? Fail(string why, out string? error)
    {
        error = why;
        return null;
    }

    private static bool IsModifierName(string name) =>
        name.Length > 0 && char.IsAsciiLetter(name[0])
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    private static SpfDirective? ParseDirective(string term, out string? error)
    {
        var qualifier = SpfResult.Pass;
        switch (term[0])
        {
            case '+': qualifier = SpfResult.Pass; term = term[1..]; break;
            case '-': qualifier = SpfResult.Fail; term = term[1..]; break;
            case '~': qualifier = SpfResult.SoftFail; term = term[1..]; break;
            case '?': qualifier = SpfResult.Neutral; term = term[1..]; break;
        }
        var nameEnd = term.IndexOfAny([':', '/']);
        var name = nameEnd < 0 ? term : term[..nameEnd];
        var rest = nameEnd < 0 ? "" : term[nameEnd..];
        error = null;
        switch (name.ToLowerInvariant())
        {
            case "all":
                return rest.Length == 0 ? new(qualifier, SpfMechanism.All, null, null, 32, 128) : Invalid(term, out error);
            case "include":
            case "exists":
                if (!rest.StartsWith(':') || !SpfMacro.IsValidDomainSpec(rest[1..]))
                    return Invalid(term, out error);
                return new(qualifier, name.Equals("include", StringComparison.OrdinalIgnoreCase) ? SpfMechanism.Include : SpfMechanism.Exists,
                    rest[1..], null, 32, 128);
            case "ptr":
                if (rest.Length == 0)
                    return new(qualifier, SpfMechanism.Ptr, null, null, 32, 128);
                return rest.StartsWith(':') && SpfMacro.IsValidDomainSpec(rest[1..])
                    ? new(qualifier, SpfMechanism.Ptr, rest[1..], null, 32, 128)
                    : Invalid(term, out error);
            case "a":
            case "mx":
            {
                var kind = name.Length == 1 ? SpfMechanism.A : SpfMechanism.Mx;
                string? domain = null;
                var cidrStart = rest.IndexOf('/');
                var cidr = cidrStart < 0 ? "" : rest[cidrStart..];
                var spec = cidrStart < 0 ? rest : rest[..cidrStart];
                if (spec.Length > 0)
                {
                    if (!spec.StartsWith(':') || !SpfMacro.IsValidDomainSpec(spec[1..]))
                        return Invalid(term, out error);
                    domain = spec[1..];
                }
                if (!TryParseDualCidr(cidr, out var v4, out var v6))
                    return Invalid(term, out error);
                return new(qualifier, kind, domain, null, v4, v6);
            }
            case "ip4":
            {
                if (!rest.StartsWith(':'))
                    return Invalid(term, out error);
                var value = rest[1..];
                var slash = value.IndexOf('/');
                var prefix = 32;
                if (slash >= 0 && !TryParsePrefix(value[(slash + 1)..], 32, out prefix))
                    return Invalid(term, out error);
                var address = slash < 0 ? value : value[..slash];
                return TryParseIp4(address, out var network) ? new(qualifier, SpfMechanism.Ip4, null, network, prefix, 128) : Invalid(term, out error);
            }
            case "ip6":
            {
                if (!rest.StartsWith(':'))
                    return Invalid(term, out error);
                var value = rest[1..];
                var slash = value.IndexOf('/');
                var prefix = 128;
                if (slash >= 0 && !TryParsePrefix(value[(slash + 1)..], 128, out prefix))
                    return Invalid(term, out error);
                var address = slash < 0 ? value : value[..slash];
                return address.Contains(':') && !address.Contains('%')
                       && IPAddress.TryParse(address, out var network) && network.AddressFamily == AddressFamily.InterNetworkV6
                    ? new(qualifier, SpfMechanism.Ip6, null, network, 32, prefix)
                    : Invalid(term, out error);
            }
            default:
                // RFC 7208 §5: an unknown mechanism is a permerror.
                error = $"unknown mechanism '{name}'";
                return null;
        }
    }

    private static SpfDirective? Invalid(string term, out string? error)
    {
        error = $"invalid term '{term}'";
        return null;
    }

    /// <summary>RFC 7208 §5.6 dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ].</summary>
    private static bool TryParseDualCidr(string text, out int v4, out int v6)
    {
        v4 = 32;
        v6 = 128;
        if (text.Length == 0)
            return true;
        if (text.StartsWith("//", StringComparison.Ordinal))
            return TryParsePrefix(text[2..], 128, out v6);
        var rest = text[1..];
        var split = rest.IndexOf("//", StringComparison.Ordinal);
        if (split < 0)
            return TryParsePrefix(rest, 32, out v4);
        return TryParsePrefix(rest[..split], 32, out v4) && TryParsePrefix(rest[(split + 2)..], 128, out v6);
    }

    /// <summary>A decimal prefix length without leading zeros (RFC 7208 §5.6 ABNF), at most <paramref name="max"/>.</summary>
    private static bool TryParsePrefix(string text, int max, out int prefix)
    {
        prefix = 0;
        if (text.Length is 0 or > 3 || !text.All(char.IsAsciiDigit) || (text.Length > 1 && text[0] == '0'))
            return false;
        prefix = int.Parse(text, CultureInfo.InvariantCulture);
        return prefix <= max;
    }

    /// <summary>RFC 7208 §5.6 ip4-network: exactly four decimal octets without leading zeros.</summary>
    internal static bool TryParseIp4(string text, out IPAddress? address)
    {
        address = null;
        var parts = text.Split('.');
        if (parts.Length != 4)
            return false;
        var bytes = new byte[4];
        for (var i = 0; i < 4; i++)
        {
            var p = parts[i];
            if (p.Length is 0 or > 3 || !p.All(char.IsAsciiDigit) || (p.Length > 1 && p[0] == '0'))
                return false;
            var value = int.Parse(p, CultureInfo.InvariantCulture);
            if (value > 255)
                return false;
            bytes[i] = (byte)value;
        }
        address = new IPAddress(bytes);
        return true;
    }
}
