using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// SEARCH / UID SEARCH (RFC 9051 §6.4.4) over what the view holds: flags, keywords, size, internal date, sequence
/// and UID sets, MODSEQ (RFC 7162 §3.1.5), with NOT/OR/AND. Keys that need the message text (header, body, sent
/// date) are refused with NO [CANNOT] until the message views are wired in. Answers with <c>* SEARCH</c>, or
/// <c>* ESEARCH</c> (RFC 4731) when RETURN is given or IMAP4rev2 is enabled.
/// </summary>
internal static class SearchHandler
{
    public static Task<ImapCompletion> RunAsync(SearchCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        if (command.Charset is { } charset && !charset.Equals("UTF-8", StringComparison.OrdinalIgnoreCase)
            && !charset.Equals("US-ASCII", StringComparison.OrdinalIgnoreCase))
            throw new ImapRefusedException(new ResponseCode.UnsupportedCharset(ValueList.Of("UTF-8", "US-ASCII")), "Unsupported charset");
        if (command.Return is { } ret && ret.HasFlag(SearchReturnOptions.Save))
            throw new ImapSyntaxException("SAVE is not supported");
        var selected = session.Selected!;
        var now = session.Time.GetUtcNow();
        var usesModSeq = UsesModSeq(command.Criteria);
        if (usesModSeq)
            session.CondStoreEnabled = true;

        var matches = new List<(int Seq, MessageMeta Meta)>();
        for (var seq = 1; seq <= selected.Count; seq++)
        {
            var meta = selected[seq];
            if (Matches(command.Criteria, seq, meta, selected, now))
                matches.Add((seq, meta));
        }
        var numbers = matches.Select(m => command.Uid ? m.Meta.Uid : (uint)m.Seq).ToList();
        var highestModSeq = matches.Count == 0 ? 0UL : matches.Max(m => m.Meta.ModSeq);
        var w = session.Writer;
        if (command.Return is null && !session.Rev2Enabled)
        {
            w.BeginUntagged().Atom("SEARCH");
            foreach (var n in numbers)
                w.Number(n);
            if (usesModSeq && matches.Count > 0)
                w.BeginList().Atom("MODSEQ").Number(highestModSeq).EndList();
            w.End();
            return Task.FromResult(ImapCompletion.Ok("SEARCH completed"));
        }

        // RFC 4731 §3.1: RETURN () means ALL.
        var options = command.Return is null or SearchReturnOptions.None ? SearchReturnOptions.All : command.Return.Value;
        w.BeginUntagged().Atom("ESEARCH").BeginList().Atom("TAG").String(command.Tag).EndList();
        if (command.Uid)
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
        if (usesModSeq && matches.Count > 0)
            w.Atom("MODSEQ").Number(highestModSeq);
        w.End();
        return Task.FromResult(ImapCompletion.Ok("SEARCH completed"));
    }

    private static bool UsesModSeq(SearchKey key) => key switch
    {
        SearchKey.ModSeq => true,
        SearchKey.Not not => UsesModSeq(not.Key),
        SearchKey.Or or => UsesModSeq(or.Left) || UsesModSeq(or.Right),
        SearchKey.And and => and.Keys.Any(UsesModSeq),
        _ => false,
    };

    private static bool Matches(SearchKey key, int seq, MessageMeta meta, SelectedMailbox selected, DateTimeOffset now) => key switch
    {
        SearchKey.All => true,
        SearchKey.Flag flag => HasFlag(meta, flag.Name),
        SearchKey.Size size => size.Larger ? meta.Size > size.Octets : meta.Size < size.Octets,
        SearchKey.Date { Field: SearchDateField.Internal } date => CompareDate(DateOnly.FromDateTime(meta.InternalDate.DateTime), date),
        SearchKey.Within within => within.Older
            ? now - meta.InternalDate > TimeSpan.FromSeconds(within.Seconds)
            : now - meta.InternalDate <= TimeSpan.FromSeconds(within.Seconds),
        SearchKey.Sequence sequence => sequence.Set.Resolve((uint)selected.Count).Contains((uint)seq),
        SearchKey.Uid uid => uid.Set.Resolve(selected.MaxUid).Contains(meta.Uid),
        SearchKey.ModSeq modSeq => meta.ModSeq >= modSeq.Value,
        SearchKey.Not not => !Matches(not.Key, seq, meta, selected, now),
        SearchKey.Or or => Matches(or.Left, seq, meta, selected, now) || Matches(or.Right, seq, meta, selected, now),
        SearchKey.And and => and.Keys.All(k => Matches(k, seq, meta, selected, now)),
        _ => throw new ImapRefusedException(ResponseCode.Cannot, "Searching message text is not available yet"),
    };

    private static bool HasFlag(MessageMeta meta, string name) => name.ToUpperInvariant() switch
    {
        @"\SEEN" => meta.Flags.HasFlag(MessageFlags.Seen),
        @"\ANSWERED" => meta.Flags.HasFlag(MessageFlags.Answered),
        @"\FLAGGED" => meta.Flags.HasFlag(MessageFlags.Flagged),
        @"\DELETED" => meta.Flags.HasFlag(MessageFlags.Deleted),
        @"\DRAFT" => meta.Flags.HasFlag(MessageFlags.Draft),
        @"\RECENT" => false, // \Recent is not kept (RFC 9051 removed it)
        _ => meta.Keywords.Contains(name, StringComparer.OrdinalIgnoreCase),
    };

    private static bool CompareDate(DateOnly value, SearchKey.Date date) => date.Comparison switch
    {
        SearchDateComparison.Before => value < date.Value,
        SearchDateComparison.On => value == date.Value,
        _ => value >= date.Value,
    };
}
