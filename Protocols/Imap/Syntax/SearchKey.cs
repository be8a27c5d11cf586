namespace MailServer.Protocols.Imap.Syntax;

/// <summary>Which date a date search key compares (RFC 9051 §6.4.4).</summary>
public enum SearchDateField
{
    /// <summary>The internal date (BEFORE / ON / SINCE), compared by date only, ignoring time and zone.</summary>
    Internal,
    /// <summary>The Date: header (SENTBEFORE / SENTON / SENTSINCE), ignoring time and zone.</summary>
    Sent,
    /// <summary>The save date (SAVEDBEFORE / SAVEDON / SAVEDSINCE, RFC 8514 §5), by its UTC date.</summary>
    Saved,
}

/// <summary>How a date search key compares.</summary>
public enum SearchDateComparison
{
    /// <summary>Strictly earlier than the date.</summary>
    Before,
    /// <summary>Within the date.</summary>
    On,
    /// <summary>Within or later than the date.</summary>
    Since,
}

/// <summary>
/// The search-key grammar of RFC 9051 §9 (and §6.4.4 semantics), normalised into a small closed tree:
/// the UN* keys become <see cref="Not"/> of <see cref="Flag"/>, NEW is <c>And(\Recent, Not(\Seen))</c>, OLD is
/// <c>Not(\Recent)</c>, BCC/CC/FROM/SUBJECT/TO become <see cref="Header"/>, and a list of keys is <see cref="And"/>.
/// </summary>
public abstract record SearchKey
{
    private SearchKey() { }

    /// <summary>ALL.</summary>
    public sealed record All : SearchKey;

    /// <summary>Messages with a flag set: ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, RECENT (system flags with "\"),
    /// KEYWORD (the keyword as written).</summary>
    public sealed record Flag(string Name) : SearchKey;

    /// <summary>Header field <paramref name="Field"/> (upper-cased) contains <paramref name="Value"/>; an empty
    /// value matches every message with the field (RFC 9051 §6.4.4 HEADER).</summary>
    public sealed record Header(string Field, string Value) : SearchKey;

    /// <summary>BODY: the body contains the text.</summary>
    public sealed record Body(string Value) : SearchKey;

    /// <summary>TEXT: the header or body contains the text.</summary>
    public sealed record Text(string Value) : SearchKey;

    /// <summary>BEFORE / ON / SINCE / SENTBEFORE / SENTON / SENTSINCE.</summary>
    public sealed record Date(SearchDateField Field, SearchDateComparison Comparison, DateOnly Value) : SearchKey;

    /// <summary>LARGER (<paramref name="Larger"/> true) or SMALLER than <paramref name="Octets"/> (RFC822.SIZE).</summary>
    public sealed record Size(bool Larger, long Octets) : SearchKey;

    /// <summary>OLDER / YOUNGER (RFC 5032 WITHIN): internal date more / less than <paramref name="Seconds"/> ago.</summary>
    public sealed record Within(bool Older, uint Seconds) : SearchKey;

    /// <summary>SAVEDATESUPPORTED (RFC 8514 §5): every message of a mailbox that keeps save dates.</summary>
    public sealed record SaveDateSupported : SearchKey;

    /// <summary>EMAILID objectid (RFC 8474 §6).</summary>
    public sealed record EmailId(string Id) : SearchKey;

    /// <summary>THREADID objectid (RFC 8474 §6).</summary>
    public sealed record ThreadId(string Id) : SearchKey;

    /// <summary>A message sequence set used as a key.</summary>
    public sealed record Sequence(SequenceSet Set) : SearchKey;

    /// <summary>UID set.</summary>
    public sealed record Uid(SequenceSet Set) : SearchKey;

    /// <summary>MODSEQ (RFC 7162 §3.1.5): mod-sequence at least <paramref name="Value"/>; the optional entry name
    /// (e.g. <c>"/flags/\draft"</c>) and type (priv / shared / all) are kept as written.</summary>
    public sealed record ModSeq(ulong Value, string? EntryName, string? EntryType) : SearchKey;

    /// <summary>NOT key.</summary>
    public sealed record Not(SearchKey Key) : SearchKey;

    /// <summary>OR key key.</summary>
    public sealed record Or(SearchKey Left, SearchKey Right) : SearchKey;

    /// <summary>All of the keys (a space-separated list, or a parenthesised group).</summary>
    public sealed record And(ValueList<SearchKey> Keys) : SearchKey;
}
