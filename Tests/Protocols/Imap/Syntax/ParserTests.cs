using System.Text;
using MailServer.Protocols.Imap.Syntax;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Syntax;

/// <summary>Command examples from RFC 9051 / RFC 3501 §6 (and the extension RFCs named per row) parse into records.</summary>
[TestFixture]
public sealed class ParserTests
{
    private static SequenceSet Seq(string text) => SequenceSet.Parse(text);
    private static ValueList<T> L<T>(params T[] items) => ValueList.Of(items);
    private static FetchItem Att(FetchAttribute a) => new FetchItem.Attribute(a);
    private static SearchKey Flag(string f) => new SearchKey.Flag(f);
    private static SearchKey Not(SearchKey k) => new SearchKey.Not(k);
    private static SearchKey And(params SearchKey[] keys) => new SearchKey.And(ValueList.Of(keys));

    private static IEnumerable<TestCaseData> RfcExamples()
    {
        TestCaseData Row(string wire, ImapCommand expected) => new TestCaseData(wire, expected).SetArgDisplayNames(wire.Length > 70 ? wire[..70] : wire);

        // RFC 9051 §6.1
        yield return Row("abcd CAPABILITY", new CapabilityCommand("abcd"));
        yield return Row("a002 NOOP", new NoopCommand("a002"));
        yield return Row("A023 LOGOUT", new LogoutCommand("A023"));
        yield return Row("a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" \"Pink Floyd Music Limited\")", // RFC 2971 §3.3
            new IdCommand("a023", L(new KeyValuePair<string, string?>("name", "sodr"), new("version", "19.34"), new("vendor", "Pink Floyd Music Limited"))));
        yield return Row("a ID NIL", new IdCommand("a", null));
        yield return Row("a COMPRESS DEFLATE", new CompressCommand("a", "DEFLATE")); // RFC 4978 §3
        // RFC 9051 §6.2
        yield return Row("a001 STARTTLS", new StartTlsCommand("a001"));
        yield return Row("A001 AUTHENTICATE GSSAPI", new AuthenticateCommand("A001", "GSSAPI", null));
        yield return Row("a01 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=", // RFC 4959 §3
            new AuthenticateCommand("a01", "PLAIN", Encoding.ASCII.GetBytes("test\0test\0test")));
        yield return Row("a02 AUTHENTICATE EXTERNAL =", new AuthenticateCommand("a02", "EXTERNAL", []));
        yield return Row("a001 LOGIN SMITH SESAME", new LoginCommand("a001", "SMITH", "SESAME"));
        yield return Row("a001 LOGIN \"fred \\\"q\\\" \\\\x\" {5}\r\nse\u00e7r", new LoginCommand("a001", "fred \"q\" \\x", "se\u00e7r"));
        // RFC 9051 §6.3
        yield return Row("t2 ENABLE CONDSTORE X-GOOD-IDEA", new EnableCommand("t2", L("CONDSTORE", "X-GOOD-IDEA"))); // RFC 5161 §4
        yield return Row("A142 SELECT INBOX", new SelectCommand("A142", "INBOX", false, false, null));
        yield return Row("A143 select inbox", new SelectCommand("A143", "INBOX", false, false, null));
        yield return Row("A932 EXAMINE blurdybloop", new SelectCommand("A932", "blurdybloop", true, false, null));
        yield return Row("A142 SELECT INBOX (CONDSTORE)", new SelectCommand("A142", "INBOX", false, true, null)); // RFC 7162 §3.1.8
        yield return Row("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))", // RFC 7162 §3.2.5.2
            new SelectCommand("A02", "INBOX", false, false, new QResyncParameters(67890007, 20050715194045000, Seq("41,43:211,214:541"), null, null)));
        yield return Row("B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
            new SelectCommand("B04", "INBOX", false, false, new QResyncParameters(67890007, 90060115194045000, Seq("1:29997"),
                Seq("5000,7500,9000,9990:9999"), Seq("15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997"))));
        yield return Row("A003 CREATE owatagusiam/", new CreateCommand("A003", "owatagusiam/", ValueList<string>.Empty));
        yield return Row("t1 CREATE \"Important Messages\" (USE (\\Important))", // RFC 6154 §5.2
            new CreateCommand("t1", "Important Messages", L("\\Important")));
        yield return Row("A683 DELETE blurdybloop", new DeleteCommand("A683", "blurdybloop"));
        yield return Row("A683 RENAME blurdybloop sarasoop", new RenameCommand("A683", "blurdybloop", "sarasoop"));
        yield return Row("A002 SUBSCRIBE #news.comp.mail.mime", new SubscribeCommand("A002", "#news.comp.mail.mime"));
        yield return Row("A002 UNSUBSCRIBE #news.comp.mail.mime", new UnsubscribeCommand("A002", "#news.comp.mail.mime"));
        yield return Row("A101 LIST \"\" \"\"", new ListCommand("A101", "", L(""), ListSelectOptions.None, ListReturnOptions.None, ValueList<StatusItem>.Empty));
        yield return Row("A102 LIST #news.comp.mail.misc \"\"", new ListCommand("A102", "#news.comp.mail.misc", L(""), ListSelectOptions.None, ListReturnOptions.None, ValueList<StatusItem>.Empty));
        yield return Row("A202 LIST ~/Mail/ %", new ListCommand("A202", "~/Mail/", L("%"), ListSelectOptions.None, ListReturnOptions.None, ValueList<StatusItem>.Empty));
        yield return Row("A04 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)", // RFC 5258 §5
            new ListCommand("A04", "", L("%"), ListSelectOptions.Subscribed | ListSelectOptions.RecursiveMatch, ListReturnOptions.Children, ValueList<StatusItem>.Empty));
        yield return Row("A05 LIST \"\" (\"INBOX\" \"Drafts\" \"Sent/%\")",
            new ListCommand("A05", "", L("INBOX", "Drafts", "Sent/%"), ListSelectOptions.None, ListReturnOptions.None, ValueList<StatusItem>.Empty));
        yield return Row("A01 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))", // RFC 5819 §2
            new ListCommand("A01", "", L("%"), ListSelectOptions.None, ListReturnOptions.Status, L(StatusItem.Messages, StatusItem.Unseen)));
        yield return Row("t3 LIST (SPECIAL-USE) \"\" \"*\"", // RFC 6154 §5.1
            new ListCommand("t3", "", L("*"), ListSelectOptions.SpecialUse, ListReturnOptions.None, ValueList<StatusItem>.Empty));
        yield return Row("A002 LSUB \"#news.\" \"comp.mail.*\"", new LsubCommand("A002", "#news.", "comp.mail.*"));
        yield return Row("A001 NAMESPACE", new NamespaceCommand("A001"));
        yield return Row("A042 STATUS blurdybloop (UIDNEXT MESSAGES)", new StatusCommand("A042", "blurdybloop", L(StatusItem.UidNext, StatusItem.Messages)));
        yield return Row("A043 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT)",
            new StatusCommand("A043", "INBOX", L(StatusItem.Messages, StatusItem.UidNext, StatusItem.UidValidity, StatusItem.Unseen, StatusItem.Deleted,
                StatusItem.Size, StatusItem.Recent, StatusItem.HighestModSeq, StatusItem.AppendLimit)));
        yield return Row("A002 IDLE", new IdleCommand("A002"));
        // RFC 9051 §6.4
        yield return Row("FXXZ CHECK", new CheckCommand("FXXZ"));
        yield return Row("A341 CLOSE", new CloseCommand("A341"));
        yield return Row("A342 UNSELECT", new UnselectCommand("A342")); // RFC 3691
        yield return Row("A202 EXPUNGE", new ExpungeCommand("A202", null));
        yield return Row("A003 UID EXPUNGE 3000:3002", new ExpungeCommand("A003", Seq("3000:3002"))); // RFC 4315 §2.1
        yield return Row("A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
            new SearchCommand("A282", false, null, And(Flag("\\Flagged"),
                new SearchKey.Date(SearchDateField.Internal, SearchDateComparison.Since, new DateOnly(1994, 2, 1)),
                Not(new SearchKey.Header("FROM", "Smith"))), null));
        yield return Row("A283 SEARCH TEXT \"string not in mailbox\"", new SearchCommand("A283", false, null, new SearchKey.Text("string not in mailbox"), null));
        yield return Row("A284 SEARCH CHARSET UTF-8 TEXT {8}\r\n\u0442\u0435\u0441\u0442", // RFC 9051 §6.4.4 (Cyrillic literal)
            new SearchCommand("A284", false, "UTF-8", new SearchKey.Text("\u0442\u0435\u0441\u0442"), null));
        yield return Row("A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"", // RFC 4731 §3.1
            new SearchCommand("A282", false, null, And(Flag("\\Flagged"),
                new SearchKey.Date(SearchDateField.Internal, SearchDateComparison.Since, new DateOnly(1994, 2, 1)),
                Not(new SearchKey.Header("FROM", "Smith"))), SearchReturnOptions.Min | SearchReturnOptions.Count));
        yield return Row("A301 SEARCH RETURN () UNSEEN", new SearchCommand("A301", false, null, Not(Flag("\\Seen")), SearchReturnOptions.None));
        yield return Row("A300 SEARCH RETURN (SAVE) SINCE 1-Jan-2004 NOT FROM \"Hafiz\" OR SMALLER 1000 NEW", // RFC 5182 §3
            new SearchCommand("A300", false, null, And(
                new SearchKey.Date(SearchDateField.Internal, SearchDateComparison.Since, new DateOnly(2004, 1, 1)),
                Not(new SearchKey.Header("FROM", "Hafiz")),
                new SearchKey.Or(new SearchKey.Size(false, 1000), And(Flag("\\Recent"), Not(Flag("\\Seen"))))), SearchReturnOptions.Save));
        yield return Row("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338", // RFC 7162 §3.1.5
            new SearchCommand("a", false, null, new SearchKey.ModSeq(620162338, "/flags/\\draft", "all"), null));
        yield return Row("A1 UID SEARCH 1:100 (OR DELETED ANSWERED) UNKEYWORD $Junk HEADER Message-ID \"<x@y>\" LARGER 10 BEFORE \"3-Mar-2021\"",
            new SearchCommand("A1", true, null, And(new SearchKey.Sequence(Seq("1:100")),
                And(new SearchKey.Or(Flag("\\Deleted"), Flag("\\Answered"))),
                Not(Flag("$Junk")), new SearchKey.Header("MESSAGE-ID", "<x@y>"), new SearchKey.Size(true, 10),
                new SearchKey.Date(SearchDateField.Internal, SearchDateComparison.Before, new DateOnly(2021, 3, 3))), null));
        yield return Row("A2 SEARCH UID $ SENTON 5-Mar-2000 SENTBEFORE 6-Mar-2000 SENTSINCE 4-Mar-2000 OLD ON 1-Apr-2001 BCC a CC b TO c SUBJECT d BODY e KEYWORD k DRAFT UNDRAFT UNANSWERED UNDELETED UNFLAGGED SEEN RECENT ALL",
            new SearchCommand("A2", false, null, And(new SearchKey.Uid(SequenceSet.SavedResult),
                new SearchKey.Date(SearchDateField.Sent, SearchDateComparison.On, new DateOnly(2000, 3, 5)),
                new SearchKey.Date(SearchDateField.Sent, SearchDateComparison.Before, new DateOnly(2000, 3, 6)),
                new SearchKey.Date(SearchDateField.Sent, SearchDateComparison.Since, new DateOnly(2000, 3, 4)),
                Not(Flag("\\Recent")),
                new SearchKey.Date(SearchDateField.Internal, SearchDateComparison.On, new DateOnly(2001, 4, 1)),
                new SearchKey.Header("BCC", "a"), new SearchKey.Header("CC", "b"), new SearchKey.Header("TO", "c"),
                new SearchKey.Header("SUBJECT", "d"), new SearchKey.Body("e"), Flag("k"), Flag("\\Draft"), Not(Flag("\\Draft")),
                Not(Flag("\\Answered")), Not(Flag("\\Deleted")), Not(Flag("\\Flagged")), Flag("\\Seen"), Flag("\\Recent"), new SearchKey.All()), null));
        yield return Row("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
            new FetchCommand("A654", false, Seq("2:4"), L(Att(FetchAttribute.Flags),
                new FetchItem.BodySection(new BodySection(ValueList<uint>.Empty, SectionText.HeaderFields, L("DATE", "FROM")), false, null)), null, false));
        yield return Row("a003 fetch 12 full", new FetchCommand("a003", false, Seq("12"), L(Att(FetchAttribute.Flags), Att(FetchAttribute.InternalDate),
            Att(FetchAttribute.Rfc822Size), Att(FetchAttribute.Envelope), Att(FetchAttribute.Body)), null, false));
        yield return Row("a004 fetch 12 body[header]", new FetchCommand("a004", false, Seq("12"),
            L<FetchItem>(new FetchItem.BodySection(new BodySection(ValueList<uint>.Empty, SectionText.Header, ValueList<string>.Empty), false, null)), null, false));
        yield return Row("a005 FETCH 1:* FAST", new FetchCommand("a005", false, Seq("1:*"), L(Att(FetchAttribute.Flags), Att(FetchAttribute.InternalDate), Att(FetchAttribute.Rfc822Size)), null, false));
        yield return Row("a006 FETCH * ALL", new FetchCommand("a006", false, Seq("*"), L(Att(FetchAttribute.Flags), Att(FetchAttribute.InternalDate), Att(FetchAttribute.Rfc822Size), Att(FetchAttribute.Envelope)), null, false));
        yield return Row("A999 UID FETCH 4827313:4828442 FLAGS", new FetchCommand("A999", true, Seq("4827313:4828442"), L(Att(FetchAttribute.Flags)), null, false));
        yield return Row("a7 FETCH 1 (BODY.PEEK[1.2.MIME] BODY[]<0.2048> BODY[3.HEADER.FIELDS.NOT (Received)] BODY[4] BINARY.PEEK[1]<0.100> BINARY[] BINARY.SIZE[2] RFC822 RFC822.HEADER RFC822.TEXT BODYSTRUCTURE UID MODSEQ INTERNALDATE ENVELOPE)",
            new FetchCommand("a7", false, Seq("1"), L<FetchItem>(
                new FetchItem.BodySection(new BodySection(L(1u, 2u), SectionText.Mime, ValueList<string>.Empty), true, null),
                new FetchItem.BodySection(BodySection.Whole, false, new Partial(0, 2048)),
                new FetchItem.BodySection(new BodySection(L(3u), SectionText.HeaderFieldsNot, L("RECEIVED")), false, null),
                new FetchItem.BodySection(new BodySection(L(4u), SectionText.None, ValueList<string>.Empty), false, null),
                new FetchItem.Binary(L(1u), true, new Partial(0, 100)),
                new FetchItem.Binary(ValueList<uint>.Empty, false, null),
                new FetchItem.BinarySize(L(2u)),
                Att(FetchAttribute.Rfc822), Att(FetchAttribute.Rfc822Header), Att(FetchAttribute.Rfc822Text), Att(FetchAttribute.BodyStructure),
                Att(FetchAttribute.Uid), Att(FetchAttribute.ModSeq), Att(FetchAttribute.InternalDate), Att(FetchAttribute.Envelope)), null, false));
        yield return Row("A2 FETCH 1 (RFC822.SIZE PREVIEW)", // RFC 8970 §4
            new FetchCommand("A2", false, Seq("1"), L<FetchItem>(Att(FetchAttribute.Rfc822Size), new FetchItem.Preview(false)), null, false));
        yield return Row("A3 FETCH 1:4 (PREVIEW (LAZY))", new FetchCommand("A3", false, Seq("1:4"), L<FetchItem>(new FetchItem.Preview(true)), null, false));
        yield return Row("A4 UID FETCH 1:* PREVIEW (CHANGEDSINCE 7)", new FetchCommand("A4", true, Seq("1:*"), L<FetchItem>(new FetchItem.Preview(false)), 7, false));
        yield return Row("27 uid fetch 1:* (emailid threadid savedate)", // RFC 8474 §5, RFC 8514 §4
            new FetchCommand("27", true, Seq("1:*"), L(Att(FetchAttribute.EmailId), Att(FetchAttribute.ThreadId), Att(FetchAttribute.SaveDate)), null, false));
        yield return Row("28 search emailid M6d99ac3275bb4e", new SearchCommand("28", false, null, new SearchKey.EmailId("M6d99ac3275bb4e"), null)); // RFC 8474 §6
        yield return Row("29 SEARCH SAVEDBEFORE 1-Jan-2020 SAVEDATESUPPORTED", // RFC 8514 §5
            new SearchCommand("29", false, null, And(new SearchKey.Date(SearchDateField.Saved, SearchDateComparison.Before, new DateOnly(2020, 1, 1)), new SearchKey.SaveDateSupported()), null));
        yield return Row("6 status foo (mailboxid)", new StatusCommand("6", "foo", L(StatusItem.MailboxId))); // RFC 8474 §4.3
        yield return Row("s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)", // RFC 7162 §3.1.4.1
            new FetchCommand("s100", true, Seq("1:*"), L(Att(FetchAttribute.Flags)), 12345, false));
        yield return Row("s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)", // RFC 7162 §3.2.6
            new FetchCommand("s100", true, Seq("300:500"), L(Att(FetchAttribute.Flags)), 12345, true));
        yield return Row("A003 STORE 2:4 +FLAGS (\\Deleted)", new StoreCommand("A003", false, Seq("2:4"), StoreMode.Add, false, L("\\Deleted"), null));
        yield return Row("A004 STORE 1 FLAGS \\Seen $Forwarded", new StoreCommand("A004", false, Seq("1"), StoreMode.Replace, false, L("\\Seen", "$Forwarded"), null));
        yield return Row("a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)", // RFC 7162 §3.1.3
            new StoreCommand("a103", true, Seq("6,4,8"), StoreMode.Add, true, L("\\Deleted"), 12121230045));
        yield return Row("A005 STORE 3 -FLAGS.SILENT ()", new StoreCommand("A005", false, Seq("3"), StoreMode.Remove, true, ValueList<string>.Empty, null));
        yield return Row("A003 COPY 2:4 MEETING", new CopyCommand("A003", false, Seq("2:4"), "MEETING"));
        yield return Row("a UID MOVE 42:69 foo", new MoveCommand("a", true, Seq("42:69"), "foo")); // RFC 6851 §4.1
        yield return Row("A1 UID COPY $ \"Deleted Items\"", new CopyCommand("A1", true, SequenceSet.SavedResult, "Deleted Items"));
        yield return Row("A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994", // RFC 5256 §3
            new SortCommand("A282", false, L(new SortCriterion(SortKey.Subject, false)), "UTF-8",
                new SearchKey.Date(SearchDateField.Internal, SearchDateComparison.Since, new DateOnly(1994, 2, 1)), null));
        yield return Row("A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
            new SortCommand("A283", false, L(new SortCriterion(SortKey.Subject, false), new SortCriterion(SortKey.Date, true)), "UTF-8", new SearchKey.All(), null));
        yield return Row("A284 UID SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\"",
            new SortCommand("A284", true, L(new SortCriterion(SortKey.Subject, false)), "US-ASCII", new SearchKey.Text("not in mailbox"), null));
        yield return Row("A282 SORT RETURN (MIN COUNT) (DATE) UTF-8 SINCE 1-Feb-1994", // RFC 5267 §3.2 (ESORT)
            new SortCommand("A282", false, L(new SortCriterion(SortKey.Date, false)), "UTF-8",
                new SearchKey.Date(SearchDateField.Internal, SearchDateComparison.Since, new DateOnly(1994, 2, 1)), SearchReturnOptions.Min | SearchReturnOptions.Count));
        yield return Row("A1 UID SORT RETURN (ALL) (REVERSE DISPLAYFROM DISPLAYTO) UTF-8 ALL", // RFC 5957 §2 with ESORT
            new SortCommand("A1", true, L(new SortCriterion(SortKey.DisplayFrom, true), new SortCriterion(SortKey.DisplayTo, false)), "UTF-8", new SearchKey.All(), SearchReturnOptions.All));
        yield return Row("a1 SEARCH UNSEEN YOUNGER 259200", // RFC 5032 §3
            new SearchCommand("a1", false, null, And(Not(Flag("\\Seen")), new SearchKey.Within(false, 259200)), null));
        yield return Row("a2 SEARCH OLDER 3600", new SearchCommand("a2", false, null, new SearchKey.Within(true, 3600), null));
        yield return Row("A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000",
            new ThreadCommand("A283", false, "ORDEREDSUBJECT", "UTF-8", new SearchKey.Date(SearchDateField.Internal, SearchDateComparison.Since, new DateOnly(2000, 3, 5))));
        yield return Row("A284 THREAD REFERENCES US-ASCII TEXT \"gewp\"", new ThreadCommand("A284", false, "REFERENCES", "US-ASCII", new SearchKey.Text("gewp")));
        // RFC 9208 §4
        yield return Row("G0001 GETQUOTA \"!partition/sda4\"", new GetQuotaCommand("G0001", "!partition/sda4"));
        yield return Row("G0002 GETQUOTAROOT INBOX", new GetQuotaRootCommand("G0002", "INBOX"));
        yield return Row("S0000 SETQUOTA \"#user/alice\" (STORAGE 510)", new SetQuotaCommand("S0000", "#user/alice", L(new QuotaLimit("STORAGE", 510))));
        // RFC 4314 §3
        yield return Row("A035 SETACL INBOX/Drafts John lrQswicda", new SetAclCommand("A035", "INBOX/Drafts", "John", "lrQswicda"));
        yield return Row("A036 DELETEACL INBOX/Drafts Chris", new DeleteAclCommand("A036", "INBOX/Drafts", "Chris"));
        yield return Row("A001 GETACL INBOX/Drafts", new GetAclCommand("A001", "INBOX/Drafts"));
        yield return Row("a LISTRIGHTS ~/Mail/saved smith", new ListRightsCommand("a", "~/Mail/saved", "smith"));
        yield return Row("A003 MYRIGHTS INBOX", new MyRightsCommand("A003", "INBOX"));
    }

