using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Messages;

/// <summary>
/// What SEARCH, SORT and THREAD know about one message. <paramref name="Headers"/> and <paramref name="Full"/> are
/// called only when a key needs them (see <see cref="SearchEvaluator.NeedsHeaders"/>); they may return the same
/// cached view. <paramref name="Now"/> is the clock for OLDER / YOUNGER (RFC 5032); null means the system clock.
/// </summary>
public sealed record SearchContext(uint SequenceNumber, uint Uid, MessageFlags Flags, IReadOnlyList<string> Keywords,
    DateTimeOffset InternalDate, long Size, ulong ModSeq, Func<ImapMessageView> Headers, Func<ImapMessageView> Full,
    bool Recent = false, DateTimeOffset? Now = null)
{
    /// <summary>When the message was saved into the mailbox (SAVEDATE, RFC 8514); defaults to the internal date.</summary>
    public DateTimeOffset? SavedAt { get; init; }

    /// <summary>The message's content key (EMAILID, RFC 8474; see <see cref="ObjectIds"/>).</summary>
    public UInt128 ContentKey { get; init; }

    /// <summary>When <see cref="Full"/> gives a streamed view (a big message), opens the message's stored stream, from
    /// which BODY / TEXT read the text parts by range; null when the view holds the message.</summary>
    public Func<Stream>? OpenBody { get; init; }
}

/// <summary>The outcome of checking a SEARCH / SORT / THREAD CHARSET argument (RFC 9051 §6.4.4).</summary>
public abstract record CharsetCheck
{
    private CharsetCheck() { }

    /// <summary>The charset is supported; the parser's decoded strings are final.</summary>
    public sealed record Supported : CharsetCheck;

    /// <summary>Answer <c>NO [BADCHARSET (...)]</c> with <see cref="Code"/>.</summary>
    public sealed record Unsupported(ResponseCode Code) : CharsetCheck;
}

/// <summary>Evaluates RFC 9051 §6.4.4 search keys against one message.</summary>
public static class SearchEvaluator
{
    /// <summary>The charsets SEARCH accepts, as advertised in BADCHARSET.</summary>
    public static IReadOnlyList<string> SupportedCharsets { get; } = ["UTF-8", "US-ASCII"];

    /// <summary>Checks a CHARSET argument: absent, UTF-8 and US-ASCII are supported (RFC 9051 §6.4.4 requires
    /// both); anything else is <c>NO [BADCHARSET (UTF-8 US-ASCII)]</c>.</summary>
    public static CharsetCheck CheckCharset(string? charset)
    {
        if (charset is null || SupportedCharsets.Contains(charset, StringComparer.OrdinalIgnoreCase) ||
            charset.Equals("UTF8", StringComparison.OrdinalIgnoreCase) || charset.Equals("ASCII", StringComparison.OrdinalIgnoreCase))
        {
            return new CharsetCheck.Supported();
        }
        return new CharsetCheck.Unsupported(new ResponseCode.UnsupportedCharset(new ValueList<string>(SupportedCharsets)));
    }

    /// <summary>True when the key reads header fields (HEADER, FROM, SUBJECT..., SENT* dates), so the caller loads
    /// the header section; TEXT needs the full message instead (<see cref="NeedsFullMessage"/>).</summary>
    public static bool NeedsHeaders(SearchKey key) => key switch
    {
        SearchKey.Header or SearchKey.Date { Field: SearchDateField.Sent } or SearchKey.Text => true,
        SearchKey.Not n => NeedsHeaders(n.Key),
        SearchKey.Or o => NeedsHeaders(o.Left) || NeedsHeaders(o.Right),
        SearchKey.And a => a.Keys.Any(NeedsHeaders),
        _ => false,
    };

    /// <summary>True when the key reads the body (BODY, TEXT).</summary>
    public static bool NeedsFullMessage(SearchKey key) => key switch
    {
        SearchKey.Body or SearchKey.Text => true,
        SearchKey.Not n => NeedsFullMessage(n.Key),
        SearchKey.Or o => NeedsFullMessage(o.Left) || NeedsFullMessage(o.Right),
        SearchKey.And a => a.Keys.Any(NeedsFullMessage),
        _ => false,
    };

