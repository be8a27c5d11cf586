using System.Text;
using System.Text.Unicode;

namespace MailServer.Protocols.Imap.Syntax;

/// <summary>The outcome of parsing one framed command: a closed set.</summary>
public abstract record ParseResult
{
    private ParseResult() { }

    /// <summary>The command matched the grammar.</summary>
    public sealed record Ok(ImapCommand Command) : ParseResult;

    /// <summary>
    /// The command did not match the grammar: answer <c>tag BAD reason</c>, or <c>* BAD reason</c> when
    /// <paramref name="Tag"/> is null (no valid tag, RFC 9051 §7.1.3).
    /// </summary>
    public sealed record Bad(string? Tag, string Reason) : ParseResult;
}

/// <summary>
/// Turns one framed command (see <see cref="ImapCommandFramer"/>) into an <see cref="ImapCommand"/> record,
/// following the formal syntax of RFC 9051 §9, the RFC 3501 §9 forms clients still send, and the extensions named
/// on each record. Pure: no state, no I/O; it never throws for any input.
/// </summary>
public static class ImapCommandParser
{
    /// <summary>Parses a framed command; literal contents in the result are slices of <paramref name="command"/>.</summary>
    public static ParseResult Parse(ReadOnlyMemory<byte> command, ImapSyntaxLimits? limits = null)
    {
        limits ??= ImapSyntaxLimits.Default;
        var reader = new ImapReader(command);
        string? tag = null;
        try
        {
            tag = reader.ReadTag();
            reader.ExpectSpace();
            var name = reader.ReadKeyword();
            var parsed = new CommandParser(reader, tag, limits).ParseCommand(name);
            reader.ExpectEnd();
            return new ParseResult.Ok(parsed);
        }
        catch (ImapSyntaxException e)
        {
            return new ParseResult.Bad(tag, e.Message);
        }
    }

    /// <summary>Parses a command held in a span (copied, so literal slices stay valid).</summary>
    public static ParseResult Parse(ReadOnlySpan<byte> command, ImapSyntaxLimits? limits = null) =>
        Parse(new ReadOnlyMemory<byte>(command.ToArray()), limits);

    /// <summary>Parses a command given as text (tests, tools); UTF-8 encoded first.</summary>
    public static ParseResult Parse(string command, ImapSyntaxLimits? limits = null) =>
        Parse(new ReadOnlyMemory<byte>(Encoding.UTF8.GetBytes(command)), limits);

    /// <summary>Parses a section-spec (RFC 9051 §9) as written in an IMAP URL's <c>;SECTION=</c> (RFC 5092 §3, already
    /// percent-decoded): <c>HEADER</c>, <c>1.MIME</c>, <c>2.TEXT</c>, <c>HEADER.FIELDS (TO)</c>; empty for the whole message.</summary>
    /// <returns>The section, or null when the text is not a section-spec.</returns>
    public static BodySection? ParseSectionSpec(string text)
    {
        try
        {
            var reader = new ImapReader(Encoding.UTF8.GetBytes("[" + text + "]"));
            var section = new CommandParser(reader, "*", ImapSyntaxLimits.Default).ReadSection();
            reader.ExpectEnd();
            return section;
        }
        catch (ImapSyntaxException)
        {
            return null;
        }
    }

    private sealed class CommandParser(ImapReader r, string tag, ImapSyntaxLimits limits)
    {
        private int _searchDepth;

        public ImapCommand ParseCommand(string name) => name switch
        {
            "CAPABILITY" => new CapabilityCommand(tag),
            "NOOP" => new NoopCommand(tag),
            "LOGOUT" => new LogoutCommand(tag),
            "STARTTLS" => new StartTlsCommand(tag),
            "AUTHENTICATE" => Authenticate(),
            "LOGIN" => Login(),
            "ENABLE" => Enable(),
            "ID" => Id(),
            "COMPRESS" => new CompressCommand(tag, SpaceThen(() => r.ReadKeyword())),
            "SELECT" => Select(readOnly: false),
            "EXAMINE" => Select(readOnly: true),
            "CREATE" => Create(),
            "DELETE" => new DeleteCommand(tag, SpaceThen(r.ReadMailbox)),
            "RENAME" => Rename(),
            "SUBSCRIBE" => new SubscribeCommand(tag, SpaceThen(r.ReadMailbox)),
            "UNSUBSCRIBE" => new UnsubscribeCommand(tag, SpaceThen(r.ReadMailbox)),
            "LIST" => List(),
            "LSUB" => Lsub(),
            "NAMESPACE" => new NamespaceCommand(tag),
            "STATUS" => Status(),
            "APPEND" => Append(),
            "REPLACE" => Replace(uid: false),
            "CANCELUPDATE" => CancelUpdate(),
            "GETMETADATA" => GetMetadata(),
            "SETMETADATA" => SetMetadata(),
            "IDLE" => new IdleCommand(tag),
            "NOTIFY" => Notify(),
            "CHECK" => new CheckCommand(tag),
            "CLOSE" => new CloseCommand(tag),
            "UNSELECT" => new UnselectCommand(tag),
            "EXPUNGE" => new ExpungeCommand(tag, null),
            "SEARCH" => Search(uid: false),
            "FETCH" => Fetch(uid: false),
            "STORE" => Store(uid: false),
            "COPY" => CopyOrMove(uid: false, move: false),
            "MOVE" => CopyOrMove(uid: false, move: true),
            "SORT" => Sort(uid: false),
            "THREAD" => Thread(uid: false),
            "UID" => Uid(),
            "GETQUOTA" => new GetQuotaCommand(tag, SpaceThen(r.ReadAString)),
            "GETQUOTAROOT" => new GetQuotaRootCommand(tag, SpaceThen(r.ReadMailbox)),
            "SETQUOTA" => SetQuota(),
            "GETACL" => new GetAclCommand(tag, SpaceThen(r.ReadMailbox)),
            "MYRIGHTS" => new MyRightsCommand(tag, SpaceThen(r.ReadMailbox)),
            "LISTRIGHTS" => ListRights(),
            "SETACL" => SetAcl(),
            "DELETEACL" => DeleteAcl(),
            _ => throw new ImapSyntaxException($"Unknown command {name}"),
        };

        private T SpaceThen<T>(Func<T> read)
        {
            r.ExpectSpace();
            return read();
        }

