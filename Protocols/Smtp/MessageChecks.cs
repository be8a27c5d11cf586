using System.Buffers;
using MimeKit;

namespace MailServer.Protocols.Smtp;

/// <summary>Why the content of a DATA section was refused. A closed set.</summary>
internal abstract record ContentVerdict
{
    private ContentVerdict() { }

    public sealed record Acceptable : ContentVerdict;
    public sealed record TooLarge : ContentVerdict;
    public sealed record BareLineEnding : ContentVerdict;
    public sealed record HeaderSectionTooLarge : ContentVerdict;
    public sealed record MimeRefused(string Why) : ContentVerdict;
}

/// <summary>
/// The checks run on a received DATA section before anything is delivered, cheapest first. Pure functions
/// over bytes, except the MIME scan which runs MimeKit's streaming reader under the caps and a deadline.
/// </summary>
internal static class MessageChecks
{
    /// <summary>
    /// The message as it was sent: SmtpServer hands over the DATA section without its final CRLF and has
    /// undone dot-stuffing except on the very first line (its search pattern is CRLF "..", RFC 5321 §4.5.2),
    /// which is done here.
    /// </summary>
    public static byte[] Assemble(ReadOnlySequence<byte> data) => Assemble(data, []);

    /// <summary>As <see cref="Assemble(ReadOnlySequence{byte})"/>, behind <paramref name="prefix"/> (our trace field) in
    /// the same array: the one copy of the DATA section the server makes.</summary>
    public static byte[] Assemble(ReadOnlySequence<byte> data, ReadOnlySpan<byte> prefix)
    {
        var skip = data.Length >= 2 && data.FirstSpan.Length >= 2 && data.FirstSpan[0] == '.' && data.FirstSpan[1] == '.' ? 1 : 0;
        var bytes = GC.AllocateUninitializedArray<byte>(checked((int)(prefix.Length + data.Length - skip + 2)));
        prefix.CopyTo(bytes);
        data.Slice(skip).CopyTo(bytes.AsSpan(prefix.Length));
        bytes[^2] = (byte)'\r';
        bytes[^1] = (byte)'\n';
        return bytes;
    }

    /// <summary>Runs the checks in order; the first failing one decides.</summary>
    public static ContentVerdict Check(ReadOnlyMemory<byte> message, SmtpLimits limits, CancellationToken deadline)
    {
        if (message.Length > limits.MaxMessageBytes)
            return new ContentVerdict.TooLarge();
        if (HasBareLineEndingOrNul(message.Span))
            return new ContentVerdict.BareLineEnding();
        if (HeaderSectionLength(message.Span) > limits.MaxHeaderSectionBytes)
            return new ContentVerdict.HeaderSectionTooLarge();
        return ScanMime(message, limits, deadline);
    }

    /// <summary>
    /// RFC 5322 §2.3: CR and LF must only occur together as CRLF in a message, and NUL not at all.
    /// Refusing instead of normalising closes SMTP smuggling (CVE-2023-51766 and relatives): a sender hides
    /// "&lt;LF&gt;.&lt;LF&gt;MAIL FROM:..." inside one DATA section; a server that accepts the bare LF and
    /// later relays the message to a server which treats &lt;LF&gt;.&lt;LF&gt; as end-of-data turns the hidden
    /// text into a second, spoofed transaction. No bare LF in, no smuggled transaction out.
    /// </summary>
    public static bool HasBareLineEndingOrNul(ReadOnlySpan<byte> message)
    {
        var rest = message;
        while (true)
        {
            var i = rest.IndexOfAny((byte)'\r', (byte)'\n', (byte)0);
            if (i < 0)
                return false;
            switch (rest[i])
            {
                case 0:
                    return true;
                case (byte)'\n':
                    return true; // an LF not consumed as part of a CRLF below
                default:
                    if (i + 1 >= rest.Length || rest[i + 1] != '\n')
                        return true;
                    rest = rest[(i + 2)..];
                    break;
            }
        }
    }

