using System.Text;
using System.Text.Unicode;

namespace MailServer.Protocols.Imap.Syntax;

/// <summary>Thrown by <see cref="ImapReader"/> when input does not match the grammar; becomes a BAD at the parser boundary.</summary>
public sealed class ImapSyntaxException : Exception
{
    /// <summary>Creates the exception with the reason sent back to the client.</summary>
    public ImapSyntaxException(string message) : base(message) { }
}

/// <summary>
/// A cursor over one complete, framed command (the bytes of every line and literal, CRLFs included, without the
/// final CRLF). Each Read method implements one rule of the formal syntax of RFC 9051 §9 (which RFC 3501 §9 it
/// extends) and throws <see cref="ImapSyntaxException"/> on mismatch.
/// </summary>
public sealed class ImapReader
{
    private readonly ReadOnlyMemory<byte> _data;
    private int _pos;

    /// <summary>Creates a reader over <paramref name="data"/>; literals are returned as slices of it, not copies.</summary>
    public ImapReader(ReadOnlyMemory<byte> data) => _data = data;

    /// <summary>The current offset.</summary>
    public int Position => _pos;

    /// <summary>Moves back to an earlier <see cref="Position"/> (one-token lookahead).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="position"/> is outside the data.</exception>
    public void Seek(int position)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(position, _data.Length);
        _pos = position;
    }

    /// <summary>True when every byte has been read.</summary>
    public bool AtEnd => _pos >= _data.Length;

    private ReadOnlySpan<byte> Rest => _data.Span[_pos..];

    /// <summary>The next byte, or -1 at the end.</summary>
    public int Peek() => AtEnd ? -1 : _data.Span[_pos];

    /// <summary>Consumes <paramref name="b"/> if it is next.</summary>
    public bool TryConsume(byte b)
    {
        if (Peek() != b)
        {
            return false;
        }
        _pos++;
        return true;
    }

    /// <summary>Consumes <paramref name="b"/> or throws.</summary>
    /// <exception cref="ImapSyntaxException">Something else is next.</exception>
    public void Expect(byte b, string what)
    {
        if (!TryConsume(b))
        {
            throw Error($"Expected {what}");
        }
    }

    /// <summary>Consumes one SP.</summary>
    /// <exception cref="ImapSyntaxException">No SP is next.</exception>
    public void ExpectSpace() => Expect((byte)' ', "SP");

    /// <summary>Throws unless every byte was read.</summary>
    /// <exception cref="ImapSyntaxException">Bytes remain.</exception>
    public void ExpectEnd()
    {
        if (!AtEnd)
        {
            throw Error("Unexpected extra arguments");
        }
    }

    // The reason names the offset only: echoing client bytes could copy a password fragment into a log line.
    internal ImapSyntaxException Error(string message) =>
        new(AtEnd ? $"{message} at end of command" : $"{message} at offset {_pos}");

    // --- character classes (RFC 9051 §9) ---

    /// <summary><c>ATOM-CHAR</c>: any CHAR except atom-specials ( "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]" ).</summary>
    public static bool IsAtomChar(byte b) =>
        b is > 0x20 and < 0x7f && b is not ((byte)'(' or (byte)')' or (byte)'{' or (byte)'%' or (byte)'*' or (byte)'"' or (byte)'\\' or (byte)']');

    /// <summary><c>ASTRING-CHAR = ATOM-CHAR / resp-specials</c>.</summary>
    public static bool IsAStringChar(byte b) => IsAtomChar(b) || b == (byte)']';

    /// <summary><c>list-char = ATOM-CHAR / list-wildcards / resp-specials</c>.</summary>
    public static bool IsListChar(byte b) => IsAStringChar(b) || b is (byte)'%' or (byte)'*';

    private string ReadWhile(Func<byte, bool> predicate, string what)
    {
        var rest = Rest;
        var n = 0;
        while (n < rest.Length && predicate(rest[n]))
        {
            n++;
        }
        if (n == 0)
        {
            throw Error($"Expected {what}");
        }
        var s = Encoding.ASCII.GetString(rest[..n]);
        _pos += n;
        return s;
    }

    /// <summary><c>atom = 1*ATOM-CHAR</c>.</summary>
    public string ReadAtom() => ReadWhile(IsAtomChar, "atom");

    /// <summary><c>tag = 1*&lt;any ASTRING-CHAR except "+"&gt;</c>.</summary>
    public string ReadTag() => ReadWhile(b => IsAStringChar(b) && b != (byte)'+', "tag");

    /// <summary>Reads an atom and upper-cases it (command names and keywords are case-insensitive, RFC 9051 §9 note 3).</summary>
    public string ReadKeyword() => ReadAtom().ToUpperInvariant();

    /// <summary>Reads a keyword made of atom characters up to the next SP, ")" , "[" or "&lt;" (e.g. BODY.PEEK in BODY.PEEK[...]).</summary>
    public string ReadFetchKeyword() => ReadWhile(b => IsAtomChar(b) && b is not ((byte)'[' or (byte)'<'), "fetch attribute").ToUpperInvariant();

    /// <summary>Consumes <paramref name="keyword"/> (ASCII, case-insensitive) if it is next and not followed by another atom char.</summary>
    public bool TryConsumeKeyword(string keyword)
    {
        var rest = Rest;
        if (rest.Length < keyword.Length)
        {
            return false;
        }
        for (var i = 0; i < keyword.Length; i++)
        {
            if (char.ToUpperInvariant((char)rest[i]) != char.ToUpperInvariant(keyword[i]))
            {
                return false;
            }
        }
        if (rest.Length > keyword.Length && IsAtomChar(rest[keyword.Length]) && IsAtomChar((byte)keyword[^1]))
        {
            return false;
        }
        _pos += keyword.Length;
        return true;
    }

    // --- numbers ---

    /// <summary><c>number = 1*DIGIT</c>, an unsigned 32-bit integer (RFC 9051 §9).</summary>
    public uint ReadNumber()
    {
        var v = ReadDigits(uint.MaxValue, "number");
        return (uint)v;
    }

    /// <summary><c>nz-number = digit-nz *DIGIT</c>, 1..4294967295.</summary>
    public uint ReadNzNumber()
    {
        var start = _pos;
        var v = ReadNumber();
        if (v == 0)
        {
            _pos = start;
            throw Error("Expected non-zero number");
        }
        return v;
    }

    /// <summary><c>number64 = 1*DIGIT</c>, 0..2^63-1 (RFC 9051 §9).</summary>
    public long ReadNumber64() => (long)ReadDigits(long.MaxValue, "number64");

    /// <summary><c>mod-sequence-value = 1*DIGIT</c>, 63-bit (RFC 7162 §7).</summary>
    public ulong ReadModSeq() => ReadDigits(long.MaxValue, "mod-sequence value");

    private ulong ReadDigits(ulong max, string what)
    {
        var rest = Rest;
        var n = 0;
        ulong value = 0;
        while (n < rest.Length && rest[n] is >= (byte)'0' and <= (byte)'9')
        {
            var digit = (ulong)(rest[n] - '0');
            if (value > (max - digit) / 10)
            {
                throw Error($"{what} out of range");
            }
            value = value * 10 + digit;
            n++;
        }
        if (n == 0)
        {
            throw Error($"Expected {what}");
        }
        _pos += n;
        return value;
    }

    // --- strings ---

    /// <summary>
    /// <c>string = quoted / literal</c>; with <paramref name="allowLiteral8"/> also <c>literal8 = "~{" number64 "}" CRLF *OCTET</c>
    /// (RFC 3516 §4.2). Returns the raw bytes; literal content is a slice of the command buffer.
    /// </summary>
    public ReadOnlyMemory<byte> ReadStringBytes(bool allowLiteral8 = false) => ReadStringBytes(allowLiteral8, out _);

    /// <summary>As <see cref="ReadStringBytes(bool)"/>, reporting whether a literal8 was read.</summary>
    public ReadOnlyMemory<byte> ReadStringBytes(bool allowLiteral8, out bool wasLiteral8)
    {
        wasLiteral8 = false;
        var next = Peek();
        if (next == '"')
        {
            return Encoding.UTF8.GetBytes(ReadQuoted());
        }
        if (next == '~' && allowLiteral8)
        {
            _pos++;
            wasLiteral8 = true;
            return ReadLiteral(binary: true);
        }
        if (next == '{')
        {
            return ReadLiteral(binary: false);
        }
        throw Error("Expected string");
    }

    /// <summary>
    /// <c>quoted = DQUOTE *QUOTED-CHAR DQUOTE</c> with <c>\"</c> and <c>\\</c> escapes; UTF-8 is accepted as in
    /// RFC 9051 §9 (<c>QUOTED-CHAR =/ UTF8-2 / UTF8-3 / UTF8-4</c>); CR, LF and NUL are not.
    /// </summary>
    public string ReadQuoted()
    {
        Expect((byte)'"', "DQUOTE");
        var rest = Rest;
        var buffer = new List<byte>(32);
        var i = 0;
        while (true)
        {
            if (i >= rest.Length)
            {
                throw new ImapSyntaxException("Unterminated quoted string");
            }
            var b = rest[i];
            if (b == '"')
            {
                break;
            }
            if (b == '\\')
            {
                if (i + 1 >= rest.Length || rest[i + 1] is not ((byte)'"' or (byte)'\\'))
                {
                    throw new ImapSyntaxException("Invalid escape in quoted string: only \\\" and \\\\ are allowed");
                }
                buffer.Add(rest[i + 1]);
                i += 2;
                continue;
            }
            if (b is 0 or (byte)'\r' or (byte)'\n')
            {
                throw new ImapSyntaxException("CR, LF or NUL in quoted string");
            }
            buffer.Add(b);
            i++;
        }
        var bytes = buffer.ToArray();
        if (!Utf8.IsValid(bytes))
        {
            throw new ImapSyntaxException("Quoted string is not valid UTF-8");
        }
        _pos += i + 1;
        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>
    /// <c>literal = "{" number64 ["+"] "}" CRLF *CHAR8</c> (RFC 9051 §9, RFC 7888 §8 for "+"). The framer has already
    /// checked the size bound; here only the grammar is checked. A non-binary literal may not contain NUL.
    /// </summary>
    public ReadOnlyMemory<byte> ReadLiteral(bool binary)
    {
        Expect((byte)'{', "literal");
        var size = ReadNumber64();
        TryConsume((byte)'+');
        Expect((byte)'}', "'}'");
        Expect((byte)'\r', "CRLF after literal size");
        Expect((byte)'\n', "CRLF after literal size");
        if (_data.Length - _pos < size)
        {
            throw new ImapSyntaxException("Literal is shorter than its announced size");
        }
        var content = _data.Slice(_pos, (int)size);
        if (!binary && content.Span.Contains((byte)0))
        {
            // RFC 9051 §9: CHAR8 excludes NUL; binary content needs literal8 (RFC 3516).
            throw new ImapSyntaxException("NUL in literal; use literal8 for binary data");
        }
        _pos += (int)size;
        return content;
    }

    /// <summary><c>string</c> decoded as UTF-8.</summary>
    public string ReadString() => DecodeUtf8(ReadStringBytes());

    /// <summary><c>astring = 1*ASTRING-CHAR / string</c>, decoded as UTF-8.</summary>
    public string ReadAString()
    {
        var next = Peek();
        if (next is '"' or '{')
        {
            return ReadString();
        }
        return ReadWhile(IsAStringChar, "astring");
    }

    /// <summary><c>astring</c> as raw octets (for keys whose charset is given separately, e.g. SEARCH CHARSET).</summary>
    public ReadOnlyMemory<byte> ReadAStringBytes()
    {
        var next = Peek();
        if (next is '"' or '{')
        {
            return ReadStringBytes();
        }
        return Encoding.ASCII.GetBytes(ReadWhile(IsAStringChar, "astring"));
    }

    /// <summary><c>nstring = string / nil</c>; null for NIL.</summary>
    public string? ReadNString()
    {
        if (TryConsumeKeyword("NIL"))
        {
            return null;
        }
        return ReadString();
    }

    /// <summary><c>mailbox = "INBOX" / astring</c>; any case of INBOX becomes INBOX (RFC 9051 §9 note). Not decoded from modified UTF-7.</summary>
    public string ReadMailbox() => MailboxName.NormalizeInbox(ReadAString());

    /// <summary><c>list-mailbox = 1*list-char / string</c>.</summary>
    public string ReadListMailbox()
    {
        var next = Peek();
        if (next is '"' or '{')
        {
            return ReadString();
        }
        return ReadWhile(IsListChar, "list-mailbox");
    }

    private string DecodeUtf8(ReadOnlyMemory<byte> bytes)
    {
        if (!Utf8.IsValid(bytes.Span))
        {
            throw new ImapSyntaxException("String is not valid UTF-8");
        }
        return Encoding.UTF8.GetString(bytes.Span);
    }

    // --- compound rules ---

    /// <summary><c>sequence-set</c> (RFC 9051 §9) including <c>$</c> (RFC 5182 §4).</summary>
    public SequenceSet ReadSequenceSet()
    {
        var ranges = new List<SequenceRange>();
        var saved = false;
        do
        {
            if (TryConsume((byte)'$'))
            {
                saved = true;
                continue;
            }
            var first = ReadSeqNumber();
            var last = first;
            if (TryConsume((byte)':'))
            {
                last = ReadSeqNumber();
            }
            ranges.Add(new SequenceRange(first, last));
        }
        while (TryConsume((byte)','));
        return new SequenceSet(ValueList<SequenceRange>.Wrap(ranges), saved);
    }

    private SequenceNumber ReadSeqNumber()
    {
        if (TryConsume((byte)'*'))
        {
            return SequenceNumber.Star;
        }
        if (Peek() is < '0' or > '9')
        {
            throw Error("Expected sequence number or '*'");
        }
        return new SequenceNumber(ReadNzNumber());
    }

    /// <summary><c>flag = "\" atom / atom</c> (covers system flags, flag-extension and flag-keyword).</summary>
    public string ReadFlag()
    {
        if (TryConsume((byte)'\\'))
        {
            return "\\" + ReadAtom();
        }
        return ReadAtom();
    }

    /// <summary><c>flag-list = "(" [flag *(SP flag)] ")"</c>.</summary>
    public ValueList<string> ReadFlagList()
    {
        Expect((byte)'(', "'('");
        var flags = new List<string>();
        if (!TryConsume((byte)')'))
        {
            do
            {
                flags.Add(ReadFlag());
            }
            while (TryConsume((byte)' '));
            Expect((byte)')', "')'");
        }
        return ValueList<string>.Wrap(flags);
    }

    /// <summary>Reads <c>"(" item *(SP item) ")"</c> with a caller-supplied item rule.</summary>
    public ValueList<T> ReadParenthesized<T>(Func<ImapReader, T> item, bool allowEmpty = false)
    {
        Expect((byte)'(', "'('");
        var items = new List<T>();
        if (allowEmpty && TryConsume((byte)')'))
        {
            return ValueList<T>.Empty;
        }
        do
        {
            items.Add(item(this));
        }
        while (TryConsume((byte)' '));
        Expect((byte)')', "')'");
        return ValueList<T>.Wrap(items);
    }

    private static readonly string[] Months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];

    private int ReadMonth()
    {
        var rest = Rest;
        if (rest.Length >= 3)
        {
            var text = Encoding.ASCII.GetString(rest[..3]).ToUpperInvariant();
            var index = Array.IndexOf(Months, text);
            if (index >= 0)
            {
                _pos += 3;
                return index + 1;
            }
        }
        throw Error("Expected month name");
    }

    private int ReadFixedDigits(int count, string what)
    {
        var rest = Rest;
        if (rest.Length < count)
        {
            throw Error($"Expected {what}");
        }
        var v = 0;
        for (var i = 0; i < count; i++)
        {
            if (rest[i] is < (byte)'0' or > (byte)'9')
            {
                throw Error($"Expected {what}");
            }
            v = v * 10 + (rest[i] - '0');
        }
        _pos += count;
        return v;
    }

    /// <summary><c>date = date-text / DQUOTE date-text DQUOTE</c>, <c>date-text = date-day "-" date-month "-" date-year</c>.</summary>
    public DateOnly ReadDate()
    {
        var quoted = TryConsume((byte)'"');
        var day = ReadFixedDigits(1, "day");
        if (Peek() is >= '0' and <= '9')
        {
            day = day * 10 + ReadFixedDigits(1, "day");
        }
        Expect((byte)'-', "'-'");
        var month = ReadMonth();
        Expect((byte)'-', "'-'");
        var year = ReadFixedDigits(4, "year");
        if (quoted)
        {
            Expect((byte)'"', "DQUOTE");
        }
        return MakeDate(year, month, day);
    }

    private DateOnly MakeDate(int year, int month, int day)
    {
        if (year < 1 || day < 1 || day > DateTime.DaysInMonth(year, month))
        {
            throw Error("Invalid date");
        }
        return new DateOnly(year, month, day);
    }

    /// <summary>
    /// <c>date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE</c>;
    /// <c>date-day-fixed = (SP DIGIT) / 2DIGIT</c>, <c>zone = ("+" / "-") 4DIGIT</c>.
    /// </summary>
    public DateTimeOffset ReadDateTime()
    {
        Expect((byte)'"', "date-time");
        int day;
        if (TryConsume((byte)' '))
        {
            day = ReadFixedDigits(1, "day");
        }
        else
        {
            // RFC 3501 §9 date-day-fixed is strict; clients also send a single digit, which is unambiguous.
            day = ReadFixedDigits(1, "day");
            if (Peek() is >= '0' and <= '9')
            {
                day = day * 10 + ReadFixedDigits(1, "day");
            }
        }
        Expect((byte)'-', "'-'");
        var month = ReadMonth();
        Expect((byte)'-', "'-'");
        var year = ReadFixedDigits(4, "year");
        ExpectSpace();
        var hour = ReadFixedDigits(2, "hour");
        Expect((byte)':', "':'");
        var minute = ReadFixedDigits(2, "minute");
        Expect((byte)':', "':'");
        var second = ReadFixedDigits(2, "second");
        ExpectSpace();
        int sign = TryConsume((byte)'+') ? 1 : TryConsume((byte)'-') ? -1 : throw Error("Expected zone sign");
        var zone = ReadFixedDigits(4, "zone");
        Expect((byte)'"', "DQUOTE");
        var date = MakeDate(year, month, day);
        var zoneHours = zone / 100;
        var zoneMinutes = zone % 100;
        if (hour > 23 || minute > 59 || second > 60 || zoneMinutes > 59 || zoneHours > 14)
        {
            throw new ImapSyntaxException("Invalid date-time");
        }
        second = Math.Min(second, 59); // a leap second is clamped: DateTimeOffset has no 60th second
        var offset = new TimeSpan(zoneHours, zoneMinutes, 0) * sign;
        var local = new DateTime(date.Year, date.Month, date.Day, hour, minute, second, DateTimeKind.Unspecified);
        var utcTicks = local.Ticks - offset.Ticks;
        if (utcTicks < DateTime.MinValue.Ticks || utcTicks > DateTime.MaxValue.Ticks)
        {
            throw new ImapSyntaxException("date-time out of range");
        }
        return new DateTimeOffset(local, offset);
    }
}
