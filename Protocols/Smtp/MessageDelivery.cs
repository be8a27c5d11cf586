using System.Net;
using MailServer.Rules.Directory;
using MailServer.Rules.Sending;

namespace MailServer.Protocols.Smtp;

/// <summary>Which listener a transaction arrived on; it decides relaying and authentication rules.</summary>
public enum SmtpListenerKind
{
    /// <summary>Port 25-style MX: accepts mail for local domains only, never relays.</summary>
    Mx,
    /// <summary>Submission with STARTTLS (RFC 6409).</summary>
    Submission,
    /// <summary>Submission over implicit TLS (RFC 8314).</summary>
    Submissions,
}

/// <summary>
/// An envelope recipient accepted at RCPT: a local address (<see cref="RecipientResolution.Local"/>) or, on an
/// authenticated submission, a remote one (<see cref="RecipientResolution.NotLocal"/>), with its RFC 3461 parameters.
/// </summary>
public sealed record AcceptedRecipient(
    string Address,
    RecipientResolution Resolution,
    DsnNotify Notify = DsnNotify.NotGiven,
    string? OriginalRecipient = null)
{
    /// <summary>True for an address outside every local domain (it goes to the outbound queue).</summary>
    public bool IsRemote => Resolution is RecipientResolution.NotLocal;

    /// <summary>The organization of a local recipient; null for a remote one.</summary>
    public string? OrganizationId => Resolution is RecipientResolution.Local local ? local.Organization.Id : null;

    /// <summary>The local mailboxes this recipient reaches (none for a remote one).</summary>
    public IReadOnlyList<DirectoryUser> Mailboxes => Resolution is RecipientResolution.Local local ? local.Mailboxes : [];
}

/// <summary>Everything known about a transaction when its DATA has been received and checked.</summary>
public sealed record SmtpTransaction(
    string SessionId,
    SmtpListenerKind Listener,
    IPEndPoint RemoteEndPoint,
    string HeloName,
    string ReversePath,
    IReadOnlyList<AcceptedRecipient> Recipients,
    bool Secure,
    string? AuthenticatedUser,
    DateTimeOffset ReceivedAt)
{
    /// <summary>
    /// The one id of this message: the "queued as" of the 250 reply, the id of our Received field, the outbound queue's
    /// entry and the email event log's trace id (§18.2). A <c>with</c> copy keeps it.
    /// </summary>
    public Guid TraceId { get; init; } = Guid.CreateVersion7();

    /// <summary>RFC 3461 ENVID, or null.</summary>
    public string? EnvelopeId { get; init; }

    /// <summary>RFC 3461 RET.</summary>
    public DsnReturn Return { get; init; }

    /// <summary>RFC 8689: MAIL FROM carried REQUIRETLS (over TLS).</summary>
    public bool RequireTls { get; init; }
}

/// <summary>The outcome of a delivery for one envelope recipient. A closed set.</summary>
public abstract record DeliveryOutcome
{
    private DeliveryOutcome() { }

    /// <summary>Durably stored in the mailbox, or durably queued for a remote recipient.</summary>
    public sealed record Delivered : DeliveryOutcome;

    /// <summary>Not stored; the sender may retry later (4xx). <see cref="Deferral"/> says why, for the reply's status code.</summary>
    public sealed record TemporaryFailure(string Reason, SmtpDeferral Deferral = SmtpDeferral.ServerError) : DeliveryOutcome;

    /// <summary>Not stored, and retrying will not help (5xx). <see cref="Reason"/> is safe to show the sender.</summary>
    public sealed record PermanentFailure(SmtpRefusal Refusal, string Reason) : DeliveryOutcome;
}

/// <summary>Why a recipient was refused permanently; the SMTP reply table turns it into a reply.</summary>
public enum SmtpRefusal
{
    /// <summary>The mailbox is at its quota.</summary>
    MailboxFull,
    /// <summary>The mailbox cannot take mail.</summary>
    MailboxUnavailable,
    /// <summary>A rule refused it; the reason is the rule's text.</summary>
    PolicyRefused,
    /// <summary>The From domain's DMARC policy says reject (§12); the reason is the domain.</summary>
    DmarcReject,
    /// <summary>The signed-in user may not send as the From or Sender field says (§5); the reason says which address.</summary>
    SendAsDenied,
    /// <summary>The From or Sender field of a submission is missing, repeated or unparsable; the reason says which.</summary>
    BadSenderHeaders,
    /// <summary>The virus scanner found a virus (§13). The reason names nothing of the signature.</summary>
    VirusFound,
    /// <summary>The spam engine says reject (§13).</summary>
    SpamRejected,
}

/// <summary>Why a recipient failed temporarily; the SMTP reply table turns it into a status code.</summary>
public enum SmtpDeferral
{
    /// <summary>Something failed on our side (RFC 3463 X.3.0).</summary>
    ServerError,
    /// <summary>The content check asks the sender to retry later: greylisting, a soft reject, an engine down (RFC 3463 X.7.1).</summary>
    ContentCheck,
}

/// <summary>One outcome per envelope recipient, in envelope order.</summary>
public sealed record TransactionOutcome(IReadOnlyList<(AcceptedRecipient Recipient, DeliveryOutcome Outcome)> Recipients);

/// <summary>
/// Carries out a received transaction (the Server's mail flow implements it, behind its SMTP door). It must not
/// return before every <see cref="DeliveryOutcome.Delivered"/> recipient's copy is durable: the
/// SMTP session answers 250 on that promise.
/// </summary>
public interface IMessageDelivery
{
    /// <summary>Delivers <paramref name="message"/> (the exact bytes to store, trace headers included).</summary>
    Task<TransactionOutcome> DeliverAsync(SmtpTransaction transaction, ReadOnlyMemory<byte> message, CancellationToken cancellationToken);

    /// <summary>
    /// Checked at RCPT: false when the user's mailbox is already at or over quota, so the recipient
    /// can be refused with 552 before any data is sent.
    /// </summary>
    bool HasRoom(DirectoryUser user);

    /// <summary>
    /// External recipients already counted against <paramref name="user"/> today (UTC), for
    /// Limits.ExternalRecipientsPerUserPerDay; checked at RCPT.
    /// </summary>
    long ExternalRecipientsToday(DirectoryUser user);
}
