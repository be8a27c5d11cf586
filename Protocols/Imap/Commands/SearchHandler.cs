using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Search;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// SEARCH / UID SEARCH (RFC 9051 §6.4.4, MODSEQ RFC 7162 §3.1.5) evaluated by <see cref="SearchEvaluator"/>; the
/// header section or the full message is read only when a key needs it. Answers with <c>* SEARCH</c>, or
/// <c>* ESEARCH</c> (RFC 4731) when RETURN is given or IMAP4rev2 is enabled.
/// </summary>
internal static class SearchHandler
{
    /// <summary>Messages searched at once when a key reads headers or bodies (each read decrypts and parses).</summary>
    private static readonly int ContentParallelism = Math.Max(2, Environment.ProcessorCount);

    public static async Task<ImapCompletion> RunAsync(SearchCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var save = command.Return is { } ret && ret.HasFlag(SearchReturnOptions.Save);
        SearchHits hits;
        try
        {
            hits = await FindAsync(session, command.Charset, command.Criteria, cancellationToken);
        }
        catch when (save)
        {
            session.Selected!.SaveSearchResult(ResolvedSequenceSet.Empty); // RFC 5182 §2.1: a failed SEARCH ... SAVE leaves $ empty
            throw;
        }
        using (hits)
        {
            var usesModSeq = UsesModSeq(command.Criteria);
            if (usesModSeq)
                session.EnableCondStore();
            ulong? modSeq = usesModSeq && hits.Count > 0 ? hits.HighestModSeq : null;
            // RFC 7162 §3.1.5: with MIN and/or MAX but neither ALL nor COUNT, MODSEQ is that of the message(s) returned.
            var returned = (command.Return ?? SearchReturnOptions.None) & ~SearchReturnOptions.Save;
            if (modSeq is not null && (returned & (SearchReturnOptions.All | SearchReturnOptions.Count)) == 0
                && (returned & (SearchReturnOptions.Min | SearchReturnOptions.Max)) != 0)
            {
                var min = returned.HasFlag(SearchReturnOptions.Min) ? hits.ModSeqs[0] : 0;
                var max = returned.HasFlag(SearchReturnOptions.Max) ? hits.ModSeqs[^1] : 0;
                modSeq = Math.Max(min, max);
            }
            if (save)
            {
                // RFC 5182 §2.4: with MIN and/or MAX (and neither ALL nor COUNT) only those messages are saved; otherwise
                // every match. SAVE alone returns no ESEARCH response.
                var options = command.Return!.Value & ~SearchReturnOptions.Save;
                var uids = hits.Uids;
                if (command.Partial is { } range)
                {
                    // RFC 9394 §3.1 with RFC 5182: SAVE keeps what PARTIAL returns (like MIN / MAX, only what was asked for).
                    var (start, length) = range.Window(uids.Length);
                    session.Selected!.SaveSearchResult(ResolvedSequenceSet.FromAscending(uids.Slice(start, length)));
                }
                else if (uids.Length > 0 && (options & (SearchReturnOptions.All | SearchReturnOptions.Count)) == 0
                    && (options & (SearchReturnOptions.Min | SearchReturnOptions.Max)) != 0)
                {
                    List<uint> saved = [];
                    if (options.HasFlag(SearchReturnOptions.Min))
                        saved.Add(uids[0]);
                    if (options.HasFlag(SearchReturnOptions.Max) && uids.Length > 1)
                        saved.Add(uids[^1]);
                    session.Selected!.SaveSearchResult(ResolvedSequenceSet.FromValues(saved));
                }
                else
                {
                    session.Selected!.SaveSearchResult(ResolvedSequenceSet.FromAscending(uids));
                }
                if ((options & ResultOptions) == SearchReturnOptions.None && !options.HasFlag(SearchReturnOptions.Update))
                    return ImapCompletion.Ok("SEARCH completed; result saved");
            }
            var numbers = command.Uid ? hits.Uids : hits.Sequences; // both ascending: the hits are in sequence order
            if (command.Return is null && !session.Rev2Enabled)
            {
                var w = session.Writer.BeginUntagged().Atom("SEARCH");
                foreach (var n in numbers)
                    w.Number(n);
                if (modSeq is { } highest)
                    w.BeginList().Atom("MODSEQ").Number(highest).EndList();
                w.End();
            }
            else
            {
                var options = command.Return & ResultOptions;
                var all = numbers.IsEmpty ? ResolvedSequenceSet.Empty : ResolvedSequenceSet.FromAscending(numbers);
                ResolvedSequenceSet? partial = null;
                if (command.Partial is { } range)
                {
                    var (start, length) = range.Window(numbers.Length);
                    partial = ResolvedSequenceSet.FromAscending(numbers.Slice(start, length));
                }
                WriteESearch(session, command.Tag, command.Uid, options, all, numbers.Length, modSeq, command.Partial, partial);
            }
            if (command.Return is { } asked && asked.HasFlag(SearchReturnOptions.Update))
            {
                var kept = asked & ResultOptions;
                session.SearchContexts.Register(session, command.Tag, command.Uid, command.Partial is not null, command.Criteria, command.Charset, null,
                    kept == SearchReturnOptions.None ? SearchReturnOptions.All : kept, hits.Uids.ToArray());
            }
            return ImapCompletion.Ok("SEARCH completed");
        }
    }

