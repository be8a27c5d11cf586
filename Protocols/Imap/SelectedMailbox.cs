using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;
using Microsoft.Extensions.Logging;

namespace MailServer.Protocols.Imap;

/// <summary>
/// One session's view of its selected folder: the sequence-number ↔ UID map and the flags the client has been told
/// about. The store's change feed is read only at the moments the session chooses (<see cref="WriteUpdates"/>), so
/// sequence numbers never shift under a command: other sessions' expunges stay pending until a command that may
/// announce them (RFC 9051 §7.5.1: never during FETCH, STORE or SEARCH; §5.5). Messages are kept in a UID-sorted
/// list (binary search by UID), so a 100,000-message folder costs one store listing at SELECT and then only the
/// changes. Not thread-safe: owned by one session.
/// </summary>
public sealed class SelectedMailbox : IDisposable
{
    private readonly IImapStore _store;

    /// <summary>Structures of big messages FETCH scanned from the store (see <see cref="MessageStructureCache"/>).</summary>
    internal MessageStructureCache Structures { get; } = new();
    private readonly ILogger _logger;
    private IChangeSubscription _subscription;
    private List<MessageMeta> _messages;
    // UIDs and flags of _messages, index for index, for searches that test flags only (UNSEEN over 100,000 messages
    // reads 400 KB here instead of 100,000 objects). Built on first use; a flag change patches them, anything that
    // adds or removes a message drops them.
    private uint[]? _uidColumn;
    private MessageFlags[]? _flagColumn;
    private readonly HashSet<uint> _pendingExpunges = [];
    private readonly HashSet<uint> _flagsChanged = [];
    private int _announcedExists;
    private uint _uidNext;
    // \Recent (RFC 3501 §2.3.2): the UIDs this session holds it for; null when the session does not report it (IMAP4rev2).
    private readonly RecentTracker? _recentTracker;
    private readonly HashSet<uint>? _recent;
    // Keywords the client was told of by FLAGS / PERMANENTFLAGS (RFC 9051 §7.3.5), in the order announced.
    private readonly List<string> _keywords = [];
    private readonly HashSet<string> _keywordSet = new(StringComparer.OrdinalIgnoreCase);

    private SelectedMailbox(IImapStore store, FolderInfo folder, string name, bool readOnly, IChangeSubscription subscription,
        List<MessageMeta> messages, ILogger logger, RecentTracker? recent)
    {
        _store = store;
        Folder = folder;
        Name = name;
        ReadOnly = readOnly;
        _subscription = subscription;
        _messages = messages;
        _logger = logger;
        _announcedExists = messages.Count;
        HighestModSeq = Math.Max(folder.HighestModSeq, messages.Count == 0 ? 0 : messages.Max(m => m.ModSeq));
        _uidNext = Math.Max(folder.UidNext, MaxUid + 1);
        if (recent is not null)
        {
            _recentTracker = recent;
            var listing = () => (IReadOnlyList<MessageMeta>)_messages;
            _recent = readOnly ? recent.Peek(folder.FolderId, messages, listing) : recent.Take(folder.FolderId, messages, listing);
        }
        foreach (var meta in messages)
            foreach (var keyword in meta.Keywords)
                if (_keywordSet.Add(keyword))
                    _keywords.Add(keyword);
    }

    // UIDs added, changed or removed since the last TakeTouched, kept only while a search context (RFC 5267 §4) wants them.
    private HashSet<uint>? _touched;

    /// <summary>Starts (or keeps) recording which messages arrive, change flags or go, for CONTEXT updates (RFC 5267 §4).</summary>
    public void TrackTouched() => _touched ??= [];

    /// <summary>Stops recording touched messages (no search context left).</summary>
    public void StopTrackingTouched() => _touched = null;

    /// <summary>The UIDs added, changed or removed since the last call, and forgets them.</summary>
    public IReadOnlyCollection<uint> TakeTouched()
    {
        if (_touched is not { Count: > 0 } touched)
            return [];
        _touched = [];
        return touched;
    }

    /// <summary>True when the session reports \Recent (an IMAP4rev1 session, RFC 3501 §2.3.2).</summary>
    public bool ReportsRecent => _recent is not null;

    /// <summary>True when <paramref name="uid"/> is \Recent in this session.</summary>
    public bool IsRecent(uint uid) => _recent is not null && _recent.Contains(uid);

