using System.Buffers;
using System.Globalization;
using System.Text;

namespace MailServer.Protocols.Imap.Syntax;

/// <summary>
/// Writes server responses (RFC 9051 §7) into an <see cref="IBufferWriter{T}"/> such as a PipeWriter; the caller
/// flushes. Whole status responses are single calls; untagged data is built token by token between
/// <see cref="BeginUntagged"/> and <see cref="End"/>, with spaces inserted between tokens and none after "(".
/// </summary>
/// <remarks>Not thread-safe. Strings choose their own form: atom where allowed, quoted when every octet may be
/// quoted, literal otherwise (CR, LF, NUL, or 8-bit before UTF-8 is enabled), per RFC 9051 §4.3.</remarks>
public sealed class ImapResponseWriter
{
    private static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    private readonly IBufferWriter<byte> _output;
    private bool _needSpace;

    /// <summary>Creates a writer.</summary>
    /// <param name="output">Where the octets go.</param>
    /// <param name="utf8Enabled">Whether quoted strings may carry UTF-8 (IMAP4rev2 or ENABLE UTF8=ACCEPT, RFC 9051 §6.3.1).</param>
    public ImapResponseWriter(IBufferWriter<byte> output, bool utf8Enabled = false)
    {
        _output = output ?? throw new ArgumentNullException(nameof(output));
        Utf8Enabled = utf8Enabled;
    }

    /// <summary>Whether quoted strings may carry UTF-8; set once the client enables it.</summary>
    public bool Utf8Enabled { get; set; }

    // --- whole responses ---

    /// <summary>Writes <c>tag OK|NO|BAD [code] text CRLF</c> (RFC 9051 §7.1).</summary>
    /// <exception cref="ArgumentException"><paramref name="status"/> is PREAUTH or BYE, which are untagged only.</exception>
    public void Tagged(string tag, ImapStatus status, ResponseCode? code, string text)
    {
        if (status is ImapStatus.PreAuth or ImapStatus.Bye)
        {
            throw new ArgumentException("PREAUTH and BYE are untagged only.", nameof(status));
        }
        WriteAscii(tag);
        WriteStatusTail(status, code, text);
    }

    /// <summary>Writes <c>* OK|NO|BAD|PREAUTH|BYE [code] text CRLF</c>.</summary>
    public void Untagged(ImapStatus status, ResponseCode? code, string text)
    {
        WriteAscii("*");
        WriteStatusTail(status, code, text);
    }

    /// <summary>Writes a command continuation request <c>+ text CRLF</c> (RFC 9051 §7.5).</summary>
    public void Continuation(string text)
    {
        WriteAscii("+ ");
        WriteText(text);
        WriteAscii("\r\n");
    }

    /// <summary>Writes a SASL challenge <c>+ base64 CRLF</c> (RFC 9051 §6.2.2); an empty challenge is <c>+ </c>.</summary>
    public void ContinuationBase64(ReadOnlySpan<byte> challenge)
    {
        WriteAscii("+ ");
        WriteAscii(Convert.ToBase64String(challenge));
        WriteAscii("\r\n");
    }

    private void WriteStatusTail(ImapStatus status, ResponseCode? code, string text)
    {
        WriteAscii(status switch
        {
            ImapStatus.Ok => " OK",
            ImapStatus.No => " NO",
            ImapStatus.Bad => " BAD",
            ImapStatus.PreAuth => " PREAUTH",
            ImapStatus.Bye => " BYE",
            _ => throw new ArgumentOutOfRangeException(nameof(status)),
        });
        if (code is not null)
        {
            WriteAscii(" [");
            _needSpace = false;
            code.WriteTo(this);
            WriteAscii("]");
        }
        // RFC 9051 §9: resp-text = ["[" resp-text-code "]" SP] [text]; text = 1*TEXT-CHAR.
        if (!string.IsNullOrEmpty(text))
        {
            WriteAscii(" ");
            WriteText(text);
        }
        WriteAscii("\r\n");
        _needSpace = false;
    }

    private void WriteText(string text)
    {
        // TEXT-CHAR excludes CR and LF: a multi-line reason would break framing, so fold it.
        var safe = text.Replace('\r', ' ').Replace('\n', ' ');
        _output.Write(Encoding.UTF8.GetBytes(safe));
    }

    // --- untagged data ---

    /// <summary>Starts an untagged data response: writes <c>*</c>; follow with tokens and <see cref="End"/>.</summary>
    public ImapResponseWriter BeginUntagged()
    {
        WriteAscii("*");
        _needSpace = true;
        return this;
    }

