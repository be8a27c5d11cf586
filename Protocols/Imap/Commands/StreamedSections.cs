using System.Buffers;
using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;
using MimeKit.Encodings;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// The FETCH items of a big message that need body octets (RFC822, RFC822.TEXT, BODY[part], BODY[TEXT], BINARY[part],
/// BINARY.SIZE[part]), answered from a streamed structure (<see cref="ImapMessageView.ScanStream"/>) and the
/// message's seekable decrypting stream: a section is read by range, so only the segments it covers are decrypted, and
/// it goes to the client in pieces. The octets written are exactly those <see cref="FetchDataWriter"/> writes from a
/// message held whole (the same empty-string, NIL and literal8 choices). Header items (ENVELOPE, BODYSTRUCTURE,
/// BODY[HEADER], BODY[n.MIME]) need no body and are written by <see cref="FetchDataWriter"/> from the view.
/// </summary>
internal static class StreamedSections
{
    /// <summary>Literals from this size up go to the client in pieces; smaller ones are read and written whole.</summary>
    public const int StreamedLiteralBytes = 256 * 1024;

    private const int Piece = 64 * 1024;

    /// <summary>Whether the item needs body octets (so it is written here rather than by <see cref="FetchDataWriter"/>).</summary>
    public static bool Handles(FetchItem item, ImapMessageView view) => item switch
    {
        FetchItem.Attribute { Kind: FetchAttribute.Rfc822 or FetchAttribute.Rfc822Text } => true,
        FetchItem.Binary or FetchItem.BinarySize => true,
        FetchItem.Preview => true,
        FetchItem.BodySection b => view.Locate(b.Section) is { IsRange: true },
        _ => false,
    };

    /// <summary>
    /// Writes one item. A literal of <see cref="StreamedLiteralBytes"/> or more is announced only after the first and
    /// last segments of its range are read (a damaged stored body is then <c>NO [CORRUPTION]</c>, nothing sent), then
    /// sent in pieces; a later failure closes the connection (the announced octets cannot be taken back). Smaller
    /// literals go into the response buffer like any other item. Returns whether octets went out before the
    /// response was complete (after which <c>NO [UNKNOWN-CTE]</c> cannot replace the response).
    /// </summary>
    /// <exception cref="UnknownTransferEncodingException">A BINARY part's encoding is unknown (RFC 3516 §4.3).</exception>
    /// <exception cref="System.Security.Cryptography.CryptographicException">A segment read before the announcement is damaged.</exception>
    /// <exception cref="ImapConnectionLostException">A piece after the announcement could not be read or sent.</exception>
    public static async Task<bool> WriteAsync(ImapSession session, ImapResponseWriter w, ArrayBufferWriter<byte> scratch, FetchItem item,
        ImapMessageView view, Stream body, IReadOnlyList<FetchItem> items, bool streamedAlready, CancellationToken cancellationToken)
    {
        switch (item)
        {
            case FetchItem.Preview:
                // RFC 8970 §3.1, as FetchDataWriter writes it: the text parts read by range, attachments never.
                w.Atom("PREVIEW").String(MessagePreview.Of(view, body));
                return false;
            case FetchItem.Attribute { Kind: FetchAttribute.Rfc822 }:
                return await WriteRangeAsync(session, w, scratch, "RFC822", view.Locate(BodySection.Whole)!.Value, null, body, view, items, streamedAlready, cancellationToken);
            case FetchItem.Attribute { Kind: FetchAttribute.Rfc822Text }:
                return await WriteRangeAsync(session, w, scratch, "RFC822.TEXT",
                    view.Locate(new BodySection(ValueList<uint>.Empty, SectionText.Text, ValueList<string>.Empty))!.Value, null, body, view, items, streamedAlready, cancellationToken);
            case FetchItem.BodySection b:
                return await WriteRangeAsync(session, w, scratch, b.ResponseName, view.Locate(b.Section)!.Value, b.Partial, body, view, items, streamedAlready, cancellationToken);
            case FetchItem.Binary b:
                return await WriteBinaryAsync(session, w, scratch, b, view, body, items, streamedAlready, cancellationToken);
            case FetchItem.BinarySize s:
                {
                    w.RawToken(s.ResponseName);
                    if (Source(view, s.Part) is not { } source)
                    {
                        w.Nil();
                        return false;
                    }
                    using var range = new DecodedRange(body, source.Start, source.End, source.Decoder);
                    long total = 0;
                    for (var n = range.Next(); n >= 0; n = range.Next())
                        total += n;
                    w.Number((ulong)total);
                    return false;
                }
            default:
                throw new ArgumentException($"{item} is not a body item.", nameof(item));
        }
    }

