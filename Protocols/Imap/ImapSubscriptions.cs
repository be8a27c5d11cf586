using System.Collections.Concurrent;

namespace MailServer.Protocols.Imap;

/// <summary>
/// SUBSCRIBE / UNSUBSCRIBE state (RFC 9051 §6.3.7). Folders start subscribed as the store reports them; changes
/// made by clients are kept per mailbox for the life of the process (the store has no subscription write yet).
/// Thread-safe.
/// </summary>
internal sealed class ImapSubscriptions
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, bool>> _overrides = new(StringComparer.Ordinal);

    public void Set(string mailboxId, string name, bool subscribed) =>
        _overrides.GetOrAdd(mailboxId, _ => new(StringComparer.Ordinal))[name] = subscribed;

    /// <summary>Whether <paramref name="name"/> is subscribed, given what the store says.</summary>
    public bool IsSubscribed(string mailboxId, string name, bool storeSays) =>
        _overrides.TryGetValue(mailboxId, out var map) && map.TryGetValue(name, out var value) ? value : storeSays;

    /// <summary>Subscribed names that are not folders (RFC 9051 §6.3.7 allows subscribing to a name that does not exist).</summary>
    public IEnumerable<string> SubscribedNames(string mailboxId) =>
        _overrides.TryGetValue(mailboxId, out var map) ? map.Where(p => p.Value).Select(p => p.Key) : [];
}
