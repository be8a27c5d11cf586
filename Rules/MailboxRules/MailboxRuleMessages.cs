using System.Text;
using MailServer.Rules.Journaling;
using MimeKit;
using MimeKit.Utils;
using MailServer.Rules.Addressing;

namespace MailServer.Rules.MailboxRules;

/// <summary>Why a delivered message is not subject to its mailbox's rules. A closed set.</summary>
public enum MailboxRuleExemption
{
    /// <summary>The rules run.</summary>
    None,
    /// <summary>Filed in Junk E-mail (DMARC quarantine or an inbound MoveToJunk flow rule): suspicious mail is never acted on automatically.</summary>
    Junk,
    /// <summary>A delivery status notification or other null-sender notification (RFC 3464, RFC 5321 §4.5.5).</summary>
    Notification,
    /// <summary>A journal record (§14).</summary>
    JournalRecord,
}

/// <summary>
/// The messages mailbox rules send and the decisions around them (WorkMail's MAILBOX_RULE type; docs/decisions.md, "Mailbox rules"): which
/// deliveries the rules see, which folder names delivery can create, the Forward and Redirect messages.
/// Pure: no I/O.
/// </summary>
public static class MailboxRuleMessages
{
    /// <summary>The folder an exempt delivery stays in when it was filed as junk.</summary>
    public const string JunkFolder = "Junk E-mail";

    /// <summary>
    /// Whether the rules of a mailbox run for a message about to be filed in <paramref name="folder"/>. Junk is
    /// exempt whoever put it there (the task's "never auto-forward suspicious mail"; a MoveToJunk flow rule is the
    /// administrator calling it junk); so are notifications with a null reverse path or a multipart/report body
    /// (forwarding a bounce invites loops and helps nobody) and journal records.
    /// </summary>
    public static MailboxRuleExemption Exemption(string folder, string reversePath, HeaderList headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        if (string.Equals(folder, JunkFolder, StringComparison.OrdinalIgnoreCase))
            return MailboxRuleExemption.Junk;
        if (headers.Contains(JournalReport.MarkerHeader) || JournalReport.IsReservedSender(reversePath))
            return MailboxRuleExemption.JournalRecord;
        var contentType = headers[HeaderId.ContentType];
        if (reversePath.Length == 0 || (contentType is not null && ContentType.TryParse(contentType, out var type) && type.IsMimeType("multipart", "report")))
            return MailboxRuleExemption.Notification;
        return MailboxRuleExemption.None;
    }

    /// <summary>What the rules can see of a message delivered to <paramref name="mailbox"/> through <paramref name="envelopeRecipient"/>.</summary>
    public static MailboxRuleMessage View(HeaderList headers, string mailbox, string envelopeRecipient)
    {
        ArgumentNullException.ThrowIfNull(headers);
        static IEnumerable<string> Names(HeaderList headers, HeaderId id) => headers
            .Where(h => h.Id == id)
            .SelectMany(h => InternetAddressList.TryParse(h.Value, out var list) ? list.Mailboxes : [])
            .SelectMany(m => string.IsNullOrEmpty(m.Name) ? new[] { m.Address } : [m.Address, m.Name]);
        var senders = Names(headers, HeaderId.From).Concat(Names(headers, HeaderId.Sender)).ToList();
        var recipients = Names(headers, HeaderId.To).Concat(Names(headers, HeaderId.Cc)).ToList();
        var subject = headers.Contains(HeaderId.Subject) ? headers[HeaderId.Subject] : null;
        var all = headers.Select(h => new KeyValuePair<string, string>(h.Field, h.Value.Trim())).ToList();
        return new MailboxRuleMessage(mailbox, envelopeRecipient, senders, recipients, subject, all);
    }

    /// <summary>
    /// The folders to create, parents first, so that <paramref name="folder"/> exists (<c>A/B</c> → <c>A</c>,
    /// <c>A/B</c>); null when the name is not one IMAP could show (empty segment, leading or trailing <c>/</c>,
    /// a control character, or the "Other Users" namespace, RFC 9051 §5.1, §6.3.4).
    /// </summary>
    public static IReadOnlyList<string>? FolderChain(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        var segments = folder.Split('/');
        if (segments.Any(s => s.Length == 0 || s.Trim().Length != s.Length) || folder.Any(char.IsControl)
            || string.Equals(segments[0], "Other Users", StringComparison.OrdinalIgnoreCase))
            return null;
        return Enumerable.Range(1, segments.Length).Select(n => string.Join('/', segments.Take(n))).ToList();
    }

