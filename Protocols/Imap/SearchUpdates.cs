using System.Globalization;
using System.Text;
using MailServer.Protocols.Imap.Commands;
using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap;

/// <summary>
/// CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): the UID SEARCH / UID SORT results a client asked to keep updated
/// (RETURN (UPDATE)). After each command and during IDLE — whenever <see cref="SelectedMailbox.WriteUpdates"/> has read
/// the store's change feed — the messages that arrived, changed flags or went since the last time are tested again and
/// the differences go out as <c>* ESEARCH (TAG "t") UID REMOVEFROM (...)</c> and <c>ADDTO (...)</c> (MIN / MAX / COUNT
/// as new values). A SEARCH context tests only those messages; a SORT context sorts the result again when any message
/// was touched. At most <see cref="MaxContexts"/> per session; more, sequence-number contexts and PARTIAL ones are
/// answered <c>* NO [NOUPDATE "t"]</c> (§4.3 lets the server decline). Contexts end with CANCELUPDATE or when the
/// mailbox is deselected. Owned by one session; not thread-safe.
/// </summary>
internal sealed class SearchUpdates
{
    /// <summary>Search contexts a session may keep updated at once.</summary>
    public const int MaxContexts = 10;

    private readonly List<Context> _contexts = [];

    private sealed class Context(string tag, SelectedMailbox mailbox, SearchKey criteria, string? charset, IReadOnlyList<SortCriterion>? sort,
        SearchReturnOptions options, List<uint> result)
    {
        public string Tag { get; } = tag;
        public SelectedMailbox Mailbox { get; } = mailbox;
        public SearchKey Criteria { get; } = criteria;
        public string? Charset { get; } = charset;
        public IReadOnlyList<SortCriterion>? Sort { get; } = sort;
        public SearchReturnOptions Options { get; } = options;
        // UIDs: ascending for SEARCH, in sort order for SORT.
        public List<uint> Result { get; set; } = result;
    }

    /// <summary>Keeps a result updated, or tells the client why not (<c>* NO [NOUPDATE "tag"]</c>).</summary>
    /// <param name="session">The session (selected).</param>
    /// <param name="tag">The command's tag, which names the context.</param>
    /// <param name="uid">UID SEARCH / UID SORT.</param>
    /// <param name="partial">PARTIAL was asked for.</param>
    /// <param name="criteria">The search program.</param>
    /// <param name="charset">Its charset.</param>
    /// <param name="sort">The sort criteria for a SORT context, else null.</param>
    /// <param name="options">The return options (ALL when no result option was given).</param>
    /// <param name="result">The UIDs the command answered with, in its order.</param>
    public void Register(ImapSession session, string tag, bool uid, bool partial, SearchKey criteria, string? charset,
        IReadOnlyList<SortCriterion>? sort, SearchReturnOptions options, IEnumerable<uint> result)
    {
        var selected = session.Selected!;
        Prune(selected);
        string? refusal = !uid ? "Only UID SEARCH and UID SORT results are kept updated"
            : partial ? "A PARTIAL result is not kept updated"
            : _contexts.Count >= MaxContexts ? "Too many search results kept updated"
            : null;
        if (refusal is not null)
        {
            session.Writer.Untagged(ImapStatus.No, new ResponseCode.NoUpdate(tag), refusal);
            return;
        }
        _contexts.RemoveAll(c => c.Tag == tag); // a reused tag replaces its context
        _contexts.Add(new Context(tag, selected, criteria, charset, sort, options, [.. result]));
        selected.TrackTouched();
    }

    /// <summary>Stops updating the contexts named by <paramref name="tags"/>; false when one of them is not kept.</summary>
    public bool Cancel(SelectedMailbox selected, IReadOnlyList<string> tags)
    {
        Prune(selected);
        if (tags.Any(t => _contexts.All(c => c.Tag != t)))
            return false;
        _contexts.RemoveAll(c => tags.Contains(c.Tag));
        if (_contexts.Count == 0)
            selected.StopTrackingTouched();
        return true;
    }

    private void Prune(SelectedMailbox? selected) => _contexts.RemoveAll(c => !ReferenceEquals(c.Mailbox, selected));

    /// <summary>Writes the changes of every context since the last call (nothing when no message was touched).</summary>
    public static async Task WriteAsync(ImapSession session, CancellationToken cancellationToken)
    {
        var updates = session.SearchContexts;
        updates.Prune(session.Selected);
        if (updates._contexts.Count == 0 || session.Selected is not { } selected)
            return;
        var touched = selected.TakeTouched();
        if (touched.Count == 0)
            return;
        foreach (var context in updates._contexts)
        {
            if (context.Sort is null)
                await UpdateSearchAsync(session, selected, context, touched, cancellationToken);
            else
                await UpdateSortAsync(session, context, cancellationToken);
        }
    }

