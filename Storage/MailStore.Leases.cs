using LiteDB;

namespace MailServer.Storage;

// Leases on queued and held messages. One process owns a LiteDB store, so its leases live in memory: claimers in this
// process (the queue worker, the held-hook worker) never hold one message at once, and a restart frees every lease
// (the process that held them is gone, which is exactly when a shared engine's lease would run out). Writing a
// recipient's outcome (UpdateQueuedAsync, RecordHeldAttemptAsync) or removing the message ends the lease.
public sealed partial class MailStore
{
    private readonly Dictionary<string, DateTimeOffset> _leases = new(StringComparer.Ordinal);
    private readonly Lock _leaseLock = new();

    /// <inheritdoc/>
    public Task<IReadOnlyList<string>> ClaimDueQueueAsync(DateTimeOffset now, int max, TimeSpan lease, CancellationToken cancellationToken)
    {
        CheckClaim(max, lease);
        cancellationToken.ThrowIfCancellationRequested();
        var claimed = new List<string>();
        lock (_leaseLock)
        {
            // The index on the next attempt gives the earliest due first.
            foreach (var document in Collection(Schema.Queue).Find(Query.LTE(Schema.QueueFields.NextAttemptTicks, now.UtcTicks)))
            {
                var id = document["_id"].AsString;
                if (!TryLease("q:" + id, now, lease))
                    continue;
                claimed.Add(id);
                if (claimed.Count == max)
                    break;
            }
        }
        return Task.FromResult<IReadOnlyList<string>>(claimed);
    }

    /// <inheritdoc/>
    public Task<bool> RenewQueueLeaseAsync(string queueId, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_leaseLock)
        {
            // In one process nobody else can have taken it over: the lease holds while the message exists.
            if (!_leases.ContainsKey("q:" + queueId) || Collection(Schema.Queue).FindById(queueId) is null)
                return Task.FromResult(false);
            _leases["q:" + queueId] = now + lease;
            return Task.FromResult(true);
        }
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<HeldMessage>> ClaimDueHeldAsync(DateTimeOffset now, int max, TimeSpan lease, CancellationToken cancellationToken)
    {
        CheckClaim(max, lease);
        cancellationToken.ThrowIfCancellationRequested();
        var claimed = new List<BsonDocument>();
        lock (_leaseLock)
        {
            foreach (var document in Collection(Schema.Held).Find(Query.LTE(Schema.HeldFields.NextAttemptTicks, now.UtcTicks)))
            {
                if (!TryLease("h:" + document["_id"].AsString, now, lease))
                    continue;
                claimed.Add(document);
                if (claimed.Count == max)
                    break;
            }
        }
        return Task.FromResult<IReadOnlyList<HeldMessage>>(claimed.Select(OpenHeld).ToList());
    }

    /// <summary>Takes the lease <paramref name="key"/> unless a live one is held. Under <see cref="_leaseLock"/>.</summary>
    private bool TryLease(string key, DateTimeOffset now, TimeSpan lease)
    {
        if (_leases.TryGetValue(key, out var expires) && expires > now)
            return false;
        _leases[key] = now + lease;
        return true;
    }

    private void EndLease(string key)
    {
        lock (_leaseLock)
            _leases.Remove(key);
    }

    internal static void CheckClaim(int max, TimeSpan lease)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        if (lease <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(lease), lease, "A lease must be positive.");
    }
}
