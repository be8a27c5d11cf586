using System.Text;
using MimeKit;
using MimeKit.Utils;

namespace MailServer.Server.Delivery;

/// <summary>RFC 3464 §2.3.3 Action values this server reports.</summary>
public enum DsnAction
{
    /// <summary>The recipient will not get the message.</summary>
    Failed,
    /// <summary>Still trying (a delay warning).</summary>
    Delayed,
    /// <summary>Handed to a server that does not report delivery (RFC 3461 §6.2.3 for NOTIFY=SUCCESS).</summary>
    Relayed,
}

/// <summary>One recipient's block in a DSN.</summary>
/// <param name="Address">The final recipient.</param>
/// <param name="OriginalRecipient">RFC 3461 ORCPT as "type;address", or null.</param>
/// <param name="Action">What happened.</param>
/// <param name="Status">RFC 3463 status ("5.1.1", "4.4.1", "2.0.0").</param>
/// <param name="Diagnostic">The remote server's reply or our reason.</param>
/// <param name="RemoteMta">The host that answered, when one did.</param>
/// <param name="LastAttempt">When it was last tried.</param>
/// <param name="RetryUntil">For a delay: when the queue gives up.</param>
public sealed record DsnRecipient(string Address, string? OriginalRecipient, DsnAction Action, string Status, string Diagnostic,
    string? RemoteMta, DateTimeOffset LastAttempt, DateTimeOffset? RetryUntil = null);

/// <summary>
/// Builds delivery status notifications (RFC 3464): a <c>multipart/report; report-type=delivery-status</c> with a
/// human-readable part, the <c>message/delivery-status</c> part, and the original message's header section
/// (<c>text/rfc822-headers</c>) or, for RET=FULL (RFC 3461 §4.3), the whole message (<c>message/rfc822</c>).
/// Sent with the null reverse-path (RFC 5321 §4.5.5), so no DSN ever answers a DSN.
/// </summary>
public static class Dsn
{
    /// <summary>The bytes of a DSN (CRLF line ends), ready to store or queue.</summary>
    /// <param name="reportingMta">This server's host name.</param>
    /// <param name="postmaster">The From address (the reporting domain's postmaster).</param>
    /// <param name="to">The original envelope sender, who receives the DSN.</param>
    /// <param name="envelopeId">RFC 3461 ENVID of the original, or null.</param>
    /// <param name="arrival">When the original arrived.</param>
    /// <param name="recipients">The recipients reported, at least one.</param>
    /// <param name="original">The original message bytes.</param>
    /// <param name="returnFull">True for RET=FULL; otherwise only the header section is returned.</param>
    /// <param name="now">The DSN's Date.</param>
    /// <exception cref="ArgumentException">No recipient to report.</exception>
    public static byte[] Build(string reportingMta, string postmaster, string to, string? envelopeId, DateTimeOffset arrival,
        IReadOnlyList<DsnRecipient> recipients, ReadOnlyMemory<byte> original, bool returnFull, DateTimeOffset now)
    {
        if (recipients.Count == 0)
            throw new ArgumentException("A DSN reports at least one recipient.", nameof(recipients));
        var action = recipients[0].Action;
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Mail Delivery System", postmaster));
        message.To.Add(MailboxAddress.Parse(ParserOptions.Default, to));
        message.Date = now;
        message.MessageId = MimeUtils.GenerateMessageId(reportingMta);
        message.Subject = action switch
        {
            DsnAction.Failed => "Undelivered Mail Returned to Sender",
            DsnAction.Delayed => "Delayed Mail (still being retried)",
            _ => "Successful Mail Delivery Report",
        };
        message.Headers.Add("Auto-Submitted", "auto-replied"); // RFC 3834 §5

        var report = new MultipartReport("delivery-status");
        report.Add(new TextPart("plain") { Text = HumanText(reportingMta, recipients) });

        var status = new MessageDeliveryStatus();
        var perMessage = new HeaderList
        {
            { "Reporting-MTA", "dns; " + reportingMta },
        };
        if (envelopeId is not null)
            perMessage.Add("Original-Envelope-Id", envelopeId);
        perMessage.Add("Arrival-Date", DateUtils.FormatDate(arrival));
        status.StatusGroups.Add(perMessage);
        foreach (var recipient in recipients)
        {
            var group = new HeaderList();
            if (recipient.OriginalRecipient is { } orcpt)
                group.Add("Original-Recipient", orcpt);
            group.Add("Final-Recipient", "rfc822; " + recipient.Address);
            group.Add("Action", recipient.Action.ToString().ToLowerInvariant());
            group.Add("Status", recipient.Status);
            if (recipient.RemoteMta is { } mta)
                group.Add("Remote-MTA", "dns; " + mta);
            group.Add("Diagnostic-Code", "smtp; " + OneLine(recipient.Diagnostic));
            group.Add("Last-Attempt-Date", DateUtils.FormatDate(recipient.LastAttempt));
            if (recipient.RetryUntil is { } until)
                group.Add("Will-Retry-Until", DateUtils.FormatDate(until));
            status.StatusGroups.Add(group);
        }
        report.Add(status);

        if (returnFull)
        {
            using var stream = new MemoryStream(original.ToArray(), writable: false);
            report.Add(new MessagePart { Message = MimeMessage.Load(stream) });
        }
        else
        {
            using var headers = new MemoryStream(original.Span[..HeaderLength(original.Span)].ToArray(), writable: false);
            report.Add(new TextRfc822Headers { Message = MimeMessage.Load(headers) });
        }
        message.Body = report;

        using var output = new MemoryStream();
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        message.WriteTo(format, output);
        return output.ToArray();
    }

    private static string HumanText(string reportingMta, IReadOnlyList<DsnRecipient> recipients)
    {
        var text = new StringBuilder();
        text.Append("This is the mail system at host ").Append(reportingMta).Append(".\r\n\r\n");
        text.Append(recipients[0].Action switch
        {
            DsnAction.Failed => "Your message could not be delivered to one or more recipients. It is attached below.\r\n",
            DsnAction.Delayed => "Your message has not been delivered yet to one or more recipients. The mail system will keep trying; you do not need to send it again.\r\n",
            _ => "Your message was handed on to the recipients' mail system.\r\n",
        });
        text.Append("\r\n");
        foreach (var recipient in recipients)
            text.Append('<').Append(recipient.Address).Append(">: ").Append(OneLine(recipient.Diagnostic)).Append("\r\n");
        return text.ToString();
    }

    private static string OneLine(string text) => new(text.Where(c => c >= ' ' && c != 127).Take(900).ToArray());

    private static int HeaderLength(ReadOnlySpan<byte> message)
    {
        var end = message.IndexOf("\r\n\r\n"u8);
        return end < 0 ? message.Length : end + 4;
    }
}