    /// <summary>Ends the current response line with CRLF.</summary>
    public void End()
    {
        WriteAscii("\r\n");
        _needSpace = false;
    }

    /// <summary>Writes an atom (or any pre-formatted token such as <c>BODY[1.MIME]&lt;0&gt;</c> or a sequence set) as is.</summary>
    /// <exception cref="ArgumentException">The token is empty or contains SP, CR, LF or a non-ASCII character.</exception>
    public ImapResponseWriter Atom(string token)
    {
        if (string.IsNullOrEmpty(token) || token.AsSpan().ContainsAnyExceptInRange('!', '~'))
        {
            throw new ArgumentException($"'{token}' cannot be written as a single token.", nameof(token));
        }
        Space();
        WriteAscii(token);
        return this;
    }

    /// <summary>Writes pre-formatted protocol text that may contain spaces, such as a FETCH item name
    /// <c>BODY[HEADER.FIELDS (DATE FROM)]</c> (see <see cref="FetchItem.BodySection.ResponseName"/>).</summary>
    /// <exception cref="ArgumentException">The text is empty or contains CR, LF, another control or a non-ASCII character.</exception>
    public ImapResponseWriter RawToken(string text)
    {
        if (string.IsNullOrEmpty(text) || text.Any(c => c < ' ' || c >= 0x7f))
        {
            throw new ArgumentException("Raw tokens are printable ASCII on one line.", nameof(text));
        }
        Space();
        WriteAscii(text);
        return this;
    }

    /// <summary>Writes a number.</summary>
    public ImapResponseWriter Number(ulong value)
    {
        Space();
        var span = _output.GetSpan(20); // ulong.MaxValue has 20 digits
        value.TryFormat(span, out var written, default, CultureInfo.InvariantCulture);
        _output.Advance(written);
        return this;
    }

    /// <summary>Writes NIL.</summary>
    public ImapResponseWriter Nil()
    {
        Space();
        WriteAscii("NIL");
        return this;
    }

    /// <summary>Writes <c>(</c>.</summary>
    public ImapResponseWriter BeginList()
    {
        Space();
        WriteAscii("(");
        _needSpace = false;
        return this;
    }

    /// <summary>Writes <c>(</c> with no space before it, for lists that follow a list directly: <c>1*body</c> in
    /// body-type-mpart and <c>1*address</c> in envelopes (RFC 9051 §9), thread-nested (RFC 5256 §4).</summary>
    public ImapResponseWriter BeginAdjacentList()
    {
        WriteAscii("(");
        _needSpace = false;
        return this;
    }

    /// <summary>Writes <c>)</c>.</summary>
    public ImapResponseWriter EndList()
    {
        WriteAscii(")");
        _needSpace = true;
        return this;
    }

    /// <summary>Writes a flag list <c>(\Seen $Forwarded)</c>.</summary>
    public ImapResponseWriter FlagList(IEnumerable<string> flags)
    {
        BeginList();
        foreach (var flag in flags)
        {
            Atom(flag);
        }
        return EndList();
    }

    /// <summary>Writes <c>string</c> (RFC 9051 §9): quoted when possible, otherwise a literal.</summary>
    public ImapResponseWriter String(string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        return StringBytes(bytes);
    }

    /// <summary>Writes octets as <c>string</c>: quoted when possible, otherwise a literal.</summary>
    public ImapResponseWriter StringBytes(ReadOnlySpan<byte> value)
    {
        if (CanQuote(value))
        {
            Space();
            WriteAscii("\"");
            foreach (var b in value)
            {
                if (b is (byte)'"' or (byte)'\\')
                {
                    WriteByte((byte)'\\');
                }
                WriteByte(b);
            }
            WriteAscii("\"");
            return this;
        }
        return Literal(value);
    }

    /// <summary>Writes <c>astring</c>: an atom when every character is an ASTRING-CHAR, otherwise <see cref="String"/>.
    /// NIL is quoted so that no client can mistake it for the NIL token.</summary>
    public ImapResponseWriter AString(string value)
    {
        if (value.Length > 0 && !value.Equals("NIL", StringComparison.OrdinalIgnoreCase) &&
            value.All(c => c < 0x80 && ImapReader.IsAStringChar((byte)c)))
        {
            Space();
            WriteAscii(value);
            return this;
        }
        return String(value);
    }

    /// <summary>Writes a mailbox name given in Unicode: modified UTF-7 unless UTF-8 is enabled (RFC 3501 §5.1.3,
    /// RFC 9051 §5.1), then as an astring.</summary>
    /// <exception cref="ArgumentException">The name contains an unpaired surrogate.</exception>
    public ImapResponseWriter Mailbox(string name) => AString(MailboxName.ToWire(name, Utf8Enabled));