    [TestCaseSource(nameof(RfcExamples))]
    public void Rfc_example_parses_into_the_expected_record(string wire, ImapCommand expected)
    {
        var command = ParseOk(wire);
        Assert.That(command, Is.EqualTo(expected));
    }

    [Test]
    public void Append_with_flags_date_and_synchronising_literal_keeps_the_message_octets()
    {
        // RFC 9051 §6.3.12 example (message shortened; its length is announced exactly).
        const string message = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nFrom: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\n\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
        var wire = $"A003 APPEND saved-messages (\\Seen) \"07-Feb-1994 21:52:25 -0800\" {{{Encoding.ASCII.GetByteCount(message)}}}\r\n{message}";

        var command = (AppendCommand)ParseOk(wire);

        Assert.That(command.Mailbox, Is.EqualTo("saved-messages"));
        Assert.That(command.Messages, Has.Count.EqualTo(1));
        var m = command.Messages[0];
        Assert.That(m.Flags, Is.EqualTo(ValueList.Of("\\Seen")));
        Assert.That(m.InternalDate, Is.EqualTo(new DateTimeOffset(1994, 2, 7, 21, 52, 25, TimeSpan.FromHours(-8))));
        Assert.That(Encoding.ASCII.GetString(m.Content.Span), Is.EqualTo(message));
        Assert.That(m.Binary, Is.False);
    }

