namespace MailServer.Protocols.Imap.Syntax;

/// <summary>
/// A parsed client command (RFC 9051 §6, grammar in §9). One sealed record per command; the session matches on
/// the type. Mailbox names are the wire form (modified UTF-7 unless UTF-8 is enabled) with INBOX normalised; turn
/// them into Unicode with <see cref="MailboxName.FromWire"/>.
/// </summary>
/// <param name="Tag">The client's tag, echoed in the tagged reply.</param>
public abstract record ImapCommand(string Tag);

// --- any state (RFC 9051 §6.1) ---

/// <summary>CAPABILITY (RFC 9051 §6.1.1).</summary>
public sealed record CapabilityCommand(string Tag) : ImapCommand(Tag);

/// <summary>NOOP (RFC 9051 §6.1.2).</summary>
public sealed record NoopCommand(string Tag) : ImapCommand(Tag);

/// <summary>LOGOUT (RFC 9051 §6.1.3).</summary>
public sealed record LogoutCommand(string Tag) : ImapCommand(Tag);

/// <summary>ID (RFC 2971 §3.1); <paramref name="Parameters"/> is null for <c>ID NIL</c>. Values may be NIL (null).</summary>
public sealed record IdCommand(string Tag, ValueList<KeyValuePair<string, string?>>? Parameters) : ImapCommand(Tag);

/// <summary>COMPRESS (RFC 4978 §3); DEFLATE is the only mechanism defined.</summary>
public sealed record CompressCommand(string Tag, string Mechanism) : ImapCommand(Tag);

// --- not authenticated (RFC 9051 §6.2) ---

/// <summary>STARTTLS (RFC 9051 §6.2.1).</summary>
public sealed record StartTlsCommand(string Tag) : ImapCommand(Tag);

/// <summary>
/// AUTHENTICATE (RFC 9051 §6.2.2) with the optional SASL-IR initial response (RFC 4959 §3): null when absent,
/// empty when sent as <c>=</c>. The initial response is credential material: it is not included in ToString.
/// </summary>
public sealed record AuthenticateCommand(string Tag, string Mechanism, byte[]? InitialResponse) : ImapCommand(Tag)
{
    /// <inheritdoc />
    public bool Equals(AuthenticateCommand? other) =>
        other is not null && Tag == other.Tag && Mechanism == other.Mechanism &&
        (InitialResponse is null ? other.InitialResponse is null : other.InitialResponse is not null && InitialResponse.AsSpan().SequenceEqual(other.InitialResponse));

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Tag, Mechanism, InitialResponse?.Length);

    /// <summary>Shows the mechanism and whether an initial response was sent, never its content.</summary>
    protected override bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append("Tag = ").Append(Tag).Append(", Mechanism = ").Append(Mechanism)
            .Append(", InitialResponse = ").Append(InitialResponse is null ? "none" : "<redacted>");
        return true;
    }
}

/// <summary>LOGIN (RFC 9051 §6.2.3). The password is not included in ToString.</summary>
public sealed record LoginCommand(string Tag, string UserName, string Password) : ImapCommand(Tag)
{
    /// <summary>Shows the user name, never the password.</summary>
    protected override bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append("Tag = ").Append(Tag).Append(", UserName = ").Append(UserName).Append(", Password = <redacted>");
        return true;
    }
}

// --- authenticated (RFC 9051 §6.3) ---

/// <summary>ENABLE (RFC 9051 §6.3.1, RFC 5161); capability names upper-cased.</summary>
public sealed record EnableCommand(string Tag, ValueList<string> Capabilities) : ImapCommand(Tag);

/// <summary>QRESYNC parameter of SELECT/EXAMINE (RFC 7162 §3.2.5).</summary>
/// <param name="UidValidity">The last known UIDVALIDITY.</param>
/// <param name="ModSeq">The last known mod-sequence.</param>
/// <param name="KnownUids">Optional known UIDs.</param>
/// <param name="KnownSequenceNumbers">Optional known message sequence numbers, paired with <paramref name="KnownUidsForSequence"/>.</param>
/// <param name="KnownUidsForSequence">The UIDs corresponding to <paramref name="KnownSequenceNumbers"/>.</param>
public sealed record QResyncParameters(uint UidValidity, ulong ModSeq, SequenceSet? KnownUids,
    SequenceSet? KnownSequenceNumbers, SequenceSet? KnownUidsForSequence);

