using System.Threading.Channels;

namespace MailServer.Storage;

/// <summary>
/// The store's change feed. The writer publishes after each commit; each subscriber has a bounded channel,
/// and a full channel marks the subscriber <see cref="IChangeSubscription.Overflowed"/> and drops the change
/// rather than ever blocking the writer.
/// </summary>
public sealed class ChangeFeed : IChangeFeed
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, List<Subscription>> _byMailbox = new(StringComparer.Ordinal);

    /// <param name="capacity">How many changes a subscriber may have unread before it overflows.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is not positive.</exception>
    public ChangeFeed(int capacity = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    /// <summary>The mailbox id that subscribes to every mailbox's changes.</summary>
    public const string AllMailboxes = "*";

    /// <summary>How many unread changes a subscriber may hold.</summary>
    public int Capacity { get; }

    /// <inheritdoc/>
    public IChangeSubscription Subscribe(string mailboxId)
    {
        ArgumentException.ThrowIfNullOrEmpty(mailboxId);
        var subscription = new Subscription(this, mailboxId, Capacity);
        lock (_lock)
        {
            if (!_byMailbox.TryGetValue(mailboxId, out var list))
                _byMailbox[mailboxId] = list = [];
            list.Add(subscription);
        }
        return subscription;
    }

    /// <summary>Hands committed changes to the subscribers of their mailboxes. Never blocks.</summary>
    internal void Publish(IReadOnlyList<MailboxChange> changes)
    {
        if (changes.Count == 0)
            return;
        lock (_lock)
        {
            _byMailbox.TryGetValue(AllMailboxes, out var everyMailbox);
            foreach (var change in changes)
            {
                if (everyMailbox is not null)
                    foreach (var subscription in everyMailbox)
                        subscription.Offer(change);
                if (!_byMailbox.TryGetValue(change.MailboxId, out var list))
                    continue;
                foreach (var subscription in list)
                    subscription.Offer(change);
            }
        }
    }

    /// <summary>
    /// Marks every subscriber overflowed: changes may have been missed (another node's notifications while the listener
    /// was reconnecting), so each must resynchronise from the store.
    /// </summary>
    internal void OverflowAll()
    {
        lock (_lock)
        {
            foreach (var list in _byMailbox.Values)
                foreach (var subscription in list)
                    subscription.MarkOverflowed();
        }
    }

    /// <summary>Completes every subscriber's channel (the store is closing).</summary>
    internal void CompleteAll()
    {
        lock (_lock)
        {
            foreach (var list in _byMailbox.Values)
                foreach (var subscription in list)
                    subscription.Complete();
            _byMailbox.Clear();
        }
    }

    private void Remove(Subscription subscription)
    {
        lock (_lock)
        {
            if (_byMailbox.TryGetValue(subscription.MailboxId, out var list))
            {
                list.Remove(subscription);
                if (list.Count == 0)
                    _byMailbox.Remove(subscription.MailboxId);
            }
        }
    }

    private sealed class Subscription(ChangeFeed feed, string mailboxId, int capacity) : IChangeSubscription
    {
        private readonly Channel<MailboxChange> _channel = Channel.CreateBounded<MailboxChange>(
            new BoundedChannelOptions(capacity) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
        private volatile bool _overflowed;

        public string MailboxId { get; } = mailboxId;
        public ChannelReader<MailboxChange> Reader => _channel.Reader;
        public bool Overflowed => _overflowed;

        public void Offer(MailboxChange change)
        {
            if (!_channel.Writer.TryWrite(change))
                _overflowed = true;
        }

        public void MarkOverflowed() => _overflowed = true;

        public void Complete() => _channel.Writer.TryComplete();

        public void Dispose()
        {
            feed.Remove(this);
            Complete();
        }
    }
}