        // RFC 9051 §9: uid = "UID" SP (copy / move / fetch / search / store / uid-expunge); SORT/THREAD per RFC 5256.
        private ImapCommand Uid()
        {
            r.ExpectSpace();
            var name = r.ReadKeyword();
            return name switch
            {
                "COPY" => CopyOrMove(uid: true, move: false),
                "MOVE" => CopyOrMove(uid: true, move: true),
                "FETCH" => Fetch(uid: true),
                "SEARCH" => Search(uid: true),
                "STORE" => Store(uid: true),
                "EXPUNGE" => new ExpungeCommand(tag, SpaceThen(r.ReadSequenceSet)),
                "SORT" => Sort(uid: true),
                "THREAD" => Thread(uid: true),
                "REPLACE" => Replace(uid: true), // RFC 8508 §6: uid-replace = "UID" SP replace
                _ => throw new ImapSyntaxException($"UID cannot prefix {name}"),
            };
        }

        // RFC 9051 §9: authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp]; initial-resp = (base64 / "=") (RFC 4959 §7).
        private AuthenticateCommand Authenticate()
        {
            r.ExpectSpace();
            var mechanism = r.ReadKeyword();
            byte[]? initial = null;
            if (r.TryConsume((byte)' '))
            {
                if (r.TryConsume((byte)'='))
                {
                    initial = [];
                }
                else
                {
                    initial = DecodeBase64(r.ReadAtom());
                }
            }
            return new AuthenticateCommand(tag, mechanism, initial);
        }

        private static byte[] DecodeBase64(string text) =>
            ImapBase64.TryDecode(Encoding.ASCII.GetBytes(text), out var bytes) ? bytes : throw new ImapSyntaxException("Invalid base64");

        // RFC 9051 §9: login = "LOGIN" SP userid SP password; both astring.
        private LoginCommand Login()
        {
            r.ExpectSpace();
            var user = r.ReadAString();
            r.ExpectSpace();
            var password = r.ReadAString();
            return new LoginCommand(tag, user, password);
        }

        // RFC 9051 §9: enable = "ENABLE" 1*(SP capability).
        private EnableCommand Enable()
        {
            var caps = new List<string>();
            do
            {
                r.ExpectSpace();
                caps.Add(r.ReadKeyword());
            }
            while (r.Peek() == ' ');
            return new EnableCommand(tag, ValueList<string>.Wrap(caps));
        }

        // RFC 2971 §4: id = "ID" SP id_params_list; id_params_list = "(" #(string SP nstring) ")" / nil.
        private IdCommand Id()
        {
            r.ExpectSpace();
            if (r.TryConsumeKeyword("NIL"))
            {
                return new IdCommand(tag, null);
            }
            r.Expect((byte)'(', "'(' or NIL");
            var pairs = new List<KeyValuePair<string, string?>>();
            if (!r.TryConsume((byte)')'))
            {
                do
                {
                    var key = r.ReadString();
                    r.ExpectSpace();
                    pairs.Add(new(key, r.ReadNString()));
                }
                while (r.TryConsume((byte)' '));
                r.Expect((byte)')', "')'");
            }
            return new IdCommand(tag, ValueList<KeyValuePair<string, string?>>.Wrap(pairs));
        }

        // RFC 9051 §9 select / examine with select-params (RFC 7162 §7: CONDSTORE, QRESYNC).
        private SelectCommand Select(bool readOnly)
        {
            r.ExpectSpace();
            var mailbox = r.ReadMailbox();
            var condStore = false;
            QResyncParameters? qresync = null;
            if (r.TryConsume((byte)' '))
            {
                r.Expect((byte)'(', "'('");
                do
                {
                    var param = r.ReadKeyword();
                    switch (param)
                    {
                        case "CONDSTORE" when !condStore:
                            condStore = true;
                            break;
                        case "QRESYNC" when qresync is null:
                            r.ExpectSpace();
                            qresync = QResync();
                            break;
                        default:
                            throw new ImapSyntaxException($"Unknown or repeated select parameter {param}");
                    }
                }
                while (r.TryConsume((byte)' '));
                r.Expect((byte)')', "')'");
            }
            return new SelectCommand(tag, mailbox, readOnly, condStore, qresync);
        }

        // RFC 7162 §7: "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")".
        private QResyncParameters QResync()
        {
            r.Expect((byte)'(', "'('");
            var validity = r.ReadNzNumber();
            r.ExpectSpace();
            var modseq = r.ReadModSeq();
            SequenceSet? knownUids = null, knownSeq = null, knownSeqUids = null;
            if (r.TryConsume((byte)' '))
            {
                if (r.Peek() != '(')
                {
                    knownUids = r.ReadSequenceSet();
                    if (r.TryConsume((byte)' ') && r.Peek() != '(')
                    {
                        throw r.Error("Expected '('");
                    }
                }
                if (r.TryConsume((byte)'('))
                {
                    knownSeq = r.ReadSequenceSet();
                    r.ExpectSpace();
                    knownSeqUids = r.ReadSequenceSet();
                    r.Expect((byte)')', "')'");
                }
            }
            r.Expect((byte)')', "')'");
            return new QResyncParameters(validity, modseq, knownUids, knownSeq, knownSeqUids);
        }

        // RFC 9051 §9 create = "CREATE" SP mailbox [create-params]; RFC 6154 §6: "USE" SP "(" [use-attr *(SP use-attr)] ")".
        private CreateCommand Create()
        {
            r.ExpectSpace();
            var mailbox = r.ReadMailbox();
            var uses = ValueList<string>.Empty;
            if (r.TryConsume((byte)' '))
            {
                r.Expect((byte)'(', "'('");
                if (!r.TryConsumeKeyword("USE"))
                {
                    throw r.Error("Unknown CREATE parameter");
                }
                r.ExpectSpace();
                uses = r.ReadParenthesized(x => x.ReadFlag(), allowEmpty: true);
                r.Expect((byte)')', "')'");
            }
            return new CreateCommand(tag, mailbox, uses);
        }

        private RenameCommand Rename()
        {
            r.ExpectSpace();
            var from = r.ReadMailbox();
            r.ExpectSpace();
            return new RenameCommand(tag, from, r.ReadMailbox());
        }