    /// <summary>How many messages of the view are \Recent in this session.</summary>
    public int RecentCount => _recent?.Count ?? 0;

    private void TakeRecent(List<MessageMeta> added)
    {
        if (_recent is null || _recentTracker is null || added.Count == 0)
            return;
        var listing = () => (IReadOnlyList<MessageMeta>)_messages;
        var taken = ReadOnly ? _recentTracker.Peek(FolderId, added, listing) : _recentTracker.Take(FolderId, added, listing);
        _recent.UnionWith(taken);
    }

    /// <summary>The keywords announced to the client so far (FLAGS at SELECT and any since).</summary>
    public IReadOnlyList<string> Keywords => _keywords;

    /// <summary>Writes <c>* FLAGS</c> and <c>* OK [PERMANENTFLAGS]</c> with the system flags and the keywords known to
    /// the session (RFC 9051 §7.3.5, §7.1: PERMANENTFLAGS lists \* as well in a read-write mailbox).</summary>
    public void WriteFlags(ImapResponseWriter writer)
    {
        writer.BeginUntagged().Atom("FLAGS").BeginList();
        foreach (var flag in ImapFlags.System)
            writer.Atom(flag);
        foreach (var keyword in _keywords)
            writer.Atom(keyword);
        writer.EndList().End();
        writer.Untagged(ImapStatus.Ok, new ResponseCode.PermanentFlags(ReadOnly
            ? ValueList<string>.Empty
            : ValueList.Of([.. ImapFlags.System.Where(MayChange), .. Rights.Contains('w', StringComparison.Ordinal) ? [.. _keywords, @"\*"] : Array.Empty<string>()])),
            "Flags permitted");
    }

    /// <summary>RFC 4314 §4: \Seen is changed with s, \Deleted with t, every other flag with w.</summary>
    private bool MayChange(string systemFlag) => systemFlag switch
    {
        @"\Seen" => Rights.Contains('s', StringComparison.Ordinal),
        @"\Deleted" => Rights.Contains('t', StringComparison.Ordinal),
        _ => Rights.Contains('w', StringComparison.Ordinal),
    };

    /// <summary>The user's rights on the folder when it was selected (RFC 4314 §2.1; every right on one's own folder):
    /// PERMANENTFLAGS lists only the flags they let the user change (RFC 4314 §5.1.1 MUST).</summary>
    public string Rights { get; set; } = "lrswipkxtea";

    /// <summary>Before a FETCH response shows <paramref name="keywords"/>: a keyword the client was not told of yet is
    /// announced first by a new FLAGS and PERMANENTFLAGS (RFC 9051 §7.3.5).</summary>
    public void AnnounceKeywords(ImapResponseWriter writer, IReadOnlyList<string> keywords)
    {
        var added = false;
        foreach (var keyword in keywords)
        {
            if (_keywordSet.Add(keyword))
            {
                _keywords.Add(keyword);
                added = true;
            }
        }
        if (added)
            WriteFlags(writer);
    }

    /// <summary><see cref="AnnounceKeywords(ImapResponseWriter, IReadOnlyList{string})"/> for several messages, one FLAGS at most.</summary>
    public void AnnounceKeywords(ImapResponseWriter writer, IEnumerable<MessageMeta> messages)
    {
        List<string>? fresh = null;
        foreach (var meta in messages)
            foreach (var keyword in meta.Keywords)
                if (!_keywordSet.Contains(keyword) && !(fresh ??= []).Contains(keyword, StringComparer.OrdinalIgnoreCase))
                    fresh.Add(keyword);
        if (fresh is not null)
            AnnounceKeywords(writer, fresh);
    }

    /// <summary>Opens the view: subscribes to the feed first, then lists the folder once, so no change is missed
    /// (a change already in the listing is recognised by its UID or MODSEQ and ignored).</summary>
    /// <param name="store">The store.</param>
    /// <param name="folder">The folder.</param>
    /// <param name="name">The name the client selected it by.</param>
    /// <param name="readOnly">EXAMINE.</param>
    /// <param name="logger">The session's logger.</param>
    /// <param name="sharedOwner">The address of the other user whose mailbox this is (Full Access), or null.</param>
    /// <param name="recent">The listener's \Recent holder for an IMAP4rev1 session; null when the session does not
    /// report \Recent (IMAP4rev2 enabled).</param>
    public static SelectedMailbox Open(IImapStore store, FolderInfo folder, string name, bool readOnly, ILogger logger, string? sharedOwner = null,
        RecentTracker? recent = null)
    {
        var subscription = store.Changes.Subscribe(folder.MailboxId);
        try
        {
            var fresh = store.GetFolder(folder.FolderId) ?? folder;
            var messages = store.ListMessages(folder.FolderId).ToList();
            return new SelectedMailbox(store, fresh, name, readOnly, subscription, messages, logger, recent) { SharedOwner = sharedOwner };
        }
        catch
        {
            subscription.Dispose();
            throw;
        }
    }

