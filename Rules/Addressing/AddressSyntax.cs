using System.Net;

namespace MailServer.Rules.Addressing;

/// <summary>
/// The one definition of what an address and a domain look like, for every part of the server that must decide it:
/// the config loader, the flow-rule patterns, mailbox rules, the admin API, the HTTPS endpoints. Pure functions.
/// </summary>
public static class AddressSyntax
{
    /// <summary>
    /// True for an ASCII host name: LDH labels of 1–63 characters, not starting or ending with '-',
    /// at most 253 characters. IDNs are accepted only as A-labels ("xn--..."), §3.1.
    /// </summary>
    public static bool IsValidDomain(string domain, bool requireDot = true)
    {
        if (domain.Length is 0 or > 253 || (requireDot && !domain.Contains('.')))
            return false;
        foreach (var label in domain.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-')
                return false;
            foreach (var c in label)
                if (!(char.IsAsciiLetterOrDigit(c) || c == '-'))
                    return false;
        }
        // A domain of digits and dots only would read as an IPv4 address.
        return !IPAddress.TryParse(domain, out _);
    }

    /// <summary>
    /// True for local@domain where local is an RFC 5322 dot-atom of at most 64 characters (RFC 5321 §4.5.3.1.1)
    /// and domain passes <see cref="IsValidDomain"/>. Quoted local parts are not accepted in configuration.
    /// </summary>
    public static bool IsValidAddress(string address)
    {
        var at = address.LastIndexOf('@');
        if (at <= 0 || at == address.Length - 1)
            return false;
        return IsValidLocalPart(address[..at]) && IsValidDomain(address[(at + 1)..]);
    }

    /// <summary>
    /// True for an RFC 5322 §3.2.3 dot-atom of at most 64 characters (RFC 5321 §4.5.3.1.1): atext characters
    /// separated by single dots, no leading or trailing dot. Quoted local parts are not accepted.
    /// </summary>
    public static bool IsValidLocalPart(string local)
    {
        if (local.Length is 0 or > 64 || local[0] == '.' || local[^1] == '.' || local.Contains(".."))
            return false;
        foreach (var c in local)
            if (!(char.IsAsciiLetterOrDigit(c) || c == '.' || "!#$%&'*+-/=?^_`{|}~".Contains(c)))
                return false;
        return true;
    }

    /// <summary>
    /// True when <paramref name="serverName"/> is a fully qualified domain name other servers and clients can
    /// resolve: at least two labels, a top-level label that is not all digits, and not a name reserved for one
    /// machine or a local network (localhost, .localhost, .localdomain, .local; RFC 6761 §6.3, RFC 6762).
    /// A bare machine name ("vm") fails: an MX or SRV record cannot point at it.
    /// </summary>
    public static bool IsFullyQualifiedServerName(string serverName)
    {
        var name = serverName.TrimEnd('.').ToLowerInvariant();
        if (!IsValidDomain(name, requireDot: true))
            return false;
        var top = name[(name.LastIndexOf('.') + 1)..];
        if (top.All(char.IsAsciiDigit))
            return false;
        return top is not ("localhost" or "localdomain" or "local");
    }

    /// <summary>
    /// The domain part: what follows the last '@' (a quoted local part may hold an '@' of its own; a domain never
    /// does, RFC 5321 §4.1.2). The whole text when it has no '@'.
    /// </summary>
    public static string DomainOf(string address) => address[(address.LastIndexOf('@') + 1)..];

    /// <summary>The domain part, or null when <paramref name="address"/> has no '@' (or nothing after it).</summary>
    public static string? DomainOrNull(string? address) =>
        address?.LastIndexOf('@') is int at && at >= 0 && at < address.Length - 1 ? address[(at + 1)..] : null;

    /// <summary>The local part: what precedes the last '@'; the whole text when it has no '@'.</summary>
    public static string LocalPartOf(string address) => address.LastIndexOf('@') is var at && at >= 0 ? address[..at] : address;
}
