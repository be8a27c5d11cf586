using System.Text;
using MimeKit.Utils;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// Builds the trace header a receiving SMTP server prepends (RFC 5321 §4.4, with-protocol names from
/// RFC 3848). There is no reverse DNS lookup here, so the TCP-info is the address literal only.
/// </summary>
internal static class ReceivedHeader
{
    /// <summary>The full header field, folded, ending in CRLF.</summary>
    public static string Build(SmtpTransaction transaction, string serverName, bool usedEhlo, string id)
    {
        var protocol = !usedEhlo ? "SMTP"
            : transaction.AuthenticatedUser is not null ? (transaction.Secure ? "ESMTPSA" : "ESMTPA")
            : transaction.Secure ? "ESMTPS" : "ESMTP";
        var address = transaction.RemoteEndPoint.Address;
        var literal = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[IPv6:{address}]" : $"[{address}]";
        var helo = Clean(transaction.HeloName);

        var header = new StringBuilder("Received: from ");
        header.Append(helo.Length == 0 ? literal : helo).Append(" (").Append(literal).Append(")\r\n");
        header.Append("\tby ").Append(Clean(serverName)).Append(" with ").Append(protocol).Append("\r\n");
        header.Append("\tid ").Append(Clean(id));
        // RFC 5321 §4.4: "for" names the recipient only when there is exactly one, so a copy does not reveal others.
        if (transaction.Recipients.Count == 1)
            header.Append("\r\n\tfor <").Append(Clean(transaction.Recipients[0].Address)).Append('>');
        header.Append(";\r\n\t").Append(DateUtils.FormatDate(transaction.ReceivedAt)).Append("\r\n");
        return header.ToString();
    }

    /// <summary>Printable ASCII without spaces, parentheses or angle brackets; nothing can break the header.</summary>
    private static string Clean(string text)
    {
        var builder = new StringBuilder(Math.Min(text.Length, 255));
        foreach (var c in text)
        {
            if (builder.Length == 255)
                break;
            if (c > ' ' && c < 127 && c is not '(' and not ')' and not '<' and not '>' and not ';')
                builder.Append(c);
        }
        return builder.ToString();
    }
}
