using System.Text;
using MimeKit;

namespace MailServer.Protocols.Imap.Messages;

/// <summary>One raw header field: its name and the octets after the colon, folding kept.</summary>
internal sealed record HeaderField(string Name, int Start, int End, int ValueStart);

/// <summary>
/// One MIME entity located by octet offsets inside the raw message: the header section is
/// <c>[HeaderStart, BodyStart)</c> including the blank line, the body <c>[BodyStart, End)</c>. The boundary
/// delimiters of an enclosing multipart, including the CRLF before them, are outside (RFC 2046 §5.1.1).
/// </summary>
internal sealed class MimeNode
{
    public MimeNode(int headerStart, int bodyStart, int end, List<HeaderField> headers, ContentType contentType, int depth)
    {
        HeaderStart = headerStart;
        HeaderArenaStart = headerStart;
        BodyStart = bodyStart;
        End = end;
        Headers = headers;
        ContentType = contentType;
        Depth = depth;
    }

    public int HeaderStart { get; }
    public int BodyStart { get; }
    public int End { get; }
    public int BodyLength => End - BodyStart;
    public List<HeaderField> Headers { get; }
    public ContentType ContentType { get; }
    public int Depth { get; }

    /// <summary>Where the header section <c>[HeaderStart, BodyStart)</c> starts in the view's header octets: the same
    /// offset for a message held whole, an offset into the kept header sections for a streamed one.</summary>
    public int HeaderArenaStart { get; init; }

    /// <summary>body-fld-lines, counted while scanning a streamed message (whose body octets are not kept); null
    /// when the message is held whole (counted on demand).</summary>
    public long? Lines { get; set; }

    /// <summary>The children of a multipart (never empty for a multipart node).</summary>
    public List<MimeNode> Children { get; } = [];

    /// <summary>The encapsulated message of a message/rfc822 (or message/global) part.</summary>
    public MimeNode? Embedded { get; set; }

    public bool IsMultipart => Children.Count > 0;

    public bool IsText => ContentType.MediaType.Equals("text", StringComparison.OrdinalIgnoreCase);

    public HeaderField? Find(string name)
    {
        foreach (var h in Headers)
        {
            if (h.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return h;
            }
        }
        return null;
    }
}

/// <summary>
/// Locates MIME entities by scanning octets (no content is copied or decoded). MimeKit parses the individual
/// header values; the structure is found here so that every offset is exactly what RFC 9051 §6.4.5 sections need.
/// The same scan runs over a message held whole and over a stored message read a segment at a time
/// (<see cref="IMimeBytes"/>), so both give the same structure; a streamed scan keeps only the header sections.
/// </summary>
internal sealed class MimeStructureScanner
{
    private readonly IMimeBytes _raw;
    private readonly ParserOptions _options;
    private readonly ImapMessageLimits _limits;
    private readonly byte[] _name = new byte[256];
    private int _parts;

    public MimeStructureScanner(byte[] raw, ParserOptions options, ImapMessageLimits limits)
        : this(new ArrayMimeBytes(raw, raw.Length), options, limits)
    {
    }

    public MimeStructureScanner(IMimeBytes raw, ParserOptions options, ImapMessageLimits limits)
    {
        _raw = raw;
        _options = options;
        _limits = limits;
    }

    public bool Truncated { get; private set; }