/// <summary>SELECT or EXAMINE (RFC 9051 §6.3.2/§6.3.3) with CONDSTORE / QRESYNC parameters (RFC 7162 §3.1.8, §3.2.5).</summary>
/// <param name="Tag">The tag.</param>
/// <param name="Mailbox">The mailbox (wire form).</param>
/// <param name="ReadOnly">True for EXAMINE.</param>
/// <param name="CondStore">The CONDSTORE parameter was given.</param>
/// <param name="QResync">The QRESYNC parameter, when given.</param>
public sealed record SelectCommand(string Tag, string Mailbox, bool ReadOnly, bool CondStore, QResyncParameters? QResync) : ImapCommand(Tag);

/// <summary>CREATE (RFC 9051 §6.3.4) with optional special-use attributes (RFC 6154 §3, <c>USE (\Sent)</c>).</summary>
public sealed record CreateCommand(string Tag, string Mailbox, ValueList<string> SpecialUse) : ImapCommand(Tag);

/// <summary>DELETE (RFC 9051 §6.3.5).</summary>
public sealed record DeleteCommand(string Tag, string Mailbox) : ImapCommand(Tag);

/// <summary>RENAME (RFC 9051 §6.3.6).</summary>
public sealed record RenameCommand(string Tag, string Mailbox, string NewName) : ImapCommand(Tag);

/// <summary>SUBSCRIBE (RFC 9051 §6.3.7).</summary>
public sealed record SubscribeCommand(string Tag, string Mailbox) : ImapCommand(Tag);

/// <summary>UNSUBSCRIBE (RFC 9051 §6.3.8).</summary>
public sealed record UnsubscribeCommand(string Tag, string Mailbox) : ImapCommand(Tag);

/// <summary>LIST selection options (RFC 5258 §3.1, RFC 6154 §5.1).</summary>
[Flags]
public enum ListSelectOptions
{
    /// <summary>None given.</summary>
    None = 0,
    /// <summary>SUBSCRIBED.</summary>
    Subscribed = 1,
    /// <summary>REMOTE.</summary>
    Remote = 2,
    /// <summary>RECURSIVEMATCH (only with another option, RFC 5258 §3.1).</summary>
    RecursiveMatch = 4,
    /// <summary>SPECIAL-USE (RFC 6154).</summary>
    SpecialUse = 8,
}

/// <summary>LIST return options (RFC 5258 §3.2, RFC 6154 §5.1, RFC 5819 LIST-STATUS).</summary>
[Flags]
public enum ListReturnOptions
{
    /// <summary>None given.</summary>
    None = 0,
    /// <summary>SUBSCRIBED.</summary>
    Subscribed = 1,
    /// <summary>CHILDREN.</summary>
    Children = 2,
    /// <summary>SPECIAL-USE.</summary>
    SpecialUse = 4,
    /// <summary>STATUS (items in <see cref="ListCommand.StatusItems"/>).</summary>
    Status = 8,
}

/// <summary>
/// LIST (RFC 9051 §6.3.9) including LIST-EXTENDED (RFC 5258) selection/return options and LIST-STATUS (RFC 5819).
/// <paramref name="Patterns"/> holds one entry for the basic form, several for <c>(pattern pattern)</c>.
/// </summary>
public sealed record ListCommand(string Tag, string Reference, ValueList<string> Patterns, ListSelectOptions Selection,
    ListReturnOptions Return, ValueList<StatusItem> StatusItems) : ImapCommand(Tag);

/// <summary>LSUB (RFC 3501 §6.3.9; deprecated by RFC 9051 but still sent by clients).</summary>
public sealed record LsubCommand(string Tag, string Reference, string Pattern) : ImapCommand(Tag);

/// <summary>NAMESPACE (RFC 9051 §6.3.10, RFC 2342).</summary>
public sealed record NamespaceCommand(string Tag) : ImapCommand(Tag);

/// <summary>STATUS data items (RFC 9051 §6.3.11, RFC 3501 RECENT, RFC 7162 HIGHESTMODSEQ, RFC 7889 APPENDLIMIT).</summary>
public enum StatusItem
{
    /// <summary>MESSAGES.</summary>
    Messages,
    /// <summary>UIDNEXT.</summary>
    UidNext,
    /// <summary>UIDVALIDITY.</summary>
    UidValidity,
    /// <summary>UNSEEN.</summary>
    Unseen,
    /// <summary>DELETED (RFC 9051).</summary>
    Deleted,
    /// <summary>SIZE (RFC 9051).</summary>
    Size,
    /// <summary>RECENT (RFC 3501 only).</summary>
    Recent,
    /// <summary>HIGHESTMODSEQ (RFC 7162 §3.1.6).</summary>
    HighestModSeq,
    /// <summary>APPENDLIMIT (RFC 7889 §3).</summary>
    AppendLimit,
    /// <summary>MAILBOXID (RFC 8474 §4).</summary>
    MailboxId,
}

