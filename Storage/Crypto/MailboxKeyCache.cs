using System.Security.Cryptography;

namespace MailServer.Storage.Crypto;

/// <summary>
/// Plain mailbox keys held in memory for at most <see cref="TimeToLive"/> (60 s by default, as WorkMail does,
/// WorkMail Administrator Guide, "Mailbox encryption at rest"), in pinned arrays that are zeroed when they leave the cache. Never written anywhere.
/// Callers get a copy of the key and must zero it when done (<see cref="CryptographicOperations.ZeroMemory"/>).
/// </summary>
public sealed class MailboxKeyCache : IDisposable
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly ITimer _sweeper;

    /// <param name="timeToLive">How long a plain key may stay cached; at most 60 s in production.</param>
    /// <param name="timeProvider">The clock (tests pass a manual one).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeToLive"/> is not positive.</exception>
    public MailboxKeyCache(TimeSpan timeToLive, TimeProvider? timeProvider = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeToLive, TimeSpan.Zero);
        TimeToLive = timeToLive;
        _time = timeProvider ?? TimeProvider.System;
        _sweeper = _time.CreateTimer(_ => Sweep(), null, timeToLive, timeToLive);
    }

    /// <summary>How long a key stays cached after it was unwrapped.</summary>
    public TimeSpan TimeToLive { get; }

    /// <summary>How many keys are cached now.</summary>
    public int Count { get { lock (_lock) return _entries.Count; } }

    /// <summary>
    /// A copy of the key of <paramref name="mailboxId"/>, unwrapping it with <paramref name="unwrap"/> when it
    /// is not cached or has expired. The caller owns the copy and zeroes it.
    /// </summary>
    public byte[] Get(string mailboxId, Func<byte[]> unwrap)
    {
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            if (_entries.TryGetValue(mailboxId, out var entry))
            {
                if (entry.ExpiresAt > now)
                    return Copy(entry.Key);
                Evict(mailboxId, entry);
            }
        }

        // Unwrap outside the lock: it asks the key provider and runs AES-GCM.
        var key = unwrap();
        lock (_lock)
        {
            if (_entries.TryGetValue(mailboxId, out var existing))
                Evict(mailboxId, existing);
            _entries[mailboxId] = new Entry(key, _time.GetUtcNow() + TimeToLive);
            return Copy(key);
        }
    }

    /// <summary>True when a non-expired key for <paramref name="mailboxId"/> is cached.</summary>
    public bool Contains(string mailboxId)
    {
        lock (_lock)
            return _entries.TryGetValue(mailboxId, out var e) && e.ExpiresAt > _time.GetUtcNow();
    }

    /// <summary>Drops (and zeroes) the cached key of <paramref name="mailboxId"/>, if any.</summary>
    public void Evict(string mailboxId)
    {
        lock (_lock)
            if (_entries.TryGetValue(mailboxId, out var entry))
                Evict(mailboxId, entry);
    }

    /// <summary>Evicts (and zeroes) every expired key. Runs by itself every <see cref="TimeToLive"/>.</summary>
    public void Sweep()
    {
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            foreach (var (id, entry) in _entries.ToArray())
                if (entry.ExpiresAt <= now)
                    Evict(id, entry);
        }
    }

    /// <summary>Zeroes and drops every cached key.</summary>
    public void Dispose()
    {
        _sweeper.Dispose();
        lock (_lock)
            foreach (var (id, entry) in _entries.ToArray())
                Evict(id, entry);
    }

    private void Evict(string mailboxId, Entry entry)
    {
        CryptographicOperations.ZeroMemory(entry.Key);
        _entries.Remove(mailboxId);
    }

    private static byte[] Copy(byte[] key)
    {
        var copy = GC.AllocateArray<byte>(key.Length, pinned: true);
        key.CopyTo(copy, 0);
        return copy;
    }

    private sealed record Entry(byte[] Key, DateTimeOffset ExpiresAt);
}
