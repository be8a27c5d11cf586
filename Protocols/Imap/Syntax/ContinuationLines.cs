namespace MailServer.Protocols.Imap.Syntax;

/// <summary>
/// A client line answering an AUTHENTICATE challenge (RFC 9051 §6.2.2): base64 data, or <c>*</c> to cancel.
/// The session frames these lines with <see cref="ImapCommandFramer"/> like commands and parses them here.
/// </summary>
public abstract record SaslResponse
{
    private SaslResponse() { }

    /// <summary>The decoded response; empty for an empty line. Credential material: not printed by ToString.</summary>
    public sealed record Data(byte[] Bytes) : SaslResponse
    {
        /// <inheritdoc />
        public bool Equals(Data? other) => other is not null && Bytes.AsSpan().SequenceEqual(other.Bytes);

        /// <inheritdoc />
        public override int GetHashCode() => Bytes.Length;

        /// <summary>Shows the length only.</summary>
        protected override bool PrintMembers(System.Text.StringBuilder builder)
        {
            builder.Append("Bytes = <").Append(Bytes.Length).Append(" octets redacted>");
            return true;
        }
    }

    /// <summary>The client cancelled with <c>*</c>: answer <c>tag BAD</c> (RFC 9051 §6.2.2).</summary>
    public sealed record Cancelled : SaslResponse;

    /// <summary>The line is not base64: answer <c>tag BAD</c> and end the exchange.</summary>
    public sealed record Malformed(string Reason) : SaslResponse;

    /// <summary>Parses one line (without CRLF).</summary>
    public static SaslResponse Parse(ReadOnlySpan<byte> line)
    {
        if (line.Length == 1 && line[0] == (byte)'*')
        {
            return new Cancelled();
        }
        return ImapBase64.TryDecode(line, out var bytes) ? new Data(bytes) : new Malformed("Invalid base64");
    }
}

/// <summary>The line that ends IDLE (RFC 9051 §6.3.13: <c>"DONE"</c>, case-insensitive per §9 note 3).</summary>
public static class IdleSyntax
{
    /// <summary>True when <paramref name="line"/> (without CRLF) is DONE.</summary>
    public static bool IsDone(ReadOnlySpan<byte> line) =>
        line.Length == 4 && System.Text.Ascii.EqualsIgnoreCase(line, "DONE"u8);
}

/// <summary>Strict base64 (RFC 9051 §9 <c>base64</c>): the standard alphabet, padding only at the end, no whitespace.</summary>
internal static class ImapBase64
{
    public static bool TryDecode(ReadOnlySpan<byte> text, out byte[] bytes)
    {
        bytes = [];
        if (text.Length % 4 != 0)
        {
            return false;
        }
        var padding = text.Length > 0 && text[^1] == (byte)'=' ? (text.Length > 1 && text[^2] == (byte)'=' ? 2 : 1) : 0;
        foreach (var b in text[..^padding])
        {
            if (!(char.IsAsciiLetterOrDigit((char)b) || b is (byte)'+' or (byte)'/'))
            {
                return false;
            }
        }
        var buffer = new byte[text.Length / 4 * 3];
        if (System.Buffers.Text.Base64.DecodeFromUtf8(text, buffer, out _, out var written) != System.Buffers.OperationStatus.Done)
        {
            return false;
        }
        bytes = buffer[..written];
        return true;
    }
}
