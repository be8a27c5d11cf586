using System.Net;
using MailServer.Rules.Directory;

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

/// <summary>An envelope recipient accepted at RCPT, with what it resolved to.</summary>
/// <param name="Address">The RCPT TO address.</param>
/// <param name="Resolution">The mailboxes it reaches.</param>
/// <param name="TargetFolder">The folder local delivery files it in (set by the inbound flow rules: Inbox or Junk E-mail); null: the Inbox.</param>
public sealed record AcceptedRecipient(string Address, RecipientResolution.Local Resolution, string? TargetFolder = null);

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
    DateTimeOffset ReceivedAt);

/// <summary>The outcome of a delivery for one envelope recipient. A closed set.</summary>
public abstract record DeliveryOutcome
{
    private DeliveryOutcome() { }

    /// <summary>Durably stored (or queued) for this recipient.</summary>
    public sealed record Delivered : DeliveryOutcome;

    /// <summary>Not stored; the sender may retry later (4xx).</summary>
    public sealed record TemporaryFailure(string Reason) : DeliveryOutcome;

    /// <summary>Not stored, and retrying will not help (5xx). <see cref="Reason"/> is safe to show the sender.</summary>
    public sealed record PermanentFailure(SmtpRefusal Refusal, string Reason) : DeliveryOutcome;
}

/// <summary>Why a recipient was refused permanently; the SMTP reply table turns it into a reply.</summary>
public enum SmtpRefusal
{
    MailboxFull,
    MailboxUnavailable,
    PolicyRefused,
}

/// <summary>One outcome per envelope recipient, in envelope order.</summary>
public sealed record TransactionOutcome(IReadOnlyList<(AcceptedRecipient Recipient, DeliveryOutcome Outcome)> Recipients);

/// <summary>
/// Carries out a received transaction (the Server's delivery pipeline implements it). It must not
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
}