    /// <summary>
    /// For keys that test system flags only, joined by AND, each flag possibly negated (ALL, UNSEEN, FLAGGED
    /// UNDELETED, ...): the <paramref name="mask"/> and <paramref name="value"/> such that a message matches exactly
    /// when <c>(flags &amp; mask) == value</c>. False for anything else (keywords, \Recent, OR, dates, a flag both
    /// required and refused), which the caller evaluates message by message.
    /// </summary>
    public static bool TryFlagMask(SearchKey key, out MessageFlags mask, out MessageFlags value)
    {
        ArgumentNullException.ThrowIfNull(key);
        mask = value = MessageFlags.None;
        return AddToMask(key, ref mask, ref value);
    }

    private static bool AddToMask(SearchKey key, ref MessageFlags mask, ref MessageFlags value)
    {
        switch (key)
        {
            case SearchKey.All:
                return true;
            case SearchKey.Flag f when SystemFlag(f.Name) is { } flag && flag != MessageFlags.None:
                return Require(flag, set: true, ref mask, ref value);
            case SearchKey.Not { Key: SearchKey.Flag f } when SystemFlag(f.Name) is { } flag && flag != MessageFlags.None:
                return Require(flag, set: false, ref mask, ref value);
            case SearchKey.And a:
                foreach (var k in a.Keys)
                    if (!AddToMask(k, ref mask, ref value))
                        return false;
                return true;
            default:
                return false;
        }
    }

    private static bool Require(MessageFlags flag, bool set, ref MessageFlags mask, ref MessageFlags value)
    {
        var wanted = set ? flag : MessageFlags.None;
        if ((mask & flag) != 0 && (value & flag) != wanted)
            return false; // both set and unset: no message matches; left to the general path, which says so
        mask |= flag;
        value = (value & ~flag) | wanted;
        return true;
    }

    /// <summary>Whether the message matches <paramref name="key"/>. For many messages prefer
    /// <see cref="CreateMatcher"/>, which resolves sequence sets once.</summary>
    /// <param name="key">The criteria.</param>
    /// <param name="context">The message.</param>
    /// <param name="largestSequence">The mailbox's message count, for <c>*</c> in sequence sets.</param>
    /// <param name="largestUid">The largest UID in the mailbox, for <c>*</c> in UID sets.</param>
    /// <param name="savedSequences">The SEARCHRES saved result (RFC 5182) as sequence numbers, for <c>$</c>.</param>
    /// <param name="savedUids">The saved result as UIDs, for <c>UID $</c>.</param>
    public static bool Matches(SearchKey key, SearchContext context, uint largestSequence, uint largestUid,
        ResolvedSequenceSet? savedSequences = null, ResolvedSequenceSet? savedUids = null) =>
        CreateMatcher(key, largestSequence, largestUid, savedSequences, savedUids).Matches(context);

    /// <summary>A reusable matcher for one search over one mailbox snapshot (parameters as for <see cref="Matches"/>;
    /// <c>isRecent</c> tells whether a UID is \Recent in the session, RFC 3501 §2.3.2, for RECENT / NEW / OLD over
    /// metadata alone, null when nothing is).</summary>
    public static SearchMatcher CreateMatcher(SearchKey key, uint largestSequence, uint largestUid,
        ResolvedSequenceSet? savedSequences = null, ResolvedSequenceSet? savedUids = null, Func<uint, bool>? isRecent = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        return new SearchMatcher(key, largestSequence, largestUid, savedSequences, savedUids) { IsRecent = isRecent };
    }

    /// <summary>Matches messages against one search key; sequence sets are resolved on first use. Thread-safe, so a
    /// content search may test several messages at once.</summary>
    public sealed class SearchMatcher
    {
        private readonly SearchKey _key;
        private readonly uint _largestSequence;
        private readonly uint _largestUid;
        private readonly ResolvedSequenceSet? _savedSequences;
        private readonly ResolvedSequenceSet? _savedUids;
        private readonly System.Collections.Concurrent.ConcurrentDictionary<SearchKey, ResolvedSequenceSet> _resolved = new(ReferenceEqualityComparer.Instance);

