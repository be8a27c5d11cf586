using MailServer.Protocols.Smtp;
using MailServer.Rules.Directory;
using MailServer.Server.Delivery;
using MailServer.Storage;

namespace MailServer.Server.MailFlow.Doors;

/// <summary>
/// The SMTP listener's way into the mail flow, and the only place where SMTP's types meet the core's: a received
/// transaction becomes a <see cref="MailFlowMessage"/> (origin MX or submission, the session as its client), the core's
/// outcomes become the listener's (which <c>SmtpReplies</c> turns into the one reply). The RCPT-time questions the
/// listener asks (quota, the daily external recipient count) are answered from the store here.
/// </summary>
public sealed class SmtpDoor(IMailFlowDoor door, LocalDelivery local, IQueueStore store, IDirectorySource directory, TimeProvider time) : IMessageDelivery
{
    /// <inheritdoc />
    public bool HasRoom(DirectoryUser user) => local.HasRoom(user);

    /// <inheritdoc />
    public long ExternalRecipientsToday(DirectoryUser user) =>
        store.ExternalRecipientsOn(user.OrganizationId, user.Email, DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime));

    /// <inheritdoc />
    public async Task<TransactionOutcome> DeliverAsync(SmtpTransaction transaction, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var recipients = transaction.Recipients.Select(r => new FlowRecipient(r.Address, r.Resolution, r.Notify, r.OriginalRecipient)).ToList();
        var submitter = transaction.AuthenticatedUser is { } user ? directory.Current.FindUser(user) : null;
        var accepted = new MailFlowMessage(
            transaction.Listener == SmtpListenerKind.Mx ? MessageOrigin.Mx : MessageOrigin.Submission,
            transaction.ReversePath, recipients, message, transaction.ReceivedAt)
        {
            TraceId = transaction.TraceId,
            Client = new SmtpClientInfo(transaction.SessionId, transaction.RemoteEndPoint, transaction.HeloName, transaction.Secure),
            Submitter = submitter,
            EnvelopeId = transaction.EnvelopeId,
            Return = transaction.Return,
            RequireTls = transaction.RequireTls,
        };
        var result = await door.AcceptAsync(accepted, cancellationToken).ConfigureAwait(false);
        return new TransactionOutcome(transaction.Recipients.Select((r, i) => (r, Map(result.Recipients[i].Outcome))).ToList());
    }

    private static DeliveryOutcome Map(RecipientOutcome outcome) => outcome switch
    {
        RecipientOutcome.Accepted => new DeliveryOutcome.Delivered(),
        RecipientOutcome.TemporaryFailure t => new DeliveryOutcome.TemporaryFailure(t.Reason,
            t.Deferral == Deferral.ContentCheck ? SmtpDeferral.ContentCheck : SmtpDeferral.ServerError),
        RecipientOutcome.PermanentFailure p => new DeliveryOutcome.PermanentFailure(p.Refusal switch
        {
            Refusal.MailboxFull => SmtpRefusal.MailboxFull,
            Refusal.MailboxUnavailable => SmtpRefusal.MailboxUnavailable,
            Refusal.DmarcReject => SmtpRefusal.DmarcReject,
            Refusal.VirusFound => SmtpRefusal.VirusFound,
            Refusal.SpamRejected => SmtpRefusal.SpamRejected,
            Refusal.SendAsDenied => SmtpRefusal.SendAsDenied,
            Refusal.BadSenderHeaders => SmtpRefusal.BadSenderHeaders,
            _ => SmtpRefusal.PolicyRefused,
        }, p.Reason),
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "Unknown outcome."),
    };
}