/// <summary>STATUS (RFC 9051 §6.3.11).</summary>
public sealed record StatusCommand(string Tag, string Mailbox, ValueList<StatusItem> Items) : ImapCommand(Tag);

/// <summary>One message of APPEND (several with MULTIAPPEND, RFC 3502).</summary>
/// <param name="Flags">The flag list, empty when absent.</param>
/// <param name="InternalDate">The date-time argument, when given.</param>
/// <param name="Content">The message octets: a slice of the framed command buffer.</param>
/// <param name="Binary">True when sent as literal8 (RFC 3516 §4.4, BINARY APPEND).</param>
/// <param name="Utf8">True when sent as <c>UTF8 (literal8)</c> (RFC 6855 §4): allowed only after ENABLE UTF8=ACCEPT.</param>
public sealed record AppendMessage(ValueList<string> Flags, DateTimeOffset? InternalDate, ReadOnlyMemory<byte> Content, bool Binary, bool Utf8 = false)
{
    /// <summary>The CATENATE parts (RFC 4469 §5) the message is built from, in order; null for a plain literal
    /// (then <see cref="Content"/> is the message).</summary>
    public ValueList<CatenatePart>? Catenate { get; init; }

    /// <inheritdoc />
    public bool Equals(AppendMessage? other) =>
        other is not null && Flags.Equals(other.Flags) && InternalDate == other.InternalDate && Binary == other.Binary &&
        Utf8 == other.Utf8 && Content.Span.SequenceEqual(other.Content.Span) && Equals(Catenate, other.Catenate);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Flags, InternalDate, Content.Length, Binary);

    /// <summary>Shows the size, not the content.</summary>
    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append("Flags = ").Append(Flags).Append(", InternalDate = ").Append(InternalDate)
            .Append(", Content = ").Append(Content.Length).Append(" octets, Binary = ").Append(Binary).Append(", Utf8 = ").Append(Utf8);
        return true;
    }
}

/// <summary>One part of a CATENATE message (RFC 4469 §5): literal text, or an IMAP URL (RFC 5092) of a message or
/// part whose octets are copied in.</summary>
public abstract record CatenatePart
{
    private CatenatePart() { }

    /// <summary><c>TEXT literal</c> (or literal8 with BINARY, RFC 3516 §4.4): octets taken as they are.</summary>
    public sealed record Text(ReadOnlyMemory<byte> Content, bool Binary) : CatenatePart
    {
        /// <inheritdoc />
        public bool Equals(Text? other) => other is not null && Binary == other.Binary && Content.Span.SequenceEqual(other.Content.Span);

        /// <inheritdoc />
        public override int GetHashCode() => HashCode.Combine(Content.Length, Binary);
    }

    /// <summary><c>URL astring</c>: an absolute or relative IMAP URL (RFC 5092) naming a message or a part of one.</summary>
    public sealed record Url(string Value) : CatenatePart;
}

/// <summary>APPEND (RFC 9051 §6.3.12), MULTIAPPEND (RFC 3502) when <paramref name="Messages"/> has several entries.</summary>
public sealed record AppendCommand(string Tag, string Mailbox, ValueList<AppendMessage> Messages) : ImapCommand(Tag);

/// <summary>
/// REPLACE or UID REPLACE (RFC 8508 §3): <paramref name="Message"/> is appended to <paramref name="Mailbox"/> and the
/// message <paramref name="Number"/> (a sequence number, or a UID when <paramref name="Uid"/>; null for <c>*</c>) of
/// the selected mailbox is expunged, both or neither.
/// </summary>
public sealed record ReplaceCommand(string Tag, bool Uid, uint? Number, string Mailbox, AppendMessage Message) : ImapCommand(Tag);

/// <summary>IDLE (RFC 9051 §6.3.13); the session reads the DONE line itself.</summary>
public sealed record IdleCommand(string Tag) : ImapCommand(Tag);

/// <summary>One resource limit of SETQUOTA (RFC 9208 §4.1.3).</summary>
public sealed record QuotaLimit(string Resource, long Limit);

