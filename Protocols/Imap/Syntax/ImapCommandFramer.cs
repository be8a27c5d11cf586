using System.Text;

namespace MailServer.Protocols.Imap.Syntax;

/// <summary>Why the framer refused a command.</summary>
public enum FramingErrorKind
{
    /// <summary>A line exceeded <see cref="ImapSyntaxLimits.MaxLineLength"/>.</summary>
    LineTooLong,
    /// <summary>A literal announced more than <see cref="ImapSyntaxLimits.MaxLiteralSize"/> octets.</summary>
    LiteralTooLarge,
    /// <summary>A non-synchronising literal exceeded <see cref="ImapSyntaxLimits.MaxNonSynchronizingLiteralSize"/> (RFC 7888 §4, LITERAL-).</summary>
    NonSynchronizingLiteralTooLarge,
    /// <summary>More literals than <see cref="ImapSyntaxLimits.MaxLiteralsPerCommand"/>.</summary>
    TooManyLiterals,
    /// <summary>Parentheses nested deeper than <see cref="ImapSyntaxLimits.MaxNestingDepth"/>.</summary>
    NestingTooDeep,
    /// <summary>The command as a whole exceeded <see cref="ImapSyntaxLimits.MaxCommandSize"/>.</summary>
    CommandTooLarge,
    /// <summary>A literal size was not a number64 (RFC 9051 §9).</summary>
    InvalidLiteralSize,
    /// <summary>The server-wide budget of message bytes in flight refused the literal (<c>Limits.MaxBytesInFlightMiB</c>):
    /// a synchronising literal is refused before the continuation request, so the client never sends it; a
    /// non-synchronising one is read and discarded first, and the failure is reported when the command has ended.</summary>
    OverBudget,
}

/// <summary>
/// A command the framer refused. The framer has already arranged to discard the rest of that command (including the
/// octets of any non-synchronising literal, so they are never read as a command: the CRLF-injection risk RFC 7888 §4
/// guards against); the session answers <c>tag BAD</c> (or <c>* BAD</c> when <see cref="Tag"/> is null), or closes.
/// </summary>
/// <param name="Tag">The command's tag when the first line began with a valid one.</param>
/// <param name="Kind">Which bound or rule was broken.</param>
/// <param name="Message">Human-readable reason, safe to send to the client.</param>
/// <param name="ConnectionUnusable">True when the framer cannot find the next command (an unreadable
/// non-synchronising literal size): the session must close the connection.</param>
public sealed record ImapFramingError(string? Tag, FramingErrorKind Kind, string Message, bool ConnectionUnusable);

/// <summary>What <see cref="ImapCommandFramer.Push"/> found.</summary>
public abstract record FramerEvent
{
    private FramerEvent() { }

    /// <summary>A complete command: every line and literal, without the final CRLF. The memory is owned by the
    /// caller from now on (the framer starts a new buffer). Parse it with <see cref="ImapCommandParser"/>.</summary>
    public sealed record CommandReady(ReadOnlyMemory<byte> Command) : FramerEvent;

    /// <summary>The client announced a synchronising literal of <paramref name="Size"/> octets and waits for a
    /// command continuation request (<c>+ Ready</c>, RFC 9051 §7.5) before sending it.</summary>
    public sealed record ContinuationNeeded(string? Tag, long Size) : FramerEvent;

    /// <summary>The command broke a bound; see <see cref="ImapFramingError"/>.</summary>
    public sealed record Failed(ImapFramingError Error) : FramerEvent;
}

/// <summary>
/// Cuts the client's byte stream into commands (RFC 9051 §2.2.1: a command is a line, or lines joined by literals)
/// while enforcing <see cref="ImapSyntaxLimits"/>. Not thread-safe: one per connection.
/// </summary>
/// <remarks>
/// Feed input with <see cref="Push"/> in a loop: it stops at the first event and reports how many bytes it consumed,
/// so bytes after a command stay with the caller — after STARTTLS or COMPRESS they must be dropped, not re-read
/// through the new layer (RFC 9051 §6.2.1 / RFC 3501 §6.2.1 STARTTLS injection). Memory held is bounded by the line
/// and literal limits; discarded input is never buffered. Empty lines between commands are ignored.
/// </remarks>
public sealed class ImapCommandFramer
{
    private enum Mode { Line, Literal, DiscardLine, DiscardLiteral }

    private const int TailLength = 32; // enough for "~{9223372036854775807+}\r\n"

