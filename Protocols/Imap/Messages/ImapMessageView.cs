using System.Runtime.InteropServices;
using System.Text;
using MailServer.Protocols.Imap.Syntax;
using MimeKit;
using MimeKit.Encodings;
using MimeKit.Utils;

namespace MailServer.Protocols.Imap.Messages;

/// <summary>Caps on the MIME structure shown to IMAP clients, matching the SMTP side's defaults.</summary>
/// <param name="MaxDepth">Nesting depth beyond which a multipart or message/rfc822 is shown as a leaf.</param>
/// <param name="MaxParts">Entities beyond which no further parts are created (the rest are not listed).</param>
public sealed record ImapMessageLimits(int MaxDepth = 100, int MaxParts = 1000)
{
    /// <summary>Depth 100, 1000 parts.</summary>
    public static ImapMessageLimits Default { get; } = new();
}

/// <summary>A section's transfer encoding cannot be decoded: answer <c>NO [UNKNOWN-CTE]</c> (RFC 3516 §4.3,
/// <see cref="ResponseCode.UnknownTransferEncoding"/>).</summary>
public sealed class UnknownTransferEncodingException(string encoding)
    : Exception($"Unknown Content-Transfer-Encoding '{encoding}'.")
{
    /// <summary>The encoding as written, lower-cased.</summary>
    public string Encoding { get; } = encoding;
}

/// <summary>
/// A parsed view of one message for FETCH, SEARCH, SORT and THREAD: the MIME structure located by octet offsets
/// (nothing is decoded until an item asks for it), plus decoded header accessors. Immutable and thread-safe.
/// </summary>
/// <remarks>Parsing never throws on malformed input: unparseable header values read as absent, a broken MIME
/// structure degrades to leaves. Work is linear in size times nesting depth, capped by <see cref="ImapMessageLimits"/>.</remarks>
public sealed class ImapMessageView
{
    /// <summary>Header value parsing: strict addresses (see dependency pitfalls), loose encoded words for display.</summary>
    internal static readonly ParserOptions StrictOptions = new()
    {
        AddressParserComplianceMode = RfcComplianceMode.Strict,
        Rfc2047ComplianceMode = RfcComplianceMode.Loose,
        ParameterComplianceMode = RfcComplianceMode.Loose,
        AllowAddressesWithoutDomain = true,
        MaxAddressGroupDepth = 3,
    };

    private static readonly ParserOptions LooseOptions = new()
    {
        AddressParserComplianceMode = RfcComplianceMode.Loose,
        Rfc2047ComplianceMode = RfcComplianceMode.Loose,
        ParameterComplianceMode = RfcComplianceMode.Loose,
        AllowAddressesWithoutDomain = true,
        MaxAddressGroupDepth = 3,
    };

    static ImapMessageView() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    private ImapMessageView(byte[] raw, int start, int end, MimeNode root, bool hasBody, bool truncated, bool streamed = false)
    {
        IsStreamed = streamed;
        Raw = raw;
        Start = start;
        EndOffset = end;
        Root = root;
        HasBody = hasBody;
        StructureTruncated = truncated;
    }

    internal byte[] Raw { get; }
    internal int Start { get; }
    internal int EndOffset { get; }
    internal MimeNode Root { get; }

    /// <summary>False for a view made by <see cref="ParseHeaderOnly"/>: only header items can be answered.</summary>
    public bool HasBody { get; }

    /// <summary>True when the depth or part cap stopped the structure scan early.</summary>
    public bool StructureTruncated { get; }

    /// <summary>True for a view made by <see cref="ScanStream"/>: the structure and the header sections are held, the
    /// body octets are not (read sections with <see cref="Locate"/> and the message stream).</summary>
    public bool IsStreamed { get; }

    /// <summary>The octets this view holds: the message, or for a streamed view its header sections only.</summary>
    public int HeldBytes => IsStreamed ? Raw.Length : EndOffset - Start;

