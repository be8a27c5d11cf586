using System.Net;
using MailServer.Rules.Directory;
using MailServer.Rules.FlowRules;
using MailServer.Rules.Sending;

namespace MailServer.Server.MailFlow;

/// <summary>
/// Where a message entered the mail flow. The origin decides which stages run for it (<see cref="MailFlowStages"/>,
/// one table), never a protocol: SMTP and every message the server writes itself come through the same door,
/// <see cref="MailFlowPipeline.AcceptAsync"/>.
/// </summary>
public enum MessageOrigin
{
    /// <summary>The SMTP MX listener: mail from outside for local recipients (inbound flow rules, sender authentication).</summary>
    Mx,

    /// <summary>Authenticated SMTP submission (RFC 6409): a user's own message (outbound flow rules, DKIM signing).</summary>
    Submission,

    /// <summary>A user's mailbox rule Forward (§9.8): a new message from the mailbox owner with the original attached.</summary>
    MailboxRuleForward,

    /// <summary>A user's mailbox rule Redirect (§9.8): the original, resent by the mailbox owner (RFC 5322 §3.6.6).</summary>
    MailboxRuleRedirect,

    /// <summary>A message held for a synchronous hook (§10.5) whose hook decided, or whose rule timed out.</summary>
    HeldHookRelease,

    /// <summary>A delivery status notification (RFC 3464) the server writes: bounces, delays, journal failures.</summary>
    DeliveryStatusNotification,

    /// <summary>A journal record (§14): never passes flow rules, never journaled itself.</summary>
    JournalReport,

    /// <summary>An aggregate report the server sends (TLS-RPT, RFC 8460; DMARC, RFC 7489 §7.2): DKIM-signed, then delivered.</summary>
    AggregateReport,
}

/// <summary>The SMTP client a message came from (MX and submission origins; kept by a held message).</summary>
/// <param name="SessionId">The SMTP session's id, for log correlation.</param>
/// <param name="RemoteEndPoint">The client's address and port.</param>
/// <param name="HeloName">The EHLO/HELO name it gave.</param>
/// <param name="Secure">True when the session ran over TLS.</param>
public sealed record SmtpClientInfo(string SessionId, IPEndPoint RemoteEndPoint, string HeloName, bool Secure);

/// <summary>
/// One envelope recipient in the mail flow: a local address (its mailboxes resolved) or a remote one, with the
/// RFC 3461 parameters the sender gave for it.
/// </summary>
/// <param name="Address">The address as the envelope names it.</param>
/// <param name="Resolution">What the directory made of it: <see cref="RecipientResolution.Local"/> or <see cref="RecipientResolution.NotLocal"/>.</param>
/// <param name="Notify">RFC 3461 NOTIFY.</param>
/// <param name="OriginalRecipient">RFC 3461 ORCPT, or null.</param>
public sealed record FlowRecipient(string Address, RecipientResolution Resolution, DsnNotify Notify = DsnNotify.NotGiven, string? OriginalRecipient = null)
{
    /// <summary>True for an address outside every local domain (it goes to the outbound queue).</summary>
    public bool IsRemote => Resolution is RecipientResolution.NotLocal;

    /// <summary>The organization of a local recipient; null for a remote one.</summary>
    public string? OrganizationId => Resolution is RecipientResolution.Local local ? local.Organization.Id : null;

    /// <summary>The local mailboxes this recipient reaches (none for a remote one).</summary>
    public IReadOnlyList<DirectoryUser> Mailboxes => Resolution is RecipientResolution.Local local ? local.Mailboxes : [];

    /// <summary>True when the DSN for a failure is wanted (NOTIFY not given, or naming FAILURE; RFC 3461 §4.1).</summary>
    public bool WantsFailureNotice => Notify == DsnNotify.NotGiven || Notify.HasFlag(DsnNotify.Failure);
}