/// <summary>GETQUOTA (RFC 9208 §4.1.1).</summary>
public sealed record GetQuotaCommand(string Tag, string QuotaRoot) : ImapCommand(Tag);

/// <summary>GETQUOTAROOT (RFC 9208 §4.1.2).</summary>
public sealed record GetQuotaRootCommand(string Tag, string Mailbox) : ImapCommand(Tag);

/// <summary>SETQUOTA (RFC 9208 §4.1.3).</summary>
public sealed record SetQuotaCommand(string Tag, string QuotaRoot, ValueList<QuotaLimit> Limits) : ImapCommand(Tag);

/// <summary>GETACL (RFC 4314 §3.3).</summary>
public sealed record GetAclCommand(string Tag, string Mailbox) : ImapCommand(Tag);

/// <summary>SETACL (RFC 4314 §3.1); <paramref name="Rights"/> keeps a leading "+" or "-" modifier.</summary>
public sealed record SetAclCommand(string Tag, string Mailbox, string Identifier, string Rights) : ImapCommand(Tag);

/// <summary>DELETEACL (RFC 4314 §3.2).</summary>
public sealed record DeleteAclCommand(string Tag, string Mailbox, string Identifier) : ImapCommand(Tag);

/// <summary>LISTRIGHTS (RFC 4314 §3.4).</summary>
public sealed record ListRightsCommand(string Tag, string Mailbox, string Identifier) : ImapCommand(Tag);

/// <summary>MYRIGHTS (RFC 4314 §3.5).</summary>
public sealed record MyRightsCommand(string Tag, string Mailbox) : ImapCommand(Tag);

// --- selected (RFC 9051 §6.4) ---

/// <summary>CHECK (RFC 3501 §6.4.1; removed by RFC 9051 where it is NOOP-like).</summary>
public sealed record CheckCommand(string Tag) : ImapCommand(Tag);

/// <summary>CLOSE (RFC 9051 §6.4.1).</summary>
public sealed record CloseCommand(string Tag) : ImapCommand(Tag);

/// <summary>UNSELECT (RFC 9051 §6.4.2, RFC 3691).</summary>
public sealed record UnselectCommand(string Tag) : ImapCommand(Tag);

/// <summary>EXPUNGE (RFC 9051 §6.4.3), or UID EXPUNGE (RFC 9051 §6.4.9, RFC 4315) when <paramref name="Uids"/> is set.</summary>
public sealed record ExpungeCommand(string Tag, SequenceSet? Uids) : ImapCommand(Tag);

/// <summary>ESEARCH return options (RFC 9051 §6.4.4, RFC 4731 §3.1, RFC 5182 SAVE).</summary>
[Flags]
public enum SearchReturnOptions
{
    /// <summary>None given: with <c>RETURN ()</c> means ALL (RFC 9051 §6.4.4).</summary>
    None = 0,
    /// <summary>MIN.</summary>
    Min = 1,
    /// <summary>MAX.</summary>
    Max = 2,
    /// <summary>ALL.</summary>
    All = 4,
    /// <summary>COUNT.</summary>
    Count = 8,
    /// <summary>SAVE (RFC 5182).</summary>
    Save = 16,
    /// <summary>PARTIAL (RFC 9394): the range is <see cref="SearchCommand.Partial"/> / <see cref="SortCommand.Partial"/>.</summary>
    Partial = 32,
    /// <summary>UPDATE (RFC 5267 §4.1): keep the result current with ADDTO / REMOVEFROM until CANCELUPDATE.</summary>
    Update = 64,
    /// <summary>CONTEXT (RFC 5267 §4.2): a hint that the client may ask for more of the result; no effect on the reply.</summary>
    Context = 128,
}

/// <summary>
/// A PARTIAL range (RFC 9394 §3.1): positions in the result, 1-based, <see cref="Low"/> ≤ <see cref="High"/>; counted
/// from the end (-1 is the last) when <see cref="FromEnd"/>. Written back as <c>low:high</c> or <c>-low:-high</c>.
/// </summary>
public sealed record PartialRange(bool FromEnd, uint Low, uint High)
{
    /// <summary>The range as the client wrote it, ends in either order.</summary>
    public static PartialRange Of(bool fromEnd, uint first, uint last) => new(fromEnd, Math.Min(first, last), Math.Max(first, last));