    /// <summary>The folder as it was at SELECT (id, UIDVALIDITY).</summary>
    public FolderInfo Folder { get; }

    /// <summary>The store id of the folder.</summary>
    public string FolderId => Folder.FolderId;

    /// <summary>The Unicode name the client selected.</summary>
    public string Name { get; }

    /// <summary>The owner's address when this is another user's folder opened through Full Access, else null.</summary>
    public string? SharedOwner { get; private init; }

    /// <summary>True after EXAMINE.</summary>
    public bool ReadOnly { get; }

    /// <summary>UIDVALIDITY; stable for the folder's life.</summary>
    public uint UidValidity => Folder.UidValidity;

    /// <summary>The next UID as far as this view knows.</summary>
    public uint UidNext => _uidNext;

    /// <summary>The highest MODSEQ this view has seen (RFC 7162 §3.1.2.1).</summary>
    public ulong HighestModSeq { get; private set; }

    /// <summary>Messages in the view (the number the client was or will be told by EXISTS).</summary>
    public int Count => _messages.Count;

    /// <summary>The largest UID in the view, 0 when empty.</summary>
    public uint MaxUid => _messages.Count == 0 ? 0 : _messages[^1].Uid;

    /// <summary>The message with sequence number <paramref name="sequenceNumber"/> (1-based).</summary>
    public MessageMeta this[int sequenceNumber] => _messages[sequenceNumber - 1];

    /// <summary>All messages of the view in sequence order.</summary>
    public IReadOnlyList<MessageMeta> Messages => _messages;

    /// <summary>The UID of each message of the view, by sequence number - 1.</summary>
    public ReadOnlySpan<uint> UidColumn
    {
        get
        {
            BuildColumns();
            return _uidColumn;
        }
    }