    private readonly ImapSyntaxLimits _limits;
    private byte[] _buffer;
    private int _length;
    private int _lineStart;
    private long _literalRemaining;
    private int _literalCount;
    private int _depth;
    private string? _tag;
    private Mode _mode = Mode.Line;
    private readonly byte[] _tail = new byte[TailLength];
    private int _tailLength;
    private readonly Func<long, bool>? _admitLiteral;
    private FramerEvent? _failureAfterDiscard; // reported once the discarded command has ended (a refused LITERAL+)

    /// <summary>Creates a framer.</summary>
    /// <param name="limits">The syntax bounds; <see cref="ImapSyntaxLimits.Default"/> when null.</param>
    /// <param name="admitLiteral">Asked for every literal that passed the size bounds, with its announced size, before
    /// any of its octets is buffered; false refuses it with <see cref="FramingErrorKind.OverBudget"/>. Null admits all.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="limits"/> fails <see cref="ImapSyntaxLimits.Validate"/>.</exception>
    public ImapCommandFramer(ImapSyntaxLimits? limits = null, Func<long, bool>? admitLiteral = null)
    {
        _limits = limits ?? ImapSyntaxLimits.Default;
        _limits.Validate();
        _buffer = new byte[256];
        _admitLiteral = admitLiteral;
    }

    /// <summary>Bytes of the current, incomplete command held in memory.</summary>
    public int BufferedBytes => _length;

    /// <summary>True when no partial command is held or being discarded.</summary>
    public bool IsIdle => _length == 0 && _mode == Mode.Line;

    /// <summary>
    /// Consumes bytes from <paramref name="input"/> until a command is complete, a continuation is needed, a bound is
    /// broken, or the input is exhausted (then returns null with <paramref name="consumed"/> = input length).
    /// </summary>
    public FramerEvent? Push(ReadOnlySpan<byte> input, out int consumed)
    {
        consumed = 0;
        while (true)
        {
            if (_mode == Mode.Literal && _literalRemaining == 0)
            {
                _mode = Mode.Line;
                _lineStart = _length;
            }
            if (_mode == Mode.DiscardLiteral && _literalRemaining == 0)
            {
                _mode = Mode.DiscardLine;
                _tailLength = 0;
            }
            var rest = input[consumed..];
            if (rest.IsEmpty)
            {
                return null;
            }
            switch (_mode)
            {
                case Mode.Literal:
                {
                    var n = (int)Math.Min(_literalRemaining, rest.Length);
                    Append(rest[..n]);
                    _literalRemaining -= n;
                    consumed += n;
                    break;
                }
                case Mode.DiscardLiteral:
                {
                    var n = (int)Math.Min(_literalRemaining, rest.Length);
                    _literalRemaining -= n;
                    consumed += n;
                    break;
                }
                case Mode.DiscardLine:
                {
                    var lf = rest.IndexOf((byte)'\n');
                    var chunk = lf < 0 ? rest : rest[..(lf + 1)];
                    RememberTail(chunk);
                    consumed += chunk.Length;
                    if (lf >= 0)
                    {
                        var marker = FindLiteralMarker(_tail.AsSpan(0, _tailLength));
                        if (marker is { NonSync: true, Size: >= 0 })
                        {
                            _mode = Mode.DiscardLiteral;
                            _literalRemaining = marker.Value.Size;
                        }
                        else
                        {
                            // A synchronising literal is never sent without our "+": the command ends here.
                            ResetCommand(keepBuffer: true);
                            if (_failureAfterDiscard is { } failure)
                            {
                                _failureAfterDiscard = null;
                                return failure;
                            }
                        }
                    }
                    break;
                }
                case Mode.Line:
                {
                    var lf = rest.IndexOf((byte)'\n');
                    var chunkLength = lf < 0 ? rest.Length : lf + 1;
                    var lineSoFar = _length - _lineStart;
                    if (lineSoFar + chunkLength > _limits.MaxLineLength)
                    {
                        var take = _limits.MaxLineLength - lineSoFar;
                        Append(rest[..take]);
                        consumed += take;
                        var tag = _tag ?? ExtractTag();
                        // Keep the tail of what was read so a literal marker at the real line end is still seen.
                        _tailLength = 0;
                        RememberTail(_buffer.AsSpan(_lineStart, _length - _lineStart));
                        ResetCommand(keepBuffer: true);
                        _mode = Mode.DiscardLine;
                        return Fail(tag, FramingErrorKind.LineTooLong, $"Line longer than {_limits.MaxLineLength} octets", false, resetMode: false);
                    }
                    if (_length + (long)chunkLength > _limits.MaxCommandSize)
                    {
                        return FailAndDiscardLine(FramingErrorKind.CommandTooLarge, "Command too large");
                    }
                    Append(rest[..chunkLength]);
                    consumed += chunkLength;
                    if (lf >= 0)
                    {
                        var evt = CompleteLine();
                        if (evt is not null)
                        {
                            return evt;
                        }
                    }
                    break;
                }
            }
        }
    }

