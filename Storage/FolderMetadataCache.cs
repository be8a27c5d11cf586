namespace MailServer.Storage;

/// <summary>
/// The metadata of recently listed folders (UID, MODSEQ, flags, keywords, size, dates: <see cref="MessageMeta"/>),
/// shared by every reader, so SELECT on a large folder copies a list instead of reading every entry from LiteDB.
/// The store's writer keeps it current after each commit, before the commit's writers are told and before the change
/// feed publishes, so a reader that sees a change on the feed finds it in the cache. A listing that raced with a
/// commit is not cached (see <see cref="EndLoad"/>). Bounded by a number of messages; least recently used folders go
/// first. Thread-safe.
/// </summary>
internal sealed class FolderMetadataCache(long maxMessages)
{
    /// <summary>More changes than this to one folder in one commit drop it from the cache instead of patching it.</summary>
    public const int MaxPatchesPerCommit = 2048;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _folders = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<LoadTicket>> _loading = new(StringComparer.Ordinal);
    private long _cachedMessages;
    private long _clock;
    private long _hits;
    private long _misses;

    /// <summary>Listings answered from memory.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Listings read from the database.</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>A copy of the cached messages of a folder with a UID of at least <paramref name="firstUid"/>, or null.</summary>
    public List<MessageMeta>? TryGet(string folderId, uint firstUid)
    {
        lock (_lock)
        {
            if (!_folders.TryGetValue(folderId, out var entry))
            {
                _misses++;
                return null;
            }
            _hits++;
            entry.LastUsed = ++_clock;
            var start = firstUid <= 1 ? 0 : LowerBound(entry.Messages, firstUid);
            return entry.Messages.GetRange(start, entry.Messages.Count - start);
        }
    }

    /// <summary>Whether the folder is cached (counts neither as a hit nor as a miss).</summary>
    public bool Contains(string folderId)
    {
        lock (_lock)
            return _folders.ContainsKey(folderId);
    }

    /// <summary>Registers a listing about to read the database; pass the ticket to <see cref="EndLoad"/>.</summary>
    public LoadTicket BeginLoad(string folderId)
    {
        var ticket = new LoadTicket();
        lock (_lock)
        {
            if (!_loading.TryGetValue(folderId, out var list))
                _loading[folderId] = list = [];
            list.Add(ticket);
        }
        return ticket;
    }

    /// <summary>
    /// A listing of the folder from the database under way (its completion), or null: a reader that missed the
    /// cache waits for it rather than reading the same 100,000 entries again (50 clients re-selecting after a
    /// restart, or a SELECT during the warm-up).
    /// </summary>
    public Task? LoadInFlight(string folderId)
    {
        lock (_lock)
            return _loading.TryGetValue(folderId, out var list) && list.Count > 0 ? list[0].Completion : null;
    }

    /// <summary>Ends a load started by <see cref="BeginLoad"/> that failed: nothing is cached, waiters go on.</summary>
    public void AbortLoad(string folderId, LoadTicket ticket)
    {
        lock (_lock)
            Forget(folderId, ticket);
        ticket.Complete();
    }

    /// <summary>
    /// Caches a full listing read after <see cref="BeginLoad"/>, unless a commit touching the folder was applied
    /// meanwhile (its change may or may not be in the listing). A commit applied after this call patches the
    /// cached copy, so nothing is lost either way.
    /// </summary>
    public void EndLoad(string folderId, LoadTicket ticket, List<MessageMeta> listing)
    {
        try
        {
            lock (_lock)
                Cache(folderId, ticket, listing);
        }
        finally
        {
            ticket.Complete();
        }
    }

    private void Forget(string folderId, LoadTicket ticket)
    {
        if (_loading.TryGetValue(folderId, out var list))
        {
            list.Remove(ticket);
            if (list.Count == 0)
                _loading.Remove(folderId);
        }
    }

    private void Cache(string folderId, LoadTicket ticket, List<MessageMeta> listing)
    {
        Forget(folderId, ticket);
        if (ticket.Dirty || _folders.ContainsKey(folderId) || listing.Count > maxMessages)
            return;
        _folders[folderId] = new Entry([.. listing]) { LastUsed = ++_clock };
        _cachedMessages += listing.Count;
        while (_cachedMessages > maxMessages && _folders.Count > 1)
        {
            var victim = _folders.Where(p => p.Key != folderId).MinBy(p => p.Value.LastUsed);
            _folders.Remove(victim.Key);
            _cachedMessages -= victim.Value.Messages.Count;
        }
    }