        // RFC 5258 §6: list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts].
        private ListCommand List()
        {
            r.ExpectSpace();
            var selection = ListSelectOptions.None;
            if (r.Peek() == '(')
            {
                foreach (var option in r.ReadParenthesized(x => x.ReadKeyword(), allowEmpty: true))
                {
                    selection |= option switch
                    {
                        "SUBSCRIBED" => ListSelectOptions.Subscribed,
                        "REMOTE" => ListSelectOptions.Remote,
                        "RECURSIVEMATCH" => ListSelectOptions.RecursiveMatch,
                        "SPECIAL-USE" => ListSelectOptions.SpecialUse,
                        _ => throw new ImapSyntaxException($"Unknown LIST selection option {option}"),
                    };
                }
                // RFC 5258 §3.1: RECURSIVEMATCH on its own (or with only REMOTE) is a syntax error.
                if (selection.HasFlag(ListSelectOptions.RecursiveMatch) &&
                    (selection & ~(ListSelectOptions.RecursiveMatch | ListSelectOptions.Remote)) == 0)
                {
                    throw new ImapSyntaxException("RECURSIVEMATCH needs another selection option");
                }
                r.ExpectSpace();
            }
            var reference = r.ReadAString();
            r.ExpectSpace();
            ValueList<string> patterns = r.Peek() == '('
                ? r.ReadParenthesized(x => x.ReadListMailbox())
                : ValueList.Of(r.ReadListMailbox());
            var ret = ListReturnOptions.None;
            var statusItems = ValueList<StatusItem>.Empty;
            if (r.TryConsume((byte)' '))
            {
                if (!r.TryConsumeKeyword("RETURN"))
                {
                    throw r.Error("Expected RETURN");
                }
                r.ExpectSpace();
                r.Expect((byte)'(', "'('");
                if (!r.TryConsume((byte)')'))
                {
                    do
                    {
                        var option = r.ReadKeyword();
                        switch (option)
                        {
                            case "SUBSCRIBED": ret |= ListReturnOptions.Subscribed; break;
                            case "CHILDREN": ret |= ListReturnOptions.Children; break;
                            case "SPECIAL-USE": ret |= ListReturnOptions.SpecialUse; break;
                            case "STATUS":
                                // RFC 5819 §2: "STATUS" SP "(" status-att *(SP status-att) ")".
                                r.ExpectSpace();
                                ret |= ListReturnOptions.Status;
                                statusItems = ReadStatusItems();
                                break;
                            default:
                                throw new ImapSyntaxException($"Unknown LIST return option {option}");
                        }
                    }
                    while (r.TryConsume((byte)' '));
                    r.Expect((byte)')', "')'");
                }
            }
            return new ListCommand(tag, reference, patterns, selection, ret, statusItems);
        }

        private LsubCommand Lsub()
        {
            r.ExpectSpace();
            var reference = r.ReadAString();
            r.ExpectSpace();
            return new LsubCommand(tag, reference, r.ReadListMailbox());
        }

        // RFC 9051 §9: status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")".
        private StatusCommand Status()
        {
            r.ExpectSpace();
            var mailbox = r.ReadMailbox();
            r.ExpectSpace();
            return new StatusCommand(tag, mailbox, ReadStatusItems());
        }

        private ValueList<StatusItem> ReadStatusItems() => r.ReadParenthesized(x => x.ReadKeyword() switch
        {
            "MESSAGES" => StatusItem.Messages,
            "UIDNEXT" => StatusItem.UidNext,
            "UIDVALIDITY" => StatusItem.UidValidity,
            "UNSEEN" => StatusItem.Unseen,
            "DELETED" => StatusItem.Deleted,
            "SIZE" => StatusItem.Size,
            "RECENT" => StatusItem.Recent,
            "HIGHESTMODSEQ" => StatusItem.HighestModSeq,
            "APPENDLIMIT" => StatusItem.AppendLimit,
            "MAILBOXID" => StatusItem.MailboxId, // RFC 8474 §4
            var other => throw new ImapSyntaxException($"Unknown STATUS item {other}"),
        });

        // RFC 9051 §9 append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal;
        // RFC 3502 §6: 1*append-message; RFC 3516 §6: literal8 for binary content; RFC 4469 §5: CATENATE.
        private AppendCommand Append()
        {
            r.ExpectSpace();
            var mailbox = r.ReadMailbox();
            var messages = new List<AppendMessage>();
            while (r.TryConsume((byte)' '))
            {
                messages.Add(ReadAppendMessage());
            }
            if (messages.Count == 0)
            {
                throw r.Error("Expected SP and message literal");
            }
            return new AppendCommand(tag, mailbox, ValueList<AppendMessage>.Wrap(messages));
        }

        // RFC 5464 §5: getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries;
        // getmetadata-option = "MAXSIZE" SP number / "DEPTH" SP ("0" / "1" / "infinity");
        // entries = entry / "(" entry *(SP entry) ")"; entry = astring.
        private GetMetadataCommand GetMetadata()
        {
            r.ExpectSpace();
            long? maxSize = null;
            var depth = MetadataDepth.Zero;
            if (r.Peek() == '(')
            {
                var seen = new HashSet<string>();
                r.ReadParenthesized(x =>
                {
                    var option = x.ReadKeyword();
                    if (!seen.Add(option))
                        throw new ImapSyntaxException($"{option} given twice");
                    x.ExpectSpace();
                    switch (option)
                    {
                        case "MAXSIZE":
                            maxSize = x.ReadNumber64();
                            break;
                        case "DEPTH":
                            depth = x.ReadAtom().ToUpperInvariant() switch
                            {
                                "0" => MetadataDepth.Zero,
                                "1" => MetadataDepth.One,
                                "INFINITY" => MetadataDepth.Infinity,
                                _ => throw new ImapSyntaxException("DEPTH is 0, 1 or infinity"),
                            };
                            break;
                        default:
                            throw new ImapSyntaxException($"Unknown GETMETADATA option {option}");
                    }
                    return option;
                });
                r.ExpectSpace();
            }
            var mailbox = r.ReadMailbox();
            r.ExpectSpace();
            var entries = r.Peek() == '(' ? r.ReadParenthesized(x => x.ReadAString()) : ValueList.Of(r.ReadAString());
            return new GetMetadataCommand(tag, mailbox, entries, maxSize, depth);
        }

        // RFC 5464 §5: setmetadata = "SETMETADATA" SP mailbox SP "(" entry-value *(SP entry-value) ")";
        // entry-value = entry SP value; value = nstring / literal8.
        private SetMetadataCommand SetMetadata()
        {
            r.ExpectSpace();
            var mailbox = r.ReadMailbox();
            r.ExpectSpace();
            var entries = r.ReadParenthesized(x =>
            {
                var name = x.ReadAString();
                x.ExpectSpace();
                // An atom is taken as well (MailKit sends one for a one-word value): astring is a superset of the grammar.
                var value = x.TryConsumeKeyword("NIL") ? null
                    : x.Peek() == '~' ? x.ReadStringBytes(allowLiteral8: true).ToArray() : x.ReadAStringBytes().ToArray();
                return new MetadataEntry(name, value);
            });
            return new SetMetadataCommand(tag, mailbox, entries);
        }

