using System.Collections.Concurrent;
using MailServer.Storage;

namespace MailServer.Protocols.Imap;

/// <summary>
/// Which session holds \Recent for which message (RFC 3501 §2.3.2: a message is \Recent in the first session that
/// is told of it after it arrived, and in no other). Per folder it keeps the highest UID any read-write session has
/// taken: SELECT takes every message above it, a message that arrives later is taken by the first session whose view
/// takes it in; EXAMINE and STATUS only look. UIDs ascend with arrival (RFC 9051 §2.3.1.1), so one number per folder
/// is the whole state. Thread-safe; one per listener. The mark is kept in the store too (read when a folder is first
/// seen, raised after each take without holding up the session), so a restart keeps \Recent where it was; a folder
/// from before the store kept a mark counts the messages whose internal date is before the start as taken.
/// </summary>
public sealed class RecentTracker(DateTimeOffset startedAt, IImapStore? store = null, Microsoft.Extensions.Logging.ILogger? logger = null)
{
    private readonly ConcurrentDictionary<string, Mark> _folders = new(StringComparer.Ordinal);

    private sealed class Mark(uint highestTaken)
    {
        public uint HighestTaken = highestTaken;
    }

    private Mark MarkOf(string folderId, Func<IReadOnlyList<MessageMeta>> listing) =>
        _folders.GetOrAdd(folderId, static (folderId, state) =>
        {
            if (state.store?.ReadRecentMark(folderId) is { } kept)
                return new Mark(kept);
            uint highest = 0;
            foreach (var meta in state.listing())
                if (meta.InternalDate < state.startedAt && meta.Uid > highest)
                    highest = meta.Uid;
            return new Mark(highest);
        }, (listing, startedAt, store));

    /// <summary>Takes every message of <paramref name="messages"/> (ascending UIDs) that no session took yet; they are
    /// \Recent in the caller's session. <paramref name="listing"/> lists the folder the first time it is seen.</summary>
    public HashSet<uint> Take(string folderId, IReadOnlyList<MessageMeta> messages, Func<IReadOnlyList<MessageMeta>> listing)
    {
        var mark = MarkOf(folderId, listing);
        var taken = new HashSet<uint>();
        uint raised = 0;
        lock (mark)
        {
            foreach (var meta in messages)
                if (meta.Uid > mark.HighestTaken)
                    taken.Add(meta.Uid);
            if (messages.Count > 0 && messages[^1].Uid > mark.HighestTaken)
                raised = mark.HighestTaken = messages[^1].Uid;
        }
        if (raised > 0 && store is not null)
            _ = PersistAsync(folderId, raised);
        return taken;
    }

    /// <summary>Raises the stored mark. The session does not wait: a lost write (a crash in between) only makes those
    /// messages \Recent once more after the restart.</summary>
    private async Task PersistAsync(string folderId, uint uid)
    {
        try
        {
            await store!.RaiseRecentMarkAsync(folderId, uid, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            if (logger is not null)
                ImapLog.RecentMarkNotStored(logger, e, folderId);
        }
    }

    /// <summary>The messages of <paramref name="messages"/> that no session took yet, leaving them untaken (EXAMINE).</summary>
    public HashSet<uint> Peek(string folderId, IReadOnlyList<MessageMeta> messages, Func<IReadOnlyList<MessageMeta>> listing)
    {
        var mark = MarkOf(folderId, listing);
        uint highest;
        lock (mark)
            highest = mark.HighestTaken;
        return messages.Where(m => m.Uid > highest).Select(m => m.Uid).ToHashSet();
    }

    /// <summary>How many messages of the folder no session took yet (STATUS RECENT).</summary>
    public int CountUntaken(string folderId, Func<IReadOnlyList<MessageMeta>> listing)
    {
        var all = listing();
        return Peek(folderId, all, () => all).Count;
    }
}
