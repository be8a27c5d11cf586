using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap;

/// <summary>
/// UIDONLY (RFC 9586): once a session has enabled it, no message sequence number goes either way. Commands that take
/// one are refused with <c>BAD [UIDREQUIRED]</c> (§3), FETCH data goes out as <c>* uid UIDFETCH (...)</c> (§3.3), and
/// expunges as VANISHED (§3.4, as under QRESYNC).
/// </summary>
internal static class UidOnly
{
    /// <summary>True when <paramref name="command"/> carries message sequence numbers: the non-UID forms of FETCH,
    /// STORE, SEARCH, COPY, MOVE, SORT, THREAD and REPLACE, a search program with a sequence-set key, and SELECT's
    /// QRESYNC sequence-match data (RFC 9586 §3).</summary>
    public static bool UsesSequenceNumbers(ImapCommand command) => command switch
    {
        FetchCommand c => !c.Uid,
        StoreCommand c => !c.Uid,
        CopyCommand c => !c.Uid,
        MoveCommand c => !c.Uid,
        ReplaceCommand c => !c.Uid,
        SearchCommand c => !c.Uid || HasSequenceKey(c.Criteria),
        SortCommand c => !c.Uid || HasSequenceKey(c.Search),
        ThreadCommand c => !c.Uid || HasSequenceKey(c.Search),
        SelectCommand c => c.QResync?.KnownSequenceNumbers is not null,
        _ => false,
    };

    private static bool HasSequenceKey(SearchKey key) => key switch
    {
        SearchKey.Sequence => true,
        SearchKey.Not not => HasSequenceKey(not.Key),
        SearchKey.Or or => HasSequenceKey(or.Left) || HasSequenceKey(or.Right),
        SearchKey.And and => and.Keys.Any(HasSequenceKey),
        _ => false,
    };

    /// <summary>Begins an untagged FETCH response, or UIDFETCH keyed by the UID under UIDONLY (RFC 9586 §3.3); the
    /// writer is left after the opening parenthesis.</summary>
    public static ImapResponseWriter BeginFetch(ImapResponseWriter writer, bool uidOnly, int sequenceNumber, uint uid) => uidOnly
        ? writer.BeginUntagged().Number(uid).Atom("UIDFETCH").BeginList()
        : writer.BeginUntagged().Number((ulong)sequenceNumber).Atom("FETCH").BeginList();
}