    private static async Task UpdateSearchAsync(ImapSession session, SelectedMailbox selected, Context context, IReadOnlyCollection<uint> touched,
        CancellationToken cancellationToken)
    {
        var matcher = SearchEvaluator.CreateMatcher(context.Criteria, (uint)selected.Count, selected.MaxUid, selected.SavedSequences, selected.SavedUids,
            selected.ReportsRecent ? selected.IsRecent : null);
        var needsFull = SearchEvaluator.NeedsFullMessage(context.Criteria);
        var needsHeaders = SearchEvaluator.NeedsHeaders(context.Criteria);
        var now = session.Time.GetUtcNow();
        var current = new SortedSet<uint>(context.Result);
        List<uint> added = [], removed = [];
        foreach (var uid in touched.Order())
        {
            var seq = selected.SequenceOf(uid);
            var matches = false;
            if (seq > 0 && !selected.IsPendingExpunge(uid))
            {
                var message = await MessageContexts.CreateAsync(session, seq, selected[seq], needsHeaders, needsFull, now, cancellationToken);
                matches = message is not null && matcher.Matches(message);
            }
            if (matches && current.Add(uid))
                added.Add(uid);
            else if (!matches && current.Remove(uid))
                removed.Add(uid);
        }
        var before = context.Result;
        context.Result = [.. current];
        WriteChanges(session, context, before,
            removed.Count == 0 ? null : "0 " + ResolvedSequenceSet.FromValues(removed),
            added.Count == 0 ? null : "0 " + ResolvedSequenceSet.FromValues(added));
    }

    private static async Task UpdateSortAsync(ImapSession session, Context context, CancellationToken cancellationToken)
    {
        var matches = await SearchHandler.MatchAsync(session, context.Charset, context.Criteria, loadHeaders: true, cancellationToken);
        var selected = session.Selected!;
        var sorted = SortKeys.Sort(matches.Where(m => !selected.IsPendingExpunge(m.Uid)), context.Sort!).Select(m => m.Uid).ToList();
        var before = context.Result;
        var now = sorted.ToHashSet();
        var then = before.ToHashSet();
        // REMOVEFROM: each message's position in the old order, highest first, so each stays right as they are taken out.
        var removals = new StringBuilder();
        for (var i = before.Count - 1; i >= 0; i--)
            if (!now.Contains(before[i]))
                Pair(removals, i + 1, before[i]);
        // ADDTO: each new message's position in the new order, lowest first, so inserting them in turn gives that order.
        var additions = new StringBuilder();
        for (var i = 0; i < sorted.Count; i++)
            if (!then.Contains(sorted[i]))
                Pair(additions, i + 1, sorted[i]);
        context.Result = sorted;
        WriteChanges(session, context, before, removals.Length == 0 ? null : removals.ToString(), additions.Length == 0 ? null : additions.ToString());
    }

    private static void Pair(StringBuilder text, int position, uint uid)
    {
        if (text.Length > 0)
            text.Append(' ');
        text.Append(position.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(uid.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>RFC 5267 §4.4: REMOVEFROM, then ADDTO, for a context that returns ALL; new MIN / MAX / COUNT values for
    /// one that asked for those, when they changed.</summary>
    private static void WriteChanges(ImapSession session, Context context, List<uint> before, string? removeFrom, string? addTo)
    {
        var options = context.Options;
        if (options.HasFlag(SearchReturnOptions.All))
        {
            if (removeFrom is not null)
                Begin(session, context).Atom("REMOVEFROM").BeginList().RawToken(removeFrom).EndList().End();
            if (addTo is not null)
                Begin(session, context).Atom("ADDTO").BeginList().RawToken(addTo).EndList().End();
        }
        var after = context.Result;
        var sorted = context.Sort is not null;
        uint? Min(List<uint> r) => r.Count == 0 ? null : sorted ? r[0] : r.Min();
        uint? Max(List<uint> r) => r.Count == 0 ? null : sorted ? r[^1] : r.Max();
        var minChanged = options.HasFlag(SearchReturnOptions.Min) && Min(before) != Min(after);
        var maxChanged = options.HasFlag(SearchReturnOptions.Max) && Max(before) != Max(after);
        var countChanged = options.HasFlag(SearchReturnOptions.Count) && before.Count != after.Count;
        if (!minChanged && !maxChanged && !countChanged)
            return;
        var w = Begin(session, context);
        if (options.HasFlag(SearchReturnOptions.Min) && Min(after) is { } min)
            w.Atom("MIN").Number(min);
        if (options.HasFlag(SearchReturnOptions.Max) && Max(after) is { } max)
            w.Atom("MAX").Number(max);
        if (options.HasFlag(SearchReturnOptions.Count))
            w.Atom("COUNT").Number((ulong)after.Count);
        w.End();
    }

    private static ImapResponseWriter Begin(ImapSession session, Context context) =>
        session.Writer.BeginUntagged().Atom("ESEARCH").BeginList().Atom("TAG").String(context.Tag).EndList().Atom("UID");
}