    /// <summary>The messages of the selected mailbox matching <paramref name="criteria"/>, in sequence order; with
    /// <paramref name="loadHeaders"/> every context can answer <c>Headers()</c> (SORT, THREAD).</summary>
    /// <exception cref="ImapRefusedException">The charset is not supported (NO [BADCHARSET]).</exception>
    public static Task<List<SearchContext>> MatchAsync(ImapSession session, string? charset, SearchKey criteria, bool loadHeaders, CancellationToken cancellationToken) =>
        MatchContentAsync(session, charset, criteria, loadHeaders, context => context, cancellationToken);

    /// <summary>SEARCH's matches: only their numbers are kept, so no message view outlives its test.</summary>
    private static async Task<SearchHits> FindAsync(ImapSession session, string? charset, SearchKey criteria, CancellationToken cancellationToken)
    {
        if (SearchEvaluator.NeedsHeaders(criteria) || SearchEvaluator.NeedsFullMessage(criteria))
        {
            var found = await MatchContentAsync(session, charset, criteria, loadHeaders: false, c => (c.SequenceNumber, c.Uid, c.ModSeq), cancellationToken);
            var contentHits = new SearchHits(found.Count);
            foreach (var (sequence, uid, modSeq) in found)
                contentHits.Add(sequence, uid, modSeq);
            return contentHits;
        }
        CheckCharset(charset);
        // Flags, dates, sizes, UIDs, MODSEQ: answered from the view's metadata alone, in one synchronous pass over a
        // predicate compiled once, into pooled arrays (the common UNSEEN / SINCE / FLAGGED searches on large folders).
        var selected = session.Selected!;
        if (SearchEvaluator.TryFlagMask(criteria, out var mask, out var value))
        {
            // Flags alone (UNSEEN, FLAGGED UNDELETED): one pass over the view's flag column, no message objects.
            var flags = selected.FlagColumn;
            var uids = selected.UidColumn;
            var flagHits = new SearchHits(flags.Length);
            for (var i = 0; i < flags.Length; i++)
                if ((flags[i] & mask) == value)
                    flagHits.Add((uint)(i + 1), uids[i], 0); // no MODSEQ key among them: the highest is not reported
            return flagHits;
        }
        var matcher = SearchEvaluator.CreateMatcher(criteria, (uint)selected.Count, selected.MaxUid, selected.SavedSequences, selected.SavedUids,
            selected.ReportsRecent ? selected.IsRecent : null);
        var predicate = matcher.CompileMetadata(session.Time.GetUtcNow());
        var messages = selected.Messages;
        var hits = new SearchHits(messages.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            var meta = messages[i];
            if (predicate((uint)(i + 1), meta))
                hits.Add((uint)(i + 1), meta.Uid, meta.ModSeq);
        }
        return hits;
    }