    /// <summary>The whole message octets (for a header-only view, the header section).</summary>
    /// <exception cref="InvalidOperationException">A streamed view does not hold the message.</exception>
    public ReadOnlyMemory<byte> Message => IsStreamed
        ? throw new InvalidOperationException("A streamed view does not hold the message.")
        : Raw.AsMemory(Start, EndOffset - Start);

    /// <summary>
    /// Scans a stored message through its seekable decrypting stream (<c>IImapStore.OpenMessage</c>), a 64 KiB segment
    /// at a time, with the same rules as <see cref="Parse"/>: the view keeps the structure (entity offsets, body line
    /// counts) and a copy of the header sections, never the bodies, so BODYSTRUCTURE, ENVELOPE and header sections are
    /// answered from it and a part is then read from the stream by range. The stream is read, not disposed.
    /// </summary>
    /// <exception cref="MimeStructureTooLargeException">The header sections pass 1 MiB in all: parse the whole message.</exception>
    /// <exception cref="System.Security.Cryptography.CryptographicException">A segment of the stored body is damaged.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    internal static ImapMessageView ScanStream(Stream message, ImapMessageLimits? limits = null, CancellationToken cancellationToken = default,
        int windowSize = StreamMimeBytes.WindowSize)
    {
        ArgumentNullException.ThrowIfNull(message);
        using var bytes = new StreamMimeBytes(message, cancellationToken, windowSize);
        var scanner = new MimeStructureScanner(bytes, StrictOptions, limits ?? ImapMessageLimits.Default);
        var root = scanner.Scan(0, bytes.Length, 0, false, false);
        return new ImapMessageView(bytes.TakeHeaders(), 0, bytes.Length, root, hasBody: true, scanner.Truncated, streamed: true);
    }

    /// <summary>Parses a full message. The view keeps a reference to <paramref name="rawMessage"/>'s memory (no copy
    /// when it is array-backed): do not return a pooled buffer while the view is in use.</summary>
    /// <param name="rawMessage">The message octets exactly as stored.</param>
    /// <param name="limits">Structure caps; <see cref="ImapMessageLimits.Default"/> when null.</param>
    public static ImapMessageView Parse(ReadOnlyMemory<byte> rawMessage, ImapMessageLimits? limits = null) =>
        Create(rawMessage, limits ?? ImapMessageLimits.Default, headerOnly: false);

    /// <summary>Parses only a header section (as <c>MailStore.ReadHeaderSection</c> gives it); answers ENVELOPE,
    /// RFC822.HEADER, BODY[HEADER], BODY[HEADER.FIELDS ...] and header SEARCH/SORT/THREAD keys.</summary>
    public static ImapMessageView ParseHeaderOnly(ReadOnlyMemory<byte> headerSection) =>
        Create(headerSection, ImapMessageLimits.Default, headerOnly: true);

    /// <summary>Whether a stored header section is the whole header: it ends with the blank line, or it is the whole
    /// message. The store cuts summaries at 256 KiB (<c>MailStore.MaxSummaryBytes</c>); when this is false, parse the
    /// full message instead, or header items would be served truncated.</summary>
    /// <param name="headerSection">What <c>MailStore.ReadHeaderSection</c> returned.</param>
    /// <param name="messageSize">The message's RFC822.SIZE.</param>
    public static bool IsCompleteHeaderSection(ReadOnlySpan<byte> headerSection, long messageSize) =>
        headerSection.Length == messageSize || headerSection.EndsWith("\r\n\r\n"u8) || headerSection.EndsWith("\n\n"u8) ||
        headerSection.SequenceEqual("\r\n"u8) || headerSection.SequenceEqual("\n"u8);

    private static ImapMessageView Create(ReadOnlyMemory<byte> bytes, ImapMessageLimits limits, bool headerOnly)
    {
        ArgumentNullException.ThrowIfNull(limits);
        byte[] raw;
        int start;
        if (MemoryMarshal.TryGetArray(bytes, out var segment) && segment.Array is not null)
        {
            raw = segment.Array;
            start = segment.Offset;
        }
        else
        {
            raw = bytes.ToArray();
            start = 0;
        }
        var end = start + bytes.Length;
        var scanner = new MimeStructureScanner(new ArrayMimeBytes(raw, end), StrictOptions, limits);
        var root = scanner.Scan(start, end, 0, false, headerOnly);
        return new ImapMessageView(raw, start, end, root, !headerOnly, scanner.Truncated);
    }

    // --- headers ---

    /// <summary>The decoded value (RFC 2047 words decoded, unfolded) of the first field with this name, or null.</summary>
    public string? GetHeader(string name)
    {
        var field = Root.Find(name);
        return field is null ? null : HeaderText.Decoded(Raw, field, StrictOptions);
    }

    /// <summary>Every field of the top-level header as (name, decoded value), in order.</summary>
    public IEnumerable<(string Name, string Value)> GetHeaders() =>
        Root.Headers.Select(h => (h.Name, HeaderText.Decoded(Raw, h, StrictOptions)));

    /// <summary>All decoded values of fields with this name (case-insensitive).</summary>
    public IEnumerable<string> GetHeaderValues(string name) =>
        Root.Headers.Where(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            .Select(h => HeaderText.Decoded(Raw, h, StrictOptions));

    /// <summary>The Date: header parsed (RFC 5322 §3.3), or null when missing or unparseable.</summary>
    public DateTimeOffset? SentDate => SentDateOf(Root);

    internal DateTimeOffset? SentDateOf(MimeNode node)
    {
        var field = node.Find("Date");
        if (field is null)
        {
            return null;
        }
        var value = HeaderText.Unfolded(Raw, field);
        if (value.Length > HeaderText.MaxParsedValueLength)
        {
            return null;
        }
        return DateUtils.TryParse(value, 0, value.Length, out var date) ? date : null;
    }

    /// <summary>The addresses of an address field of the top-level header; empty when missing or unparseable.</summary>
    public InternetAddressList GetAddresses(string name) => AddressesOf(Root, name) ?? [];

    internal InternetAddressList? AddressesOf(MimeNode node, string name)
    {
        var field = node.Find(name);
        if (field is null)
        {
            return null;
        }
        var value = HeaderText.Unfolded(Raw, field);
        if (value.Length > HeaderText.MaxParsedValueLength)
        {
            return null;
        }
        if (InternetAddressList.TryParse(StrictOptions, value, 0, value.Length, out var list) ||
            InternetAddressList.TryParse(LooseOptions, value, 0, value.Length, out list))
        {
            return list;
        }
        return null;
    }

    // --- sections (RFC 9051 §6.4.5) ---

    /// <summary>Finds the entity a part path names. The path walks multipart children and steps into the
    /// encapsulated message of message/rfc822 parts; part 1 of a non-multipart message is its body.</summary>
    internal MimeNode? ResolvePart(IReadOnlyList<uint> path)
    {
        var current = Root;
        MimeNode? target = null;
        foreach (var number in path)
        {
            if (target is not null)
            {
                // Step into the previous target: its encapsulated message, or itself as a multipart.
                if (target.Embedded is not null)
                {
                    current = target.Embedded;
                }
                else if (target.IsMultipart)
                {
                    current = target;
                }
                else
                {
                    return null;
                }
            }
            if (number == 0)
            {
                return null;
            }
            if (current.IsMultipart)
            {
                if (number > current.Children.Count)
                {
                    return null;
                }
                target = current.Children[(int)number - 1];
            }
            else if (number == 1)
            {
                target = current;
            }
            else
            {
                return null;
            }
        }
        return target;
    }

    /// <summary>
    /// The display name of the attachment a part path names, or null when that part is not an attachment: a leaf part
    /// with <c>Content-Disposition: attachment</c> (RFC 2183 §2.2), or with a file name (the disposition's
    /// <c>filename</c> or, as older mailers send it, the content type's <c>name</c>) and no <c>inline</c> disposition.
    /// An attachment without any name is called by its media type (<c>application/pdf</c>).
    /// </summary>
    internal string? AttachmentName(IReadOnlyList<uint> path)
    {
        if (path.Count == 0 || ResolvePart(path) is not { IsMultipart: false } node)
            return null;
        ContentDisposition? disposition = null;
        if (node.Find("Content-Disposition") is { } field)
        {
            var value = HeaderText.Unfolded(Raw, field);
            if (value.Length <= HeaderText.MaxParsedValueLength)
                ContentDisposition.TryParse(StrictOptions, value, out disposition);
        }
        var name = disposition?.FileName ?? node.ContentType.Name;
        var isAttachment = disposition?.IsAttachment ?? false
            || (name is not null && !string.Equals(disposition?.Disposition, ContentDisposition.Inline, StringComparison.OrdinalIgnoreCase));
        return isAttachment ? name ?? node.ContentType.MimeType : null;
    }

    /// <summary>
    /// The text parts of the message's own body, in order, with their media subtype (<c>plain</c>, <c>html</c>) and
    /// decoded: not the parts of attached messages, not text attachments (see <see cref="AttachmentName"/>), not parts
    /// with an undecodable transfer encoding. For PREVIEW (RFC 8970). A streamed view reads each text part by range
    /// from <paramref name="body"/> (the message's stored stream), so an attachment is never read.
    /// </summary>
    /// <exception cref="InvalidOperationException">A header-only view, or a streamed view without <paramref name="body"/>.</exception>
    internal IEnumerable<(string Subtype, string Text)> InlineTexts(Stream? body = null)
    {
        RequireBody();
        var stack = new Stack<(MimeNode Node, IReadOnlyList<uint> Path)>();
        stack.Push((Root, []));
        while (stack.Count > 0)
        {
            var (node, path) = stack.Pop();
            if (node.IsMultipart)
            {
                for (var i = node.Children.Count - 1; i >= 0; i--)
                    stack.Push((node.Children[i], [.. path, (uint)(i + 1)]));
                continue;
            }
            if (!node.IsText || node.Embedded is not null || (path.Count > 0 && AttachmentName(path) is not null))
                continue;
            ReadOnlyMemory<byte> bytes;
            try
            {
                bytes = DecodeText(node, body);
            }
            catch (UnknownTransferEncodingException)
            {
                continue;
            }
            yield return (node.ContentType.MediaSubtype.ToLowerInvariant(), DecodeCharset(bytes.Span, node.ContentType.Charset));
        }
    }

    /// <summary>The octets a BODY[section] names, or null when the section does not exist.</summary>
    /// <exception cref="InvalidOperationException">The section needs the body but this view is header-only, or it is a
    /// body range of a streamed view (use <see cref="Locate"/>).</exception>
    internal ReadOnlyMemory<byte>? Section(BodySection section) => Locate(section) switch
    {
        null => (ReadOnlyMemory<byte>?)null,
        { IsRange: true } range => Slice(range.Start, range.End),
        var held => held.Value.Bytes,
    };

    /// <summary>
    /// Where a BODY[section] is, or null when it does not exist: header sections (HEADER, MIME, HEADER.FIELDS) as octets
    /// this view holds, every other section as the range of the message it covers (a part, TEXT, a whole encapsulated
    /// message), which a streamed view reads from the message stream.
    /// </summary>
    /// <exception cref="InvalidOperationException">The section needs the body but this view is header-only.</exception>
    internal SectionLocation? Locate(BodySection section)
    {
        MimeNode? node;
        if (section.Part.Count == 0)
        {
            node = Root;
        }
        else
        {
            // A header-only view cannot see parts: every part section needs the body.
            RequireBody();
            var part = ResolvePart(section.Part);
            if (part is null)
            {
                return null;
            }
            if (section.Text == SectionText.Mime)
            {
                RequireBody();
                return SectionLocation.Held(HeaderOf(part));
            }
            if (section.Text == SectionText.None)
            {
                RequireBody();
                return SectionLocation.Range(part.BodyStart, part.End);
            }
            // HEADER / TEXT after a part number apply to an encapsulated message only (RFC 9051 §6.4.5).
            node = part.Embedded;
            if (node is null)
            {
                return null;
            }
            RequireBody();
        }
        switch (section.Text)
        {
            case SectionText.None:
                RequireBody();
                return SectionLocation.Range(node.HeaderStart, node.End);
            case SectionText.Header:
                return SectionLocation.Held(HeaderOf(node));
            case SectionText.Text:
                RequireBody();
                return SectionLocation.Range(node.BodyStart, node.End);
            case SectionText.HeaderFields:
            case SectionText.HeaderFieldsNot:
                return SectionLocation.Held(HeaderSubset(node, section.Fields, section.Text == SectionText.HeaderFields));
            default:
                return null;
        }
    }

    /// <summary>The fields named (or not named) in <paramref name="names"/>, raw and in message order, followed by the
    /// blank line (RFC 9051 §6.4.5: the subset "includes the delimiting blank line"). Names compare case-insensitively.</summary>
    private byte[] HeaderSubset(MimeNode node, IReadOnlyList<string> names, bool include)
    {
        var output = new List<byte>();
        foreach (var h in node.Headers)
        {
            var listed = names.Any(n => n.Equals(h.Name, StringComparison.OrdinalIgnoreCase));
            if (listed == include)
            {
                output.AddRange(Raw.AsSpan(h.Start, h.End - h.Start));
                if (h.End == h.Start || Raw[h.End - 1] != (byte)'\n')
                {
                    output.Add((byte)'\r');
                    output.Add((byte)'\n');
                }
            }
        }
        output.Add((byte)'\r');
        output.Add((byte)'\n');
        return [.. output];
    }

    private ReadOnlyMemory<byte> Slice(int start, int end) => IsStreamed
        ? throw new InvalidOperationException("A streamed view does not hold the message body; read the range from the message.")
        : Raw.AsMemory(start, end - start);

    /// <summary>An entity's header section <c>[HeaderStart, BodyStart)</c>, from the octets this view holds.</summary>
    private ReadOnlyMemory<byte> HeaderOf(MimeNode node) => node.BodyStart == node.HeaderStart
        ? ReadOnlyMemory<byte>.Empty
        : Raw.AsMemory(node.HeaderArenaStart, node.BodyStart - node.HeaderStart);

    internal void RequireBody()
    {
        if (!HasBody)
        {
            throw new InvalidOperationException("This view holds only the header section; parse the full message.");
        }
    }

    /// <summary>The decoded content of a part (RFC 3516 BINARY): base64 and quoted-printable are decoded; 7bit,
    /// 8bit and binary are returned as is.</summary>
    /// <exception cref="UnknownTransferEncodingException">Any other Content-Transfer-Encoding.</exception>
    /// <summary>A text part's decoded octets: from the held message, or for a streamed view read by range from
    /// <paramref name="body"/> (only that part's segments are decrypted) and decoded the same way.</summary>
    /// <exception cref="UnknownTransferEncodingException">An unknown Content-Transfer-Encoding.</exception>
    /// <exception cref="InvalidOperationException">A streamed view without <paramref name="body"/>.</exception>
    private ReadOnlyMemory<byte> DecodeText(MimeNode node, Stream? body)
    {
        if (!IsStreamed)
            return Decode(node);
        if (body is null)
            throw new InvalidOperationException("A streamed view reads its text parts from the message stream.");
        var decoder = DecoderFor(node); // before reading: an unknown encoding reads nothing
        var encoded = new byte[node.End - node.BodyStart];
        body.Position = node.BodyStart;
        body.ReadExactly(encoded);
        if (decoder is null)
            return encoded;
        var output = new byte[decoder.EstimateOutputLength(encoded.Length)];
        var n = decoder.Decode(encoded, 0, encoded.Length, output);
        return output.AsMemory(0, n);
    }

    internal ReadOnlyMemory<byte> Decode(MimeNode node)
    {
        RequireBody();
        var body = Slice(node.BodyStart, node.End);
        if (DecoderFor(node) is not { } decoder)
        {
            return body;
        }
        var output = new byte[decoder.EstimateOutputLength(body.Length)];
        var n = decoder.Decode(Raw, node.BodyStart, body.Length, output);
        return output.AsMemory(0, n);
    }

    /// <summary>A new decoder for the part's content (RFC 3516 BINARY), or null when its body is returned as is: 7bit,
    /// 8bit, binary, a multipart or an encapsulated message.</summary>
    /// <exception cref="UnknownTransferEncodingException">Any other Content-Transfer-Encoding.</exception>
    internal IMimeDecoder? DecoderFor(MimeNode node)
    {
        if (node.IsMultipart || node.Embedded is not null)
        {
            return null;
        }
        var cte = HeaderText.TransferEncoding(Raw, node.Headers);
        return cte switch
        {
            "7bit" or "8bit" or "binary" => null,
            "base64" => new Base64Decoder(),
            "quoted-printable" => new QuotedPrintableDecoder(),
            _ => throw new UnknownTransferEncodingException(cte),
        };
    }

    /// <summary>The part's transfer encoding when BINARY cannot decode it, else null.</summary>
    internal string? UnknownEncoding(MimeNode node)
    {
        if (node.IsMultipart || node.Embedded is not null)
        {
            return null;
        }
        var cte = HeaderText.TransferEncoding(Raw, node.Headers);
        return cte is "7bit" or "8bit" or "binary" or "base64" or "quoted-printable" ? null : cte;
    }

    /// <summary>The text parts (text/*, also inside encapsulated messages) decoded to strings with their charset;
    /// parts with an undecodable transfer encoding are skipped.</summary>
    /// <param name="body">For a streamed view, the message's stored stream: each text part is read by range from it.</param>
    /// <exception cref="InvalidOperationException">A header-only view, or a streamed view without <paramref name="body"/>.</exception>
    public IEnumerable<string> GetBodyTexts(Stream? body = null)
    {
        RequireBody();
        var stack = new Stack<MimeNode>();
        stack.Push(Root);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            if (node.IsMultipart)
            {
                for (var i = node.Children.Count - 1; i >= 0; i--)
                {
                    stack.Push(node.Children[i]);
                }
                continue;
            }
            if (node.Embedded is not null)
            {
                stack.Push(node.Embedded);
                continue;
            }
            if (!node.IsText)
            {
                continue;
            }
            ReadOnlyMemory<byte> bytes;
            try
            {
                bytes = DecodeText(node, body);
            }
            catch (UnknownTransferEncodingException)
            {
                continue;
            }
            yield return DecodeCharset(bytes.Span, node.ContentType.Charset);
        }
    }

    private static string DecodeCharset(ReadOnlySpan<byte> bytes, string? charset)
    {
        if (!string.IsNullOrEmpty(charset))
        {
            try
            {
                return Encoding.GetEncoding(charset).GetString(bytes);
            }
            catch (ArgumentException)
            {
                // Unknown charset name: fall through to the UTF-8 / Latin-1 guess.
            }
        }
        return HeaderText.AsText(bytes);
    }
}

/// <summary>Where a BODY[section] is: octets the view holds (header sections), or a range <c>[Start, End)</c> of the message.</summary>
internal readonly record struct SectionLocation(bool IsRange, ReadOnlyMemory<byte> Bytes, int Start, int End)
{
    /// <summary>Octets the view holds.</summary>
    public static SectionLocation Held(ReadOnlyMemory<byte> bytes) => new(false, bytes, 0, 0);

    /// <summary>The message octets <c>[start, end)</c>.</summary>
    public static SectionLocation Range(int start, int end) => new(true, default, start, end);
}