    private FramerEvent? CompleteLine()
    {
        var line = _buffer.AsSpan(_lineStart, _length - _lineStart);
        if (_lineStart == 0)
        {
            if (line.SequenceEqual("\r\n"u8) || line.SequenceEqual("\n"u8))
            {
                _length = 0; // RFC 9051 does not allow empty commands; ignoring them is harmless and common.
                return null;
            }
            _tag = ExtractTag();
        }
        var content = StripLineEnd(line);
        var marker = FindLiteralMarker(line);
        var scanned = marker is null ? content : content[..marker.Value.Start];
        _depth = ScanDepth(scanned, _depth, out var maxDepth, out var endsInQuote);
        if (endsInQuote)
        {
            // "{5}" inside an unterminated quoted string is text, not a literal: the command ends here and the
            // parser reports the unterminated string.
            marker = null;
        }
        if (maxDepth > _limits.MaxNestingDepth)
        {
            return FailAfterLine(marker, FramingErrorKind.NestingTooDeep, $"Parentheses nested deeper than {_limits.MaxNestingDepth}");
        }
        if (marker is null)
        {
            var command = new ReadOnlyMemory<byte>(_buffer, 0, _length - (line.Length - content.Length));
            _buffer = new byte[256];
            ResetCommand(keepBuffer: true);
            return new FramerEvent.CommandReady(command);
        }
        var (_, size, nonSync) = marker.Value;
        if (size < 0)
        {
            return FailAfterLine(marker, FramingErrorKind.InvalidLiteralSize, "Literal size is not a valid number");
        }
        if (++_literalCount > _limits.MaxLiteralsPerCommand)
        {
            return FailAfterLine(marker, FramingErrorKind.TooManyLiterals, $"More than {_limits.MaxLiteralsPerCommand} literals in one command");
        }
        if (size > _limits.MaxLiteralSize)
        {
            return FailAfterLine(marker, FramingErrorKind.LiteralTooLarge, $"Literal larger than {_limits.MaxLiteralSize} octets");
        }
        if (nonSync && size > _limits.MaxNonSynchronizingLiteralSize)
        {
            return FailAfterLine(marker, FramingErrorKind.NonSynchronizingLiteralTooLarge,
                $"Non-synchronizing literal larger than {_limits.MaxNonSynchronizingLiteralSize} octets");
        }
        if (_length + size > _limits.MaxCommandSize)
        {
            return FailAfterLine(marker, FramingErrorKind.CommandTooLarge, "Command too large");
        }
        if (_admitLiteral is not null && !_admitLiteral(size))
        {
            var failure = FailAfterLine(marker, FramingErrorKind.OverBudget, "Too much mail in progress; try again later");
            if (!nonSync)
            {
                return failure; // refused before our "+": the client never sends it (RFC 9051 §7.5)
            }
            // RFC 7888 §4: the client sends a non-synchronising literal without waiting, so its octets are read and
            // discarded first; answering before they are consumed would put the reply ahead of the rest of the command.
            _failureAfterDiscard = failure;
            return null;
        }
        EnsureCapacity(_length + size);
        _mode = Mode.Literal;
        _literalRemaining = size;
        return nonSync ? null : new FramerEvent.ContinuationNeeded(_tag, size);
    }

    private FramerEvent FailAfterLine((int Start, long Size, bool NonSync)? marker, FramingErrorKind kind, string message)
    {
        var tag = _tag;
        ResetCommand(keepBuffer: true);
        if (marker is { NonSync: true } m)
        {
            if (m.Size < 0)
            {
                return Fail(tag, kind, message, connectionUnusable: true, resetMode: false);
            }
            _mode = Mode.DiscardLiteral;
            _literalRemaining = m.Size;
        }
        return Fail(tag, kind, message, false, resetMode: false);
    }

    private FramerEvent FailAndDiscardLine(FramingErrorKind kind, string message)
    {
        var tag = _tag ?? ExtractTag();
        ResetCommand(keepBuffer: true);
        _mode = Mode.DiscardLine;
        _tailLength = 0;
        return Fail(tag, kind, message, false, resetMode: false);
    }