    /// <summary>The flags of each message of the view, by sequence number - 1.</summary>
    public ReadOnlySpan<MessageFlags> FlagColumn
    {
        get
        {
            BuildColumns();
            return _flagColumn;
        }
    }

    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(_uidColumn), nameof(_flagColumn))]
    private void BuildColumns()
    {
        if (_uidColumn is not null && _flagColumn is not null)
            return;
        var uids = new uint[_messages.Count];
        var flags = new MessageFlags[_messages.Count];
        for (var i = 0; i < uids.Length; i++)
        {
            uids[i] = _messages[i].Uid;
            flags[i] = _messages[i].Flags;
        }
        _uidColumn = uids;
        _flagColumn = flags;
    }

    /// <summary>Replaces one message's metadata in place (same UID), keeping the columns current.</summary>
    private void Replace(int index, MessageMeta meta)
    {
        _messages[index] = meta;
        if (_flagColumn is not null)
            _flagColumn[index] = meta.Flags;
    }

    /// <summary>Messages were added or removed: the columns are rebuilt on next use.</summary>
    private void DropColumns()
    {
        _uidColumn = null;
        _flagColumn = null;
    }

    /// <summary>True once the feed showed that the folder was deleted (by another session): the view is dead.</summary>
    public bool IsDeleted { get; private set; }

    /// <summary>Whether the folder still exists in the store. The feed is left unread, so no message the client has
    /// not been told of by EXISTS enters the view before the command runs.</summary>
    public bool StillExists()
    {
        if (!IsDeleted && !_store.FolderExists(FolderId))
            IsDeleted = true;
        return !IsDeleted;
    }

    /// <summary>True when the message was expunged by someone else and the client has not been told yet.</summary>
    public bool IsPendingExpunge(uint uid) => _pendingExpunges.Contains(uid);

    /// <summary>Waits until the feed has a change for this mailbox; false when the store is closing.</summary>
    public ValueTask<bool> WaitForChangeAsync(CancellationToken cancellationToken) =>
        _subscription.Reader.WaitToReadAsync(cancellationToken);

    /// <summary>The sequence number of <paramref name="uid"/>, or 0.</summary>
    public int SequenceOf(uint uid)
    {
        var index = IndexOf(uid);
        return index < 0 ? 0 : index + 1;
    }

    /// <summary>
    /// Resolves a sequence set (or UID set) into (sequence number, message) pairs in ascending order.
    /// UIDs not in the view are skipped (RFC 9051 §6.4.9); a message sequence number above the count is an error.
    /// </summary>
    /// <exception cref="ImapSyntaxException">A sequence number is greater than the number of messages.</exception>
    public List<(int Seq, MessageMeta Meta)> Resolve(SequenceSet set, bool uid)
    {
        if (set.IncludesSavedResult)
        {
            // RFC 5182 §2.1: "$" names the messages the last SEARCH ... RETURN (SAVE) found that are still in the view
            // (kept as UIDs, so an expunge drops them and never shifts them), in any command that takes a set.
            var byUid = new SortedDictionary<uint, (int Seq, MessageMeta Meta)>();
            if (set.Ranges.Count > 0)
                foreach (var pair in Resolve(set with { IncludesSavedResult = false }, uid))
                    byUid[pair.Meta.Uid] = pair;
            foreach (var saved in _savedUids ?? ResolvedSequenceSet.Empty)
            {
                var index = IndexOf(saved);
                if (index >= 0)
                    byUid[saved] = (index + 1, _messages[index]);
            }
            return [.. byUid.Values];
        }
        var result = new List<(int, MessageMeta)>();
        if (uid)
        {
            var resolved = set.Resolve(MaxUid);
            foreach (var (start, end) in resolved.Ranges)
            {
                for (var i = LowerBound(start); i < _messages.Count && _messages[i].Uid <= end; i++)
                    result.Add((i + 1, _messages[i]));
            }
            return result;
        }
        if (_messages.Count == 0 && set.UsesStar && set.LargestExplicitNumber <= 1)
            return result; // "1:*" on an empty mailbox names nothing
        var seqs = set.Resolve((uint)_messages.Count);
        if (set.LargestExplicitNumber > _messages.Count || (!seqs.IsEmpty && seqs.Max > _messages.Count))
            throw new ImapSyntaxException("Invalid message sequence number", ResponseCode.ClientBug);
        foreach (var (start, end) in seqs.Ranges)
            for (var s = start; s <= end; s++)
                result.Add(((int)s, _messages[(int)s - 1]));
        return result;
    }

    private ResolvedSequenceSet? _savedUids;

    /// <summary>Remembers a search result for <c>$</c> (RFC 5182 §2.1); an empty set after a failed SEARCH ... SAVE.
    /// The result lives as long as this view: SELECT, EXAMINE, CLOSE and UNSELECT start a new one, empty.</summary>
    public void SaveSearchResult(ResolvedSequenceSet uids) => _savedUids = uids;

    /// <summary>The saved result as UIDs still in the view (for UID criteria in SEARCH), or null when none was saved.</summary>
    public ResolvedSequenceSet? SavedUids => _savedUids is null ? null : ResolvedSequenceSet.FromValues(_savedUids.Where(u => IndexOf(u) >= 0));

    /// <summary>The saved result as sequence numbers (for sequence-set criteria in SEARCH), or null when none was saved.</summary>
    public ResolvedSequenceSet? SavedSequences => _savedUids is null
        ? null
        : ResolvedSequenceSet.FromValues(_savedUids.Select(u => (uint)SequenceOf(u)).Where(s => s > 0).Order());

    /// <summary>Takes the store's answer to this session's own STORE into the view.</summary>
    public void ApplyOwnChanges(IReadOnlyList<MessageMeta> updated)
    {
        foreach (var meta in updated)
        {
            var index = IndexOf(meta.Uid);
            if (index >= 0 && meta.ModSeq >= _messages[index].ModSeq)
            {
                Replace(index, meta);
                _flagsChanged.Remove(meta.Uid); // the command's own FETCH response tells the client
                _touched?.Add(meta.Uid);
            }
            HighestModSeq = Math.Max(HighestModSeq, meta.ModSeq);
        }
    }

    /// <summary>Takes messages this session added to the folder (APPEND, COPY) into the view now, so the EXISTS
    /// that announces them goes out with the command's own reply, however the feed is timed.</summary>
    public void LoadNewMessages() => FetchNew();

    /// <summary>Records messages this session expunged (EXPUNGE, MOVE), to be announced by the next <see cref="WriteUpdates"/>.</summary>
    public void NoteExpunged(IEnumerable<uint> uids)
    {
        foreach (var uid in uids)
            if (IndexOf(uid) >= 0)
                _pendingExpunges.Add(uid);
    }

    /// <summary>
    /// Reads the feed and writes what the client may be told now: EXPUNGE (only when <paramref name="allowExpunge"/>;
    /// highest sequence number first, so each number is right when sent), or one VANISHED with their UIDs once the
    /// client enabled QRESYNC (RFC 7162 §3.2.10, same moments), FETCH FLAGS for flag changes, and EXISTS for new
    /// messages (RFC 9051 §7.4.1, §7.5.1).
    /// </summary>
    /// <param name="writer">Where the responses go.</param>
    /// <param name="allowExpunge">The command allows EXPUNGE / VANISHED now (RFC 9051 §7.5.1).</param>
    /// <param name="condStore">MODSEQ goes in FETCH responses (RFC 7162 §3.1).</param>
    /// <param name="qresync">Expunges go out as VANISHED (RFC 7162 §3.2.10).</param>
    /// <param name="uidOnly">UIDONLY (RFC 9586 §3.3, §3.4): VANISHED, and UIDFETCH in place of FETCH.</param>
    public void WriteUpdates(ImapResponseWriter writer, bool allowExpunge, bool condStore, bool qresync = false, bool uidOnly = false)
    {
        Drain();
        if (_touched is not null)
        {
            _touched.UnionWith(_flagsChanged);
            _touched.UnionWith(_pendingExpunges);
        }
        if (allowExpunge && (qresync || uidOnly) && _pendingExpunges.Count > 0)
        {
            var vanished = _pendingExpunges.Where(uid => IndexOf(uid) >= 0).ToList();
            if (vanished.Count > 0)
                writer.BeginUntagged().Atom("VANISHED").SequenceSet(ResolvedSequenceSet.FromValues(vanished)).End();
            foreach (var uid in vanished)
                _flagsChanged.Remove(uid);
            var expunged = _pendingExpunges;
            _messages.RemoveAll(m => expunged.Contains(m.Uid));
            _recent?.ExceptWith(expunged);
            DropColumns();
            _announcedExists -= vanished.Count;
            _pendingExpunges.Clear();
        }
        if (allowExpunge && _pendingExpunges.Count > 0)
        {
            var doomed = new List<int>(_pendingExpunges.Count);
            foreach (var uid in _pendingExpunges)
            {
                var index = IndexOf(uid);
                if (index >= 0)
                    doomed.Add(index);
            }
            doomed.Sort();
            for (var i = doomed.Count - 1; i >= 0; i--)
            {
                writer.BeginUntagged().Number((ulong)doomed[i] + 1).Atom("EXPUNGE").End();
                _flagsChanged.Remove(_messages[doomed[i]].Uid);
            }
            var expunged = _pendingExpunges;
            _messages.RemoveAll(m => expunged.Contains(m.Uid));
            _recent?.ExceptWith(expunged);
            DropColumns();
            _announcedExists -= doomed.Count;
            _pendingExpunges.Clear();
        }
        if (_flagsChanged.Count > 0)
        {
            var indexes = _flagsChanged.Select(IndexOf).Where(i => i >= 0).Order().ToList();
            AnnounceKeywords(writer, indexes.Select(i => _messages[i]));
            foreach (var index in indexes)
            {
                var meta = _messages[index];
                var w = UidOnly.BeginFetch(writer, uidOnly, index + 1, meta.Uid);
                if (!uidOnly)
                    w.Atom("UID").Number(meta.Uid);
                w.Atom("FLAGS").FlagList(meta.Flags, meta.Keywords, IsRecent(meta.Uid));
                if (condStore)
                    writer.Atom("MODSEQ").BeginList().Number(meta.ModSeq).EndList();
                writer.EndList().End();
            }
            _flagsChanged.Clear();
        }
        if (_messages.Count > _announcedExists)
        {
            writer.BeginUntagged().Number((ulong)_messages.Count).Atom("EXISTS").End();
            // RFC 3501 §7.3.2: RECENT goes with a change in the mailbox's size.
            if (_recent is not null)
            {
                writer.BeginUntagged().Number((ulong)_recent.Count).Atom("RECENT").End();
                }
        }
        _announcedExists = _messages.Count;
    }

    private void Drain()
    {
        if (_subscription.Overflowed)
        {
            Resync();
            return;
        }
        var sawNew = false;
        while (_subscription.Reader.TryRead(out var change))
        {
            if (change.FolderId != FolderId)
                continue;
            HighestModSeq = Math.Max(HighestModSeq, change.ModSeq);
            switch (change)
            {
                case MailboxChange.MessageAdded added:
                    if (added.Uid > MaxUid)
                        sawNew = true;
                    break;
                case MailboxChange.FlagsChanged flags:
                {
                    var index = IndexOf(flags.Uid);
                    if (index >= 0 && flags.ModSeq > _messages[index].ModSeq)
                    {
                        Replace(index, _messages[index] with { Flags = flags.Flags, Keywords = flags.Keywords, ModSeq = flags.ModSeq });
                        _flagsChanged.Add(flags.Uid);
                    }
                    break;
                }
                case MailboxChange.MessagesExpunged expunged:
                    NoteExpunged(expunged.Uids);
                    break;
                case MailboxChange.FoldersChanged when !_store.FolderExists(FolderId):
                    IsDeleted = true; // RFC 9051 §6.3.4: deleted by another session
                    break;
            }
        }
        if (sawNew)
            FetchNew();
    }

    private void FetchNew()
    {
        // The store is at least as new as every change drained, so the listing reflects them all.
        var added = _store.ListMessages(FolderId, MaxUid + 1);
        var taken = new List<MessageMeta>();
        foreach (var meta in added)
        {
            if (meta.Uid <= MaxUid)
                continue;
            _messages.Add(meta);
            taken.Add(meta);
            _touched?.Add(meta.Uid);
            DropColumns();
            HighestModSeq = Math.Max(HighestModSeq, meta.ModSeq);
        }
        TakeRecent(taken);
        _uidNext = Math.Max(_uidNext, MaxUid + 1);
    }

    private void Resync()
    {
        // A lost change cannot be replayed: subscribe afresh, then compare the view with the store.
        _logger.FeedOverflowed(FolderId);
        var old = _subscription;
        _subscription = _store.Changes.Subscribe(Folder.MailboxId);
        old.Dispose();
        if (!_store.FolderExists(FolderId))
        {
            IsDeleted = true;
            return;
        }
        var fresh = _store.ListMessages(FolderId);
        var j = 0;
        var oldMax = MaxUid;
        for (var i = 0; i < _messages.Count; i++)
        {
            var current = _messages[i];
            while (j < fresh.Count && fresh[j].Uid < current.Uid)
                j++;
            if (j < fresh.Count && fresh[j].Uid == current.Uid)
            {
                if (fresh[j].ModSeq != current.ModSeq)
                {
                    if (fresh[j].Flags != current.Flags || !fresh[j].Keywords.SequenceEqual(current.Keywords))
                        _flagsChanged.Add(current.Uid);
                    Replace(i, fresh[j]);
                }
            }
            else
            {
                _pendingExpunges.Add(current.Uid);
            }
        }
        var arrived = fresh.Where(m => m.Uid > oldMax).ToList();
        _messages.AddRange(arrived);
        foreach (var meta in arrived)
            _touched?.Add(meta.Uid);
        TakeRecent(arrived);
        DropColumns();
        foreach (var meta in fresh)
            HighestModSeq = Math.Max(HighestModSeq, meta.ModSeq);
        _uidNext = Math.Max(_uidNext, MaxUid + 1);
    }

    private int IndexOf(uint uid)
    {
        int lo = 0, hi = _messages.Count - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            var value = _messages[mid].Uid;
            if (value == uid)
                return mid;
            if (value < uid)
                lo = mid + 1;
            else
                hi = mid - 1;
        }
        return -1;
    }

    private int LowerBound(uint uid)
    {
        int lo = 0, hi = _messages.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_messages[mid].Uid < uid)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }

    /// <summary>Stops listening to the feed.</summary>
    public void Dispose() => _subscription.Dispose();
}