        /// <summary>Whether a UID is \Recent in the session; null when nothing is.</summary>
        internal Func<uint, bool>? IsRecent { get; init; }

        internal SearchMatcher(SearchKey key, uint largestSequence, uint largestUid, ResolvedSequenceSet? savedSequences, ResolvedSequenceSet? savedUids)
        {
            _key = key;
            _largestSequence = largestSequence;
            _largestUid = largestUid;
            _savedSequences = savedSequences;
            _savedUids = savedUids;
        }

        /// <summary>Whether <paramref name="context"/> matches; its loaders are called at most once each.</summary>
        public bool Matches(SearchContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            return new Evaluation(context, this).Eval(_key);
        }

        /// <summary>
        /// Whether the message matches, for keys that read metadata only (flags, dates, sizes, UIDs, sequence numbers,
        /// MODSEQ: neither <see cref="NeedsHeaders"/> nor <see cref="NeedsFullMessage"/>). Allocates nothing, so a
        /// flag search over 100,000 messages costs no garbage.
        /// </summary>
        /// <exception cref="InvalidOperationException">The key reads the header section or the body.</exception>
        public bool MatchesMetadata(uint sequenceNumber, MessageMeta meta, DateTimeOffset now)
        {
            ArgumentNullException.ThrowIfNull(meta);
            return CompileMetadata(now)(sequenceNumber, meta);
        }

        /// <summary>
        /// The key compiled once into a predicate over (sequence number, metadata): flag names, sequence sets and
        /// dates are resolved here rather than per message, so a flag search over 100,000 messages is a tight loop.
        /// <paramref name="now"/> is the clock for OLDER / YOUNGER (RFC 5032).
        /// </summary>
        /// <exception cref="InvalidOperationException">The key reads the header section or the body.</exception>
        public Func<uint, MessageMeta, bool> CompileMetadata(DateTimeOffset now)
        {
            var compiled = _compiled; // one reference read: safe when several threads test messages at once
            if (compiled is null || compiled.Now != now)
                _compiled = compiled = new CompiledMetadata(now, Compile(_key, now));
            return compiled.Predicate;
        }

        private CompiledMetadata? _compiled;

        /// <summary>
        /// The key compiled into a three-valued predicate over (sequence number, metadata) for a search helped by an
        /// index: metadata keys are decided as by <see cref="CompileMetadata"/>, content keys (BODY, TEXT, HEADER and
        /// its forms) by <paramref name="content"/> (true, false, or null when it cannot tell), SENT* dates never; NOT,
        /// OR and AND combine them by Kleene's logic. Null means the message must be read and tested with
        /// <see cref="Matches"/>; true and false are what <see cref="Matches"/> would answer.
        /// </summary>
        public Func<uint, MessageMeta, bool?> CompileDecision(DateTimeOffset now, Func<SearchKey, uint, bool?> content)
        {
            ArgumentNullException.ThrowIfNull(content);
            return Decide(_key, now, content);
        }

        private Func<uint, MessageMeta, bool?> Decide(SearchKey key, DateTimeOffset now, Func<SearchKey, uint, bool?> content)
        {
            switch (key)
            {
                case SearchKey.Body or SearchKey.Text or SearchKey.Header:
                    return (_, m) => content(key, m.Uid);
                case SearchKey.Date { Field: SearchDateField.Sent }:
                    return static (_, _) => null;
                case SearchKey.Not n:
                    var inner = Decide(n.Key, now, content);
                    return (s, m) => inner(s, m) is { } value ? !value : null;
                case SearchKey.Or o:
                    var left = Decide(o.Left, now, content);
                    var right = Decide(o.Right, now, content);
                    return (s, m) =>
                    {
                        var l = left(s, m);
                        if (l == true)
                            return true;
                        var r = right(s, m);
                        if (r == true)
                            return true;
                        return l == false && r == false ? false : null;
                    };
                case SearchKey.And a:
                    var all = a.Keys.Select(k => Decide(k, now, content)).ToArray();
                    return (s, m) =>
                    {
                        var unknown = false;
                        foreach (var part in all)
                        {
                            var value = part(s, m);
                            if (value == false)
                                return false;
                            unknown |= value is null;
                        }
                        return unknown ? null : true;
                    };
                default:
                    var compiled = Compile(key, now);
                    return (s, m) => compiled(s, m);
            }
        }

