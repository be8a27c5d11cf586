using System.Text;

namespace MailServer.Protocols.Imap.Syntax;

/// <summary>
/// The modified UTF-7 mailbox name encoding of RFC 3501 §5.1.3 (kept by RFC 9051 §5.1 for clients that have not
/// enabled UTF8=ACCEPT). Decoding is strict so that each mailbox has exactly one wire spelling.
/// </summary>
public static class ModifiedUtf7
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

    /// <summary>Encodes a Unicode mailbox name.</summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> contains an unpaired surrogate.</exception>
    public static string Encode(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var sb = new StringBuilder(name.Length + 8);
        var i = 0;
        while (i < name.Length)
        {
            var c = name[i];
            if (c == '&')
            {
                sb.Append("&-"); // RFC 3501 §5.1.3: "&" is represented by "&-".
                i++;
            }
            else if (c >= 0x20 && c <= 0x7e)
            {
                sb.Append(c); // printable US-ASCII represents itself
                i++;
            }
            else
            {
                var start = i;
                while (i < name.Length && (name[i] < 0x20 || name[i] > 0x7e))
                {
                    if (char.IsHighSurrogate(name[i]))
                    {
                        if (i + 1 >= name.Length || !char.IsLowSurrogate(name[i + 1]))
                        {
                            throw new ArgumentException("The name contains an unpaired surrogate.", nameof(name));
                        }
                        i += 2;
                    }
                    else if (char.IsLowSurrogate(name[i]))
                    {
                        throw new ArgumentException("The name contains an unpaired surrogate.", nameof(name));
                    }
                    else
                    {
                        i++;
                    }
                }
                sb.Append('&');
                AppendBase64(sb, name.AsSpan(start, i - start));
                sb.Append('-');
            }
        }
        return sb.ToString();
    }

    private static void AppendBase64(StringBuilder sb, ReadOnlySpan<char> chars)
    {
        int bits = 0, buffer = 0;
        foreach (var ch in chars)
        {
            buffer = (buffer << 16) | ch;
            bits += 16;
            while (bits >= 6)
            {
                bits -= 6;
                sb.Append(Alphabet[(buffer >> bits) & 0x3f]);
            }
            buffer &= (1 << bits) - 1;
        }
        if (bits > 0)
        {
            sb.Append(Alphabet[(buffer << (6 - bits)) & 0x3f]);
        }
    }

    /// <summary>Decodes a wire mailbox name.</summary>
    /// <exception cref="FormatException">The name is not canonical modified UTF-7; the message says why.</exception>
    public static string Decode(string wire)
    {
        if (!TryDecode(wire, out var name, out var error))
        {
            throw new FormatException(error);
        }
        return name;
    }

    /// <summary>Decodes a wire mailbox name, reporting why it is invalid instead of throwing.</summary>
    public static bool TryDecode(string wire, out string name, out string error)
    {
        ArgumentNullException.ThrowIfNull(wire);
        var sb = new StringBuilder(wire.Length);
        name = string.Empty;
        var i = 0;
        var previousWasEncoded = false;
        while (i < wire.Length)
        {
            var c = wire[i];
            if (c < 0x20 || c > 0x7e)
            {
                error = $"Character U+{(int)c:X4} at {i} must be encoded.";
                return false;
            }
            if (c != '&')
            {
                sb.Append(c);
                i++;
                previousWasEncoded = false;
                continue;
            }
            var end = wire.IndexOf('-', i + 1);
            if (end < 0)
            {
                error = $"Shift sequence at {i} is not terminated by '-'.";
                return false;
            }
            if (end == i + 1)
            {
                sb.Append('&');
                i = end + 1;
                previousWasEncoded = false;
                continue;
            }
            if (previousWasEncoded)
            {
                // Two adjacent shift sequences would give a second spelling of the same name.
                error = $"Adjacent encoded sequences at {i}; they must be merged.";
                return false;
            }
            if (!DecodeBase64(wire.AsSpan(i + 1, end - i - 1), sb, out error))
            {
                error = $"Shift sequence at {i}: {error}";
                return false;
            }
            i = end + 1;
            previousWasEncoded = true;
        }
        name = sb.ToString();
        error = string.Empty;
        return true;
    }

    private static bool DecodeBase64(ReadOnlySpan<char> text, StringBuilder sb, out string error)
    {
        int bits = 0, buffer = 0;
        char? pendingHigh = null;
        foreach (var ch in text)
        {
            var v = Alphabet.IndexOf(ch);
            if (v < 0)
            {
                error = $"'{ch}' is not a modified BASE64 character.";
                return false;
            }
            buffer = (buffer << 6) | v;
            bits += 6;
            if (bits >= 16)
            {
                bits -= 16;
                var unit = (char)((buffer >> bits) & 0xffff);
                buffer &= (1 << bits) - 1;
                if (pendingHigh is { } high)
                {
                    if (!char.IsLowSurrogate(unit))
                    {
                        error = "unpaired high surrogate.";
                        return false;
                    }
                    sb.Append(high).Append(unit);
                    pendingHigh = null;
                }
                else if (char.IsHighSurrogate(unit))
                {
                    pendingHigh = unit;
                }
                else if (char.IsLowSurrogate(unit))
                {
                    error = "unpaired low surrogate.";
                    return false;
                }
                else if (unit >= 0x20 && unit <= 0x7e)
                {
                    // RFC 3501 §5.1.3: modified BASE64 MUST NOT represent a printable US-ASCII character.
                    error = $"encodes printable US-ASCII '{unit}'.";
                    return false;
                }
                else
                {
                    sb.Append(unit);
                }
            }
        }
        if (pendingHigh is not null)
        {
            error = "unpaired high surrogate.";
            return false;
        }
        if (bits >= 6 || buffer != 0)
        {
            // Leftover must be fewer than 6 zero bits: anything else is truncated or non-canonical padding.
            error = "trailing bits are not zero padding of the last character.";
            return false;
        }
        error = string.Empty;
        return true;
    }
}

/// <summary>Mailbox name rules shared by every command that names a mailbox.</summary>
public static class MailboxName
{
    /// <summary>The one mailbox name that is case-insensitive (RFC 9051 §5.1, RFC 3501 §5.1).</summary>
    public const string Inbox = "INBOX";

    /// <summary>Maps any case variant of <c>INBOX</c> to <c>INBOX</c>; other names are returned unchanged.</summary>
    public static string NormalizeInbox(string name) =>
        name.Equals(Inbox, StringComparison.OrdinalIgnoreCase) ? Inbox : name;

    /// <summary>
    /// Turns the wire form of a mailbox name into its Unicode name: modified UTF-7 is decoded unless the client has
    /// enabled UTF-8 (RFC 9051 §6.3.1 / RFC 6855 UTF8=ACCEPT), then INBOX is normalised. Hierarchy handling is the
    /// caller's.
    /// </summary>
    /// <exception cref="FormatException">The name is not valid modified UTF-7.</exception>
    public static string FromWire(string wire, bool utf8Enabled) =>
        NormalizeInbox(utf8Enabled ? wire : ModifiedUtf7.Decode(wire));

    /// <summary>The wire form of a Unicode mailbox name for a client with or without UTF-8 enabled.</summary>
    /// <exception cref="ArgumentException">The name contains an unpaired surrogate.</exception>
    public static string ToWire(string name, bool utf8Enabled) => utf8Enabled ? name : ModifiedUtf7.Encode(name);
}