    /// <summary>
    /// On the writer, after a commit: brings cached folders up to date with its changes. <paramref name="read"/>
    /// reads one entry's metadata from the committed database (null when it is gone).
    /// </summary>
    public void Apply(IReadOnlyList<MailboxChange> changes, Func<string, uint, MessageMeta?> read)
    {
        if (changes.Count == 0)
            return;
        // Decide under the lock what to read, read outside it (readers are not held up by database reads), patch under it.
        var reads = new List<(string FolderId, uint Uid)>();
        var expunges = new List<(string FolderId, IReadOnlyList<uint> Uids)>();
        var dropped = new HashSet<string>(StringComparer.Ordinal);
        lock (_lock)
        {
            foreach (var group in changes.GroupBy(c => c.FolderId, StringComparer.Ordinal))
            {
                if (_loading.TryGetValue(group.Key, out var tickets))
                    foreach (var ticket in tickets)
                        ticket.Dirty = true;
                if (!_folders.ContainsKey(group.Key))
                    continue;
                if (group.Count() > MaxPatchesPerCommit || group.Any(c => c is MailboxChange.FoldersChanged))
                {
                    dropped.Add(group.Key); // a bulk change or a folder change: relist on next use
                    continue;
                }
                foreach (var change in group)
                {
                    switch (change)
                    {
                        case MailboxChange.MessageAdded added: reads.Add((added.FolderId, added.Uid)); break;
                        case MailboxChange.FlagsChanged flags: reads.Add((flags.FolderId, flags.Uid)); break;
                        case MailboxChange.MessagesExpunged expunged: expunges.Add((expunged.FolderId, expunged.Uids)); break;
                    }
                }
            }
            foreach (var folderId in dropped)
                Drop(folderId);
        }
        var fresh = reads.Select(r => (r.FolderId, r.Uid, Meta: read(r.FolderId, r.Uid))).ToList();
        lock (_lock)
        {
            foreach (var (folderId, uids) in expunges)
            {
                if (!_folders.TryGetValue(folderId, out var entry))
                    continue;
                var gone = uids.ToHashSet();
                _cachedMessages -= entry.Messages.RemoveAll(m => gone.Contains(m.Uid));
            }
            foreach (var (folderId, uid, meta) in fresh)
            {
                if (!_folders.TryGetValue(folderId, out var entry))
                    continue;
                var messages = entry.Messages;
                var index = LowerBound(messages, uid);
                var present = index < messages.Count && messages[index].Uid == uid;
                if (meta is null)
                {
                    if (present)
                    {
                        messages.RemoveAt(index); // expunged again within the same batch
                        _cachedMessages--;
                    }
                }
                else if (present)
                {
                    if (meta.ModSeq >= messages[index].ModSeq)
                        messages[index] = meta;
                }
                else
                {
                    messages.Insert(index, meta);
                    _cachedMessages++;
                }
            }
        }
    }

    /// <summary>Forgets everything (the database was changed outside the change feed, e.g. by reindex).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _folders.Clear();
            _cachedMessages = 0;
            foreach (var tickets in _loading.Values)
                foreach (var ticket in tickets)
                    ticket.Dirty = true;
        }
    }

    private void Drop(string folderId)
    {
        if (_folders.Remove(folderId, out var entry))
            _cachedMessages -= entry.Messages.Count;
    }

    private static int LowerBound(List<MessageMeta> messages, uint uid)
    {
        int lo = 0, hi = messages.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (messages[mid].Uid < uid)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }

    private sealed class Entry(List<MessageMeta> messages)
    {
        public List<MessageMeta> Messages { get; } = messages;
        public long LastUsed { get; set; }
    }

    /// <summary>One listing in flight; set dirty by a commit that touched the folder meanwhile.</summary>
    internal sealed class LoadTicket
    {
        private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Dirty { get; set; }

        /// <summary>Completes when the listing was cached or given up.</summary>
        public Task Completion => _completion.Task;

        public void Complete() => _completion.TrySetResult();
    }
}