        private sealed record CompiledMetadata(DateTimeOffset Now, Func<uint, MessageMeta, bool> Predicate);

        private Func<uint, MessageMeta, bool> Compile(SearchKey key, DateTimeOffset now)
        {
            switch (key)
            {
                case SearchKey.All:
                    return static (_, _) => true;
                case SearchKey.Flag f:
                    var flag = SystemFlag(f.Name);
                    if (flag is null)
                    {
                        var isRecent = IsRecent;
                        return isRecent is null ? static (_, _) => false : (_, m) => isRecent(m.Uid); // \Recent
                    }
                    if (flag.Value != MessageFlags.None)
                    {
                        var bit = flag.Value;
                        return (_, m) => (m.Flags & bit) != 0;
                    }
                    var name = f.Name;
                    return (_, m) => HasKeyword(m.Keywords, name);
                case SearchKey.Date { Field: SearchDateField.Internal } d:
                    return (_, m) => DateMatches(d, m.InternalDate);
                case SearchKey.Date { Field: SearchDateField.Saved } d:
                    return (_, m) => DateMatches(d, m.SavedAt.ToUniversalTime());
                case SearchKey.SaveDateSupported:
                    return static (_, _) => true; // every folder keeps save dates (RFC 8514 §5)
                case SearchKey.EmailId e:
                    if (!ObjectIds.TryParseEmailId(e.Id, out var contentKey))
                        return static (_, _) => false;
                    return (_, m) => m.ContentKey == contentKey;
                case SearchKey.ThreadId:
                    return static (_, _) => false; // no thread ids are kept (RFC 8474 §5.2: THREADID is NIL)
                case SearchKey.Size s:
                    var octets = s.Octets;
                    return s.Larger ? (_, m) => m.Size > octets : (_, m) => m.Size < octets;
                case SearchKey.Within w:
                    return (_, m) => WithinMatches(w, now, m.InternalDate);
                case SearchKey.Sequence:
                    var sequences = Resolve(key);
                    return (n, _) => sequences.Contains(n);
                case SearchKey.Uid:
                    var uids = Resolve(key);
                    return (_, m) => uids.Contains(m.Uid);
                case SearchKey.ModSeq modSeq:
                    var least = modSeq.Value;
                    return (_, m) => m.ModSeq >= least;
                case SearchKey.Not n:
                    var inner = Compile(n.Key, now);
                    return (s, m) => !inner(s, m);
                case SearchKey.Or o:
                    var left = Compile(o.Left, now);
                    var right = Compile(o.Right, now);
                    return (s, m) => left(s, m) || right(s, m);
                case SearchKey.And a:
                    var all = a.Keys.Select(k => Compile(k, now)).ToArray();
                    if (all.Length == 1)
                        return all[0];
                    return (s, m) =>
                    {
                        foreach (var predicate in all)
                            if (!predicate(s, m))
                                return false;
                        return true;
                    };
                default:
                    throw new InvalidOperationException($"{key.GetType().Name} needs more than the message's metadata.");
            }
        }

        internal ResolvedSequenceSet Resolve(SearchKey key) =>
            _resolved.GetOrAdd(key, static (k, m) => k switch
            {
                SearchKey.Sequence s => s.Set.Resolve(m._largestSequence, m._savedSequences),
                SearchKey.Uid u => u.Set.Resolve(m._largestUid, m._savedUids),
                _ => throw new ArgumentOutOfRangeException(nameof(key)),
            }, this);
    }

    private sealed class Evaluation(SearchContext context, SearchMatcher matcher)
    {
        private ImapMessageView? _headers;
        private ImapMessageView? _full;

