using System.Globalization;
using System.Text;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// RFC 6409 §8.2 and §8.3: a submission server may add a missing <c>Date</c> and <c>Message-ID</c>. Clients that
/// leave them out (scripts, some devices) would otherwise send mail that receivers score as spam and that threads
/// badly; fields already present are never touched.
/// </summary>
internal static class SubmissionHeaders
{
    /// <summary>The message with Date and Message-ID prepended when its header section lacks them.</summary>
    public static byte[] AddMissing(byte[] message, string domain, DateTimeOffset now)
    {
        var header = MessageChecks.HeaderSection(message);
        var added = new StringBuilder();
        if (!HasField(header, "Date:"u8))
            added.Append("Date: ").Append(now.ToString("ddd, dd MMM yyyy HH:mm:ss ", CultureInfo.InvariantCulture))
                .Append(now.ToString("zzz", CultureInfo.InvariantCulture).Replace(":", "", StringComparison.Ordinal)).Append("\r\n");
        if (!HasField(header, "Message-ID:"u8))
            added.Append("Message-ID: <").Append(Guid.NewGuid().ToString("N")).Append('@').Append(domain).Append(">\r\n");
        if (added.Length == 0)
            return message;
        var prefix = Encoding.ASCII.GetBytes(added.ToString());
        var result = new byte[prefix.Length + message.Length];
        prefix.CopyTo(result, 0);
        message.CopyTo(result, prefix.Length);
        return result;
    }

    /// <summary>The Message-ID of <paramref name="message"/> without its angle brackets, or null when it has none.</summary>
    public static string? MessageIdOf(byte[] message)
    {
        var header = MessageChecks.HeaderSection(message);
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

    /// <summary>True when a header line (not a folded continuation) starts with <paramref name="name"/>, any case.</summary>
    private static bool HasField(ReadOnlySpan<byte> header, ReadOnlySpan<byte> name)
    {
        var position = 0;
        while (position < header.Length)
        {
            var line = header[position..];
            var lf = line.IndexOf((byte)'\n');
            if (lf >= 0)
                line = line[..(lf + 1)];
            if (line.Length >= name.Length && Ascii.EqualsIgnoreCase(line[..name.Length], name))
                return true;
            position += line.Length;
        }
        return false;
    }
}
