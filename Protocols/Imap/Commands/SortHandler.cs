using System.Globalization;
using System.Text;
using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// SORT / UID SORT (RFC 5256 §3): the SEARCH result ordered by <see cref="SortKeys"/>. With RETURN (ESORT,
/// RFC 5267 §3.2) the answer is <c>* ESEARCH</c>: MIN / MAX are the first / last message in sort order, ALL lists
/// the matches in sort order, COUNT counts them; SAVE (RFC 5182 §2.4) keeps the matches (or MIN / MAX) as <c>$</c>.
/// </summary>
internal static class SortHandler
{
    public static async Task<ImapCompletion> RunAsync(SortCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var save = command.Return is { } ret && ret.HasFlag(SearchReturnOptions.Save);
        List<SearchContext> matches;
        try
        {
            matches = await SearchHandler.MatchAsync(session, command.Charset, command.Search, loadHeaders: true, cancellationToken);
        }
        catch when (save)
        {
            session.Selected!.SaveSearchResult(ResolvedSequenceSet.Empty); // RFC 5182 §2.1: a failed SAVE leaves $ empty
            throw;
        }
        var sorted = SortKeys.Sort(matches, command.Criteria);
        var numbers = sorted.Select(m => command.Uid ? m.Uid : m.SequenceNumber).ToList();
        if (command.Return is not { } options)
        {
            var w = session.Writer.BeginUntagged().Atom("SORT");
            foreach (var n in numbers)
                w.Number(n);
            w.End();
            return ImapCompletion.Ok("SORT completed");
        }
        var returned = options & SearchHandler.ResultOptions;
        var window = command.Partial is { } range ? range.Window(sorted.Count) : (Start: 0, Length: 0);
        var minMaxOnly = (returned & (SearchReturnOptions.All | SearchReturnOptions.Count)) == 0
                         && (returned & (SearchReturnOptions.Min | SearchReturnOptions.Max)) != 0;
        if (save)
        {
            var uids = command.Partial is not null
                ? sorted.Skip(window.Start).Take(window.Length).Select(m => m.Uid) // RFC 9394: SAVE keeps what PARTIAL returns
                : minMaxOnly && sorted.Count > 0
                ? new[] { returned.HasFlag(SearchReturnOptions.Min) ? sorted[0].Uid : 0, returned.HasFlag(SearchReturnOptions.Max) ? sorted[^1].Uid : 0 }.Where(u => u != 0)
                : sorted.Select(m => m.Uid);
            session.Selected!.SaveSearchResult(ResolvedSequenceSet.FromValues(uids.Order().Distinct().ToList()));
            if (returned == SearchReturnOptions.None && !options.HasFlag(SearchReturnOptions.Update))
                return ImapCompletion.Ok("SORT completed; result saved");
        }
        if (returned == SearchReturnOptions.None)
            returned = SearchReturnOptions.All; // RETURN () means ALL (RFC 4731 §3.1)
        var e = session.Writer.BeginUntagged().Atom("ESEARCH").BeginList().Atom("TAG").String(command.Tag).EndList();
        if (command.Uid)
            e.Atom("UID");
        if (numbers.Count > 0)
        {
            if (returned.HasFlag(SearchReturnOptions.Min))
                e.Atom("MIN").Number(numbers[0]);
            if (returned.HasFlag(SearchReturnOptions.Max))
                e.Atom("MAX").Number(numbers[^1]);
            if (returned.HasFlag(SearchReturnOptions.All))
                e.Atom("ALL").Atom(InSortOrder(numbers));
        }
        if (returned.HasFlag(SearchReturnOptions.Count))
            e.Atom("COUNT").Number((ulong)numbers.Count);
        if (command.Partial is { } partial)
        {
            // RFC 9394 §3.1: the window of the result in sort order, NIL when it holds no match.
            e.Atom("PARTIAL").BeginList().Atom(partial.ToString());
            e.Atom(window.Length == 0 ? "NIL" : InSortOrder(numbers.GetRange(window.Start, window.Length)));
            e.EndList();
        }
        e.End();
        if (options.HasFlag(SearchReturnOptions.Update))
            session.SearchContexts.Register(session, command.Tag, command.Uid, command.Partial is not null, command.Search, command.Charset,
                command.Criteria, returned, sorted.Select(m => m.Uid)); // RFC 5267 §4: CONTEXT=SORT
        return ImapCompletion.Ok("SORT completed");
    }

    /// <summary>
    /// ESORT's ALL (RFC 5267 §3.2): the numbers in sort order as a sequence-set; only ascending runs of consecutive
    /// numbers become ranges (<c>4:6</c>), so the order stays readable.
    /// </summary>
    internal static string InSortOrder(IReadOnlyList<uint> numbers)
    {
        var text = new StringBuilder();
        for (var i = 0; i < numbers.Count; i++)
        {
            var start = numbers[i];
            while (i + 1 < numbers.Count && numbers[i + 1] == numbers[i] + 1)
                i++;
            if (text.Length > 0)
                text.Append(',');
            text.Append(start.ToString(CultureInfo.InvariantCulture));
            if (numbers[i] != start)
                text.Append(':').Append(numbers[i].ToString(CultureInfo.InvariantCulture));
        }
        return text.ToString();
    }
}