        private ImapMessageView HeaderView => _headers ??= _full ?? context.Headers();
        private ImapMessageView FullView => _full ??= context.Full();

        public bool Eval(SearchKey key) => key switch
        {
            SearchKey.All => true,
            SearchKey.Flag f => HasFlag(f.Name, context.Flags, context.Keywords, context.Recent),
            SearchKey.Header h => HeaderMatches(h.Field, h.Value),
            SearchKey.Body b => BodyContains(b.Value),
            // RFC 9051 §6.4.4 TEXT: "in the header or body of the message".
            SearchKey.Text t => HeaderView.GetHeaders().Any(f => Contains(f.Name + ": " + f.Value, t.Value)) || BodyContains(t.Value),
            // RFC 9051 §6.4.4: a missing or unparseable Date: falls back to the internal date (as RFC 5256 §2.2 does for SORT).
            SearchKey.Date d => DateMatches(d, d.Field switch
            {
                SearchDateField.Sent => HeaderView.SentDate ?? context.InternalDate,
                SearchDateField.Saved => (context.SavedAt ?? context.InternalDate).ToUniversalTime(),
                _ => context.InternalDate,
            }),
            SearchKey.SaveDateSupported => true,
            SearchKey.EmailId e => ObjectIds.TryParseEmailId(e.Id, out var contentKey) && context.ContentKey == contentKey,
            SearchKey.ThreadId => false,
            SearchKey.Size s => s.Larger ? context.Size > s.Octets : context.Size < s.Octets,
            SearchKey.Within w => WithinMatches(w, context.Now ?? DateTimeOffset.UtcNow, context.InternalDate),
            SearchKey.Sequence => matcher.Resolve(key).Contains(context.SequenceNumber),
            SearchKey.Uid => matcher.Resolve(key).Contains(context.Uid),
            // RFC 7162 §3.1.5: per-entry mod-sequences are not kept; the message's mod-sequence stands for all.
            SearchKey.ModSeq m => context.ModSeq >= m.Value,
            SearchKey.Not n => !Eval(n.Key),
            SearchKey.Or o => Eval(o.Left) || Eval(o.Right),
            SearchKey.And a => EvalAll(a.Keys),
            _ => throw new ArgumentOutOfRangeException(nameof(key)),
        };

        private bool EvalAll(IReadOnlyList<SearchKey> keys)
        {
            for (var i = 0; i < keys.Count; i++)
            {
                if (!Eval(keys[i]))
                {
                    return false;
                }
            }
            return true;
        }

        private bool HeaderMatches(string field, string value)
        {
            // RFC 9051 §6.4.4 HEADER: an empty string matches every message that has the field.
            foreach (var text in HeaderView.GetHeaderValues(field))
            {
                if (value.Length == 0 || Contains(text, value))
                {
                    return true;
                }
            }
            // FROM / TO / CC / BCC search the addresses (RFC 9051 §6.4.4: "the envelope structure's ... field"), so an
            // address written with comments or folding whitespace (RFC 5322 §3.2.2 CFWS) matches as user@domain.
            if (IsAddressField(field))
            {
                foreach (var mailbox in HeaderView.GetAddresses(field).Mailboxes)
                {
                    if (Contains(mailbox.Address, value) || (mailbox.Name is { Length: > 0 } name && Contains(name, value)))
                    {
                        return true;
                    }
                }
            }
            return false;
        }

        private static bool IsAddressField(string field) =>
            field.Equals("From", StringComparison.OrdinalIgnoreCase) || field.Equals("To", StringComparison.OrdinalIgnoreCase)
            || field.Equals("Cc", StringComparison.OrdinalIgnoreCase) || field.Equals("Bcc", StringComparison.OrdinalIgnoreCase)
            || field.Equals("Sender", StringComparison.OrdinalIgnoreCase) || field.Equals("Reply-To", StringComparison.OrdinalIgnoreCase);

        private bool BodyContains(string value)
        {
            if (!FullView.IsStreamed || context.OpenBody is not { } open)
                return FullView.GetBodyTexts().Any(text => Contains(text, value));
            using var body = open();
            return FullView.GetBodyTexts(body).Any(text => Contains(text, value));
        }
    }

