using System.Globalization;
using System.Text;
using MimeKit.Utils;

namespace MailServer.Server.Import;

/// <summary>What file-based sources share: line endings and the internal date of a message that carries none.</summary>
internal static class MessageFiles
{
    /// <summary>The octets with every bare LF made CRLF (RFC 5322 §2.3: lines end in CRLF; Maildir and mbox store LF).</summary>
    public static byte[] ToCrlf(ReadOnlySpan<byte> octets)
    {
        var bare = 0;
        for (var i = 0; i < octets.Length; i++)
            if (octets[i] == '\n' && (i == 0 || octets[i - 1] != '\r'))
                bare++;
        if (bare == 0)
            return octets.ToArray();
        var result = new byte[octets.Length + bare];
        var j = 0;
        for (var i = 0; i < octets.Length; i++)
        {
            if (octets[i] == '\n' && (i == 0 || octets[i - 1] != '\r'))
                result[j++] = (byte)'\r';
            result[j++] = octets[i];
        }
        return result;
    }

    /// <summary>
    /// When the message arrived, from its own header: the date of the topmost Received field (the last hop, RFC 5321
    /// §4.4), else the Date field, else null.
    /// </summary>
    public static DateTimeOffset? DateFromHeader(ReadOnlySpan<byte> octets)
    {
        var end = octets.IndexOf("\r\n\r\n"u8);
        if (end < 0)
            end = octets.IndexOf("\n\n"u8);
        var header = Encoding.Latin1.GetString(end < 0 ? octets[..Math.Min(octets.Length, 256 * 1024)] : octets[..end]);
        string? received = null, date = null;
        foreach (var field in Unfold(header))
        {
            if (received is null && field.StartsWith("Received:", StringComparison.OrdinalIgnoreCase) && field.LastIndexOf(';') is > 0 and var semi)
                received = field[(semi + 1)..].Trim();
            else if (date is null && field.StartsWith("Date:", StringComparison.OrdinalIgnoreCase))
                date = field[5..].Trim();
        }
        foreach (var text in new[] { received, date })
            if (text is not null && DateUtils.TryParse(text, out var parsed))
                return parsed;
        return null;
    }

    private static IEnumerable<string> Unfold(string header)
    {
        var current = new StringBuilder();
        foreach (var line in header.Split('\n'))
        {
            var l = line.TrimEnd('\r');
            if (l.Length > 0 && (l[0] == ' ' || l[0] == '\t'))
            {
                current.Append(' ').Append(l.Trim());
                continue;
            }
            if (current.Length > 0)
                yield return current.ToString();
            current.Clear().Append(l);
        }
        if (current.Length > 0)
            yield return current.ToString();
    }

    /// <summary>The asctime date of an mbox "From " line ("From sender Tue Jan  1 12:00:00 2019"), taken as UTC; or null.</summary>
    public static DateTimeOffset? DateFromFromLine(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // From ADDR Www Mmm dd hh:mm:ss yyyy: the five words after the address hold the date.
        if (parts.Length >= 7 && DateTime.TryParseExact(string.Join(' ', parts[2..7]), "ddd MMM d HH:mm:ss yyyy", CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var utc))
            return new DateTimeOffset(utc, TimeSpan.Zero);
        return null;
    }
}
