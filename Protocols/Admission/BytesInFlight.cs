namespace MailServer.Protocols.Admission;

/// <summary>
/// The server-wide admission budget for message bytes held in memory (<c>Limits.MaxBytesInFlightMiB</c>), one instance
/// shared by the SMTP and IMAP listeners. SMTP charges a message when it is read from its spool into memory for the mail
/// flow (<see cref="AdmitAsync"/>: it waits, first come first served, until the message fits); IMAP reserves an APPEND
/// literal whole when it is announced (<see cref="TryAdmit"/>: it never waits). Both give the bytes back when the
/// transaction or command is answered (or the connection ends). One message is always admitted when nothing else is
/// charged, so a message bigger than the whole budget still gets through, alone. Thread-safe.
/// </summary>
public sealed class BytesInFlight
{
    private readonly Lock _gate = new();
    private readonly LinkedList<Waiter> _waiters = [];
    private long _inFlight;
    private long _garbage; // large-array bytes released since the last collection CollectBeyondBudget ran

    /// <summary>Creates a budget of <paramref name="budget"/> bytes.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="budget"/> is not positive.</exception>
    public BytesInFlight(long budget) =>
        Budget = budget > 0 ? budget : throw new ArgumentOutOfRangeException(nameof(budget), "The budget must be positive.");

    /// <summary>The configured budget in bytes.</summary>
    public long Budget { get; }

    /// <summary>Bytes charged and not yet released.</summary>
    public long InFlight
    {
        get
        {
            lock (_gate)
                return _inFlight;
        }
    }

    /// <summary>Callers of <see cref="AdmitAsync"/> waiting for room now.</summary>
    public int Waiting
    {
        get
        {
            lock (_gate)
                return _waiters.Count;
        }
    }

    /// <summary>True when the bytes charged have reached the budget.</summary>
    public bool IsExhausted => InFlight >= Budget;

    /// <summary>Gives back <paramref name="bytes"/> charged before, and admits the waiters that fit now, in order.</summary>
    public void Release(long bytes)
    {
        lock (_gate)
        {
            _inFlight -= bytes;
            AdmitWaitersLocked();
        }
    }

    /// <summary>
    /// Admits a message of known size without waiting and charges all of it at once when the bytes charged are below
    /// the budget and nobody is waiting in <see cref="AdmitAsync"/> (they came first); the check and the charge are one
    /// atomic step, so concurrent callers cannot all pass on the same reading.
    /// </summary>
    /// <param name="bytes">The announced size, charged when admitted; give it back with <see cref="Release"/>.</param>
    /// <returns>False when the budget is used up or others are waiting: nothing was charged.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bytes"/> is negative.</exception>
    public bool TryAdmit(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        lock (_gate)
        {
            if (_inFlight >= Budget || _waiters.Count > 0)
                return false;
            _inFlight += bytes;
            return true;
        }
    }

    /// <summary>
    /// Charges <paramref name="bytes"/> once they fit: when the bytes charged plus these stay within the budget, or
    /// when nothing else is charged (a message bigger than the budget is admitted alone, never refused for its size).
    /// Callers are admitted in the order they came; a caller that does not fit waits up to <paramref name="maxWait"/>.
    /// </summary>
    /// <param name="bytes">What the caller is about to hold in memory; give it back with <see cref="Release"/>.</param>
    /// <param name="maxWait">How long to wait for room; zero refuses at once when it does not fit.</param>
    /// <param name="cancellationToken">Ends the wait; nothing stays charged.</param>
    /// <returns>True when charged; false when the wait ran out (nothing was charged).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bytes"/> or <paramref name="maxWait"/> is negative.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled while waiting.</exception>
    public async Task<bool> AdmitAsync(long bytes, TimeSpan maxWait, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxWait, TimeSpan.Zero);
        LinkedListNode<Waiter> node;
        lock (_gate)
        {
            if (_waiters.Count == 0 && FitsLocked(bytes))
            {
                _inFlight += bytes;
                return true;
            }
            if (maxWait == TimeSpan.Zero)
                return false;
            node = _waiters.AddLast(new Waiter(bytes));
        }
        try
        {
            await node.Value.Admitted.Task.WaitAsync(maxWait, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            lock (_gate)
            {
                if (node.List is not null)
                {
                    // Still waiting: leave the queue; the ones behind may fit now that this one no longer goes first.
                    _waiters.Remove(node);
                    AdmitWaitersLocked();
                    if (e is OperationCanceledException)
                        throw;
                    return false;
                }
            }
            // Admitted just as the wait ended.
            if (e is TimeoutException)
                return true;
            Release(bytes);
            throw;
        }
    }

    /// <summary>
    /// Notes that <paramref name="bytes"/> released before were held in large arrays (85,000 bytes and more, the
    /// runtime's large object heap), which the runtime reclaims only in a full collection: until then they still take
    /// memory, so <see cref="CollectBeyondBudget"/> counts them.
    /// </summary>
    public void NoteLargeGarbage(long bytes)
    {
        lock (_gate)
            _garbage += bytes;
    }

    /// <summary>
    /// Runs a full, blocking garbage collection when the large garbage noted since the last one reaches a quarter of the
    /// budget, or <paramref name="bytes"/> if that is more; call it after admission and before allocating the
    /// <paramref name="bytes"/> admitted. Why: the runtime reclaims large arrays only in full collections, which it runs
    /// rarely while the machine has memory to spare, so the arrays of messages already answered pile up well beyond the
    /// budget (50 concurrent 36 MiB deliveries, one processed at a time: 950 MiB resident). A collection pauses the
    /// process for milliseconds; it runs at most once per quarter budget of big messages processed.
    /// </summary>
    /// <returns>True when it collected.</returns>
    public bool CollectBeyondBudget(long bytes)
    {
        lock (_gate)
        {
            if (_garbage < Math.Max(Budget / 4, bytes))
                return false;
            _garbage = 0;
        }
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
        return true;
    }

    private bool FitsLocked(long bytes) => _inFlight == 0 || _inFlight + bytes <= Budget;

    private void AdmitWaitersLocked()
    {
        while (_waiters.First is { } first && FitsLocked(first.Value.Bytes))
        {
            _waiters.RemoveFirst();
            _inFlight += first.Value.Bytes;
            first.Value.Admitted.TrySetResult();
        }
    }

    private sealed class Waiter(long bytes)
    {
        public long Bytes { get; } = bytes;
        public TaskCompletionSource Admitted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