    /// <summary>The 0-based start and the count of the positions this range takes from a result of <paramref name="count"/>.</summary>
    public (int Start, int Length) Window(int count)
    {
        long start, end; // inclusive, 0-based
        if (FromEnd)
        {
            start = count - (long)High;
            end = count - (long)Low;
        }
        else
        {
            start = Low - 1L;
            end = High - 1L;
        }
        start = Math.Max(start, 0);
        end = Math.Min(end, count - 1L);
        return end < start ? (0, 0) : ((int)start, (int)(end - start + 1));
    }

    /// <inheritdoc />
    public override string ToString() => FromEnd
        ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"-{Low}:-{High}")
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Low}:{High}");
}

/// <summary>
/// SEARCH or UID SEARCH (RFC 9051 §6.4.4). <paramref name="Return"/> is null for the RFC 3501 form (untagged SEARCH
/// response) and set for ESEARCH. <paramref name="Charset"/> is the CHARSET argument; strings in
/// <paramref name="Criteria"/> were decoded with it when it is UTF-8, US-ASCII or ISO-8859-1, and as Latin-1 (octet
/// preserving) otherwise, so the behaviour layer can answer <c>NO [BADCHARSET]</c> or re-decode.
/// </summary>
public sealed record SearchCommand(string Tag, bool Uid, string? Charset, SearchKey Criteria, SearchReturnOptions? Return) : ImapCommand(Tag)
{
    /// <summary>The PARTIAL range (RFC 9394) when <see cref="SearchReturnOptions.Partial"/> is given.</summary>
    public PartialRange? Partial { get; init; }
}

/// <summary>FETCH or UID FETCH (RFC 9051 §6.4.5) with CHANGEDSINCE / VANISHED modifiers (RFC 7162 §3.1.4, §3.2.6).
/// Macros ALL/FAST/FULL are expanded into their items.</summary>
public sealed record FetchCommand(string Tag, bool Uid, SequenceSet Set, ValueList<FetchItem> Items, ulong? ChangedSince, bool Vanished) : ImapCommand(Tag)
{
    /// <summary>The PARTIAL modifier (RFC 9394 §3.2): only this window of the messages the set names, in UID order.</summary>
    public PartialRange? Partial { get; init; }
}

/// <summary>How STORE changes flags (RFC 9051 §6.4.6).</summary>
public enum StoreMode
{
    /// <summary>FLAGS: replace.</summary>
    Replace,
    /// <summary>+FLAGS: add.</summary>
    Add,
    /// <summary>-FLAGS: remove.</summary>
    Remove,
}

/// <summary>STORE or UID STORE (RFC 9051 §6.4.6) with UNCHANGEDSINCE (RFC 7162 §3.1.3).</summary>
public sealed record StoreCommand(string Tag, bool Uid, SequenceSet Set, StoreMode Mode, bool Silent, ValueList<string> Flags, ulong? UnchangedSince) : ImapCommand(Tag);

/// <summary>COPY or UID COPY (RFC 9051 §6.4.7).</summary>
public sealed record CopyCommand(string Tag, bool Uid, SequenceSet Set, string Mailbox) : ImapCommand(Tag);

/// <summary>MOVE or UID MOVE (RFC 9051 §6.4.8, RFC 6851).</summary>
public sealed record MoveCommand(string Tag, bool Uid, SequenceSet Set, string Mailbox) : ImapCommand(Tag);

/// <summary>GETMETADATA DEPTH (RFC 5464 §4.2.2).</summary>
public enum MetadataDepth
{
    /// <summary>0: the entries named only.</summary>
    Zero,
    /// <summary>1: and their direct children.</summary>
    One,
    /// <summary>infinity: and every entry below them.</summary>
    Infinity,
}

/// <summary>GETMETADATA (RFC 5464 §4.2); <paramref name="Mailbox"/> "" names the server entries.</summary>
public sealed record GetMetadataCommand(string Tag, string Mailbox, ValueList<string> Entries, long? MaxSize, MetadataDepth Depth) : ImapCommand(Tag);

/// <summary>One entry of SETMETADATA: its value, or null (NIL) to remove it (RFC 5464 §4.3).</summary>
public sealed record MetadataEntry(string Name, byte[]? Value)
{
    /// <inheritdoc />
    public bool Equals(MetadataEntry? other) =>
        other is not null && Name == other.Name && (Value is null ? other.Value is null : other.Value is not null && Value.AsSpan().SequenceEqual(other.Value));

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Name, Value?.Length);
}