    [Test]
    public void Multiappend_and_literal8_give_one_record_per_message()
    {
        // RFC 3502 §6.3.11 shape, second message as BINARY literal8 (RFC 3516 §4.4) carrying a NUL octet.
        var wire = "A003 APPEND saved-messages (\\Seen) {5+}\r\nhello (\\Seen) \" 7-Feb-1994 22:43:04 -0800\" ~{3}\r\na\0b";

        var command = (AppendCommand)ParseOk(wire);

        Assert.That(command.Messages, Has.Count.EqualTo(2));
        Assert.That(Encoding.ASCII.GetString(command.Messages[0].Content.Span), Is.EqualTo("hello"));
        Assert.That(command.Messages[1].Binary, Is.True);
        Assert.That(command.Messages[1].Content.ToArray(), Is.EqualTo(new byte[] { (byte)'a', 0, (byte)'b' }));
        Assert.That(command.Messages[1].InternalDate, Is.EqualTo(new DateTimeOffset(1994, 2, 7, 22, 43, 4, TimeSpan.FromHours(-8))));
    }

    [Test]
    public void Login_and_authenticate_records_never_print_credentials()
    {
        var login = ParseOk("a1 LOGIN alice Sup3rSecret");
        var auth = ParseOk("a2 AUTHENTICATE PLAIN AGFsaWNlAFN1cDNyU2VjcmV0");

        Assert.That(login.ToString(), Does.Contain("alice").And.Not.Contain("Sup3rSecret"));
        Assert.That(auth.ToString(), Does.Contain("PLAIN").And.Not.Contain("AGFsaWNl"));
    }

