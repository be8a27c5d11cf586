namespace MailServer.Protocols.Smtp;

/// <summary>
/// The server-wide admission budget for message bytes being received and processed (<c>Limits.MaxBytesInFlightMiB</c>).
/// Every DATA section's bytes are charged as they arrive and released when its transaction is answered (or its
/// connection ends); a new DATA is admitted only while the bytes in flight are below the budget. An admitted message is
/// never cut off for the budget's sake, so the memory held stays within the budget plus the DATA sections that began
/// just before it was reached, and one message is always admitted when nothing else is in flight (no deadlock, no
/// message too big for the budget). Thread-safe.
/// </summary>
public sealed class BytesInFlight(long budget)
{
    private long _inFlight;

    /// <summary>The configured budget in bytes.</summary>
    public long Budget { get; } = budget > 0 ? budget : throw new ArgumentOutOfRangeException(nameof(budget), "The budget must be positive.");

    /// <summary>Bytes charged and not yet released.</summary>
    public long InFlight => Interlocked.Read(ref _inFlight);

    /// <summary>True when a new DATA must wait: the bytes in flight have reached the budget.</summary>
    public bool IsExhausted => InFlight >= Budget;

    /// <summary>Charges <paramref name="bytes"/> just received.</summary>
    public void Charge(long bytes) => Interlocked.Add(ref _inFlight, bytes);

    /// <summary>Gives back <paramref name="bytes"/> charged before.</summary>
    public void Release(long bytes) => Interlocked.Add(ref _inFlight, -bytes);
}
