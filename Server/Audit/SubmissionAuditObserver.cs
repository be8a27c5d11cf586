using MailServer.Protocols.Smtp;
using MailServer.Server.Metrics;
using MailServer.Rules.Sending;

namespace MailServer.Server.Audit;

/// <summary>
/// Turns each submission into one MailboxAccess audit record (our mapping onto WorkMail Administrator Guide, "Mailbox access logs": SMTP submission →
/// <c>submit_email_for_sending</c>, protocol <c>SMTP</c>, object <c>Message</c>, <c>item_id</c> the Message-ID) and one
/// <c>MailboxAction</c> metric sample, denied when the user's Send As / Send On Behalf rights refused it.
/// </summary>
public sealed class SubmissionAuditObserver(IAuditLog audit, MailMetrics metrics) : ISubmissionObserver
{
    /// <summary>The §19.1 protocol name of SMTP.</summary>
    public const string SmtpProtocol = "SMTP";

    /// <inheritdoc />
    public void Observe(SubmissionAttempt attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        metrics.MailboxAction(attempt.OrganizationId, denied: !attempt.Allowed);
        var ip = attempt.SourceAddress.IsIPv4MappedToIPv6 ? attempt.SourceAddress.MapToIPv4() : attempt.SourceAddress;
        audit.Write(new MailboxAccessAuditEvent(attempt.OrganizationId, AuditEvent.NewRequestId(), attempt.UserId, SmtpProtocol,
            ip.ToString(), MailboxActions.SubmitEmailForSending, attempt.OwnerId, "Message", attempt.Allowed,
            ItemId: attempt.MessageId));
    }
}
