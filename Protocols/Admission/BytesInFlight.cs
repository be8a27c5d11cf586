namespace MailServer.Protocols.Admission;

/// <summary>
/// The server-wide admission budget for message bytes being received and processed (<c>Limits.MaxBytesInFlightMiB</c>),
/// one instance shared by the SMTP and IMAP listeners. SMTP charges a DATA section's bytes as they arrive (its size is
/// not known before) and admits a new DATA only while the bytes in flight are below the budget; IMAP knows an APPEND
/// literal's size when it is announced and reserves it whole with <see cref="TryAdmit"/>. Both give the bytes back when
/// the transaction or command is answered (or the connection ends). An admitted message is never cut off for the
/// budget's sake, so the memory held stays within the budget plus the messages admitted just before it was reached,
/// and one message is always admitted when nothing else is in flight (no deadlock, no message too big for the
/// budget). Thread-safe.
/// </summary>
public sealed class BytesInFlight
{
    private long _inFlight;

    /// <summary>Creates a budget of <paramref name="budget"/> bytes.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="budget"/> is not positive.</exception>
    public BytesInFlight(long budget) =>
        Budget = budget > 0 ? budget : throw new ArgumentOutOfRangeException(nameof(budget), "The budget must be positive.");

    /// <summary>The configured budget in bytes.</summary>
    public long Budget { get; }

    /// <summary>Bytes charged and not yet released.</summary>
    public long InFlight => Interlocked.Read(ref _inFlight);

    /// <summary>True when a new message must wait: the bytes in flight have reached the budget.</summary>
    public bool IsExhausted => InFlight >= Budget;

    /// <summary>Charges <paramref name="bytes"/> just received (a message already admitted).</summary>
    public void Charge(long bytes) => Interlocked.Add(ref _inFlight, bytes);

    /// <summary>Gives back <paramref name="bytes"/> charged before.</summary>
    public void Release(long bytes) => Interlocked.Add(ref _inFlight, -bytes);

    /// <summary>
    /// Admits a message of known size and charges all of it at once when the bytes in flight are below the budget (the
    /// rule DATA is admitted by); the check and the charge are one atomic step, so concurrent callers cannot all pass on
    /// the same reading.
    /// </summary>
    /// <param name="bytes">The announced size, charged when admitted; give it back with <see cref="Release"/>.</param>
    /// <returns>False when the budget is used up: nothing was charged.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bytes"/> is negative.</exception>
    public bool TryAdmit(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        while (true)
        {
            var current = Interlocked.Read(ref _inFlight);
            if (current >= Budget)
                return false;
            if (Interlocked.CompareExchange(ref _inFlight, current + bytes, current) == current)
                return true;
        }
    }
}