    /// <summary>The RULE_APPLIED action name (§18.3): MOVE, COPY, FORWARD, REDIRECT, DELETE, MARK_READ.</summary>
    public static string ActionName(MailboxRuleAction action) => action switch
    {
        MailboxRuleAction.Move => "MOVE",
        MailboxRuleAction.Copy => "COPY",
        MailboxRuleAction.Forward => "FORWARD",
        MailboxRuleAction.Redirect => "REDIRECT",
        MailboxRuleAction.Delete => "DELETE",
        MailboxRuleAction.MarkRead => "MARK_READ",
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, "not a mailbox rule action"),
    };

    /// <summary>
    /// A Forward: a new message from the mailbox owner to <paramref name="to"/>, subject <c>FW: </c> + the original's,
    /// the original attached as message/rfc822, <c>Auto-Submitted: auto-forwarded</c> (RFC 3834 §5), and every
    /// <see cref="MailboxRuleSet.LoopHeader"/> of the original plus one naming <paramref name="mailbox"/>.
    /// </summary>
    public static MimeMessage Forward(MimeMessage original, string mailbox, string displayName, string to, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(original);
        var forward = new MimeMessage();
        forward.From.Add(new MailboxAddress(displayName, mailbox));
        forward.To.Add(MailboxAddress.Parse(to));
        forward.Subject = "FW: " + (original.Subject ?? "");
        forward.Date = now;
        forward.MessageId = MimeUtils.GenerateMessageId(AddressSyntax.DomainOf(mailbox));
        forward.Headers.Add("Auto-Submitted", "auto-forwarded");
        foreach (var hop in Hops(original.Headers))
            forward.Headers.Add(MailboxRuleSet.LoopHeader, hop);
        forward.Headers.Add(MailboxRuleSet.LoopHeader, mailbox);
        var intro = new StringBuilder()
            .Append("Forwarded by a mailbox rule of ").Append(mailbox).Append(".\r\n\r\n")
            .Append("From: ").Append(original.From.ToString()).Append("\r\n")
            .Append("Subject: ").Append(original.Subject ?? "").Append("\r\n");
        if (original.Headers.Contains(HeaderId.Date))
            intro.Append("Date: ").Append(DateUtils.FormatDate(original.Date)).Append("\r\n");
        forward.Body = new Multipart("mixed")
        {
            new TextPart("plain") { Text = intro.ToString() },
            new MessagePart("rfc822") { Message = original, ContentDisposition = new ContentDisposition(ContentDisposition.Attachment) },
        };
        return forward;
    }

    /// <summary>
    /// A Redirect: the original unchanged, with a resent block prepended (RFC 5322 §3.6.6: Resent-From,
    /// Resent-To, Resent-Date, Resent-Message-ID, added at the top as one block) and a
    /// <see cref="MailboxRuleSet.LoopHeader"/> naming <paramref name="mailbox"/>; the original's loop headers stay.
    /// </summary>
    public static byte[] Redirect(ReadOnlySpan<byte> original, string mailbox, string to, DateTimeOffset now)
    {
        var block = $"{MailboxRuleSet.LoopHeader}: {mailbox}\r\n" +
                    $"Resent-From: {mailbox}\r\n" +
                    $"Resent-To: {to}\r\n" +
                    $"Resent-Date: {DateUtils.FormatDate(now)}\r\n" +
                    $"Resent-Message-ID: <{MimeUtils.GenerateMessageId(AddressSyntax.DomainOf(mailbox))}>\r\n";
        var bytes = new byte[Encoding.ASCII.GetByteCount(block) + original.Length];
        var written = Encoding.ASCII.GetBytes(block, bytes);
        original.CopyTo(bytes.AsSpan(written));
        return bytes;
    }

    private static IEnumerable<string> Hops(HeaderList headers) =>
        headers.Where(h => string.Equals(h.Field, MailboxRuleSet.LoopHeader, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value.Trim());

}
