namespace MailServer.Storage;

/// <summary>
/// A message accepted and held while a synchronous hook decides it (§10.5: "the message is accepted first and
/// held"). What the server needs to resume it (the transaction) travels in <see cref="Envelope"/>, opaque to the store.
/// </summary>
/// <param name="HeldId">The held message's id (32 hex digits), chosen by the caller.</param>
/// <param name="OrganizationId">The organization whose key hierarchy encrypts it.</param>
/// <param name="Direction">Received (inbound rule) or sent (outbound rule).</param>
/// <param name="Rule">The flow rule whose synchronous hook decides.</param>
/// <param name="InvocationId">The hook invocation id, the same on every attempt and across restarts.</param>
/// <param name="MessageFlowId">The in-transit copy the hook reads and may replace (the event's messageId).</param>
/// <param name="Recipients">The recipients the hook decides.</param>
/// <param name="HeldSince">When it was accepted.</param>
/// <param name="Deadline">When retrying ends and the fallback applies (HeldSince + the rule timeout).</param>
/// <param name="Attempts">Hook calls made so far.</param>
/// <param name="NextAttemptAt">When the hook is called next.</param>
/// <param name="LastError">Why the last call failed, or null.</param>
/// <param name="Envelope">The caller's serialized transaction (sealed at rest).</param>
public sealed record HeldMessage(
    string HeldId,
    string OrganizationId,
    MessageFlowContext Direction,
    string Rule,
    string InvocationId,
    Guid MessageFlowId,
    IReadOnlyList<string> Recipients,
    DateTimeOffset HeldSince,
    DateTimeOffset Deadline,
    int Attempts,
    DateTimeOffset NextAttemptAt,
    string? LastError,
    byte[] Envelope);

/// <summary>
/// Held messages (the <c>held</c> collection): the body an encrypted blob like a mailbox message, the record's
/// details sealed under the message key; in clear only ids, dates, the attempt count and the organization.
/// Implemented by <see cref="MailStore"/> (one owner of the database).
/// </summary>
public interface IHeldMessageStore
{
    /// <summary>Stores <paramref name="held"/> and its body durably (fsync'd before the task completes).</summary>
    /// <exception cref="IOException">The body could not be written.</exception>
    /// <exception cref="WriteOutcomeUnknownException">The commit or fsync failed; nothing was acknowledged.</exception>
    /// <exception cref="KeyNotFoundException">No master key for the organization.</exception>
    Task HoldAsync(HeldMessage held, ReadOnlyMemory<byte> message, CancellationToken cancellationToken);

    /// <summary>Every held message, oldest first.</summary>
    IReadOnlyList<HeldMessage> ListHeld();

    /// <summary>At most <paramref name="max"/> held messages whose next attempt is due at <paramref name="now"/>.</summary>
    IReadOnlyList<HeldMessage> DueHeld(DateTimeOffset now, int max);

    /// <summary>
    /// Claims at most <paramref name="max"/> held messages whose next attempt is due at <paramref name="now"/> for this
    /// store instance until <paramref name="now"/> + <paramref name="lease"/>, as <see cref="IQueueStore.ClaimDueQueueAsync"/>
    /// claims queued messages: two claimers never hold one at once, and a lease that ran out is taken over.
    /// <see cref="RecordHeldAttemptAsync"/> and <see cref="ReleaseHeldAsync"/> end the lease.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="max"/> or <paramref name="lease"/> is not positive.</exception>
    Task<IReadOnlyList<HeldMessage>> ClaimDueHeldAsync(DateTimeOffset now, int max, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>The held body as it was accepted.</summary>
    /// <exception cref="KeyNotFoundException">No such held message.</exception>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The blob or a key was altered.</exception>
    Task<byte[]> ReadHeldMessageAsync(string heldId, CancellationToken cancellationToken);

    /// <summary>Records a failed hook call: the attempt count, when to try next and why it failed; ends this instance's lease.</summary>
    /// <exception cref="KeyNotFoundException">No such held message.</exception>
    /// <exception cref="LeaseHeldElsewhereException">Another claimer holds a live lease on it: nothing was written.</exception>
    Task RecordHeldAttemptAsync(string heldId, int attempts, DateTimeOffset nextAttemptAt, string lastError, CancellationToken cancellationToken);

    /// <summary>Removes a decided held message and its body; false when there was none.</summary>
    Task<bool> ReleaseHeldAsync(string heldId, CancellationToken cancellationToken);
}