    private FramerEvent Fail(string? tag, FramingErrorKind kind, string message, bool connectionUnusable, bool resetMode)
    {
        if (resetMode)
        {
            _mode = Mode.Line;
        }
        return new FramerEvent.Failed(new ImapFramingError(tag, kind, message, connectionUnusable));
    }

    private void ResetCommand(bool keepBuffer)
    {
        if (!keepBuffer || _buffer.Length > 64 * 1024)
        {
            _buffer = new byte[256]; // do not keep a large literal's buffer alive between commands
        }
        _length = 0;
        _lineStart = 0;
        _literalCount = 0;
        _depth = 0;
        _tag = null;
        _literalRemaining = 0;
        _mode = Mode.Line;
    }

    private string? ExtractTag()
    {
        var line = _buffer.AsSpan(0, _length);
        var n = 0;
        while (n < line.Length && ImapReader.IsAStringChar(line[n]) && line[n] != (byte)'+')
        {
            n++;
        }
        return n > 0 && n < line.Length && line[n] == (byte)' ' ? Encoding.ASCII.GetString(line[..n]) : null;
    }

    private static ReadOnlySpan<byte> StripLineEnd(ReadOnlySpan<byte> line)
    {
        // RFC 9051 requires CRLF; a bare LF is accepted as a line end too, as most servers do.
        var n = line.Length;
        if (n > 0 && line[n - 1] == (byte)'\n')
        {
            n--;
            if (n > 0 && line[n - 1] == (byte)'\r')
            {
                n--;
            }
        }
        return line[..n];
    }

    /// <summary>
    /// Finds <c>{n}</c>, <c>{n+}</c> (and the literal8 form <c>~{n}</c>) immediately before the line end
    /// (RFC 9051 §4.3, RFC 7888 §3). Size is -1 when the digits do not form a number64.
    /// </summary>
    internal static (int Start, long Size, bool NonSync)? FindLiteralMarker(ReadOnlySpan<byte> line)
    {
        var content = StripLineEnd(line);
        if (content.Length < 3 || content[^1] != (byte)'}')
        {
            return null;
        }
        var end = content.Length - 1;
        var nonSync = content[end - 1] == (byte)'+';
        var digitsEnd = nonSync ? end - 1 : end;
        var i = digitsEnd;
        while (i > 0 && content[i - 1] is >= (byte)'0' and <= (byte)'9')
        {
            i--;
        }
        if (i == digitsEnd || i == 0 || content[i - 1] != (byte)'{')
        {
            return null;
        }
        long size = 0;
        foreach (var b in content[i..digitsEnd])
        {
            var digit = b - '0';
            if (size > (long.MaxValue - digit) / 10)
            {
                size = -1;
                break;
            }
            size = size * 10 + digit;
        }
        return (i - 1, size, nonSync);
    }

    private static int ScanDepth(ReadOnlySpan<byte> text, int depth, out int maxDepth, out bool endsInQuote)
    {
        maxDepth = depth;
        var inQuote = false;
        for (var i = 0; i < text.Length; i++)
        {
            var b = text[i];
            if (inQuote)
            {
                if (b == (byte)'\\')
                {
                    i++;
                }
                else if (b == (byte)'"')
                {
                    inQuote = false;
                }
                continue;
            }
            switch (b)
            {
                case (byte)'"':
                    inQuote = true;
                    break;
                case (byte)'(':
                    depth++;
                    maxDepth = Math.Max(maxDepth, depth);
                    break;
                case (byte)')':
                    depth = Math.Max(0, depth - 1);
                    break;
            }
        }
        endsInQuote = inQuote;
        return depth;
    }

    private void RememberTail(ReadOnlySpan<byte> chunk)
    {
        if (chunk.Length >= TailLength)
        {
            chunk[^TailLength..].CopyTo(_tail);
            _tailLength = TailLength;
            return;
        }
        var keep = Math.Min(_tailLength, TailLength - chunk.Length);
        _tail.AsSpan(_tailLength - keep, keep).CopyTo(_tail);
        chunk.CopyTo(_tail.AsSpan(keep));
        _tailLength = keep + chunk.Length;
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        EnsureCapacity(_length + (long)bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
    }

    private void EnsureCapacity(long needed)
    {
        if (needed <= _buffer.Length)
        {
            return;
        }
        var size = Math.Max(needed, Math.Min((long)_buffer.Length * 2, _limits.MaxCommandSize));
        Array.Resize(ref _buffer, (int)size);
    }
}