    [Test]
    public void Search_strings_in_an_unknown_charset_keep_their_octets()
    {
        byte[] wire = [.. "A1 SEARCH CHARSET KOI8-R SUBJECT {2}\r\n"u8, 0xD4, 0xC5];

        var command = (SearchCommand)ParseOkBytes(wire);

        Assert.That(command.Charset, Is.EqualTo("KOI8-R"));
        var subject = ((SearchKey.Header)command.Criteria).Value;
        Assert.That(Encoding.Latin1.GetBytes(subject), Is.EqualTo(new byte[] { 0xD4, 0xC5 }));
    }

    [TestCase("", null, "Expected tag")]
    [TestCase("A001", "A001", "Expected SP")]
    [TestCase("+tag NOOP", null, "Expected tag")]
    [TestCase("A001 FROBNICATE", "A001", "Unknown command FROBNICATE")]
    [TestCase("A001 NOOP extra", "A001", "Unexpected extra arguments")]
    [TestCase("A001 LOGIN SMITH", "A001", "Expected SP")]
    [TestCase("A001 LOGIN \"unterminated", "A001", "Unterminated quoted string")]
    [TestCase("A001 LOGIN \"a\\b\" x", "A001", "Invalid escape")]
    [TestCase("A001 SELECT", "A001", "Expected SP")]
    [TestCase("A001 SELECT INBOX (FOO)", "A001", "Unknown or repeated select parameter FOO")]
    [TestCase("A001 FETCH 1:* (FLAGS", "A001", "Expected ')'")]
    [TestCase("A001 FETCH 0 FLAGS", "A001", "Expected non-zero number")]
    [TestCase("A001 FETCH 1 BODY[HEADER", "A001", "Expected ']'")]
    [TestCase("A001 FETCH 1 BODY[MIME]", "A001", "Expected section text")]
    [TestCase("A001 FETCH 1 BODY[]<10.0>", "A001", "Partial length must be non-zero")]
    [TestCase("A001 FETCH 1 FLAGS (VANISHED)", "A001", "VANISHED requires UID FETCH with CHANGEDSINCE")]
    [TestCase("A001 FETCH 1 FROB", "A001", "Unknown FETCH attribute FROB")]
    [TestCase("A001 SEARCH FOO", "A001", "Unknown search key FOO")]
    [TestCase("A001 SEARCH SINCE 31-Feb-2020", "A001", "Invalid date")]
    [TestCase("A001 SEARCH OR SEEN", "A001", "Expected SP")]
    [TestCase("A001 SEARCH (SEEN", "A001", "Expected ')'")]
    [TestCase("A001 STORE 1 FLAGS", "A001", "Expected SP")]
    [TestCase("A001 STORE 1 LABELS (x)", "A001", "Unknown STORE item LABELS")]
    [TestCase("A001 UID NOOP", "A001", "UID cannot prefix NOOP")]
    [TestCase("A001 LIST (RECURSIVEMATCH) \"\" *", "A001", "RECURSIVEMATCH needs another selection option")]
    [TestCase("A001 AUTHENTICATE PLAIN not*base64", "A001", "Invalid base64")]
    [TestCase("A001 AUTHENTICATE PLAIN abc", "A001", "Invalid base64")]
    [TestCase("A001 APPEND INBOX \"text\"", "A001", "Expected day")]
    [TestCase("A001 APPEND INBOX (\\Seen) text", "A001", "Expected literal message data")]
    [TestCase("A001 APPEND INBOX {10}\r\nshort", "A001", "Literal is shorter than its announced size")]
    [TestCase("A001 STATUS INBOX (MESSAGES BOGUS)", "A001", "Unknown STATUS item BOGUS")]
    [TestCase("A001 COPY 1:2", "A001", "Expected SP")]
    [TestCase("A001 FETCH 99999999999 FLAGS", "A001", "number out of range")]
    public void Malformed_command_is_bad_with_a_reason(string wire, string? tag, string reason)
    {
        var result = ImapCommandParser.Parse(wire);

        Assert.That(result, Is.TypeOf<ParseResult.Bad>());
        var bad = (ParseResult.Bad)result;
        Assert.That(bad.Tag, Is.EqualTo(tag));
        Assert.That(bad.Reason, Does.Contain(reason));
    }