    /// <summary>
    /// Reads what the keys need of every message (header section or full message, decrypted and parsed) and keeps
    /// <paramref name="keep"/> of each match, in sequence order. The folder's encrypted search index first decides the
    /// messages it can (<see cref="Decide"/>); only the others are read, <see cref="ContentParallelism"/> at a time (a
    /// body search over a large folder is bound by decryption).
    /// </summary>
    private static async Task<List<T>> MatchContentAsync<T>(ImapSession session, string? charset, SearchKey criteria, bool loadHeaders,
        Func<SearchContext, T> keep, CancellationToken cancellationToken)
    {
        CheckCharset(charset);
        var selected = session.Selected!;
        var needsFull = SearchEvaluator.NeedsFullMessage(criteria);
        var needsHeaders = loadHeaders || SearchEvaluator.NeedsHeaders(criteria);
        var now = session.Time.GetUtcNow();
        var matcher = SearchEvaluator.CreateMatcher(criteria, (uint)selected.Count, selected.MaxUid, selected.SavedSequences, selected.SavedUids,
            selected.ReportsRecent ? selected.IsRecent : null); // sets resolved once
        var decisions = Decide(session, criteria, matcher, now);
        var found = new (bool Matched, T Kept)[selected.Count];
        var toRead = new List<int>(decisions is null ? selected.Count : 0);
        for (var seq = 1; seq <= selected.Count; seq++)
        {
            var decided = decisions?[seq - 1];
            if (decided == false)
                continue;
            if (decided == true && !loadHeaders)
                found[seq - 1] = (true, keep(MessageContexts.FromMetadata(session, seq, selected[seq], now)));
            else
                toRead.Add(seq);
        }
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = ContentParallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(toRead, parallel, async (seq, token) =>
        {
            if (decisions?[seq - 1] == true)
            {
                // A match already; SORT and THREAD still need its header section.
                var headers = await MessageContexts.CreateAsync(session, seq, selected[seq], needsHeaders: true, needsFull: false, now, token);
                if (headers is not null)
                    found[seq - 1] = (true, keep(headers));
                return;
            }
            var context = await MessageContexts.CreateAsync(session, seq, selected[seq], needsHeaders, needsFull, now, token);
            if (context is not null && matcher.Matches(context))
                found[seq - 1] = (true, keep(context));
        });
        var matches = new List<T>();
        foreach (var (matched, kept) in found)
            if (matched)
                matches.Add(kept);
        return matches;
    }

    /// <summary>
    /// Per message of the view (by sequence number - 1): true or false where the folder's search index and the metadata
    /// decide the criteria, null where the message must be read; null as a whole when the index cannot help (none yet,
    /// being rebuilt, no key with a letter or digit), which is logged at Debug with the reason.
    /// </summary>
    private static bool?[]? Decide(ImapSession session, SearchKey criteria, SearchEvaluator.SearchMatcher matcher, DateTimeOffset now)
    {
        var selected = session.Selected!;
        if (session.Store is not ISearchIndexStore index)
        {
            session.Logger.SearchIndexFallback(selected.FolderId, "the store keeps no search index");
            return null;
        }
        var search = IndexedSearch.TryOpen(index, selected.FolderId, criteria, selected.MaxUid, out var reason);
        if (search is null)
        {
            session.Logger.SearchIndexFallback(selected.FolderId, reason);
            return null;
        }
        var decide = matcher.CompileDecision(now, search.Answer);
        var messages = selected.Messages;
        var decisions = new bool?[messages.Count];
        var read = 0;
        for (var i = 0; i < messages.Count; i++)
        {
            decisions[i] = decide((uint)(i + 1), messages[i]);
            if (decisions[i] is null)
                read++;
        }
        session.Logger.SearchIndexUsed(selected.FolderId, messages.Count - read, messages.Count, read);
        return decisions;
    }

    /// <exception cref="ImapRefusedException">The charset is not supported (NO [BADCHARSET]).</exception>
    private static void CheckCharset(string? charset)
    {
        if (SearchEvaluator.CheckCharset(charset) is CharsetCheck.Unsupported unsupported)
            throw new ImapRefusedException(unsupported.Code, "Unsupported charset");
    }

    /// <summary>
    /// What SEARCH found, in sequence order: sequence numbers, UIDs (both ascending) and the highest MODSEQ, in arrays
    /// from the shared pool (a search matching 100,000 messages would otherwise allocate megabytes each time).
    /// </summary>
    private sealed class SearchHits : IDisposable
    {
        private uint[] _sequences;
        private uint[] _uids;
        private ulong[] _modSeqs;

