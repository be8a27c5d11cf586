using MailServer.Rules.Sending;
using System.Text;

namespace MailServer.Protocols.Smtp;

/// <summary>The RFC 3461 parameters of one RCPT command, taken off the line before SmtpServer parses it.</summary>
/// <param name="Address">The recipient path as written (for matching the RCPT SmtpServer reports).</param>
/// <param name="Notify">NOTIFY, or <see cref="DsnNotify.NotGiven"/>.</param>
/// <param name="OriginalRecipient">ORCPT as "addr-type;address" with xtext decoded, or null.</param>
/// <param name="Invalid">A parameter was malformed: the RCPT is answered 501.</param>
/// <param name="BarePostmaster">The client wrote <c>RCPT TO:&lt;Postmaster&gt;</c> without a domain (RFC 5321 §4.5.1); the line
/// was rewritten to <see cref="RcptParameterParser.BarePostmasterPath"/>, which SmtpServer can parse.</param>
internal sealed record RcptParameters(string Address, DsnNotify Notify, string? OriginalRecipient, bool Invalid, bool BarePostmaster = false);

/// <summary>
/// SmtpServer 11.1.0 keeps no parameter of RCPT (its command has none; the parser has a TODO there), so DSN
/// (RFC 3461) could not be offered. The connection guard passes each complete command line through <see cref="TryStrip"/>: a RCPT
/// line with NOTIFY/ORCPT parameters is shortened to "RCPT TO:&lt;path&gt;" and the parameters are handed to the
/// session. Lines with unknown parameters are left for SmtpServer to refuse (RFC 5321 §4.1.1.11, 555).
/// SmtpServer's path grammar also lacks RFC 5321 §4.1.1.3's <c>"&lt;Postmaster&gt;"</c> (a recipient without a
/// domain, which every server MUST accept, §4.5.1): such a line is rewritten to <see cref="BarePostmasterPath"/> and
/// flagged, and the envelope filter hands the directory the bare name.
/// </summary>
internal static class RcptParameterParser
{
    /// <summary>The path a bare <c>&lt;Postmaster&gt;</c> is rewritten to; the reserved TLD .invalid (RFC 2606 §2) is no one's domain.</summary>
    public const string BarePostmasterPath = "postmaster@postmaster.invalid";

    private static readonly byte[] BarePostmasterLine = Encoding.ASCII.GetBytes($"RCPT TO:<{BarePostmasterPath}>\r\n");

    /// <summary>
    /// For a RCPT line (CRLF included) that carries only NOTIFY/ORCPT parameters: the length of the line kept
    /// (the path and CRLF, written back into <paramref name="line"/>) and the parameters. Otherwise null.
    /// A RCPT line without parameters yields its parameters as NotGiven and is kept as it is. For a bare
    /// <c>&lt;Postmaster&gt;</c>, <c>Replacement</c> is the line to pass on instead (longer than the original).
    /// </summary>
    public static (int Length, RcptParameters Parameters, byte[]? Replacement)? TryStrip(Span<byte> line)
    {
        if (line.Length < 10 || !Ascii.EqualsIgnoreCase(line[..8], "RCPT TO:"u8))
            return null;
        var open = line.IndexOf((byte)'<');
        var close = line.IndexOf((byte)'>');
        if (open < 0 || close < open)
            return null;
        var address = Encoding.UTF8.GetString(line[(open + 1)..close]);
        var rest = Encoding.ASCII.GetString(line[(close + 1)..]).TrimEnd('\r', '\n').Trim(' ');
        var bare = address.Equals("postmaster", StringComparison.OrdinalIgnoreCase);
        if (bare)
            address = BarePostmasterPath;
        byte[]? replacement = bare ? BarePostmasterLine : null;
        if (rest.Length == 0)
            return (line.Length, new RcptParameters(address, DsnNotify.NotGiven, null, Invalid: false, bare), replacement);

        var notify = DsnNotify.NotGiven;
        string? orcpt = null;
        var invalid = false;
        foreach (var parameter in rest.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = parameter.IndexOf('=');
            var key = eq < 0 ? parameter : parameter[..eq];
            var value = eq < 0 ? "" : parameter[(eq + 1)..];
            if (key.Equals("NOTIFY", StringComparison.OrdinalIgnoreCase))
                invalid |= notify != DsnNotify.NotGiven || !TryParseNotify(value, out notify);
            else if (key.Equals("ORCPT", StringComparison.OrdinalIgnoreCase))
                invalid |= orcpt is not null || (orcpt = DecodeOrcpt(value)) is null;
            else
                return null; // not ours: SmtpServer answers it
        }
        // Keep "RCPT TO:<path>" and CRLF; the line only gets shorter, so it is rewritten in place.
        var kept = close + 1;
        line[kept] = (byte)'\r';
        line[kept + 1] = (byte)'\n';
        return (kept + 2, new RcptParameters(address, notify, orcpt, invalid, bare), replacement);
    }

    /// <summary>RFC 3461 §4.1: "NEVER" alone, or a list of SUCCESS, FAILURE, DELAY.</summary>
    public static bool TryParseNotify(string value, out DsnNotify notify)
    {
        notify = DsnNotify.NotGiven;
        var items = value.Split(',');
        foreach (var item in items)
        {
            var flag = item.ToUpperInvariant() switch
            {
                "NEVER" => DsnNotify.Never,
                "SUCCESS" => DsnNotify.Success,
                "FAILURE" => DsnNotify.Failure,
                "DELAY" => DsnNotify.Delay,
                _ => (DsnNotify?)null,
            };
            if (flag is null || notify.HasFlag(flag.Value))
                return false;
            notify |= flag.Value;
        }
        return notify != DsnNotify.NotGiven && (notify == DsnNotify.Never || !notify.HasFlag(DsnNotify.Never));
    }

    /// <summary>RFC 3461 §4.2: addr-type ";" xtext, decoded; null when malformed.</summary>
    public static string? DecodeOrcpt(string value)
    {
        var semicolon = value.IndexOf(';');
        if (semicolon <= 0 || semicolon == value.Length - 1)
            return null;
        return DecodeXtext(value[(semicolon + 1)..]) is { } decoded ? value[..semicolon] + ";" + decoded : null;
    }

    /// <summary>RFC 3461 §4: xtext, "+" followed by two upper-case hex digits encodes one byte.</summary>
    public static string? DecodeXtext(string xtext)
    {
        var bytes = new List<byte>(xtext.Length);
        for (var i = 0; i < xtext.Length; i++)
        {
            var c = xtext[i];
            if (c == '+')
            {
                if (i + 2 >= xtext.Length || !byte.TryParse(xtext.AsSpan(i + 1, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out var b))
                    return null;
                bytes.Add(b);
                i += 2;
            }
            else if (c is < '!' or > '~' or '=')
            {
                return null;
            }
            else
            {
                bytes.Add((byte)c);
            }
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>xtext-encodes a value (for ORCPT/ENVID in a DSN or when relaying).</summary>
    public static string EncodeXtext(string value)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            if (b is >= (byte)'!' and <= (byte)'~' and not (byte)'+' and not (byte)'=')
                builder.Append((char)b);
            else
                builder.Append('+').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
        }
        return builder.ToString();
    }
}