    /// <summary>Scans one entity in <c>[start, end)</c> at nesting <c>depth</c>; <c>digestDefault</c> is set inside
    /// multipart/digest, where the default type is message/rfc822 (RFC 2046 §5.1.5); <c>headerOnly</c> stops after
    /// the header fields.</summary>
    public MimeNode Scan(int start, int end, int depth, bool digestDefault, bool headerOnly)
    {
        var headers = new List<HeaderField>();
        var bodyStart = ReadHeaders(start, end, headers);
        var arenaStart = start;
        if (_raw.IsStreamed)
        {
            // Only the header section is kept: the fields point into the kept copy from here on.
            arenaStart = _raw.KeepHeader(start, bodyStart);
            var delta = arenaStart - start;
            for (var i = 0; i < headers.Count; i++)
            {
                var h = headers[i];
                headers[i] = h with { Start = h.Start + delta, End = h.End + delta, ValueStart = h.ValueStart + delta };
            }
        }
        var contentType = ParseContentType(headers, digestDefault);
        var node = new MimeNode(start, bodyStart, end, headers, contentType, depth) { HeaderArenaStart = arenaStart };
        _parts++;
        if (headerOnly)
        {
            return node;
        }
        // RFC 9051 §6.4.5 caps: beyond the depth or part limit an entity is presented as a leaf, as the SMTP
        // side's MimeKit limit does, so a hostile structure costs bounded work.
        if (depth >= _limits.MaxDepth || _parts >= _limits.MaxParts)
        {
            Truncated |= contentType.MediaType.Equals("multipart", StringComparison.OrdinalIgnoreCase);
            CountLines(node);
            return node;
        }
        if (contentType.MediaType.Equals("multipart", StringComparison.OrdinalIgnoreCase) && contentType.Boundary is { Length: > 0 } boundary)
        {
            ScanMultipart(node, boundary, depth, contentType.MediaSubtype.Equals("digest", StringComparison.OrdinalIgnoreCase));
        }
        else if (IsEncapsulated(contentType, headers))
        {
            node.Embedded = Scan(bodyStart, end, depth + 1, false, false);
        }
        CountLines(node);
        return node;
    }

    /// <summary>A streamed scan counts body-fld-lines of the entities BODYSTRUCTURE shows it for (text leaves and
    /// encapsulated messages) now, as the view will not hold the body: LF octets in the body, plus one for a last
    /// line without a line break.</summary>
    private void CountLines(MimeNode node)
    {
        if (!_raw.IsStreamed || (node.Embedded is null && (node.IsMultipart || !node.IsText)))
        {
            return;
        }
        if (node.End <= node.BodyStart)
        {
            node.Lines = 0;
            return;
        }
        long count = _raw.CountLineFeeds(node.BodyStart, node.End);
        if (_raw[node.End - 1] != (byte)'\n')
        {
            count++;
        }
        node.Lines = count;
    }

    private bool IsEncapsulated(ContentType type, List<HeaderField> headers)
    {
        if (!type.MediaType.Equals("message", StringComparison.OrdinalIgnoreCase) ||
            !(type.MediaSubtype.Equals("rfc822", StringComparison.OrdinalIgnoreCase) || type.MediaSubtype.Equals("global", StringComparison.OrdinalIgnoreCase)))
        {
            return false;
        }
        // An encoded message/rfc822 (base64, invalid per RFC 2046 §5.2.1 but seen) is shown as a basic part.
        var cte = HeaderText.TransferEncoding(_raw.Headers, headers);
        return cte is "7bit" or "8bit" or "binary";
    }

    private void ScanMultipart(MimeNode node, string boundary, int depth, bool digest)
    {
        var delimiter = Encoding.ASCII.GetBytes("--" + boundary);
        var partStart = -1;
        var pos = node.BodyStart;
        var end = node.End;
        while (pos < end)
        {
            var lineEnd = IndexOfLf(pos, end);
            var next = lineEnd < 0 ? end : lineEnd + 1;
            if (IsDelimiter(pos, next, delimiter, out var close))
            {
                // The CRLF before the delimiter belongs to the delimiter (RFC 2046 §5.1.1).
                var contentEnd = pos;
                if (contentEnd > node.BodyStart && _raw[contentEnd - 1] == (byte)'\n')
                {
                    contentEnd--;
                    if (contentEnd > node.BodyStart && _raw[contentEnd - 1] == (byte)'\r')
                    {
                        contentEnd--;
                    }
                }
                if (partStart >= 0)
                {
                    AddChild(node, partStart, Math.Max(partStart, contentEnd), depth, digest);
                }
                if (close || (Truncated && _parts >= _limits.MaxParts))
                {
                    // Closed, or over the part cap: the rest is not listed, so stop reading it.
                    partStart = -1;
                    break;
                }
                partStart = next;
            }
            pos = next;
        }
        if (partStart >= 0)
        {
            // No close delimiter: the last part runs to the end of the enclosing entity.
            AddChild(node, partStart, end, depth, digest);
        }
        if (node.Children.Count == 0)
        {
            // RFC 9051 body-type-mpart needs at least one body: present an empty text/plain part.
            node.Children.Add(new MimeNode(end, end, end, [], DefaultContentType(false), depth + 1));
        }
    }