    /// <summary>The header section itself (see <see cref="HeaderSectionLength"/>).</summary>
    public static ReadOnlySpan<byte> HeaderSection(ReadOnlySpan<byte> message) => message[..HeaderSectionLength(message)];

    /// <summary>Bytes up to and including the empty line that ends the header section (all of it when none).</summary>
    public static int HeaderSectionLength(ReadOnlySpan<byte> message)
    {
        if (message.StartsWith("\r\n"u8))
            return 2;
        var end = message.IndexOf("\r\n\r\n"u8);
        return end < 0 ? message.Length : end + 4;
    }

    private static ContentVerdict ScanMime(ReadOnlyMemory<byte> message, SmtpLimits limits, CancellationToken deadline)
    {
        // MimeKit stops descending at its MaxMimeDepth and reads deeper entities as leaves; let it go two
        // levels further so our own count (which refuses) sees the excess.
        var options = new ParserOptions { MaxMimeDepth = limits.MaxMimeDepth + 2 };
        // Read in place: a big message is not copied to be scanned.
        using var stream = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(message, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(message.ToArray(), writable: false);
        var reader = new StructureReader(options, stream, limits);
        try
        {
            reader.ReadMessage(deadline);
            return new ContentVerdict.Acceptable();
        }
        catch (StructureLimitException e)
        {
            return new ContentVerdict.MimeRefused(e.Message);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            return new ContentVerdict.MimeRefused("too costly to parse");
        }
        catch (FormatException)
        {
            return new ContentVerdict.MimeRefused("unparsable");
        }
    }

    private sealed class StructureLimitException(string message) : Exception(message);

    /// <summary>
    /// MimeKit's streaming reader: sees every entity as it is parsed, builds no tree, and stops at the first
    /// cap crossed (MimeKit's own parser would first allocate the whole tree, see docs/dependencies.md, "MimeKit").
    /// </summary>
    private sealed class StructureReader(ParserOptions options, Stream stream, SmtpLimits limits) : MimeReader(options, stream)
    {
        private int _depth;
        private int _parts;
        private int _attachments;
        private bool _attachmentDisposition;

        protected override void OnHeadersBegin(long beginOffset, int beginLineNumber, CancellationToken cancellationToken)
        {
            _attachmentDisposition = false;
            cancellationToken.ThrowIfCancellationRequested();
        }

        protected override void OnHeaderRead(Header header, int beginLineNumber, CancellationToken cancellationToken)
        {
            if (header.Id == HeaderId.ContentDisposition
                && ContentDisposition.TryParse(header.RawValue, out var disposition)
                && disposition.IsAttachment)
                _attachmentDisposition = true;
        }

        protected override void OnMimePartBegin(ContentType contentType, long beginOffset, int beginLineNumber, CancellationToken cancellationToken)
        {
            CountPart();
            if (_attachmentDisposition && ++_attachments > limits.MaxAttachments)
                throw new StructureLimitException("too many attachments");
        }

        protected override void OnMultipartBegin(ContentType contentType, long beginOffset, int beginLineNumber, CancellationToken cancellationToken)
        {
            CountPart();
            Enter();
        }

        protected override void OnMultipartEnd(ContentType contentType, long beginOffset, int beginLineNumber, long headersEndOffset, long endOffset, int lines, CancellationToken cancellationToken) => _depth--;

        protected override void OnMessagePartBegin(ContentType contentType, long beginOffset, int beginLineNumber, CancellationToken cancellationToken)
        {
            CountPart();
            Enter();
        }

        protected override void OnMessagePartEnd(ContentType contentType, long beginOffset, int beginLineNumber, long headersEndOffset, long endOffset, int lines, CancellationToken cancellationToken) => _depth--;

        private void CountPart()
        {
            if (++_parts > limits.MaxMimeParts)
                throw new StructureLimitException("too many MIME parts");
        }

        private void Enter()
        {
            if (++_depth > limits.MaxMimeDepth)
                throw new StructureLimitException("MIME nesting too deep");
        }
    }
}