/// <summary>SETMETADATA (RFC 5464 §4.3); <paramref name="Mailbox"/> "" names the server entries.</summary>
public sealed record SetMetadataCommand(string Tag, string Mailbox, ValueList<MetadataEntry> Entries) : ImapCommand(Tag);

/// <summary>CANCELUPDATE (RFC 5267 §4.3): stop updating the search results of these command tags.</summary>
public sealed record CancelUpdateCommand(string Tag, ValueList<string> Tags) : ImapCommand(Tag);

/// <summary>A SORT key (RFC 5256 §3), optionally reversed.</summary>
public sealed record SortCriterion(SortKey Key, bool Reverse);

/// <summary>SORT keys (RFC 5256 §3; DISPLAYFROM/DISPLAYTO from RFC 5957).</summary>
public enum SortKey
{
    /// <summary>ARRIVAL.</summary>
    Arrival,
    /// <summary>CC.</summary>
    Cc,
    /// <summary>DATE.</summary>
    Date,
    /// <summary>FROM.</summary>
    From,
    /// <summary>SIZE.</summary>
    Size,
    /// <summary>SUBJECT.</summary>
    Subject,
    /// <summary>TO.</summary>
    To,
    /// <summary>DISPLAYFROM (RFC 5957).</summary>
    DisplayFrom,
    /// <summary>DISPLAYTO (RFC 5957).</summary>
    DisplayTo,
}

/// <summary>SORT or UID SORT (RFC 5256 §3); charset is mandatory; <paramref name="Return"/> is set for ESORT (RFC 5267).</summary>
public sealed record SortCommand(string Tag, bool Uid, ValueList<SortCriterion> Criteria, string Charset, SearchKey Search, SearchReturnOptions? Return) : ImapCommand(Tag)
{
    /// <summary>The PARTIAL range (RFC 9394) when <see cref="SearchReturnOptions.Partial"/> is given: positions in sort order.</summary>
    public PartialRange? Partial { get; init; }
}

/// <summary>THREAD or UID THREAD (RFC 5256 §3); algorithm upper-cased (ORDEREDSUBJECT, REFERENCES, ...).</summary>
public sealed record ThreadCommand(string Tag, bool Uid, string Algorithm, string Charset, SearchKey Search) : ImapCommand(Tag);

// --- NOTIFY (RFC 5465) ---

/// <summary>Which mailboxes an event group of NOTIFY applies to (RFC 5465 §6).</summary>
public enum NotifyFilter
{
    /// <summary><c>selected</c>: the selected mailbox; expunges are reported as soon as they happen (§6.1).</summary>
    Selected,
    /// <summary><c>selected-delayed</c>: the selected mailbox; expunges wait for a command that allows EXPUNGE (§6.2).</summary>
    SelectedDelayed,
    /// <summary><c>inboxes</c>: the mailboxes new mail is delivered to (§6.3).</summary>
    Inboxes,
    /// <summary><c>personal</c>: every mailbox of the user's personal namespace (§6.4).</summary>
    Personal,
    /// <summary><c>subscribed</c>: every subscribed mailbox, as the subscriptions are when an event happens (§6.5).</summary>
    Subscribed,
    /// <summary><c>subtree</c>: the named mailboxes and all below them (§6.6).</summary>
    Subtree,
    /// <summary><c>mailboxes</c>: the named mailboxes only (§6.7).</summary>
    Mailboxes,
}

/// <summary>One event of a NOTIFY event group (RFC 5465 §5): its name as the RFC spells it for the events the grammar
/// defines, upper-cased for any other (<c>event-ext</c>); <paramref name="FetchItems"/> only for <c>MessageNew</c>.</summary>
public sealed record NotifyEvent(string Name, ValueList<FetchItem>? FetchItems = null);

/// <summary>One event group: a filter, the mailbox names it takes (wire form; <c>subtree</c> and <c>mailboxes</c> only),
/// and its events (empty for <c>NONE</c>).</summary>
public sealed record NotifyEventGroup(NotifyFilter Filter, ValueList<string> Mailboxes, ValueList<NotifyEvent> Events);

/// <summary>
/// NOTIFY (RFC 5465 §3): <c>NOTIFY NONE</c> (<paramref name="Groups"/> null) or <c>NOTIFY SET [STATUS] group...</c>,
/// which replaces what an earlier NOTIFY asked for.
/// </summary>
public sealed record NotifyCommand(string Tag, bool Status, ValueList<NotifyEventGroup>? Groups) : ImapCommand(Tag);