        // RFC 5267 §6: cancelupdate = "CANCELUPDATE" 1*(SP quoted); we take any string.
        private CancelUpdateCommand CancelUpdate()
        {
            var tags = new List<string>();
            while (r.TryConsume((byte)' '))
                tags.Add(r.ReadString());
            if (tags.Count == 0)
                throw r.Error("Expected SP and a tag");
            return new CancelUpdateCommand(tag, ValueList<string>.Wrap(tags));
        }

        // RFC 8508 §6: replace = "REPLACE" SP seq-number SP mailbox append-message; seq-number = nz-number / "*".
        private ReplaceCommand Replace(bool uid)
        {
            r.ExpectSpace();
            uint? number = r.TryConsume((byte)'*') ? null : r.ReadNzNumber();
            r.ExpectSpace();
            var mailbox = r.ReadMailbox();
            r.ExpectSpace();
            return new ReplaceCommand(tag, uid, number, mailbox, ReadAppendMessage());
        }

        // append-message = [flag-list SP] [date-time SP] (literal / literal8 / utf8-literal / catenate), the
        // leading SP already read.
        private AppendMessage ReadAppendMessage()
        {
            var flags = ValueList<string>.Empty;
            DateTimeOffset? date = null;
            if (r.Peek() == '(')
            {
                flags = r.ReadFlagList();
                r.ExpectSpace();
            }
            if (r.Peek() == '"')
            {
                date = r.ReadDateTime();
                r.ExpectSpace();
            }
            if (r.TryConsumeKeyword("UTF8"))
            {
                // RFC 6855 §4: utf8-literal = "UTF8" SP "(" literal8 ")".
                r.ExpectSpace();
                r.Expect((byte)'(', "'('");
                if (r.Peek() != '~')
                {
                    throw r.Error("Expected literal8 after UTF8 (");
                }
                var utf8Content = r.ReadStringBytes(allowLiteral8: true, out _);
                r.Expect((byte)')', "')'");
                return new AppendMessage(flags, date, utf8Content, Binary: false, Utf8: true);
            }
            if (r.TryConsumeKeyword("CATENATE"))
            {
                // RFC 4469 §5: catenate = "CATENATE" SP "(" cat-part *(SP cat-part) ")";
                // cat-part = text-literal / url; text-literal = "TEXT" SP literal; url = "URL" SP astring.
                // RFC 3516 §4.4: with BINARY the TEXT part may be a literal8.
                r.ExpectSpace();
                var parts = r.ReadParenthesized<CatenatePart>(x =>
                {
                    var kind = x.ReadKeyword();
                    x.ExpectSpace();
                    return kind switch
                    {
                        "TEXT" when x.Peek() is '{' or '~' => new CatenatePart.Text(x.ReadStringBytes(allowLiteral8: true, out var binary), binary),
                        "TEXT" => throw x.Error("Expected a literal after TEXT"),
                        "URL" => new CatenatePart.Url(x.ReadAString()),
                        _ => throw new ImapSyntaxException($"Unknown CATENATE part {kind}"),
                    };
                });
                return new AppendMessage(flags, date, ReadOnlyMemory<byte>.Empty, Binary: false) { Catenate = parts };
            }
            if (r.Peek() is not ('{' or '~'))
            {
                throw r.Error("Expected literal message data");
            }
            var content = r.ReadStringBytes(allowLiteral8: true, out var isBinary);
            return new AppendMessage(flags, date, content, isBinary);
        }

        // --- SEARCH (RFC 9051 §6.4.4, grammar §9) ---

        private SearchCommand Search(bool uid)
        {
            var (ret, partial) = ReadSearchReturnOptions();
            r.ExpectSpace();
            string? charset = null;
            if (r.TryConsumeKeyword("CHARSET"))
            {
                r.ExpectSpace();
                charset = ReadCharset();
                r.ExpectSpace();
            }
            var criteria = ReadSearchKeys(charset);
            return new SearchCommand(tag, uid, charset, criteria, ret) { Partial = partial };
        }

        // RFC 9051 §9: search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")";
        // RFC 9394 §5: search-return-opt =/ "PARTIAL" SP partial-range; RFC 5267 §6: "UPDATE" / "CONTEXT".
        private (SearchReturnOptions? Options, PartialRange? Partial) ReadSearchReturnOptions()
        {
            var save = r.Position;
            if (!(r.TryConsume((byte)' ') && r.TryConsumeKeyword("RETURN")))
            {
                r.Seek(save);
                return (null, null);
            }
            r.ExpectSpace();
            var options = SearchReturnOptions.None;
            PartialRange? partial = null;
            foreach (var option in r.ReadParenthesized(x =>
                     {
                         var keyword = x.ReadKeyword();
                         if (keyword == "PARTIAL")
                         {
                             if (partial is not null)
                                 throw new ImapSyntaxException("PARTIAL given twice");
                             x.ExpectSpace();
                             partial = ReadPartialRange();
                         }
                         return keyword;
                     }, allowEmpty: true))
            {
                options |= option switch
                {
                    "MIN" => SearchReturnOptions.Min,
                    "MAX" => SearchReturnOptions.Max,
                    "ALL" => SearchReturnOptions.All,
                    "COUNT" => SearchReturnOptions.Count,
                    "SAVE" => SearchReturnOptions.Save,
                    "PARTIAL" => SearchReturnOptions.Partial,
                    "UPDATE" => SearchReturnOptions.Update,
                    "CONTEXT" => SearchReturnOptions.Context,
                    _ => throw new ImapSyntaxException($"Unknown search return option {option}"),
                };
            }
            // RFC 9394 §3.1: PARTIAL and ALL are mutually exclusive.
            if (options.HasFlag(SearchReturnOptions.Partial) && options.HasFlag(SearchReturnOptions.All))
                throw new ImapSyntaxException("PARTIAL and ALL cannot be combined");
            return (options, partial);
        }