        public SearchHits(int capacity)
        {
            _sequences = System.Buffers.ArrayPool<uint>.Shared.Rent(Math.Max(capacity, 16));
            _uids = System.Buffers.ArrayPool<uint>.Shared.Rent(Math.Max(capacity, 16));
            _modSeqs = System.Buffers.ArrayPool<ulong>.Shared.Rent(Math.Max(capacity, 16));
        }

        public int Count { get; private set; }
        public ulong HighestModSeq { get; private set; }
        public ReadOnlySpan<uint> Sequences => _sequences.AsSpan(0, Count);
        public ReadOnlySpan<uint> Uids => _uids.AsSpan(0, Count);
        public ReadOnlySpan<ulong> ModSeqs => _modSeqs.AsSpan(0, Count);

        public void Add(uint sequence, uint uid, ulong modSeq)
        {
            if (Count == _sequences.Length)
            {
                Grow(ref _sequences);
                Grow(ref _uids);
                Grow(ref _modSeqs);
            }
            _sequences[Count] = sequence;
            _uids[Count] = uid;
            _modSeqs[Count] = modSeq;
            Count++;
            HighestModSeq = Math.Max(HighestModSeq, modSeq);
        }

        private void Grow<T>(ref T[] array)
        {
            var larger = System.Buffers.ArrayPool<T>.Shared.Rent(array.Length * 2);
            array.AsSpan(0, Count).CopyTo(larger);
            System.Buffers.ArrayPool<T>.Shared.Return(array);
            array = larger;
        }

        public void Dispose()
        {
            System.Buffers.ArrayPool<uint>.Shared.Return(_sequences);
            System.Buffers.ArrayPool<uint>.Shared.Return(_uids);
            System.Buffers.ArrayPool<ulong>.Shared.Return(_modSeqs);
            _sequences = _uids = [];
            _modSeqs = [];
            Count = 0;
        }
    }

    /// <summary>The return options that ask for result data (SAVE, UPDATE and CONTEXT do not).</summary>
    internal const SearchReturnOptions ResultOptions = SearchReturnOptions.Min | SearchReturnOptions.Max | SearchReturnOptions.All
        | SearchReturnOptions.Count | SearchReturnOptions.Partial;

    /// <summary>Writes <c>* ESEARCH (TAG "t") [UID] MIN / MAX / ALL / COUNT [PARTIAL (range set)] [MODSEQ]</c> (RFC 4731
    /// §3.1; RETURN () means ALL; RFC 9394 §3.1: the PARTIAL set, or NIL when the window holds no match) for the
    /// <paramref name="count"/> numbers of <paramref name="all"/>.</summary>
    private static void WriteESearch(ImapSession session, string tag, bool uid, SearchReturnOptions? returnOptions, ResolvedSequenceSet all, int count,
        ulong? modSeq, PartialRange? range = null, ResolvedSequenceSet? partial = null)
    {
        var options = returnOptions is null or SearchReturnOptions.None ? SearchReturnOptions.All : returnOptions.Value;
        var w = session.Writer.BeginUntagged().Atom("ESEARCH").BeginList().Atom("TAG").String(tag).EndList();
        if (uid)
            w.Atom("UID");
        if (!all.IsEmpty)
        {
            if (options.HasFlag(SearchReturnOptions.Min))
                w.Atom("MIN").Number(all.Min);
            if (options.HasFlag(SearchReturnOptions.Max))
                w.Atom("MAX").Number(all.Max);
            if (options.HasFlag(SearchReturnOptions.All))
                w.Atom("ALL").SequenceSet(all);
        }
        if (options.HasFlag(SearchReturnOptions.Count))
            w.Atom("COUNT").Number((ulong)count);
        if (range is not null)
        {
            w.Atom("PARTIAL").BeginList().Atom(range.ToString());
            if (partial is null || partial.IsEmpty)
                w.Atom("NIL");
            else
                w.SequenceSet(partial);
            w.EndList();
        }
        if (modSeq is { } value)
            w.Atom("MODSEQ").Number(value);
        w.End();
    }

    private static bool UsesModSeq(SearchKey key) => key switch
    {
        SearchKey.ModSeq => true,
        SearchKey.Not not => UsesModSeq(not.Key),
        SearchKey.Or or => UsesModSeq(or.Left) || UsesModSeq(or.Right),
        SearchKey.And and => and.Keys.Any(UsesModSeq),
        _ => false,
    };
}
