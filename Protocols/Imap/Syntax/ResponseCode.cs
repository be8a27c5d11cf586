namespace MailServer.Protocols.Imap.Syntax;

/// <summary>Status of a tagged or untagged status response (RFC 9051 §7.1).</summary>
public enum ImapStatus
{
    /// <summary>OK.</summary>
    Ok,
    /// <summary>NO: operational error.</summary>
    No,
    /// <summary>BAD: protocol-level error.</summary>
    Bad,
    /// <summary>PREAUTH greeting (untagged only).</summary>
    PreAuth,
    /// <summary>BYE (untagged only).</summary>
    Bye,
}

/// <summary>
/// A response code, the bracketed <c>resp-text-code</c> of RFC 9051 §7.1, named by what it tells the client.
/// Each record writes its own wire form.
/// </summary>
public abstract record ResponseCode
{
    private protected ResponseCode() { }

    /// <summary>Writes the code between the brackets.</summary>
    internal abstract void WriteTo(ImapResponseWriter w);

    private sealed record Simple(string Atom) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w) => w.Atom(Atom);
    }

    /// <summary>ALERT: the text must be shown to the user (RFC 9051 §7.1).</summary>
    public static ResponseCode Alert { get; } = new Simple("ALERT");
    /// <summary>PARSE: a message could not be parsed.</summary>
    public static ResponseCode ParseFailure { get; } = new Simple("PARSE");
    /// <summary>READ-ONLY: the mailbox is selected read-only.</summary>
    public static ResponseCode ReadOnly { get; } = new Simple("READ-ONLY");
    /// <summary>READ-WRITE: the mailbox is selected read-write.</summary>
    public static ResponseCode ReadWrite { get; } = new Simple("READ-WRITE");
    /// <summary>TRYCREATE: the target mailbox does not exist but could be created.</summary>
    public static ResponseCode TryCreate { get; } = new Simple("TRYCREATE");
    /// <summary>UIDNOTSTICKY: UIDs are not kept between sessions (RFC 4315).</summary>
    public static ResponseCode UidNotSticky { get; } = new Simple("UIDNOTSTICKY");
    /// <summary>CLOSED: the previous mailbox was closed by SELECT/EXAMINE (RFC 9051 §7.1, RFC 7162).</summary>
    public static ResponseCode MailboxClosed { get; } = new Simple("CLOSED");
    /// <summary>NOMODSEQ: the mailbox has no mod-sequences (RFC 7162 §3.1.2.2).</summary>
    public static ResponseCode NoModSeq { get; } = new Simple("NOMODSEQ");
    /// <summary>COMPRESSIONACTIVE: compression is already on (RFC 4978).</summary>
    public static ResponseCode CompressionActive { get; } = new Simple("COMPRESSIONACTIVE");
    /// <summary>OVERQUOTA: the operation would exceed a quota (RFC 9051 §7.1).</summary>
    public static ResponseCode OverQuota { get; } = new Simple("OVERQUOTA");
    /// <summary>ALREADYEXISTS: the named mailbox exists.</summary>
    public static ResponseCode AlreadyExists { get; } = new Simple("ALREADYEXISTS");
    /// <summary>NONEXISTENT: the named mailbox does not exist.</summary>
    public static ResponseCode NonExistent { get; } = new Simple("NONEXISTENT");
    /// <summary>CANNOT: the operation violates an invariant of the server.</summary>
    public static ResponseCode Cannot { get; } = new Simple("CANNOT");
    /// <summary>LIMIT: a server limit was reached.</summary>
    public static ResponseCode LimitReached { get; } = new Simple("LIMIT");
    /// <summary>AUTHENTICATIONFAILED: wrong credentials.</summary>
    public static ResponseCode AuthenticationFailed { get; } = new Simple("AUTHENTICATIONFAILED");
    /// <summary>AUTHORIZATIONFAILED: authenticated, but not allowed to act as the requested identity.</summary>
    public static ResponseCode AuthorizationFailed { get; } = new Simple("AUTHORIZATIONFAILED");
    /// <summary>EXPIRED: the credentials have expired.</summary>
    public static ResponseCode CredentialsExpired { get; } = new Simple("EXPIRED");
    /// <summary>PRIVACYREQUIRED: the operation needs TLS.</summary>
    public static ResponseCode PrivacyRequired { get; } = new Simple("PRIVACYREQUIRED");
    /// <summary>CONTACTADMIN: the user should contact the administrator.</summary>
    public static ResponseCode ContactAdmin { get; } = new Simple("CONTACTADMIN");
    /// <summary>NOPERM: access control forbids the operation.</summary>
    public static ResponseCode NoPermission { get; } = new Simple("NOPERM");
    /// <summary>INUSE: the resource is in use by another session.</summary>
    public static ResponseCode InUse { get; } = new Simple("INUSE");
    /// <summary>EXPUNGEISSUED: messages were expunged by another session.</summary>
    public static ResponseCode ExpungeIssued { get; } = new Simple("EXPUNGEISSUED");
    /// <summary>CORRUPTION: the server found corrupt data.</summary>
    public static ResponseCode Corruption { get; } = new Simple("CORRUPTION");
    /// <summary>SERVERBUG: the server hit a bug.</summary>
    public static ResponseCode ServerBug { get; } = new Simple("SERVERBUG");
    /// <summary>CLIENTBUG: the client's command was valid but pointless or wrong.</summary>
    public static ResponseCode ClientBug { get; } = new Simple("CLIENTBUG");
    /// <summary>UNAVAILABLE: temporary failure; retry later.</summary>
    public static ResponseCode Unavailable { get; } = new Simple("UNAVAILABLE");
    /// <summary>TOOBIG: the data is too large (defined by RFC 4469; servers also use it to refuse oversized literals).</summary>
    public static ResponseCode TooBig { get; } = new Simple("TOOBIG");
    /// <summary>HASCHILDREN: the mailbox has children (RFC 9051 §7.1).</summary>
    public static ResponseCode HasChildren { get; } = new Simple("HASCHILDREN");
    /// <summary>UNKNOWN-CTE: the server cannot decode the part's transfer encoding (RFC 3516 §4.3).</summary>
    public static ResponseCode UnknownTransferEncoding { get; } = new Simple("UNKNOWN-CTE");
    /// <summary>USEATTR: the special-use attribute of CREATE cannot be given (RFC 6154 §3).</summary>
    public static ResponseCode UseAttribute { get; } = new Simple("USEATTR");
    /// <summary>NOTSAVED: SEARCH SAVE did not save a result (RFC 5182 §2.4).</summary>
    public static ResponseCode NotSaved { get; } = new Simple("NOTSAVED");
    /// <summary>METADATA LONGENTRIES n / MAXSIZE n / TOOMANY / NOPRIVATE (RFC 5464 §4.2.1, §4.3).</summary>
    public sealed record Metadata(string Kind, long? Value = null) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w)
        {
            w.Atom("METADATA").Atom(Kind);
            if (Value is { } value)
                w.Number((ulong)value);
        }
    }

    /// <summary>NOUPDATE "tag": the server will not keep that search result updated (RFC 5267 §4.3).</summary>
    public sealed record NoUpdate(string Tag) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w) => w.Atom("NOUPDATE").String(Tag);
    }

    /// <summary>UIDREQUIRED: a command used message sequence numbers after ENABLE UIDONLY (RFC 9586 §3.2).</summary>
    public static ResponseCode UidRequired { get; } = new Simple("UIDREQUIRED");

    /// <summary>NOTIFICATIONOVERFLOW: the server could not keep up with the events the client asked for and stopped
    /// sending them, as after NOTIFY NONE (RFC 5465 §5.8).</summary>
    public static ResponseCode NotificationOverflow { get; } = new Simple("NOTIFICATIONOVERFLOW");

    /// <summary>BADEVENT (event ...): NOTIFY named an event the server does not offer; the list is the events it
    /// does (RFC 5465 §5.9).</summary>
    public sealed record UnsupportedEvents(ValueList<string> Supported) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w)
        {
            w.Atom("BADEVENT").BeginList();
            foreach (var name in Supported)
                w.Atom(name);
            w.EndList();
        }
    }

    /// <summary>CAPABILITY list (RFC 9051 §7.1).</summary>
    public sealed record Capabilities(ValueList<string> Names) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w)
        {
            w.Atom("CAPABILITY");
            foreach (var name in Names)
            {
                w.Atom(name);
            }
        }
    }

    /// <summary>BADCHARSET with the supported charsets (RFC 9051 §7.1).</summary>
    public sealed record UnsupportedCharset(ValueList<string> Supported) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w)
        {
            w.Atom("BADCHARSET");
            if (Supported.Count > 0)
            {
                w.BeginList();
                foreach (var c in Supported)
                {
                    w.AString(c);
                }
                w.EndList();
            }
        }
    }

    /// <summary>PERMANENTFLAGS: flags the client can change permanently (include <c>\*</c> for keywords).</summary>
    public sealed record PermanentFlags(ValueList<string> Flags) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w)
        {
            w.Atom("PERMANENTFLAGS");
            w.FlagList(Flags);
        }
    }

    /// <summary>UIDNEXT: the next UID to be assigned.</summary>
    public sealed record NextUid(uint Uid) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w) => w.Atom("UIDNEXT").Number(Uid);
    }

    /// <summary>UIDVALIDITY of the mailbox.</summary>
    public sealed record MailboxUidValidity(uint Value) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w) => w.Atom("UIDVALIDITY").Number(Value);
    }

    /// <summary>UNSEEN: sequence number of the first unseen message (RFC 3501 §7.1).</summary>
    public sealed record FirstUnseen(uint SequenceNumber) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w) => w.Atom("UNSEEN").Number(SequenceNumber);
    }

    /// <summary>APPENDUID: the UIDs given to appended messages (RFC 4315 §3, RFC 9051 §7.1).</summary>
    public sealed record AppendedUids(uint UidValidity, ResolvedSequenceSet Uids) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w) =>
            w.Atom("APPENDUID").Number(UidValidity).Atom(Uids.ToString());
    }

    /// <summary>COPYUID: source UIDs and the UIDs of their copies, in matching order (RFC 4315 §3).</summary>
    public sealed record CopiedUids(uint UidValidity, ResolvedSequenceSet SourceUids, ResolvedSequenceSet DestinationUids) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w) =>
            w.Atom("COPYUID").Number(UidValidity).Atom(SourceUids.ToString()).Atom(DestinationUids.ToString());
    }

    /// <summary>MAILBOXID of a selected or created mailbox (RFC 8474 §4).</summary>
    public sealed record MailboxObjectId(string Id) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w) => w.Atom("MAILBOXID").BeginList().Atom(Id).EndList();
    }

    /// <summary>HIGHESTMODSEQ of the mailbox (RFC 7162 §3.1.2.1).</summary>
    public sealed record HighestModSeq(ulong Value) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w) => w.Atom("HIGHESTMODSEQ").Number(Value);
    }

    /// <summary>MODIFIED: messages that failed an UNCHANGEDSINCE test (RFC 7162 §3.1.3).</summary>
    public sealed record ModifiedSince(ResolvedSequenceSet Set) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w) => w.Atom("MODIFIED").Atom(Set.ToString());
    }

    /// <summary>BADURL: the first CATENATE URL that could not be used (RFC 4469 §3, §5: the url-resp-text is the bare
    /// URL, RFC 4469 erratum 4046). Characters a resp-text cannot carry (controls, non-ASCII, "]") are percent-encoded.</summary>
    public sealed record BadUrl(string Url) : ResponseCode
    {
        internal override void WriteTo(ImapResponseWriter w)
        {
            var text = new System.Text.StringBuilder(Url.Length);
            foreach (var b in System.Text.Encoding.UTF8.GetBytes(Url))
            {
                if (b is < 0x21 or > 0x7E || b == (byte)']')
                    text.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
                else
                    text.Append((char)b);
            }
            w.Atom("BADURL").Atom(text.ToString());
        }
    }
}
