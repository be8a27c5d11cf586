using System.Globalization;
using System.Text;

namespace MailServer.Rules.Sending;

/// <summary>
/// What a message submission agent changes in a submitted message before it goes anywhere (RFC 6409 §8): the Sender
/// field the sending rights call for (§5), and the Date and Message-ID fields a client left out. Pure functions on the
/// message bytes (CRLF line endings); the body is never touched.
/// </summary>
public static class SubmissionEdits
{
    /// <summary>
    /// <paramref name="message"/> with its Sender field as <paramref name="change"/> says: kept, removed (every
    /// Sender field, continuation lines included), or replaced by one naming the given address (RFC 5322 §3.6.2).
    /// </summary>
    public static byte[] ApplySenderChange(byte[] message, SenderHeaderChange change)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (change is SenderHeaderChange.Keep)
            return message;
        var headerLength = HeaderSectionLength(message);
        var output = new MemoryStream(message.Length + 128);
        var position = 0;
        var skipping = false;
        var wroteSender = change is not SenderHeaderChange.Set;
        while (position < headerLength)
        {
            var lf = message.AsSpan(position, headerLength - position).IndexOf((byte)'\n');
            var length = lf < 0 ? headerLength - position : lf + 1;
            var line = message.AsSpan(position, length);
            var continuation = line.Length > 0 && line[0] is (byte)' ' or (byte)'\t';
            if (!continuation)
            {
                // The new Sender goes where the header section's own fields begin: below the trace fields (RFC 5322
                // §3.6: trace fields stay on top) when the message already carries our Received field.
                if (!wroteSender && !IsTraceField(line) && change is SenderHeaderChange.Set set)
                {
                    output.Write(Encoding.ASCII.GetBytes($"Sender: <{set.Address}>\r\n"));
                    wroteSender = true;
                }
                skipping = line.Length >= 7 && Ascii.EqualsIgnoreCase(line[..7], "Sender:"u8);
            }
            if (!skipping)
                output.Write(line);
            position += length;
        }
        output.Write(message.AsSpan(headerLength));
        return output.ToArray();
    }

    /// <summary>
    /// <paramref name="message"/> with a Date field (<paramref name="now"/>) and a Message-ID field (a random id at
    /// <paramref name="domain"/>) added where the client gave none (RFC 6409 §8.2, §8.3), below the trace fields.
    /// </summary>
    public static byte[] AddMissing(byte[] message, string domain, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(message);
        var header = message.AsSpan(0, HeaderSectionLength(message));
        var added = new StringBuilder();
        if (!HasField(header, "Date:"u8))
            added.Append("Date: ").Append(now.ToString("ddd, dd MMM yyyy HH:mm:ss ", CultureInfo.InvariantCulture))
                .Append(now.ToString("zzz", CultureInfo.InvariantCulture).Replace(":", "", StringComparison.Ordinal)).Append("\r\n");
        if (!HasField(header, "Message-ID:"u8))
            added.Append("Message-ID: <").Append(Guid.NewGuid().ToString("N")).Append('@').Append(domain).Append(">\r\n");
        if (added.Length == 0)
            return message;
        var at = TraceFieldsLength(header);
        var prefix = Encoding.ASCII.GetBytes(added.ToString());
        var result = new byte[prefix.Length + message.Length];
        message.AsSpan(0, at).CopyTo(result);
        prefix.CopyTo(result, at);
        message.AsSpan(at).CopyTo(result.AsSpan(at + prefix.Length));
        return result;
    }

    /// <summary>The message's Message-ID (without angle brackets), or null when it has none that parses.</summary>
    public static string? MessageIdOf(ReadOnlySpan<byte> message)
    {
        var header = message[..HeaderSectionLength(message)];
        try
        {
            using var stream = new MemoryStream(header.ToArray(), writable: false);
            var value = MimeKit.HeaderList.Load(stream)[MimeKit.HeaderId.MessageId];
            return value is null ? null : MimeKit.Utils.MimeUtils.ParseMessageId(value) ?? value.Trim();
        }
        catch (FormatException)
        {
            return null; // the content checks passed it; a header section MimeKit cannot load has no id to report
        }
    }

    /// <summary>Bytes up to and including the empty line that ends the header section (all of it when none).</summary>
    public static int HeaderSectionLength(ReadOnlySpan<byte> message)
    {
        if (message.StartsWith("\r\n"u8))
            return 2;
        var end = message.IndexOf("\r\n\r\n"u8);
        return end < 0 ? message.Length : end + 4;
    }

    // RFC 5321 §4.4: the trace fields a relay prepends (Received, Return-Path) and RFC 8601's Authentication-Results.
    private static bool IsTraceField(ReadOnlySpan<byte> line) =>
        StartsWithField(line, "Received:"u8) || StartsWithField(line, "Return-Path:"u8) || StartsWithField(line, "Authentication-Results:"u8);

    private static bool StartsWithField(ReadOnlySpan<byte> line, ReadOnlySpan<byte> name) =>
        line.Length >= name.Length && Ascii.EqualsIgnoreCase(line[..name.Length], name);

    /// <summary>The length of the trace fields at the top of the header section (continuation lines included).</summary>
    private static int TraceFieldsLength(ReadOnlySpan<byte> header)
    {
        var position = 0;
        var inTrace = false;
        while (position < header.Length)
        {
            var line = header[position..];
            var lf = line.IndexOf((byte)'\n');
            if (lf >= 0)
                line = line[..(lf + 1)];
            var continuation = line.Length > 0 && line[0] is (byte)' ' or (byte)'\t';
            if (!continuation)
                inTrace = IsTraceField(line);
            if (!inTrace)
                return position;
            position += line.Length;
        }
        return position;
    }

    private static bool HasField(ReadOnlySpan<byte> header, ReadOnlySpan<byte> name)
    {
        var position = 0;
        while (position < header.Length)
        {
            var line = header[position..];
            var lf = line.IndexOf((byte)'\n');
            if (lf >= 0)
                line = line[..(lf + 1)];
            if (StartsWithField(line, name))
                return true;
            position += line.Length;
        }
        return false;
    }
}