        // RFC 9394 §5: partial-range = partial-range-first / partial-range-last;
        // partial-range-first = nz-number ":" nz-number; partial-range-last = MINUS nz-number ":" MINUS nz-number.
        private PartialRange ReadPartialRange()
        {
            var negative = r.TryConsume((byte)'-');
            var first = r.ReadNzNumber();
            r.Expect((byte)':', "':'");
            if (negative)
                r.Expect((byte)'-', "'-' (both ends of a range counted from the end)");
            else if (r.Peek() == '-')
                throw r.Error("Both ends of a PARTIAL range must have the same sign");
            var last = r.ReadNzNumber();
            return PartialRange.Of(negative, first, last);
        }

        private string ReadCharset()
        {
            // RFC 9051 §9: charset = atom / quoted.
            var charset = r.Peek() == '"' ? r.ReadQuoted() : r.ReadAtom();
            return charset.ToUpperInvariant();
        }

        private SearchKey ReadSearchKeys(string? charset)
        {
            var keys = new List<SearchKey> { ReadSearchKey(charset) };
            while (r.TryConsume((byte)' '))
            {
                keys.Add(ReadSearchKey(charset));
            }
            return keys.Count == 1 ? keys[0] : new SearchKey.And(ValueList<SearchKey>.Wrap(keys));
        }

        private SearchKey ReadSearchKey(string? charset)
        {
            if (++_searchDepth > limits.MaxSearchDepth)
            {
                throw new ImapSyntaxException("Search keys nested too deeply");
            }
            try
            {
                return ReadSearchKeyCore(charset);
            }
            finally
            {
                _searchDepth--;
            }
        }

        private SearchKey ReadSearchKeyCore(string? charset)
        {
            var next = r.Peek();
            if (next == '(')
            {
                r.TryConsume((byte)'(');
                var inner = ReadSearchKeys(charset);
                r.Expect((byte)')', "')'");
                return inner is SearchKey.And ? inner : new SearchKey.And(ValueList.Of(inner));
            }
            if (next is (>= '0' and <= '9') or '*' or '$')
            {
                return new SearchKey.Sequence(r.ReadSequenceSet());
            }
            var key = r.ReadKeyword();
            switch (key)
            {
                case "ALL": return new SearchKey.All();
                case "ANSWERED": return new SearchKey.Flag("\\Answered");
                case "DELETED": return new SearchKey.Flag("\\Deleted");
                case "DRAFT": return new SearchKey.Flag("\\Draft");
                case "FLAGGED": return new SearchKey.Flag("\\Flagged");
                case "SEEN": return new SearchKey.Flag("\\Seen");
                case "RECENT": return new SearchKey.Flag("\\Recent");
                case "UNANSWERED": return Not(new SearchKey.Flag("\\Answered"));
                case "UNDELETED": return Not(new SearchKey.Flag("\\Deleted"));
                case "UNDRAFT": return Not(new SearchKey.Flag("\\Draft"));
                case "UNFLAGGED": return Not(new SearchKey.Flag("\\Flagged"));
                case "UNSEEN": return Not(new SearchKey.Flag("\\Seen"));
                // RFC 3501 §6.4.4: NEW = RECENT UNSEEN; OLD = NOT RECENT.
                case "NEW": return new SearchKey.And(ValueList.Of<SearchKey>(new SearchKey.Flag("\\Recent"), Not(new SearchKey.Flag("\\Seen"))));
                case "OLD": return Not(new SearchKey.Flag("\\Recent"));
                case "KEYWORD": return new SearchKey.Flag(SpaceThen(r.ReadAtom));
                case "UNKEYWORD": return Not(new SearchKey.Flag(SpaceThen(r.ReadAtom)));
                case "BCC" or "CC" or "FROM" or "SUBJECT" or "TO":
                    return new SearchKey.Header(key, SpaceThen(() => ReadSearchString(charset)));
                case "HEADER":
                {
                    var field = SpaceThen(r.ReadAString).ToUpperInvariant();
                    return new SearchKey.Header(field, SpaceThen(() => ReadSearchString(charset)));
                }
                case "BODY": return new SearchKey.Body(SpaceThen(() => ReadSearchString(charset)));
                case "TEXT": return new SearchKey.Text(SpaceThen(() => ReadSearchString(charset)));
                case "BEFORE": return Date(SearchDateField.Internal, SearchDateComparison.Before);
                case "ON": return Date(SearchDateField.Internal, SearchDateComparison.On);
                case "SINCE": return Date(SearchDateField.Internal, SearchDateComparison.Since);
                case "SENTBEFORE": return Date(SearchDateField.Sent, SearchDateComparison.Before);
                case "SENTON": return Date(SearchDateField.Sent, SearchDateComparison.On);
                case "SENTSINCE": return Date(SearchDateField.Sent, SearchDateComparison.Since);
                case "LARGER": return new SearchKey.Size(true, SpaceThen(r.ReadNumber64));
                case "SMALLER": return new SearchKey.Size(false, SpaceThen(r.ReadNumber64));
                case "SAVEDBEFORE": return Date(SearchDateField.Saved, SearchDateComparison.Before); // RFC 8514 §5
                case "SAVEDON": return Date(SearchDateField.Saved, SearchDateComparison.On);
                case "SAVEDSINCE": return Date(SearchDateField.Saved, SearchDateComparison.Since);
                case "SAVEDATESUPPORTED": return new SearchKey.SaveDateSupported();
                case "EMAILID": return new SearchKey.EmailId(SpaceThen(ReadObjectId)); // RFC 8474 §6
                case "THREADID": return new SearchKey.ThreadId(SpaceThen(ReadObjectId));
                case "OLDER": return new SearchKey.Within(true, SpaceThen(r.ReadNzNumber));
                case "YOUNGER": return new SearchKey.Within(false, SpaceThen(r.ReadNzNumber));
                case "UID": return new SearchKey.Uid(SpaceThen(r.ReadSequenceSet));
                case "NOT": return new SearchKey.Not(SpaceThen(() => ReadSearchKey(charset)));
                case "OR":
                {
                    var left = SpaceThen(() => ReadSearchKey(charset));
                    return new SearchKey.Or(left, SpaceThen(() => ReadSearchKey(charset)));
                }
                case "MODSEQ":
                {
                    // RFC 7162 §7: "MODSEQ" [search-modsequence-ext] SP mod-sequence-valzer;
                    // search-modsequence-ext = SP entry-name SP entry-type-req.
                    r.ExpectSpace();
                    string? entry = null, type = null;
                    if (r.Peek() == '"')
                    {
                        entry = r.ReadQuoted();
                        r.ExpectSpace();
                        type = r.ReadKeyword().ToLowerInvariant();
                        if (type is not ("priv" or "shared" or "all"))
                        {
                            throw new ImapSyntaxException("MODSEQ entry type must be priv, shared or all");
                        }
                        r.ExpectSpace();
                    }
                    return new SearchKey.ModSeq(r.ReadModSeq(), entry, type);
                }
                default:
                    throw new ImapSyntaxException($"Unknown search key {key}");
            }
        }

