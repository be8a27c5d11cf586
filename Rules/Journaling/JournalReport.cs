using System.Text;
using MimeKit;
using MailServer.Rules.Addressing;

namespace MailServer.Rules.Journaling;

/// <summary>An organization's journaling settings (§14) as the decision needs them.</summary>
/// <param name="Enabled">Journaling status.</param>
/// <param name="JournalingAddress">Where journal records go (a local mailbox, or an archive reached through the queue).</param>
/// <param name="ReportAddress">Where failures to deliver a journal record are reported.</param>
/// <param name="ReservedSender">The address journal records come from: <see cref="JournalReport.ReservedLocalPart"/> at the default domain.</param>
public sealed record JournalingSettings(bool Enabled, string? JournalingAddress, string? ReportAddress, string ReservedSender);

/// <summary>Whether a message gets a journal record. A closed set.</summary>
public abstract record JournalDecision
{
    private JournalDecision() { }

    /// <summary>No record: journaling is off, or the message does not cross this organization, or it is itself a journal record.</summary>
    public sealed record None(string Reason) : JournalDecision;

    /// <summary>Exactly one record for the whole message, from <paramref name="From"/> to <paramref name="To"/>.</summary>
    public sealed record Journal(string From, string To, string? ReportAddress) : JournalDecision;
}

/// <summary>Which header listed a recipient in the original (absent from both To and Cc means Bcc).</summary>
public enum JournalRecipientField { To, Cc, Bcc }

/// <summary>One envelope recipient as the journal report lists it; <paramref name="ExpandedFrom"/> is the group it came through.</summary>
public sealed record JournalRecipient(string Address, JournalRecipientField Field, string? ExpandedFrom = null);

/// <summary>
/// Journaling decisions and the journal record itself: an Exchange-style envelope journal report (docs/decisions.md,
/// "Journaling"), which archiving and eDiscovery tools read: <c>X-MS-Journal-Report</c>, a text part naming the sender,
/// subject, Message-Id and every envelope recipient (groups expanded), and the original as <c>message/rfc822</c>.
/// </summary>
public static class JournalReport
{
    /// <summary>The local part of the reserved sender of journal records; no user, alias or group may take it.</summary>
    public const string ReservedLocalPart = "journal-noreply";

    /// <summary>The header that marks a journal report (Exchange's name; an empty value).</summary>
    public const string MarkerHeader = "X-MS-Journal-Report";

    /// <summary>
    /// "Every incoming or outgoing email message generates one journal record, regardless of the number of
    /// recipients or user groups" (§14): one record when the sender or any recipient belongs to the organization.
    /// A journal record is never journaled.
    /// </summary>
    public static JournalDecision Decide(JournalingSettings settings, bool isJournalRecord, bool senderInOrganization, bool anyRecipientInOrganization)
    {
        if (!settings.Enabled || settings.JournalingAddress is null)
            return new JournalDecision.None("journaling is off");
        if (isJournalRecord)
            return new JournalDecision.None("journal records are not journaled");
        if (!senderInOrganization && !anyRecipientInOrganization)
            return new JournalDecision.None("the message neither enters nor leaves the organization");
        return new JournalDecision.Journal(settings.ReservedSender, settings.JournalingAddress, settings.ReportAddress);
    }

    /// <summary>True when <paramref name="sender"/> is a reserved journal sender (journal records skip flow rules and journaling).</summary>
    public static bool IsReservedSender(string sender) =>
        sender.StartsWith(ReservedLocalPart + "@", StringComparison.OrdinalIgnoreCase);

    /// <summary>Which header of <paramref name="original"/> names <paramref name="address"/>: To, Cc, else Bcc.</summary>
    public static JournalRecipientField FieldOf(MimeMessage original, string address)
    {
        static bool Names(InternetAddressList list, string address) =>
            list.Mailboxes.Any(m => string.Equals(m.Address, address, StringComparison.OrdinalIgnoreCase));
        return Names(original.To, address) ? JournalRecipientField.To
            : Names(original.Cc, address) ? JournalRecipientField.Cc
            : JournalRecipientField.Bcc;
    }

    /// <summary>Builds the journal record for <paramref name="original"/>, sent with envelope sender <paramref name="envelopeSender"/>.</summary>
    /// <param name="decision">The decision that asked for the record.</param>
    /// <param name="original">The message as delivered.</param>
    /// <param name="envelopeSender">MAIL FROM (empty for a null reverse path).</param>
    /// <param name="recipients">Every envelope recipient, groups expanded, each once.</param>
    /// <param name="now">The report's Date.</param>
    public static MimeMessage Build(JournalDecision.Journal decision, MimeMessage original, string envelopeSender,
        IReadOnlyList<JournalRecipient> recipients, DateTimeOffset now)
    {
        var body = new StringBuilder();
        body.Append("Sender: ").Append(envelopeSender.Length > 0 ? envelopeSender : "<>").Append("\r\n");
        body.Append("Subject: ").Append(original.Subject ?? "").Append("\r\n");
        body.Append("Message-Id: ").Append(original.MessageId is { } id ? $"<{id}>" : "").Append("\r\n");
        foreach (var r in recipients)
        {
            body.Append(r.Field).Append(": ").Append(r.Address);
            if (r.ExpandedFrom is not null)
                body.Append(", Expanded: ").Append(r.ExpandedFrom);
            body.Append("\r\n");
        }

        var report = new MimeMessage();
        report.From.Add(MailboxAddress.Parse(decision.From));
        report.To.Add(MailboxAddress.Parse(decision.To));
        report.Subject = original.Subject ?? "";
        report.Date = now;
        report.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(AddressSyntax.DomainOf(decision.From));
        report.Headers.Add(MarkerHeader, "");
        report.Body = new Multipart("mixed")
        {
            new TextPart("plain") { Text = body.ToString() },
            new MessagePart("rfc822") { Message = original, ContentDisposition = new ContentDisposition(ContentDisposition.Attachment) },
        };
        return report;
    }
}