    private void AddChild(MimeNode node, int start, int end, int depth, bool digest)
    {
        if (_parts >= _limits.MaxParts)
        {
            Truncated = true;
            return;
        }
        node.Children.Add(Scan(start, end, depth + 1, digest, false));
    }

    private bool IsDelimiter(int lineStart, int lineEnd, byte[] delimiter, out bool close)
    {
        close = false;
        if (lineEnd - lineStart < delimiter.Length || !_raw.Matches(lineStart, delimiter))
        {
            return false;
        }
        var i = lineStart + delimiter.Length;
        if (i + 1 < lineEnd && _raw[i] == (byte)'-' && _raw[i + 1] == (byte)'-')
        {
            close = true;
            i += 2;
        }
        // transport-padding (RFC 2046 §5.1.1) then the line end.
        for (; i < lineEnd; i++)
        {
            if (_raw[i] is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return false;
            }
        }
        return true;
    }

    private int IndexOfLf(int from, int end) => _raw.IndexOf((byte)'\n', from, end);

    /// <summary>Reads header fields; returns where the body starts (after the blank line).</summary>
    private int ReadHeaders(int start, int end, List<HeaderField> headers)
    {
        var pos = start;
        string? name = null;
        int fieldStart = 0, valueStart = 0;
        while (pos < end)
        {
            var lf = IndexOfLf(pos, end);
            var next = lf < 0 ? end : lf + 1;
            var first = _raw[pos];
            if (first == (byte)'\n' || (first == (byte)'\r' && pos + 1 < end && _raw[pos + 1] == (byte)'\n'))
            {
                Flush();
                return next;
            }
            if (first is (byte)' ' or (byte)'\t')
            {
                // Continuation of the current field (RFC 5322 §2.2.3); one before any field is ignored.
                pos = next;
                continue;
            }
            Flush();
            var colon = _raw.IndexOf((byte)':', pos, next);
            colon = colon < 0 ? -1 : colon - pos;
            if (colon > 0)
            {
                if (_raw.IsStreamed && colon > StreamMimeBytes.MaxHeaderBytes)
                {
                    throw new MimeStructureTooLargeException("A header field name is longer than a structure keeps.");
                }
                var nameBytes = colon <= _name.Length ? _name.AsSpan(0, colon) : new byte[colon];
                _raw.CopyTo(pos, nameBytes);
                name = Encoding.Latin1.GetString(nameBytes.TrimEnd(" \t"u8));
                fieldStart = pos;
                valueStart = pos + colon + 1;
            }
            else if (headers.Count == 0 && IsMboxFrom(pos, next))
            {
                // An mbox "From " line before the first field is not a header; skip it.
            }
            else
            {
                // A line with no colon ends the header section (RFC 5322 §2.1: the body follows); MimeKit does the same.
                return pos;
            }
            pos = next;
            continue;

            void Flush()
            {
                if (name is not null)
                {
                    headers.Add(new HeaderField(name, fieldStart, pos, valueStart));
                    name = null;
                }
            }
        }
        if (name is not null)
        {
            headers.Add(new HeaderField(name, fieldStart, end, valueStart));
        }
        return end;
    }

    private bool IsMboxFrom(int pos, int next) => next - pos > 5 && _raw.Matches(pos, "From "u8);

    private ContentType ParseContentType(List<HeaderField> headers, bool digestDefault)
    {
        foreach (var h in headers)
        {
            if (h.Name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
            {
                var value = HeaderText.RawValue(_raw.Headers, h);
                if (value.Length <= HeaderText.MaxParsedValueLength && ContentType.TryParse(_options, value, out var parsed))
                {
                    return parsed;
                }
                break;
            }
        }
        // RFC 2045 §5.2 default; RFC 2046 §5.1.5 inside a digest.
        return DefaultContentType(digestDefault);
    }

    internal static ContentType DefaultContentType(bool digest)
    {
        if (digest)
        {
            return new ContentType("message", "rfc822");
        }
        var type = new ContentType("text", "plain");
        type.Parameters.Add("charset", "us-ascii");
        return type;
    }
}
