using MimeKit;

namespace MailServer.Protocols.Imap.Messages;

/// <summary>
/// APPEND of binary content (RFC 3516, APPEND command extensions): a message sent as <c>~{n}</c> may hold NUL octets,
/// which no IMAP <c>string</c> can carry, so BODY[] of it would have no legal form (RFC 9051 §9 excludes NUL from
/// literals). Each MIME part whose content holds a NUL is re-encoded to base64 before the message is stored (RFC 3516
/// lets the server change a part's transfer encoding); BINARY[part] decodes it back to the octets the client sent.
/// A message without NUL is stored unchanged.
/// </summary>
public static class BinaryContent
{
    /// <summary>The message in a form every FETCH item can return.</summary>
    /// <exception cref="UnknownTransferEncodingException">A NUL is outside any part's content (in a header), so no
    /// re-encoding removes it: answer <c>NO [UNKNOWN-CTE]</c>.</exception>
    public static ReadOnlyMemory<byte> ToStorableForm(ReadOnlyMemory<byte> message)
    {
        if (!message.Span.Contains((byte)0))
            return message;
        using var input = new MemoryStream(message.ToArray(), writable: false);
        var parsed = MimeMessage.Load(input);
        foreach (var part in parsed.BodyParts.OfType<MimePart>())
        {
            if (part.Content is null || part.ContentTransferEncoding is ContentEncoding.Base64 or ContentEncoding.QuotedPrintable or ContentEncoding.UUEncode)
                continue;
            using var decoded = new MemoryStream();
            part.Content.DecodeTo(decoded);
            if (Array.IndexOf(decoded.GetBuffer(), (byte)0, 0, (int)decoded.Length) >= 0)
                part.ContentTransferEncoding = ContentEncoding.Base64;
        }
        using var output = new MemoryStream(message.Length * 4 / 3 + 1024);
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        parsed.WriteTo(format, output);
        var result = output.ToArray();
        if (Array.IndexOf(result, (byte)0) >= 0)
            throw new UnknownTransferEncodingException("binary");
        return result;
    }
}
