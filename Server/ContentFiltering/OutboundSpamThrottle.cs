using System.Collections.Concurrent;

namespace MailServer.Server.ContentFiltering;

/// <summary>
/// Counts, per user, the submitted messages rspamd scored as spam in the last hour: an account that suddenly sends spam
/// is likely compromised. At the limit (ContentFiltering.OutboundSpamPerHour) the user's further submissions are
/// deferred (<c>451 4.7.1</c>) until the oldest counted message is an hour old. In memory: a restart forgets the counts.
/// </summary>
public sealed class OutboundSpamThrottle(TimeProvider time)
{
    private static readonly TimeSpan Window = TimeSpan.FromHours(1);
    private readonly ConcurrentDictionary<string, Queue<DateTimeOffset>> _byUser = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How many spam-scored messages <paramref name="user"/> submitted in the last hour.</summary>
    public int Count(string user)
    {
        if (!_byUser.TryGetValue(user, out var times))
            return 0;
        lock (times)
        {
            Trim(times);
            return times.Count;
        }
    }

    /// <summary>Counts one spam-scored submission of <paramref name="user"/>; returns the count in the last hour.</summary>
    public int Record(string user)
    {
        var times = _byUser.GetOrAdd(user, _ => new Queue<DateTimeOffset>());
        lock (times)
        {
            Trim(times);
            times.Enqueue(time.GetUtcNow());
            return times.Count;
        }
    }

    private void Trim(Queue<DateTimeOffset> times)
    {
        var since = time.GetUtcNow() - Window;
        while (times.Count > 0 && times.Peek() < since)
            times.Dequeue();
    }
}