    /// <summary>Writes a sequence set in compact form (<c>1:3,7</c>), e.g. for ESEARCH ALL or VANISHED.</summary>
    /// <exception cref="ArgumentException">The set is empty (RFC 9051 §9 has no empty sequence-set).</exception>
    public ImapResponseWriter SequenceSet(ResolvedSequenceSet set) =>
        set.IsEmpty ? throw new ArgumentException("An empty set has no wire form.", nameof(set)) : Atom(set.ToString());

    /// <summary>Writes <c>nstring</c>: NIL for null.</summary>
    public ImapResponseWriter NString(string? value) => value is null ? Nil() : String(value);

    /// <summary>Writes <c>nstring</c> from octets: NIL for null.</summary>
    public ImapResponseWriter NStringBytes(ReadOnlyMemory<byte>? value) => value is null ? Nil() : StringBytes(value.Value.Span);

    /// <summary>Writes a literal <c>{n}CRLF</c> followed by the octets (RFC 9051 §4.3).</summary>
    public ImapResponseWriter Literal(ReadOnlySpan<byte> value)
    {
        Space();
        WriteAscii("{" + value.Length.ToString(CultureInfo.InvariantCulture) + "}\r\n");
        _output.Write(value);
        return this;
    }

    /// <summary>Writes only the <c>{n}CRLF</c> that announces a literal (RFC 9051 §4.3): the caller writes its
    /// <paramref name="length"/> octets straight to the output next (a message streamed from the store).</summary>
    public ImapResponseWriter LiteralPrefix(long length)
    {
        Space();
        WriteAscii("{" + length.ToString(CultureInfo.InvariantCulture) + "}\r\n");
        return this;
    }

    /// <summary>Writes only the <c>~{n}CRLF</c> that announces a literal8 (RFC 3516 §4.2): the caller writes its
    /// <paramref name="length"/> octets straight to the output next.</summary>
    public ImapResponseWriter Literal8Prefix(long length)
    {
        Space();
        WriteAscii("~{" + length.ToString(CultureInfo.InvariantCulture) + "}\r\n");
        return this;
    }

    /// <summary>Writes <c>literal8 = "~{" number64 "}" CRLF *OCTET</c> for BINARY fetch data (RFC 3516 §4.2).</summary>
    public ImapResponseWriter Literal8(ReadOnlySpan<byte> value)
    {
        Space();
        WriteAscii("~{" + value.Length.ToString(CultureInfo.InvariantCulture) + "}\r\n");
        _output.Write(value);
        return this;
    }

    /// <summary>Writes <c>date-time</c> (RFC 9051 §9), e.g. <c>"17-Jul-1996 02:44:25 -0700"</c>, as used by INTERNALDATE.</summary>
    public ImapResponseWriter DateTime(DateTimeOffset value)
    {
        Space();
        WriteAscii(FormatDateTime(value));
        return this;
    }

    /// <summary>Formats <c>date-time</c> including the quotes.</summary>
    public static string FormatDateTime(DateTimeOffset value)
    {
        var offset = value.Offset;
        var sign = offset < TimeSpan.Zero ? '-' : '+';
        var abs = offset.Duration();
        return string.Create(CultureInfo.InvariantCulture,
            $"\"{value.Day:00}-{Months[value.Month - 1]}-{value.Year:0000} {value.Hour:00}:{value.Minute:00}:{value.Second:00} {sign}{abs.Hours:00}{abs.Minutes:00}\"");
    }

    private bool CanQuote(ReadOnlySpan<byte> value)
    {
        // RFC 9051 §9 QUOTED-CHAR: TEXT-CHAR (no CR, LF, NUL) plus UTF-8 in IMAP4rev2; RFC 3501 §9: 7-bit only.
        foreach (var b in value)
        {
            if (b is 0 or (byte)'\r' or (byte)'\n')
            {
                return false;
            }
            if (b >= 0x80 && !Utf8Enabled)
            {
                return false;
            }
        }
        return !Utf8Enabled || System.Text.Unicode.Utf8.IsValid(value);
    }

    private void Space()
    {
        if (_needSpace)
        {
            WriteByte((byte)' ');
        }
        _needSpace = true;
    }

    private void WriteByte(byte b)
    {
        var span = _output.GetSpan(1);
        span[0] = b;
        _output.Advance(1);
    }

    private void WriteAscii(string s)
    {
        var span = _output.GetSpan(s.Length);
        var n = Encoding.ASCII.GetBytes(s, span);
        _output.Advance(n);
    }
}
