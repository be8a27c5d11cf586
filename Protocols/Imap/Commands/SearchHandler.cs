using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;

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
        List<SearchHit> matches;
        try
        {
            matches = await FindAsync(session, command.Charset, command.Criteria, cancellationToken);
        }
        catch when (save)
        {
            session.Selected!.SaveSearchResult([]); // RFC 5182 §2.1: a failed SEARCH ... SAVE leaves $ empty
            throw;
        }
        var usesModSeq = UsesModSeq(command.Criteria);
        if (usesModSeq)
            session.CondStoreEnabled = true;
        var numbers = new List<uint>(matches.Count);
        var highestModSeq = 0UL;
        foreach (var m in matches)
        {
            numbers.Add(command.Uid ? m.Uid : m.SequenceNumber);
            highestModSeq = Math.Max(highestModSeq, m.ModSeq);
        }
        if (save)
        {
            // RFC 5182 §2.4: with MIN and/or MAX (and neither ALL nor COUNT) only those messages are saved; otherwise
            // every match. SAVE alone returns no ESEARCH response.
            var options = command.Return!.Value & ~SearchReturnOptions.Save;
            var saved = matches;
            if (matches.Count > 0 && (options & (SearchReturnOptions.All | SearchReturnOptions.Count)) == 0
                && (options & (SearchReturnOptions.Min | SearchReturnOptions.Max)) != 0)
            {
                saved = [];
                if (options.HasFlag(SearchReturnOptions.Min))
                    saved.Add(matches[0]);
                if (options.HasFlag(SearchReturnOptions.Max) && matches.Count > 1)
                    saved.Add(matches[^1]);
            }
            session.Selected!.SaveSearchResult(saved.Select(m => m.Uid));
            if (options == SearchReturnOptions.None)
                return ImapCompletion.Ok("SEARCH completed; result saved");
        }
        if (command.Return is null && !session.Rev2Enabled)
        {
            var w = session.Writer.BeginUntagged().Atom("SEARCH");
            foreach (var n in numbers)
                w.Number(n);
            if (usesModSeq && matches.Count > 0)
                w.BeginList().Atom("MODSEQ").Number(highestModSeq).EndList();
            w.End();
        }
        else
        {
            WriteESearch(session, command.Tag, command.Uid, command.Return & ~SearchReturnOptions.Save, numbers, usesModSeq && matches.Count > 0 ? highestModSeq : null);
        }
        return ImapCompletion.Ok("SEARCH completed");
    }

    /// <summary>The messages of the selected mailbox matching <paramref name="criteria"/>, in sequence order; with
    /// <paramref name="loadHeaders"/> every context can answer <c>Headers()</c> (SORT, THREAD).</summary>
    /// <exception cref="ImapRefusedException">The charset is not supported (NO [BADCHARSET]).</exception>
    public static Task<List<SearchContext>> MatchAsync(ImapSession session, string? charset, SearchKey criteria, bool loadHeaders, CancellationToken cancellationToken) =>
        MatchContentAsync(session, charset, criteria, loadHeaders, context => context, cancellationToken);

    /// <summary>SEARCH's matches: only their numbers are kept, so no message view outlives its test.</summary>
    private static Task<List<SearchHit>> FindAsync(ImapSession session, string? charset, SearchKey criteria, CancellationToken cancellationToken)
    {
        if (SearchEvaluator.NeedsHeaders(criteria) || SearchEvaluator.NeedsFullMessage(criteria))
            return MatchContentAsync(session, charset, criteria, loadHeaders: false, c => new SearchHit(c.SequenceNumber, c.Uid, c.ModSeq), cancellationToken);
        CheckCharset(charset);
        // Flags, dates, sizes, UIDs, MODSEQ: answered from the view's metadata alone, in one synchronous pass that
        // allocates nothing per message (the common UNSEEN / SINCE / FLAGGED searches on large folders).
        var selected = session.Selected!;
        var now = session.Time.GetUtcNow();
        var matcher = SearchEvaluator.CreateMatcher(criteria, (uint)selected.Count, selected.MaxUid, selected.SavedSequences, selected.SavedUids);
        var messages = selected.Messages;
        var hits = new List<SearchHit>();
        for (var i = 0; i < messages.Count; i++)
        {
            var meta = messages[i];
            if (matcher.MatchesMetadata((uint)(i + 1), meta, now))
                hits.Add(new SearchHit((uint)(i + 1), meta.Uid, meta.ModSeq));
        }
        return Task.FromResult(hits);
    }

    /// <summary>
    /// Reads what the keys need of every message (header section or full message, decrypted and parsed) and keeps
    /// <paramref name="keep"/> of each match, in sequence order. Messages are read and tested
    /// <see cref="ContentParallelism"/> at a time: a body search over a large folder is bound by decryption.
    /// </summary>
    private static async Task<List<T>> MatchContentAsync<T>(ImapSession session, string? charset, SearchKey criteria, bool loadHeaders,
        Func<SearchContext, T> keep, CancellationToken cancellationToken)
    {
        CheckCharset(charset);
        var selected = session.Selected!;
        var needsFull = SearchEvaluator.NeedsFullMessage(criteria);
        var needsHeaders = loadHeaders || SearchEvaluator.NeedsHeaders(criteria);
        var now = session.Time.GetUtcNow();
        var matcher = SearchEvaluator.CreateMatcher(criteria, (uint)selected.Count, selected.MaxUid, selected.SavedSequences, selected.SavedUids); // sets resolved once
        var found = new (bool Matched, T Kept)[selected.Count];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = ContentParallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Enumerable.Range(1, selected.Count), parallel, async (seq, token) =>
        {
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

    /// <exception cref="ImapRefusedException">The charset is not supported (NO [BADCHARSET]).</exception>
    private static void CheckCharset(string? charset)
    {
        if (SearchEvaluator.CheckCharset(charset) is CharsetCheck.Unsupported unsupported)
            throw new ImapRefusedException(unsupported.Code, "Unsupported charset");
    }

    /// <summary>One message SEARCH found.</summary>
    private readonly record struct SearchHit(uint SequenceNumber, uint Uid, ulong ModSeq);

    /// <summary>Writes <c>* ESEARCH (TAG "t") [UID] MIN / MAX / ALL / COUNT [MODSEQ]</c> (RFC 4731 §3.1; RETURN () means ALL).</summary>
    public static void WriteESearch(ImapSession session, string tag, bool uid, SearchReturnOptions? returnOptions, IReadOnlyList<uint> numbers, ulong? modSeq)
    {
        var options = returnOptions is null or SearchReturnOptions.None ? SearchReturnOptions.All : returnOptions.Value;
        var w = session.Writer.BeginUntagged().Atom("ESEARCH").BeginList().Atom("TAG").String(tag).EndList();
        if (uid)
            w.Atom("UID");
        if (numbers.Count > 0)
        {
            if (options.HasFlag(SearchReturnOptions.Min))
                w.Atom("MIN").Number(numbers.Min());
            if (options.HasFlag(SearchReturnOptions.Max))
                w.Atom("MAX").Number(numbers.Max());
            if (options.HasFlag(SearchReturnOptions.All))
                w.Atom("ALL").SequenceSet(ResolvedSequenceSet.FromValues(numbers));
        }
        if (options.HasFlag(SearchReturnOptions.Count))
            w.Atom("COUNT").Number((ulong)numbers.Count);
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
