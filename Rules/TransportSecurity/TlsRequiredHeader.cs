using System.Text;

namespace MailServer.Rules.TransportSecurity;

/// <summary>
/// The <c>TLS-Required</c> header field of RFC 8689 §3: <c>TLS-Required: No</c> asks that the recipient domains'
/// MTA-STS and DANE policies be ignored, so the message is delivered even where they would refuse it. "No" is the only
/// value the RFC defines; anything else means nothing.
/// </summary>
public static class TlsRequiredHeader
{
    /// <summary>True when the header section of <paramref name="message"/> holds <c>TLS-Required: No</c> (any case, folding allowed).</summary>
    public static bool SaysNo(ReadOnlySpan<byte> message)
    {
        var end = message.IndexOf("\r\n\r\n"u8);
        var headers = end < 0 ? message : message[..(end + 2)];
        var at = 0;
        while (at < headers.Length)
        {
            // One field: its first line and the continuation lines that start with white space (RFC 5322 §2.2.3).
            var length = 0;
            while (true)
            {
                var eol = headers[(at + length)..].IndexOf("\r\n"u8);
                length = eol < 0 ? headers.Length - at : length + eol + 2;
                if (eol < 0 || at + length >= headers.Length || headers[at + length] is not ((byte)' ' or (byte)'\t'))
                    break;
            }
            var field = headers.Slice(at, length);
            at += length;
            var colon = field.IndexOf((byte)':');
            if (colon < 0 || !Ascii.EqualsIgnoreCase(field[..colon].TrimEnd((byte)' '), "TLS-Required"u8))
                continue;
            var value = Encoding.ASCII.GetString(field[(colon + 1)..]).Replace("\r\n", "", StringComparison.Ordinal).Trim();
            if (value.Equals("No", StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }
}
