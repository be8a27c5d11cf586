using System.Globalization;
using System.Text;

namespace MailServer.Protocols.Imap.Syntax;

/// <summary>
/// An IMAP URL naming one message or a part of it (RFC 5092 §6 imessagepart, the form CATENATE takes, RFC 4469 §5):
/// <c>imap://[user[;AUTH=...]@]host[:port]/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]</c>, or the
/// same without scheme and server (<c>/mailbox...</c>, an absolute path), or only <c>;UID=n[...]</c> (relative to
/// the selected mailbox). Keywords are case-insensitive; the mailbox and section are percent-decoded UTF-8 (RFC 5092
/// §3, §9). <see cref="Parse"/> is pure and never throws.
/// </summary>
/// <param name="User">The user of the authority part, or null.</param>
/// <param name="Host">The host of the authority part; null for a relative URL.</param>
/// <param name="Port">The port, or null.</param>
/// <param name="Mailbox">The Unicode mailbox name; null when relative to the selected mailbox.</param>
/// <param name="UidValidity">The UIDVALIDITY the URL was made with, or null.</param>
/// <param name="Uid">The message's UID.</param>
/// <param name="Section">The section-spec (e.g. <c>1.MIME</c>), or null for the whole message.</param>
/// <param name="PartialOffset">The first octet of a ;PARTIAL range, or null.</param>
/// <param name="PartialLength">The length of a ;PARTIAL range, or null for "to the end".</param>
/// <param name="HasUrlAuth">The URL carries ;EXPIRE / ;URLAUTH (RFC 4467), which this server does not grant.</param>
public sealed record ImapUrl(string? User, string? Host, int? Port, string? Mailbox, uint? UidValidity, uint Uid, string? Section,
    uint? PartialOffset, uint? PartialLength, bool HasUrlAuth)
{
    /// <summary>Parses a message URL; null when the text is not one (a mailbox-only URL, a search, another scheme, bad
    /// percent-encoding, a zero UID).</summary>
    public static ImapUrl? Parse(string text)
    {
        string? user = null, host = null;
        int? port = null;
        var rest = text;
        if (rest.StartsWith("imap://", StringComparison.OrdinalIgnoreCase))
        {
            rest = rest["imap://".Length..];
            var slash = rest.IndexOf('/');
            if (slash < 0)
                return null;
            var authority = rest[..slash];
            rest = rest[slash..];
            var at = authority.LastIndexOf('@');
            if (at >= 0)
            {
                var userInfo = authority[..at];
                var auth = userInfo.IndexOf(";AUTH=", StringComparison.OrdinalIgnoreCase);
                user = Decode(auth >= 0 ? userInfo[..auth] : userInfo);
                if (user is null)
                    return null;
                authority = authority[(at + 1)..];
            }
            var colon = authority.LastIndexOf(':');
            if (colon >= 0 && !authority.EndsWith(']'))
            {
                if (!int.TryParse(authority[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p is 0 or > 65535)
                    return null;
                port = p;
                authority = authority[..colon];
            }
            if (authority.Length == 0)
                return null;
            host = authority;
        }
        string? mailbox = null;
        uint? uidValidity = null;
        if (rest.StartsWith('/'))
        {
            // ipath-absolute: "/" enc-mailbox [uidvalidity] "/" iuid ...
            var end = rest.IndexOf("/;", 1, StringComparison.Ordinal);
            if (end < 0)
                return null;
            var mailboxRef = rest[1..end];
            rest = rest[(end + 1)..];
            var semi = mailboxRef.IndexOf(";UIDVALIDITY=", StringComparison.OrdinalIgnoreCase);
            if (semi >= 0)
            {
                if (!TryNz(mailboxRef[(semi + ";UIDVALIDITY=".Length)..], out var v))
                    return null;
                uidValidity = v;
                mailboxRef = mailboxRef[..semi];
            }
            mailbox = Decode(mailboxRef);
            if (string.IsNullOrEmpty(mailbox))
                return null;
        }
        else if (host is not null)
        {
            return null;
        }
        // iuid-only ["/" isection-only] ["/" ipartial-only] ["/" iurlauth...]
        var segments = rest.Split('/');
        if (!segments[0].StartsWith(";UID=", StringComparison.OrdinalIgnoreCase) || !TryNz(segments[0][";UID=".Length..], out var uid))
            return null;
        string? section = null;
        uint? offset = null, length = null;
        var urlAuth = false;
        foreach (var whole in segments.Skip(1))
        {
            // iurlauth = iurlauth-rump iua-verifier, where the rump is [";EXPIRE=" datetime] ";URLAUTH=" access (RFC 5092 §6)
            var segment = whole;
            var expire = segment.IndexOf(";EXPIRE=", StringComparison.OrdinalIgnoreCase);
            var auth = segment.IndexOf(";URLAUTH=", StringComparison.OrdinalIgnoreCase);
            var cut = expire >= 0 && (auth < 0 || expire < auth) ? expire : auth;
            if (cut >= 0)
            {
                urlAuth = true;
                segment = segment[..cut];
                if (segment.Length == 0)
                    continue;
            }
            if (segment.StartsWith(";SECTION=", StringComparison.OrdinalIgnoreCase) && section is null && offset is null)
            {
                section = Decode(segment[";SECTION=".Length..]);
                if (string.IsNullOrEmpty(section))
                    return null;
            }
            else if (segment.StartsWith(";PARTIAL=", StringComparison.OrdinalIgnoreCase) && offset is null)
            {
                // partial-range = number ["." nz-number]
                var range = segment[";PARTIAL=".Length..].Split('.');
                if (range.Length > 2 || !uint.TryParse(range[0], NumberStyles.None, CultureInfo.InvariantCulture, out var o))
                    return null;
                offset = o;
                if (range.Length == 2)
                {
                    if (!TryNz(range[1], out var l))
                        return null;
                    length = l;
                }
            }
            else
            {
                return null;
            }
        }
        return new ImapUrl(user, host, port, mailbox, uidValidity, uid, section, offset, length, urlAuth);
    }

    private static bool TryNz(string digits, out uint value) =>
        uint.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value > 0;

    /// <summary>Percent-decodes UTF-8 (RFC 3986 §2.1); null for a malformed escape or invalid UTF-8.</summary>
    private static string? Decode(string text)
    {
        if (!text.Contains('%'))
            return text;
        var bytes = new List<byte>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '%')
            {
                if (text[i] > 0x7F)
                    return null;
                bytes.Add((byte)text[i]);
                continue;
            }
            if (i + 2 >= text.Length || !byte.TryParse(text.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var b))
                return null;
            bytes.Add(b);
            i += 2;
        }
        try
        {
            return new UTF8Encoding(false, true).GetString([.. bytes]);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }
}
