namespace MailServer.Protocols.Imap.Messages;

/// <summary>
/// The structures of the last few big messages a session fetched (views made by <see cref="ImapMessageView.ScanStream"/>,
/// keyed by store entry id; a stored message never changes), so that a client fetching BODYSTRUCTURE and then
/// BODY[2] scans the message once. Bounded by count and by the header octets the views hold; it never holds a body.
/// </summary>
internal sealed class MessageStructureCache(int capacity = 8, int maxHeldBytes = 1024 * 1024)
{
    private readonly LinkedList<(string EntryId, ImapMessageView View)> _entries = new();
    private readonly Lock _lock = new();
    private int _held;

    /// <summary>The cached structure of <paramref name="entryId"/>, or null.</summary>
    public ImapMessageView? Get(string entryId)
    {
        lock (_lock)
        {
            for (var node = _entries.First; node is not null; node = node.Next)
            {
                if (node.Value.EntryId != entryId)
                    continue;
                _entries.Remove(node);
                _entries.AddFirst(node);
                return node.Value.View;
            }
            return null;
        }
    }

    /// <summary>Keeps <paramref name="view"/> (a streamed view; one holding over half the byte bound is not kept).</summary>
    public void Add(string entryId, ImapMessageView view)
    {
        if (!view.IsStreamed || view.HeldBytes > maxHeldBytes / 2)
            return;
        lock (_lock)
        {
            _entries.AddFirst((entryId, view));
            _held += view.HeldBytes;
            while (_entries.Count > capacity || _held > maxHeldBytes)
            {
                _held -= _entries.Last!.Value.View.HeldBytes;
                _entries.RemoveLast();
            }
        }
    }
}
