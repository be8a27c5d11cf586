namespace MailServer.Storage;

/// <summary>Where one recipient of a queued message stands. A recipient leaves Pending exactly once.</summary>
public enum QueuedRecipientState
{
    /// <summary>Not delivered yet; tried again at <see cref="QueuedRecipient.NextAttemptAt"/>.</summary>
    Pending,
    /// <summary>A remote server (or gateway) accepted it.</summary>
    Delivered,
    /// <summary>Refused permanently, or the queue lifetime ran out; the sender is told (DSN).</summary>
    Failed,
}

/// <summary>
/// One envelope recipient of a queued message and its delivery state. The store keeps it sealed (addresses
/// never appear in clear on disk); the DSN fields are RFC 3461 values as they arrived, opaque to the store.
/// </summary>
/// <param name="Address">The envelope recipient.</param>
/// <param name="State">Pending, delivered or failed.</param>
/// <param name="Attempts">Delivery attempts made so far.</param>
/// <param name="NextAttemptAt">When a pending recipient is due.</param>
/// <param name="LastError">The last failure as the remote side put it (or why it could not be reached).</param>
/// <param name="Status">RFC 3463 status of the last outcome ("4.4.1", "5.1.1", "2.0.0").</param>
/// <param name="RemoteMta">The host that gave the last answer, when one did.</param>
/// <param name="Gateway">Deliver through this named SMTP gateway instead of MX lookup (null: direct).</param>
/// <param name="DsnNotify">RFC 3461 NOTIFY value (null: not given).</param>
/// <param name="OriginalRecipient">RFC 3461 ORCPT value (null: not given).</param>
/// <param name="DelayReported">A delay DSN was already sent for this recipient.</param>
public sealed record QueuedRecipient(
    string Address,
    QueuedRecipientState State,
    int Attempts,
    DateTimeOffset NextAttemptAt,
    string? LastError = null,
    string? Status = null,
    string? RemoteMta = null,
    string? Gateway = null,
    string? DsnNotify = null,
    string? OriginalRecipient = null,
    bool DelayReported = false);

/// <summary>The envelope of a queued message (sealed at rest).</summary>
/// <param name="OrganizationId">The organization whose key hierarchy encrypts the message.</param>
/// <param name="Sender">The envelope sender; "" is the null reverse-path (a DSN is never sent for it).</param>
/// <param name="SubmittedBy">The authenticated user who submitted it, or null.</param>
/// <param name="ReceivedAt">When the message was accepted.</param>
/// <param name="DsnEnvelopeId">RFC 3461 ENVID, or null.</param>
/// <param name="DsnReturn">RFC 3461 RET (FULL or HDRS), or null.</param>
/// <param name="Recipients">Every recipient, in envelope order.</param>
public sealed record OutboundEnvelope(
    string OrganizationId,
    string Sender,
    string? SubmittedBy,
    DateTimeOffset ReceivedAt,
    string? DsnEnvelopeId,
    string? DsnReturn,
    IReadOnlyList<QueuedRecipient> Recipients)
{
    /// <summary>
    /// The email event log's trace id of the message this was queued from, so its OUTGOING_* events share the
    /// trace of its other events; null for messages queued before the field existed (their queue id serves).
    /// </summary>
    public Guid? TraceId { get; init; }

    /// <summary>
    /// RFC 8689: the message arrived with <c>MAIL FROM ... REQUIRETLS</c>. It is relayed only over TLS to a host whose
    /// name and certificate are authenticated (MTA-STS or DANE) and that offers REQUIRETLS itself, with the parameter
    /// passed on; otherwise it bounces, and its DSN returns the header section only (RFC 8689 §5). Kept in the sealed
    /// envelope, so a restart does not lose the demand.
    /// </summary>
    public bool RequireTls { get; init; }

    /// <summary>
    /// RFC 8689 §3: a submitted message carried <c>TLS-Required: No</c>: the sender prefers delivery to the recipient
    /// domains' MTA-STS and DANE policies, which are then not enforced (STARTTLS is still used when offered).
    /// </summary>
    public bool TlsPoliciesWaived { get; init; }
}

/// <summary>A message in the outbound queue.</summary>
/// <param name="QueueId">The queue id (32 hex digits).</param>
/// <param name="Envelope">The envelope and per-recipient state.</param>
/// <param name="Size">Message size in bytes.</param>
/// <param name="CreatedAt">When it was queued.</param>
public sealed record QueuedMessage(string QueueId, OutboundEnvelope Envelope, long Size, DateTimeOffset CreatedAt)
{
    /// <summary>How many times the recipients' states were written since the message was queued (an expected version
    /// for <see cref="IQueueStore.UpdateQueuedAsync(string, IReadOnlyList{QueuedRecipient}, long?, CancellationToken)"/>).</summary>
    public long Version { get; init; }

    /// <summary>The earliest next attempt of a pending recipient, or null when none is pending.</summary>
    public DateTimeOffset? NextAttemptAt =>
        Envelope.Recipients.Where(r => r.State == QueuedRecipientState.Pending).Select(r => (DateTimeOffset?)r.NextAttemptAt).Min();
}
