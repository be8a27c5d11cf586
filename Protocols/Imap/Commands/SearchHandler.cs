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
    public static async Task<ImapCompletion> RunAsync(SearchCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var save = command.Return is { } ret && ret.HasFlag(SearchReturnOptions.Save);
        List<SearchContext> matches;
        try
        {
            matches = await MatchAsync(session, command.Charset, command.Criteria, loadHeaders: false, cancellationToken);
        }
        catch when (save)
        {
            session.Selected!.SaveSearchResult([]); // RFC 5182 §2.1: a failed SEARCH ... SAVE leaves $ empty
            throw;
        }
        var usesModSeq = UsesModSeq(command.Criteria);
        if (usesModSeq)
            session.CondStoreEnabled = true;
        var numbers = matches.Select(m => command.Uid ? m.Uid : m.SequenceNumber).ToList();
        var highestModSeq = matches.Count == 0 ? 0UL : matches.Max(m => m.ModSeq);
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
                if (options.HasFlag(SearchReturnOptions.Max) && matches[^1] != matches[0])
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
    public static async Task<List<SearchContext>> MatchAsync(ImapSession session, string? charset, SearchKey criteria, bool loadHeaders, CancellationToken cancellationToken)
    {
        if (SearchEvaluator.CheckCharset(charset) is CharsetCheck.Unsupported unsupported)
            throw new ImapRefusedException(unsupported.Code, "Unsupported charset");
        var selected = session.Selected!;
        var needsFull = SearchEvaluator.NeedsFullMessage(criteria);
        var needsHeaders = loadHeaders || SearchEvaluator.NeedsHeaders(criteria);
        var now = session.Time.GetUtcNow();
        var largestSequence = (uint)selected.Count;
        var largestUid = selected.MaxUid;
        var matcher = SearchEvaluator.CreateMatcher(criteria, largestSequence, largestUid, selected.SavedSequences, selected.SavedUids); // sets resolved once
        var matches = new List<SearchContext>();
        if (!needsHeaders && !needsFull)
        {
            // Flags, dates, sizes, UIDs, MODSEQ: answered from the view's metadata alone, in one synchronous pass
            // with no store read and no per-message task or closure (the common UNSEEN / SINCE / FLAGGED searches).
            var messages = selected.Messages;
            for (var i = 0; i < messages.Count; i++)
            {
                var meta = messages[i];
                var context = new SearchContext((uint)(i + 1), meta.Uid, meta.Flags, meta.Keywords, meta.InternalDate, meta.Size, meta.ModSeq,
                    MessageContexts.HeadersNotLoaded, MessageContexts.FullNotLoaded, Now: now);
                if (matcher.Matches(context))
                    matches.Add(context);
            }
            return matches;
        }
        for (var seq = 1; seq <= selected.Count; seq++)
        {
            var context = await MessageContexts.CreateAsync(session, seq, selected[seq], needsHeaders, needsFull, now, cancellationToken);
            if (context is not null && matcher.Matches(context))
                matches.Add(context);
        }
        return matches;
    }

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
