using MailServer.Storage;

namespace MailServer.Server.Delivery;

/// <summary>One recipient of a queued message as `mailserver queue list` and GET /admin/queue show it.</summary>
public sealed record QueueRecipientView(string Address, string State, int Attempts, DateTimeOffset? NextAttempt, string? LastError, string? Gateway);

/// <summary>One queued message as `mailserver queue list` and GET /admin/queue show it.</summary>
public sealed record QueueEntryView(string Id, string Sender, long Size, DateTimeOffset Queued, IReadOnlyList<QueueRecipientView> Recipients)
{
    /// <summary>The earliest next attempt of a pending recipient.</summary>
    public DateTimeOffset? NextAttempt => Recipients.Where(r => r.NextAttempt is not null).Select(r => r.NextAttempt).Min();
}

/// <summary>One message held for a synchronous hook as `mailserver queue held` and GET /admin/queue/held show it.</summary>
public sealed record HeldEntryView(string Id, string Organization, string Direction, string Rule, IReadOnlyList<string> Recipients,
    int Attempts, DateTimeOffset NextAttempt, DateTimeOffset HeldSince, DateTimeOffset Deadline, string? LastError);

/// <summary>
/// The queue operations an administrator has (list, retry now, delete), shared by the admin endpoints of the
/// running server and the CLI's direct access to a stopped server's store.
/// </summary>
public static class QueueAdministration
{
    /// <summary>Every message held for a synchronous hook, oldest first.</summary>
    public static IReadOnlyList<HeldEntryView> ListHeld(IHeldMessageStore store) =>
        store.ListHeld().Select(h => new HeldEntryView(h.HeldId, h.OrganizationId,
            h.Direction == MessageFlowContext.Incoming ? "inbound" : "outbound", h.Rule, h.Recipients, h.Attempts, h.NextAttemptAt,
            h.HeldSince, h.Deadline, h.LastError)).ToList();

    /// <summary>Every queued message, oldest first.</summary>
    public static IReadOnlyList<QueueEntryView> List(IQueueStore store) =>
        store.ListQueue().Select(m => new QueueEntryView(
            m.QueueId,
            m.Envelope.Sender.Length == 0 ? "<>" : m.Envelope.Sender,
            m.Size,
            m.CreatedAt,
            m.Envelope.Recipients.Select(r => new QueueRecipientView(
                r.Address, r.State.ToString(), r.Attempts,
                r.State == QueuedRecipientState.Pending ? r.NextAttemptAt : null, r.LastError, r.Gateway)).ToList())).ToList();

    /// <summary>Makes the pending recipients of one message (or of every message when <paramref name="queueId"/> is null) due now.</summary>
    /// <returns>How many messages were affected (0: no such message).</returns>
    public static async Task<int> RetryAsync(IQueueStore store, string? queueId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var targets = queueId is null ? store.ListQueue() : store.FindQueued(queueId) is { } one ? [one] : [];
        var count = 0;
        foreach (var message in targets)
        {
            try
            {
                await store.UpdateQueuedAsync(message.QueueId,
                    message.Envelope.Recipients.Select(r => r.State == QueuedRecipientState.Pending ? r with { NextAttemptAt = now } : r).ToList(),
                    message.Version, cancellationToken).ConfigureAwait(false);
                count++;
            }
            catch (KeyNotFoundException)
            {
                // Delivered (or deleted) since it was listed: nothing left to retry.
            }
            catch (Exception e) when (e is LeaseHeldElsewhereException or QueuedMessageChangedException)
            {
                // Another node is delivering it right now, or just tried it (and wrote its outcome since it was listed):
                // it is being tried already, and its state is not written over.
                count++;
            }
        }
        return count;
    }

    /// <summary>Removes a message from the queue without a DSN (the administrator's decision). False when not found.</summary>
    public static Task<bool> DeleteAsync(IQueueStore store, string queueId, CancellationToken cancellationToken) =>
        store.DeleteQueuedAsync(queueId, cancellationToken);
}