        private static SearchKey.Not Not(SearchKey key) => new(key);

        // RFC 8474 §7: objectid = 1*255(ALPHA / DIGIT / "_" / "-").
        private string ReadObjectId()
        {
            var id = r.ReadAtom();
            if (id.Length is 0 or > 255 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
                throw new ImapSyntaxException("An objectid is 1 to 255 letters, digits, '_' or '-'");
            return id;
        }

        private SearchKey.Date Date(SearchDateField field, SearchDateComparison comparison) =>
            new(field, comparison, SpaceThen(r.ReadDate));

        private string ReadSearchString(string? charset)
        {
            var bytes = r.ReadAStringBytes().Span;
            if (charset is null or "UTF-8" or "US-ASCII")
            {
                if (!Utf8.IsValid(bytes))
                {
                    throw new ImapSyntaxException("Search string is not valid UTF-8");
                }
                return Encoding.UTF8.GetString(bytes);
            }
            // ISO-8859-1 is Latin-1; any other charset is kept octet for octet for the behaviour layer.
            return Encoding.Latin1.GetString(bytes);
        }

        // --- NOTIFY (RFC 5465 §8) ---

        // notify = "NOTIFY" SP (notify-set / notify-none); notify-set = "SET" [SP "STATUS"] SP event-groups.
        private NotifyCommand Notify()
        {
            r.ExpectSpace();
            var verb = r.ReadKeyword();
            if (verb == "NONE")
                return new NotifyCommand(tag, false, null);
            if (verb != "SET")
                throw new ImapSyntaxException("NOTIFY takes SET or NONE");
            r.ExpectSpace();
            var status = false;
            if (r.Peek() != '(')
            {
                if (r.ReadKeyword() != "STATUS")
                    throw new ImapSyntaxException("Expected STATUS or an event group");
                status = true;
                r.ExpectSpace();
            }
            var groups = new List<NotifyEventGroup>();
            do
                groups.Add(ReadEventGroup());
            while (r.TryConsume((byte)' '));
            return new NotifyCommand(tag, status, ValueList<NotifyEventGroup>.Wrap(groups));
        }

        // event-group = "(" filter-mailboxes SP events ")"; events = "(" event *(SP event) ")" / "NONE".
        private NotifyEventGroup ReadEventGroup()
        {
            r.Expect((byte)'(', "'('");
            var filterName = r.ReadKeyword();
            var filter = filterName switch
            {
                "SELECTED" => NotifyFilter.Selected,
                "SELECTED-DELAYED" => NotifyFilter.SelectedDelayed,
                "INBOXES" => NotifyFilter.Inboxes,
                "PERSONAL" => NotifyFilter.Personal,
                "SUBSCRIBED" => NotifyFilter.Subscribed,
                "SUBTREE" => NotifyFilter.Subtree,
                "MAILBOXES" => NotifyFilter.Mailboxes,
                _ => throw new ImapSyntaxException($"Unknown NOTIFY filter {filterName}"),
            };
            var mailboxes = ValueList<string>.Empty;
            if (filter is NotifyFilter.Subtree or NotifyFilter.Mailboxes)
            {
                // one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"
                r.ExpectSpace();
                mailboxes = r.Peek() == '(' ? r.ReadParenthesized(x => x.ReadMailbox()) : ValueList.Of(r.ReadMailbox());
            }
            r.ExpectSpace();
            ValueList<NotifyEvent> events;
            if (r.Peek() == '(')
            {
                events = r.ReadParenthesized(_ => ReadNotifyEvent());
            }
            else
            {
                if (r.ReadKeyword() != "NONE")
                    throw new ImapSyntaxException("Expected an event list or NONE");
                events = ValueList<NotifyEvent>.Empty;
            }
            r.Expect((byte)')', "')'");
            return new NotifyEventGroup(filter, mailboxes, events);
        }

        private static readonly string[] NotifyEventNames =
            ["MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange", "MailboxName", "SubscriptionChange",
             "MailboxMetadataChange", "ServerMetadataChange"];

        // message-event = ("MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"]) / "MessageExpunge" / ...; event-ext = atom.
        private NotifyEvent ReadNotifyEvent()
        {
            var atom = r.ReadAtom();
            var name = NotifyEventNames.FirstOrDefault(n => n.Equals(atom, StringComparison.OrdinalIgnoreCase)) ?? atom.ToUpperInvariant();
            if (name == "MessageNew" && r.Peek() == ' ')
            {
                var mark = r.Position;
                r.ExpectSpace();
                if (r.Peek() == '(')
                    return new NotifyEvent(name, r.ReadParenthesized(_ => ReadFetchItem()));
                r.Seek(mark); // the next event of the list
            }
            return new NotifyEvent(name);
        }

        // --- FETCH (RFC 9051 §6.4.5) ---

        private FetchCommand Fetch(bool uid)
        {
            r.ExpectSpace();
            var set = r.ReadSequenceSet();
            r.ExpectSpace();
            ValueList<FetchItem> items;
            if (r.Peek() == '(')
            {
                items = r.ReadParenthesized(_ => ReadFetchItem());
            }
            else
            {
                items = TryReadMacro() ?? ValueList.Of(ReadFetchItem());
            }
            ulong? changedSince = null;
            var vanished = false;
            PartialRange? partial = null;
            if (r.TryConsume((byte)' '))
            {
                // RFC 7162 §7: fetch-modifier = "CHANGEDSINCE" SP mod-sequence-value / "VANISHED".
                r.Expect((byte)'(', "'('");
                do
                {
                    var modifier = r.ReadKeyword();
                    switch (modifier)
                    {
                        case "CHANGEDSINCE" when changedSince is null:
                            changedSince = SpaceThen(r.ReadModSeq);
                            break;
                        case "VANISHED" when !vanished:
                            vanished = true;
                            break;
                        case "PARTIAL" when partial is null:
                            partial = SpaceThen(ReadPartialRange); // RFC 9394 §3.2: fetch-modifier =/ "PARTIAL" SP partial-range
                            break;
                        default:
                            throw new ImapSyntaxException($"Unknown or repeated FETCH modifier {modifier}");
                    }
                }
                while (r.TryConsume((byte)' '));
                r.Expect((byte)')', "')'");
            }
            // RFC 7162 §3.2.6: VANISHED is allowed only in UID FETCH and only together with CHANGEDSINCE.
            if (vanished && (!uid || changedSince is null))
            {
                throw new ImapSyntaxException("VANISHED requires UID FETCH with CHANGEDSINCE");
            }
            return new FetchCommand(tag, uid, set, items, changedSince, vanished) { Partial = partial };
        }

        private ValueList<FetchItem>? TryReadMacro()
        {
            // RFC 9051 §6.4.5: ALL = (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE), FAST = (FLAGS INTERNALDATE RFC822.SIZE),
            // FULL = (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY).
            FetchItem flags = new FetchItem.Attribute(FetchAttribute.Flags);
            FetchItem date = new FetchItem.Attribute(FetchAttribute.InternalDate);
            FetchItem size = new FetchItem.Attribute(FetchAttribute.Rfc822Size);
            FetchItem envelope = new FetchItem.Attribute(FetchAttribute.Envelope);
            if (r.TryConsumeKeyword("ALL"))
            {
                return ValueList.Of(flags, date, size, envelope);
            }
            if (r.TryConsumeKeyword("FAST"))
            {
                return ValueList.Of(flags, date, size);
            }
            if (r.TryConsumeKeyword("FULL"))
            {
                return ValueList.Of(flags, date, size, envelope, new FetchItem.Attribute(FetchAttribute.Body));
            }
            return null;
        }

        private FetchItem ReadFetchItem()
        {
            var name = r.ReadFetchKeyword();
            switch (name)
            {
                case "ENVELOPE": return new FetchItem.Attribute(FetchAttribute.Envelope);
                case "FLAGS": return new FetchItem.Attribute(FetchAttribute.Flags);
                case "INTERNALDATE": return new FetchItem.Attribute(FetchAttribute.InternalDate);
                case "RFC822": return new FetchItem.Attribute(FetchAttribute.Rfc822);
                case "RFC822.HEADER": return new FetchItem.Attribute(FetchAttribute.Rfc822Header);
                case "RFC822.SIZE": return new FetchItem.Attribute(FetchAttribute.Rfc822Size);
                case "RFC822.TEXT": return new FetchItem.Attribute(FetchAttribute.Rfc822Text);
                case "BODYSTRUCTURE": return new FetchItem.Attribute(FetchAttribute.BodyStructure);
                case "UID": return new FetchItem.Attribute(FetchAttribute.Uid);
                case "MODSEQ": return new FetchItem.Attribute(FetchAttribute.ModSeq);
                case "SAVEDATE": return new FetchItem.Attribute(FetchAttribute.SaveDate); // RFC 8514 §4
                case "EMAILID": return new FetchItem.Attribute(FetchAttribute.EmailId); // RFC 8474 §5.1
                case "THREADID": return new FetchItem.Attribute(FetchAttribute.ThreadId); // RFC 8474 §5.2
                case "BODY" when r.Peek() != '[':
                    return new FetchItem.Attribute(FetchAttribute.Body);
                case "BODY" or "BODY.PEEK":
                {
                    var section = ReadSection();
                    return new FetchItem.BodySection(section, name == "BODY.PEEK", ReadPartial());
                }
                case "BINARY" or "BINARY.PEEK":
                {
                    var part = ReadBinarySection();
                    return new FetchItem.Binary(part, name == "BINARY.PEEK", ReadPartial());
                }
                case "BINARY.SIZE":
                    return new FetchItem.BinarySize(ReadBinarySection());
                case "PREVIEW":
                {
                    // RFC 8970 §7: "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"], preview-mod = "LAZY".
                    var save = r.Position;
                    if (r.TryConsume((byte)' ') && r.Peek() == '(')
                    {
                        r.TryConsume((byte)'(');
                        if (r.TryConsumeKeyword("LAZY"))
                        {
                            while (r.TryConsume((byte)' '))
                            {
                                if (!r.TryConsumeKeyword("LAZY"))
                                    throw new ImapSyntaxException("Unknown PREVIEW modifier");
                            }
                            r.Expect((byte)')', "')'");
                            return new FetchItem.Preview(Lazy: true);
                        }
                    }
                    r.Seek(save); // a FETCH modifier list (CHANGEDSINCE ...) follows, not PREVIEW's
                    return new FetchItem.Preview(Lazy: false);
                }
                default:
                    throw new ImapSyntaxException($"Unknown FETCH attribute {name}");
            }
        }

        // RFC 9051 §9: section = "[" [section-spec] "]"; section-spec = section-msgtext / (section-part ["." section-text]).
        internal BodySection ReadSection()
        {
            r.Expect((byte)'[', "'['");
            if (r.TryConsume((byte)']'))
            {
                return BodySection.Whole;
            }
            var part = new List<uint>();
            if (r.Peek() is >= '0' and <= '9')
            {
                part.Add(r.ReadNzNumber());
                while (r.TryConsume((byte)'.'))
                {
                    if (r.Peek() is >= '0' and <= '9')
                    {
                        part.Add(r.ReadNzNumber());
                        continue;
                    }
                    var textAfterPart = ReadSectionText(allowMime: true, out var fieldsAfterPart);
                    r.Expect((byte)']', "']'");
                    return new BodySection(ValueList<uint>.Wrap(part), textAfterPart, fieldsAfterPart);
                }
                r.Expect((byte)']', "']'");
                return new BodySection(ValueList<uint>.Wrap(part), SectionText.None, ValueList<string>.Empty);
            }
            var text = ReadSectionText(allowMime: false, out var fields);
            r.Expect((byte)']', "']'");
            return new BodySection(ValueList<uint>.Empty, text, fields);
        }

        private SectionText ReadSectionText(bool allowMime, out ValueList<string> fields)
        {
            fields = ValueList<string>.Empty;
            // Longest keyword first: HEADER.FIELDS.NOT before HEADER.FIELDS before HEADER.
            if (r.TryConsumeKeyword("HEADER.FIELDS.NOT"))
            {
                fields = ReadHeaderList();
                return SectionText.HeaderFieldsNot;
            }
            if (r.TryConsumeKeyword("HEADER.FIELDS"))
            {
                fields = ReadHeaderList();
                return SectionText.HeaderFields;
            }
            if (r.TryConsumeKeyword("HEADER"))
            {
                return SectionText.Header;
            }
            if (r.TryConsumeKeyword("TEXT"))
            {
                return SectionText.Text;
            }
            if (allowMime && r.TryConsumeKeyword("MIME"))
            {
                return SectionText.Mime;
            }
            throw r.Error("Expected section text");
        }

        // RFC 9051 §9: header-list = "(" header-fld-name *(SP header-fld-name) ")"; header-fld-name = astring.
        private ValueList<string> ReadHeaderList()
        {
            r.ExpectSpace();
            return r.ReadParenthesized(x => x.ReadAString().ToUpperInvariant());
        }

        // RFC 3516 §6 / RFC 9051 §9: section-binary = "[" [section-part] "]".
        private ValueList<uint> ReadBinarySection()
        {
            r.Expect((byte)'[', "'['");
            var part = new List<uint>();
            if (!r.TryConsume((byte)']'))
            {
                do
                {
                    part.Add(r.ReadNzNumber());
                }
                while (r.TryConsume((byte)'.'));
                r.Expect((byte)']', "']'");
            }
            return ValueList<uint>.Wrap(part);
        }

        // RFC 9051 §9: partial = "<" number64 "." nz-number64 ">".
        private Partial? ReadPartial()
        {
            if (!r.TryConsume((byte)'<'))
            {
                return null;
            }
            var offset = r.ReadNumber64();
            r.Expect((byte)'.', "'.'");
            var length = r.ReadNumber64();
            if (length == 0)
            {
                throw new ImapSyntaxException("Partial length must be non-zero");
            }
            r.Expect((byte)'>', "'>'");
            return new Partial(offset, length);
        }

        // --- STORE (RFC 9051 §6.4.6; RFC 7162 §7 store-modifier) ---

        private StoreCommand Store(bool uid)
        {
            r.ExpectSpace();
            var set = r.ReadSequenceSet();
            r.ExpectSpace();
            ulong? unchangedSince = null;
            if (r.TryConsume((byte)'('))
            {
                if (!r.TryConsumeKeyword("UNCHANGEDSINCE"))
                {
                    throw r.Error("Unknown STORE modifier");
                }
                unchangedSince = SpaceThen(r.ReadModSeq);
                r.Expect((byte)')', "')'");
                r.ExpectSpace();
            }
            var mode = r.TryConsume((byte)'+') ? StoreMode.Add : r.TryConsume((byte)'-') ? StoreMode.Remove : StoreMode.Replace;
            var item = r.ReadKeyword();
            var silent = item switch
            {
                "FLAGS" => false,
                "FLAGS.SILENT" => true,
                _ => throw new ImapSyntaxException($"Unknown STORE item {item}"),
            };
            r.ExpectSpace();
            ValueList<string> flags;
            if (r.Peek() == '(')
            {
                flags = r.ReadFlagList();
            }
            else
            {
                var list = new List<string> { r.ReadFlag() };
                while (r.TryConsume((byte)' '))
                {
                    list.Add(r.ReadFlag());
                }
                flags = ValueList<string>.Wrap(list);
            }
            return new StoreCommand(tag, uid, set, mode, silent, flags, unchangedSince);
        }

        private ImapCommand CopyOrMove(bool uid, bool move)
        {
            r.ExpectSpace();
            var set = r.ReadSequenceSet();
            r.ExpectSpace();
            var mailbox = r.ReadMailbox();
            return move ? new MoveCommand(tag, uid, set, mailbox) : new CopyCommand(tag, uid, set, mailbox);
        }

        // --- SORT / THREAD (RFC 5256 §5) ---

        private SortCommand Sort(bool uid)
        {
            var (ret, partial) = ReadSearchReturnOptions(); // RFC 5267 §3.2 ESORT, RFC 9394 PARTIAL
            r.ExpectSpace();
            var criteria = r.ReadParenthesized(x =>
            {
                var reverse = false;
                if (x.TryConsumeKeyword("REVERSE"))
                {
                    x.ExpectSpace();
                    reverse = true;
                }
                var key = x.ReadKeyword() switch
                {
                    "ARRIVAL" => SortKey.Arrival,
                    "CC" => SortKey.Cc,
                    "DATE" => SortKey.Date,
                    "FROM" => SortKey.From,
                    "SIZE" => SortKey.Size,
                    "SUBJECT" => SortKey.Subject,
                    "TO" => SortKey.To,
                    "DISPLAYFROM" => SortKey.DisplayFrom,
                    "DISPLAYTO" => SortKey.DisplayTo,
                    var other => throw new ImapSyntaxException($"Unknown sort key {other}"),
                };
                return new SortCriterion(key, reverse);
            });
            r.ExpectSpace();
            var charset = ReadCharset();
            r.ExpectSpace();
            return new SortCommand(tag, uid, criteria, charset, ReadSearchKeys(charset), ret) { Partial = partial };
        }

        private ThreadCommand Thread(bool uid)
        {
            r.ExpectSpace();
            var algorithm = r.ReadKeyword();
            r.ExpectSpace();
            var charset = ReadCharset();
            r.ExpectSpace();
            return new ThreadCommand(tag, uid, algorithm, charset, ReadSearchKeys(charset));
        }

        // --- QUOTA (RFC 9208 §7) and ACL (RFC 4314 §3) ---

        private SetQuotaCommand SetQuota()
        {
            r.ExpectSpace();
            var root = r.ReadAString();
            r.ExpectSpace();
            var limitsList = r.ReadParenthesized(x =>
            {
                var resource = x.ReadKeyword();
                x.ExpectSpace();
                return new QuotaLimit(resource, x.ReadNumber64());
            }, allowEmpty: true);
            return new SetQuotaCommand(tag, root, limitsList);
        }

        private ListRightsCommand ListRights()
        {
            var mailbox = SpaceThen(r.ReadMailbox);
            return new ListRightsCommand(tag, mailbox, SpaceThen(r.ReadAString));
        }

        private SetAclCommand SetAcl()
        {
            var mailbox = SpaceThen(r.ReadMailbox);
            var identifier = SpaceThen(r.ReadAString);
            return new SetAclCommand(tag, mailbox, identifier, SpaceThen(r.ReadAString));
        }

        private DeleteAclCommand DeleteAcl()
        {
            var mailbox = SpaceThen(r.ReadMailbox);
            return new DeleteAclCommand(tag, mailbox, SpaceThen(r.ReadAString));
        }
    }
}
