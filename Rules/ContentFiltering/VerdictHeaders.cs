namespace MailServer.Rules.ContentFiltering;

/// <summary>
/// Removes the verdict fields an incoming message brings with it (<see cref="ContentVerdicts.IsVerdictField"/>: anyone
/// can write <c>X-Spam-Flag: NO</c> into a message) and puts ours right below the first field (our Received), in one
/// pass and one copy of the message.
/// </summary>
public static class VerdictHeaders
{
    /// <summary>
    /// The message with every verdict field of its header section removed and <paramref name="fields"/> (complete
    /// fields, each ending in CRLF; may be empty) inserted below the first field. The body is copied as it is.
    /// </summary>
    /// <param name="content">The message (CRLF line endings).</param>
    /// <param name="fields">The fields to add.</param>
    /// <param name="removed">How many fields were removed.</param>
    public static byte[] Rewrite(ReadOnlySpan<byte> content, string fields, out int removed)
    {
        removed = 0;
        var headerEnd = content.IndexOf("\r\n\r\n"u8);
        var headerLength = headerEnd < 0 ? content.Length : headerEnd + 2; // the last field's CRLF, not the blank line
        var insert = System.Text.Encoding.ASCII.GetBytes(fields);
        var output = new byte[content.Length + insert.Length];
        var written = 0;
        var position = 0;
        var first = true;
        while (position < headerLength)
        {
            // One field: its first line and every continuation line (RFC 5322 §2.2.3).
            var end = position;
            do
            {
                var lineEnd = content[end..headerLength].IndexOf("\r\n"u8);
                end = lineEnd < 0 ? headerLength : end + lineEnd + 2;
            }
            while (end < headerLength && content[end] is (byte)' ' or (byte)'\t');
            var field = content[position..end];
            var colon = field.IndexOf((byte)':');
            if (colon > 0 && ContentVerdicts.IsVerdictField(field[..colon]))
            {
                removed++;
            }
            else
            {
                field.CopyTo(output.AsSpan(written));
                written += field.Length;
            }
            if (first)
            {
                insert.CopyTo(output.AsSpan(written));
                written += insert.Length;
                first = false;
            }
            position = end;
        }
        if (first)
        {
            insert.CopyTo(output.AsSpan(written));
            written += insert.Length;
        }
        content[headerLength..].CopyTo(output.AsSpan(written));
        written += content.Length - headerLength;
        return written == output.Length ? output : output[..written];
    }

    /// <summary>True when the header section of <paramref name="content"/> holds a verdict field (so <see cref="Rewrite"/> has something to remove).</summary>
    public static bool HasVerdictField(ReadOnlySpan<byte> content)
    {
        var headerEnd = content.IndexOf("\r\n\r\n"u8);
        var headers = headerEnd < 0 ? content : content[..(headerEnd + 2)];
        var position = 0;
        while (position < headers.Length)
        {
            var line = headers[position..];
            var lineEnd = line.IndexOf("\r\n"u8);
            var text = lineEnd < 0 ? line : line[..lineEnd];
            var colon = text.IndexOf((byte)':');
            if (text.Length > 0 && text[0] is not ((byte)' ' or (byte)'\t') && colon > 0 && ContentVerdicts.IsVerdictField(text[..colon]))
                return true;
            if (lineEnd < 0)
                break;
            position += lineEnd + 2;
        }
        return false;
    }
}