/// <summary>
/// A message in the mail flow: its origin, envelope and exact bytes (trace headers included), with the id that every
/// event, log line and the SMTP reply name it by (<see cref="TraceId"/>).
/// </summary>
/// <param name="Origin">Where it entered; decides the stages it passes.</param>
/// <param name="ReversePath">The envelope sender; "" is the null reverse-path &lt;&gt;.</param>
/// <param name="Recipients">The envelope recipients, in envelope order.</param>
/// <param name="Content">The message bytes as they will be stored (CRLF line endings).</param>
/// <param name="ReceivedAt">When it was accepted.</param>
public sealed record MailFlowMessage(
    MessageOrigin Origin,
    string ReversePath,
    IReadOnlyList<FlowRecipient> Recipients,
    ReadOnlyMemory<byte> Content,
    DateTimeOffset ReceivedAt)
{
    /// <summary>
    /// The one id of this message (§18.2 trace id): the SMTP reply's "queued as", the queue entry, every event and
    /// log line about it. A <c>with</c> copy keeps it.
    /// </summary>
    public Guid TraceId { get; init; } = Guid.CreateVersion7();

    /// <summary>The SMTP client, for SMTP origins (and a held message released later); null for internal origins.</summary>
    public SmtpClientInfo? Client { get; init; }

    /// <summary>
    /// The user sending it: the authenticated submitter, or the mailbox owner for a mailbox rule's Forward or Redirect;
    /// null for MX mail and for what the server writes itself.
    /// </summary>
    public DirectoryUser? Submitter { get; init; }

    /// <summary>The organization a message the server writes belongs to (DSN, journal record, held release); null otherwise.</summary>
    public string? OrganizationId { get; init; }

    /// <summary>RFC 3461 ENVID, or null.</summary>
    public string? EnvelopeId { get; init; }

    /// <summary>RFC 3461 RET.</summary>
    public DsnReturn Return { get; init; }

    /// <summary>
    /// RFC 8689: MAIL FROM carried REQUIRETLS (or the message is a DSN about such a message): relayed only with
    /// authenticated TLS to a next hop that offers REQUIRETLS.
    /// </summary>
    public bool RequireTls { get; init; }

    /// <summary>
    /// For <see cref="MessageOrigin.HeldHookRelease"/>: the hook's decision per recipient (§10.3), which takes the place
    /// of the flow rules; null for every other origin.
    /// </summary>
    public HookRelease? Release { get; init; }

    /// <summary>
    /// True when the message's reception (§18.3 ORGANIZATION_EMAIL_RECEIVED) is already on record (a held MX message:
    /// recorded when it was accepted).
    /// </summary>
    public bool ReceptionRecorded { get; init; }

    /// <summary>
    /// What log lines name this message by: the id the client saw in the SMTP reply ("250 ... queued as ID"), the queue
    /// entry's id and the event log's trace id — 32 hex digits. (The SMTP session's id travels in the log scope.)
    /// </summary>
    public string LogId => TraceId.ToString("N");

    /// <summary>True for the origins that send mail as a user (outbound flow rules, DKIM signing, sending limits).</summary>
    public bool IsSentByUser => Origin is MessageOrigin.Submission or MessageOrigin.MailboxRuleForward or MessageOrigin.MailboxRuleRedirect;
}

/// <summary>A synchronous hook's decision for a held message (§10.3), carried by <see cref="MessageOrigin.HeldHookRelease"/>.</summary>
/// <param name="Rule">The rule whose hook decided.</param>
/// <param name="Direction">Inbound (MX) or outbound (submission) hook.</param>
/// <param name="Actions">The action per recipient; added recipients (inbound: BCC, §10.3) carry <c>Added</c>.</param>
public sealed record HookRelease(string Rule, FlowDirection Direction, IReadOnlyList<ReleasedRecipient> Actions)
{
    /// <summary>True when DMARC enforcement quarantined the message for the hook's organization when it was accepted (§12).</summary>
    public bool Quarantined { get; init; }

    /// <summary>The content engines called it spam for the hook's organization when it was held (the release is not scanned again).</summary>
    public bool Spam { get; init; }

    /// <summary>True when the envelope sender passed SPF or DMARC when it was accepted (a bounce may then notify it).</summary>
    public bool SenderVerified { get; init; }
}

/// <summary>One recipient's action in a hook's decision.</summary>
/// <param name="Recipient">The recipient (added recipients included).</param>
/// <param name="Action">The action (never RunHook).</param>
/// <param name="BounceMessage">§10.3 <c>bounceMessage</c>: the text of the bounce a BOUNCE asks for; null for the default text.</param>
/// <param name="Added">True for a recipient the hook added.</param>
public sealed record ReleasedRecipient(FlowRecipient Recipient, FlowAction Action, string? BounceMessage, bool Added);