    [Test]
    public void Quoted_string_with_invalid_utf8_is_bad()
    {
        byte[] wire = [.. "A1 LOGIN \""u8, 0xC3, 0x28, .. "\" x"u8];
        var result = ImapCommandParser.Parse(wire.AsSpan());

        Assert.That(result, Is.EqualTo(new ParseResult.Bad("A1", "Quoted string is not valid UTF-8")));
    }

    [Test]
    public void Eight_bit_octet_in_an_atom_is_bad()
    {
        byte[] wire = [.. "A1 SELECT Entw"u8, 0xFC, .. "rfe"u8];

        var result = ImapCommandParser.Parse(wire.AsSpan());

        Assert.That(result, Is.TypeOf<ParseResult.Bad>());
        Assert.That(((ParseResult.Bad)result).Tag, Is.EqualTo("A1"));
    }

    [Test]
    public void Utf8_mailbox_name_in_a_quoted_string_is_accepted()
    {
        // RFC 9051 §9 allows UTF-8 in quoted strings (IMAP4rev2 / UTF8=ACCEPT).
        Assert.That(ParseOk("A1 SELECT \"Entw\u00fcrfe\""), Is.EqualTo(new SelectCommand("A1", "Entw\u00fcrfe", false, false, null)));
    }

    [Test]
    public void Nul_in_a_plain_literal_is_bad()
    {
        var result = ImapCommandParser.Parse("A1 APPEND INBOX {3}\r\na\0b");

        Assert.That(result, Is.TypeOf<ParseResult.Bad>());
        Assert.That(((ParseResult.Bad)result).Reason, Does.Contain("NUL in literal"));
    }

    [Test]
    public void Search_recursion_is_bounded()
    {
        var wire = "A1 SEARCH " + string.Concat(Enumerable.Repeat("NOT ", 300)) + "ALL";

        var result = ImapCommandParser.Parse(wire);

        Assert.That(result, Is.EqualTo(new ParseResult.Bad("A1", "Search keys nested too deeply")));
    }

    [Test]
    public void Moderately_nested_or_chain_from_a_real_client_parses()
    {
        var wire = "A1 UID SEARCH " + string.Concat(Enumerable.Repeat("OR FROM a ", 40)) + "FROM b";

        Assert.That(ParseOk(wire), Is.TypeOf<SearchCommand>());
    }

    private static ImapCommand ParseOk(string wire) => ParseOkBytes(Encoding.UTF8.GetBytes(wire));

    private static ImapCommand ParseOkBytes(byte[] wire)
    {
        var result = ImapCommandParser.Parse(new ReadOnlyMemory<byte>(wire));
        if (result is ParseResult.Bad bad)
        {
            Assert.Fail($"Expected Ok, got BAD: {bad.Reason}");
        }
        return ((ParseResult.Ok)result).Command;
    }
}
