using System.Text;
using MimeKit;
using MimeKit.Utils;

namespace MailServer.Protocols.Imap.Messages;

/// <summary>Reads header values out of the raw octets.</summary>
internal static class HeaderText
{
    /// <summary>Structured values (addresses, Content-Type, dates) longer than this are treated as unparseable:
    /// MimeKit's parsers are not linear on hostile input (dependency pitfalls, MimeKit), and a 64 KiB address
    /// field already lists over a thousand addresses.</summary>
    public const int MaxParsedValueLength = 64 * 1024;

    /// <summary>The value octets after the colon without the final line break, folding kept.</summary>
    public static byte[] RawValue(byte[] raw, HeaderField field)
    {
        var end = field.End;
        if (end > field.ValueStart && raw[end - 1] == (byte)'\n')
        {
            end--;
            if (end > field.ValueStart && raw[end - 1] == (byte)'\r')
            {
                end--;
            }
        }
        return raw.AsSpan(field.ValueStart, end - field.ValueStart).ToArray();
    }

    /// <summary>The value unfolded (RFC 5322 §2.2.3: CRLF before WSP removed) with leading and trailing WSP trimmed.</summary>
    public static byte[] Unfolded(byte[] raw, HeaderField field)
    {
        var value = RawValue(raw, field);
        var n = 0;
        foreach (var b in value)
        {
            if (b is not ((byte)'\r' or (byte)'\n'))
            {
                value[n++] = b;
            }
        }
        return value.AsSpan(0, n).Trim(" \t"u8).ToArray();
    }

    /// <summary>The value as text: unfolded, RFC 2047 encoded words decoded, raw 8-bit read as UTF-8
    /// (RFC 6532) with a Latin-1 fallback.</summary>
    public static string Decoded(byte[] raw, HeaderField field, ParserOptions options)
    {
        var value = Unfolded(raw, field);
        return value.Length > MaxParsedValueLength ? AsText(value) : Rfc2047.DecodeText(options, value);
    }

    /// <summary>Octets as a string: UTF-8 when valid, Latin-1 otherwise (never loses octets).</summary>
    public static string AsText(ReadOnlySpan<byte> value) =>
        System.Text.Unicode.Utf8.IsValid(value) ? Encoding.UTF8.GetString(value) : Encoding.Latin1.GetString(value);

    /// <summary>The Content-Transfer-Encoding, lower-cased; 7bit when absent (RFC 2045 §6.1).</summary>
    public static string TransferEncoding(byte[] raw, List<HeaderField> headers)
    {
        foreach (var h in headers)
        {
            if (h.Name.Equals("Content-Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                var text = Encoding.Latin1.GetString(Unfolded(raw, h));
                // A comment after the token is allowed (RFC 2045 §6.1 uses RFC 822 tokens).
                var paren = text.IndexOf('(');
                if (paren >= 0)
                {
                    text = text[..paren];
                }
                text = text.Trim().ToLowerInvariant();
                return text.Length == 0 ? "7bit" : text;
            }
        }
        return "7bit";
    }
}