    private static bool HasFlag(string name, MessageFlags flags, IReadOnlyList<string> keywords, bool recent)
    {
        // Compared in place: this runs once per message of the folder, so it allocates nothing.
        var flag = SystemFlag(name);
        if (flag is null)
        {
            return recent;
        }
        if (flag != MessageFlags.None)
        {
            return (flags & flag.Value) != 0;
        }
        return HasKeyword(keywords, name);
    }

    private static bool HasKeyword(IReadOnlyList<string> keywords, string name)
    {
        // Keywords compare case-insensitively (RFC 9051 §2.3.2 flag names are atoms, matched case-insensitively).
        for (var i = 0; i < keywords.Count; i++)
        {
            if (string.Equals(keywords[i], name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The system flag <paramref name="name"/> names; null for \Recent, <see cref="MessageFlags.None"/> for a keyword.</summary>
    private static MessageFlags? SystemFlag(string name)
    {
        if (name.Length == 0 || name[0] != '\\')
        {
            return MessageFlags.None;
        }
        if (name.Equals("\\Seen", StringComparison.OrdinalIgnoreCase)) return MessageFlags.Seen;
        if (name.Equals("\\Answered", StringComparison.OrdinalIgnoreCase)) return MessageFlags.Answered;
        if (name.Equals("\\Flagged", StringComparison.OrdinalIgnoreCase)) return MessageFlags.Flagged;
        if (name.Equals("\\Deleted", StringComparison.OrdinalIgnoreCase)) return MessageFlags.Deleted;
        if (name.Equals("\\Draft", StringComparison.OrdinalIgnoreCase)) return MessageFlags.Draft;
        if (name.Equals("\\Recent", StringComparison.OrdinalIgnoreCase)) return null;
        return MessageFlags.None;
    }

    private static bool DateMatches(SearchKey.Date d, DateTimeOffset when)
    {
        // RFC 9051 §6.4.4: dates compare "disregarding time and timezone": the date as seen in the value's own zone.
        var date = DateOnly.FromDateTime(when.DateTime);
        return d.Comparison switch
        {
            SearchDateComparison.Before => date < d.Value,
            SearchDateComparison.On => date == d.Value,
            SearchDateComparison.Since => date >= d.Value,
            _ => throw new ArgumentOutOfRangeException(nameof(d)),
        };
    }

    private static bool WithinMatches(SearchKey.Within w, DateTimeOffset now, DateTimeOffset internalDate)
    {
        // RFC 5032: OLDER n = internal date at least n seconds ago; YOUNGER n = less than n seconds ago.
        var age = now - internalDate;
        return w.Older ? age.TotalSeconds >= w.Seconds : age.TotalSeconds < w.Seconds;
    }

    /// <summary>Substring match, case-insensitive (RFC 9051 §6.4.4; an approximation of i;unicode-casemap).
    /// Runs of whitespace (including line breaks) compare as one space on both sides, so a phrase matches across
    /// a wrapped line.</summary>
    internal static bool Contains(string text, string value)
    {
        if (value.Length == 0)
        {
            return true;
        }
        var needle = CollapseWhitespace(value);
        if (text.Contains(needle, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        // A needle without whitespace matches the collapsed text only where it matches the text itself (collapsing
        // leaves runs of non-space characters as they are), so the copy is made only for a phrase.
        return needle.Contains(' ', StringComparison.Ordinal) &&
               CollapseWhitespace(text).Contains(needle, StringComparison.OrdinalIgnoreCase);
    }

    private static string CollapseWhitespace(string text)
    {
        var sb = new System.Text.StringBuilder(text.Length);
        var space = false;
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c))
            {
                space = true;
                continue;
            }
            if (space && sb.Length > 0)
            {
                sb.Append(' ');
            }
            space = false;
            sb.Append(c);
        }
        if (space && sb.Length > 0)
        {
            sb.Append(' ');
        }
        return sb.ToString();
    }
}
