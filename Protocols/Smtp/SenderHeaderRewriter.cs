using System.Text;
using MailServer.Rules.Sending;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// Carries out a <see cref="SenderHeaderChange"/> on the bytes of a submitted message (§5: Send As hides the
/// real sender, Send On Behalf names it in Sender). Only the header section is touched; the body is copied as is.
/// </summary>
internal static class SenderHeaderRewriter
{
    /// <summary>The message with its Sender fields (and their folded continuation lines) removed or replaced.</summary>
    public static byte[] Apply(byte[] message, SenderHeaderChange change)
    {
        if (change is SenderHeaderChange.Keep)
            return message;
        var headerLength = MessageChecks.HeaderSectionLength(message);
        var output = new MemoryStream(message.Length + 128);
        if (change is SenderHeaderChange.Set set)
            output.Write(Encoding.ASCII.GetBytes($"Sender: <{set.Address}>\r\n")); // RFC 5322 §3.6.2

        var position = 0;
        var skipping = false;
        while (position < headerLength)
        {
            var lf = message.AsSpan(position, headerLength - position).IndexOf((byte)'\n');
            var length = lf < 0 ? headerLength - position : lf + 1;
            var line = message.AsSpan(position, length);
            var continuation = line.Length > 0 && line[0] is (byte)' ' or (byte)'\t';
            if (!continuation)
                skipping = line.Length >= 7 && Ascii.EqualsIgnoreCase(line[..7], "Sender:"u8);
            if (!skipping)
                output.Write(line);
            position += length;
        }
        output.Write(message.AsSpan(headerLength));
        return output.ToArray();
    }
}