    /// <summary>A section that is a range of the message: RFC 9051 §6.4.5 partial, then <c>""</c> when empty, else a literal.</summary>
    private static async Task<bool> WriteRangeAsync(ImapSession session, ImapResponseWriter w, ArrayBufferWriter<byte> scratch, string name,
        SectionLocation location, Partial? partial, Stream body, ImapMessageView view, IReadOnlyList<FetchItem> items, bool streamedAlready,
        CancellationToken cancellationToken)
    {
        long start = location.Start, length = location.End - location.Start;
        if (partial is not null)
        {
            // An origin beyond the end gives an empty string; a short tail gives what is there.
            if (partial.Offset >= length)
            {
                length = 0;
            }
            else
            {
                start += partial.Offset;
                length = Math.Min(partial.Length, length - partial.Offset);
            }
        }
        w.RawToken(name);
        if (length == 0)
        {
            w.StringBytes([]);
            return false;
        }
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(length, Math.Max(Piece, StreamedLiteralBytes)));
        try
        {
            if (length < StreamedLiteralBytes)
            {
                body.Position = start;
                await body.ReadExactlyAsync(buffer.AsMemory(0, (int)length), cancellationToken);
                w.Literal(buffer.AsSpan(0, (int)length));
                return false;
            }
            CheckEncodings(items, view, streamedAlready);
            // Before the announcement: the range's last segment, then its first piece, authenticated.
            body.Position = start + length - 1;
            await body.ReadExactlyAsync(buffer.AsMemory(0, 1), cancellationToken);
            body.Position = start;
            var first = (int)Math.Min(Piece, length);
            await body.ReadExactlyAsync(buffer.AsMemory(0, first), cancellationToken);
            w.LiteralPrefix(length);
            session.WriteRaw(scratch.WrittenSpan);
            scratch.ResetWrittenCount();
            session.WriteRaw(buffer.AsSpan(0, first));
            var left = length - first;
            try
            {
                while (left > 0)
                {
                    await session.FlushIfLargeAsync(cancellationToken);
                    var n = (int)Math.Min(Piece, left);
                    await body.ReadExactlyAsync(buffer.AsMemory(0, n), cancellationToken);
                    session.WriteRaw(buffer.AsSpan(0, n));
                    left -= n;
                }
            }
            catch (Exception e) when (e is not (ImapConnectionLostException or OperationCanceledException))
            {
                session.Logger.FetchLiteralBroken(e);
                throw new ImapConnectionLostException(e);
            }
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
        }
    }

    /// <summary>
    /// BINARY[part] (RFC 3516 §4.2): the decoded content, partial applied, a literal8 when it holds NUL. One decoding pass
    /// learns the length and the NUL (and keeps the octets when they are fewer than <see cref="StreamedLiteralBytes"/>);
    /// a longer result is decoded again as it is sent.
    /// </summary>
    private static async Task<bool> WriteBinaryAsync(ImapSession session, ImapResponseWriter w, ArrayBufferWriter<byte> scratch, FetchItem.Binary b,
        ImapMessageView view, Stream body, IReadOnlyList<FetchItem> items, bool streamedAlready, CancellationToken cancellationToken)
    {
        if (Source(view, b.Part) is not { } source)
        {
            w.RawToken(b.ResponseName).Nil();
            return false;
        }
        var windowStart = b.Partial?.Offset ?? 0;
        var windowEnd = b.Partial is { } p ? SaturatingAdd(p.Offset, p.Length) : long.MaxValue;
        var kept = new ArrayBufferWriter<byte>();
        var overflow = false;
        var nul = false;
        long total = 0;
        using (var range = new DecodedRange(body, source.Start, source.End, source.Decoder))
        {
            for (var n = range.Next(); n >= 0; n = range.Next())
            {
                var (from, to) = (Math.Max(windowStart, total), Math.Min(windowEnd, total + n));
                if (to > from)
                {
                    var piece = range.Output.AsSpan((int)(from - total), (int)(to - from));
                    nul |= piece.Contains((byte)0);
                    if (!overflow && kept.WrittenCount + piece.Length >= StreamedLiteralBytes)
                    {
                        overflow = true;
                        kept = new ArrayBufferWriter<byte>();
                    }
                    if (!overflow)
                        kept.Write(piece);
                }
                total += n;
            }
        }
        w.RawToken(b.ResponseName);
        if (!overflow)
        {
            if (nul)
                w.Literal8(kept.WrittenSpan);
            else
                w.Literal(kept.WrittenSpan);
            return false;
        }
        CheckEncodings(items, view, streamedAlready);
        var length = Math.Min(windowEnd, total) - windowStart;
        if (nul)
            w.Literal8Prefix(length);
        else
            w.LiteralPrefix(length);
        session.WriteRaw(scratch.WrittenSpan);
        scratch.ResetWrittenCount();
        try
        {
            // The second pass decodes the same octets with a new decoder and sends the window.
            using var again = new DecodedRange(body, source.Start, source.End, Source(view, b.Part)!.Value.Decoder);
            long at = 0, sent = 0;
            for (var n = again.Next(); n >= 0 && sent < length; n = again.Next())
            {
                var (from, to) = (Math.Max(windowStart, at), Math.Min(windowEnd, at + n));
                if (to > from)
                {
                    session.WriteRaw(again.Output.AsSpan((int)(from - at), (int)(to - from)));
                    sent += to - from;
                    await session.FlushIfLargeAsync(cancellationToken);
                }
                at += n;
            }
            if (sent != length)
                throw new EndOfStreamException("The part decoded to fewer octets the second time.");
        }
        catch (Exception e) when (e is not (ImapConnectionLostException or OperationCanceledException))
        {
            session.Logger.FetchLiteralBroken(e);
            throw new ImapConnectionLostException(e);
        }
        return true;
    }

    /// <summary>Before the first octet of a response goes out: every BINARY item's encoding must be known, or the whole
    /// response is replaced by <c>NO [UNKNOWN-CTE]</c> (RFC 3516 §4.3).</summary>
    private static void CheckEncodings(IReadOnlyList<FetchItem> items, ImapMessageView view, bool streamedAlready)
    {
        if (!streamedAlready && FetchDataWriter.FindUnknownTransferEncoding(items, view) is { } unknown)
            throw new UnknownTransferEncodingException(unknown);
    }

    /// <summary>The octets BINARY[part] decodes and how (as <see cref="FetchDataWriter.Binary"/>): the whole message for an
    /// empty path, null when the part does not exist.</summary>
    /// <exception cref="UnknownTransferEncodingException">The part's encoding is unknown.</exception>
    private static (int Start, int End, IMimeDecoder? Decoder)? Source(ImapMessageView view, IReadOnlyList<uint> part)
    {
        if (part.Count == 0)
            return (view.Root.HeaderStart, view.Root.End, null);
        if (view.ResolvePart(part) is not { } node)
            return null;
        return (node.BodyStart, node.End, view.DecoderFor(node));
    }

    private static long SaturatingAdd(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    /// <summary>A range of the message read a piece at a time and decoded (or passed through when there is no decoder).</summary>
    private sealed class DecodedRange : IDisposable
    {
        private readonly Stream _body;
        private readonly int _end;
        private readonly IMimeDecoder? _decoder;
        private readonly byte[] _input;
        private readonly byte[]? _output;
        private int _position;

        public DecodedRange(Stream body, int start, int end, IMimeDecoder? decoder)
        {
            (_body, _position, _end, _decoder) = (body, start, end, decoder);
            _input = ArrayPool<byte>.Shared.Rent(Piece);
            _output = decoder is null ? null : ArrayPool<byte>.Shared.Rent(decoder.EstimateOutputLength(Piece));
        }

        /// <summary>Where the last <see cref="Next"/> put its octets.</summary>
        public byte[] Output => _output ?? _input;

        /// <summary>Reads and decodes the next piece; returns how many octets are in <see cref="Output"/>, -1 at the end.</summary>
        public int Next()
        {
            if (_position >= _end)
                return -1;
            var n = Math.Min(Piece, _end - _position);
            _body.Position = _position;
            _body.ReadExactly(_input, 0, n);
            _position += n;
            return _decoder is null ? n : _decoder.Decode(_input, 0, n, _output!);
        }

        public void Dispose()
        {
            ArrayPool<byte>.Shared.Return(_input, clearArray: true);
            if (_output is not null)
                ArrayPool<byte>.Shared.Return(_output, clearArray: true);
        }
    }
}
