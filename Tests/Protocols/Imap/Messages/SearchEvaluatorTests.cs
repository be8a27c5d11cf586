using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;
using NUnit.Framework;
using static MailServer.Tests.Protocols.Imap.Messages.MessageFixtures;

namespace MailServer.Tests.Protocols.Imap.Messages;

[TestFixture]
public sealed class SearchEvaluatorTests
{
    private static readonly DateTimeOffset Now = new(2024, 3, 1, 12, 30, 0, TimeSpan.Zero);

    private static readonly SearchContext[] Messages =
    [
        Context(1, 10, Crlf(
                "From: Alice Example <alice@example.com>",
                "To: bob@example.org",
                "Cc: carol@example.net",
                "Subject: =?utf-8?q?Caf=C3=A9?= meeting",
                "Date: Wed, 10 Jan 2024 23:30:00 -0500",
                "X-Priority: 1",
                "",
                "The quick brown fox"),
            MessageFlags.Seen, ["$Work"], new DateTimeOffset(2024, 1, 10, 23, 30, 0, TimeSpan.FromHours(-5)), 1000, 5, now: Now),
        Context(2, 20, Crlf(
                "From: dave@example.com",
                "To: erin@example.com",
                "Bcc: secret@example.com",
                "Subject: Re: budget",
                "Date: Thu, 01 Feb 2024 08:00:00 +0000",
                "Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: base64",
                "",
                "SGlkZGVuIHRyZWFzdXJl"),
            MessageFlags.Answered | MessageFlags.Flagged, [], new DateTimeOffset(2024, 2, 1, 8, 0, 0, TimeSpan.Zero), 2000, 6, now: Now),
        Context(3, 30, Crlf(
                "From: frank@example.com",
                "Subject: greetings",
                "Content-Type: text/plain; charset=iso-8859-1",
                "Content-Transfer-Encoding: quoted-printable",
                "",
                "Viele Gr=FC=DFe"),
            MessageFlags.Deleted | MessageFlags.Draft, [], new DateTimeOffset(2024, 3, 1, 12, 0, 0, TimeSpan.Zero), 3000, 7, recent: true, now: Now),
    ];

    [TestCase("ALL", new uint[] { 1, 2, 3 })]
    [TestCase("ANSWERED", new uint[] { 2 })]
    [TestCase("UNANSWERED", new uint[] { 1, 3 })]
    [TestCase("DELETED", new uint[] { 3 })]
    [TestCase("UNDELETED", new uint[] { 1, 2 })]
    [TestCase("DRAFT", new uint[] { 3 })]
    [TestCase("UNDRAFT", new uint[] { 1, 2 })]
    [TestCase("FLAGGED", new uint[] { 2 })]
    [TestCase("UNFLAGGED", new uint[] { 1, 3 })]
    [TestCase("SEEN", new uint[] { 1 })]
    [TestCase("UNSEEN", new uint[] { 2, 3 })]
    [TestCase("RECENT", new uint[] { 3 })]
    [TestCase("NEW", new uint[] { 3 })]
    [TestCase("OLD", new uint[] { 1, 2 })]
    [TestCase("KEYWORD $work", new uint[] { 1 })]
    [TestCase("UNKEYWORD $Work", new uint[] { 2, 3 })]
    [TestCase("FROM ALICE", new uint[] { 1 })]
    [TestCase("FROM \"Alice Example\"", new uint[] { 1 })]
    [TestCase("TO bob@example.org", new uint[] { 1 })]
    [TestCase("CC carol", new uint[] { 1 })]
    [TestCase("BCC secret", new uint[] { 2 })]
    [TestCase("SUBJECT \"caf\u00e9 MEETING\"", new uint[] { 1 })]
    [TestCase("CHARSET UTF-8 SUBJECT {5+}\r\ncaf\u00e9", new uint[] { 1 })]
    [TestCase("SUBJECT budget", new uint[] { 2 })]
    [TestCase("HEADER X-Priority \"\"", new uint[] { 1 })]
    [TestCase("HEADER x-priority 1", new uint[] { 1 })]
    [TestCase("HEADER Subject \"\"", new uint[] { 1, 2, 3 })]
    [TestCase("HEADER X-Missing \"\"", new uint[0])]
    [TestCase("BODY TREASURE", new uint[] { 2 })]
    [TestCase("BODY \"gr\u00fc\u00dfe\"", new uint[] { 3 })]
    [TestCase("BODY alice", new uint[0])]
    [TestCase("TEXT fox", new uint[] { 1 })]
    [TestCase("TEXT alice", new uint[] { 1 })]
    [TestCase("TEXT treasure", new uint[] { 2 })]
    [TestCase("BEFORE 11-Jan-2024", new uint[] { 1 })]
    [TestCase("BEFORE 10-Jan-2024", new uint[0])]
    [TestCase("ON 10-Jan-2024", new uint[] { 1 })]
    [TestCase("SINCE 1-Feb-2024", new uint[] { 2, 3 })]
    [TestCase("SENTON 10-Jan-2024", new uint[] { 1 })]
    [TestCase("SENTBEFORE 1-Feb-2024", new uint[] { 1 })]
    [TestCase("SENTSINCE 1-Feb-2024", new uint[] { 2, 3 })]
    [TestCase("SENTON 1-Mar-2024", new uint[] { 3 })]
    [TestCase("LARGER 1500", new uint[] { 2, 3 })]
    [TestCase("LARGER 3000", new uint[0])]
    [TestCase("SMALLER 2000", new uint[] { 1 })]
    [TestCase("2:3", new uint[] { 2, 3 })]
    [TestCase("*", new uint[] { 3 })]
    [TestCase("1,3", new uint[] { 1, 3 })]
    [TestCase("UID 20:*", new uint[] { 2, 3 })]
    [TestCase("UID 10,30", new uint[] { 1, 3 })]
    [TestCase("UID 11:19", new uint[0])]
    [TestCase("NOT SEEN", new uint[] { 2, 3 })]
    [TestCase("OR SEEN DELETED", new uint[] { 1, 3 })]
    [TestCase("(SEEN FROM alice)", new uint[] { 1 })]
    [TestCase("SEEN FROM dave", new uint[0])]
    [TestCase("OR (FROM dave ANSWERED) NOT UNDRAFT", new uint[] { 2, 3 })]
    [TestCase("MODSEQ 6", new uint[] { 2, 3 })]
    [TestCase("MODSEQ \"/flags/\\\\draft\" all 7", new uint[] { 3 })]
    [TestCase("YOUNGER 3600", new uint[] { 3 })]
    [TestCase("OLDER 3600", new uint[] { 1, 2 })]
    [TestCase("$", new uint[] { 2 })]
    [TestCase("UID $", new uint[] { 1 })]
    public void Search_key_table(string criteria, uint[] expected)
    {
        var parsed = ImapCommandParser.Parse("a SEARCH " + criteria);
        var command = (SearchCommand)((ParseResult.Ok)parsed).Command;
        var savedSequences = ResolvedSequenceSet.FromValues([2]);
        var savedUids = ResolvedSequenceSet.FromValues([10]);
        var matched = Messages
            .Where(m => SearchEvaluator.Matches(command.Criteria, m, 3, 30, savedSequences, savedUids))
            .Select(m => m.SequenceNumber);
        Assert.That(matched, Is.EqualTo(expected));

        // SEARCH's allocation-free path over the view's metadata gives the same answer for every metadata-only key
        // (this server never has \Recent messages, so RECENT / NEW / OLD are left to the context path above).
        var key = command.Criteria;
        if (SearchEvaluator.NeedsHeaders(key) || SearchEvaluator.NeedsFullMessage(key) || criteria is "RECENT" or "NEW" or "OLD")
            return;
        var matcher = SearchEvaluator.CreateMatcher(key, 3, 30, savedSequences, savedUids);
        var fromMetadata = Messages
            .Where(m => matcher.MatchesMetadata(m.SequenceNumber,
                new MessageMeta("e" + m.Uid, "f", m.Uid, m.ModSeq, m.Flags, m.Keywords, m.InternalDate, m.Size, m.InternalDate), Now))
            .Select(m => m.SequenceNumber);
        Assert.That(fromMetadata, Is.EqualTo(expected), "from metadata");

        // And the flag-column path, for the keys it takes (flags only, ANDed, each perhaps negated).
        if (SearchEvaluator.TryFlagMask(key, out var mask, out var value))
        {
            var fromFlags = Messages.Where(m => (m.Flags & mask) == value).Select(m => m.SequenceNumber);
            Assert.That(fromFlags, Is.EqualTo(expected), "from the flag mask");
        }
    }

    [TestCase("UNSEEN", true)]
    [TestCase("ALL", true)]
    [TestCase("FLAGGED UNDELETED NOT DRAFT", true)]
    [TestCase("SEEN UNSEEN", false)]
    [TestCase("OR SEEN FLAGGED", false)]
    [TestCase("NOT (SEEN FLAGGED)", false)]
    [TestCase("KEYWORD $Work", false)]
    [TestCase("RECENT", false)]
    [TestCase("UNSEEN SINCE 1-Jan-2020", false)]
    public void Only_anded_system_flag_tests_become_a_flag_mask(string criteria, bool taken)
    {
        var command = (SearchCommand)((ParseResult.Ok)ImapCommandParser.Parse("a SEARCH " + criteria)).Command;
        Assert.That(SearchEvaluator.TryFlagMask(command.Criteria, out _, out _), Is.EqualTo(taken));
    }

    [Test]
    public void A_key_that_reads_the_message_is_refused_by_the_metadata_path()
    {
        var command = (SearchCommand)((ParseResult.Ok)ImapCommandParser.Parse("a SEARCH SEEN FROM alice")).Command;
        var meta = new MessageMeta("e", "f", 1, 1, MessageFlags.Seen, [], Now, 1, Now);
        Assert.That(() => SearchEvaluator.CreateMatcher(command.Criteria, 1, 1).MatchesMetadata(1, meta, Now), Throws.InvalidOperationException);
    }

    [Test]
    public void Only_the_parts_a_key_needs_are_loaded()
    {
        SearchKey Key(string criteria) => ((SearchCommand)((ParseResult.Ok)ImapCommandParser.Parse("a SEARCH " + criteria)).Command).Criteria;
        Assert.Multiple(() =>
        {
            Assert.That(SearchEvaluator.NeedsHeaders(Key("SEEN UID 1:5 LARGER 10 BEFORE 1-Jan-2024")), Is.False);
            Assert.That(SearchEvaluator.NeedsFullMessage(Key("SEEN UID 1:5 LARGER 10 BEFORE 1-Jan-2024")), Is.False);
            Assert.That(SearchEvaluator.NeedsHeaders(Key("OR SEEN FROM x")), Is.True);
            Assert.That(SearchEvaluator.NeedsHeaders(Key("NOT SENTON 1-Jan-2024")), Is.True);
            Assert.That(SearchEvaluator.NeedsFullMessage(Key("OR SEEN FROM x")), Is.False);
            Assert.That(SearchEvaluator.NeedsFullMessage(Key("NOT BODY x")), Is.True);
            Assert.That(SearchEvaluator.NeedsFullMessage(Key("(TEXT x)")), Is.True);
        });
        // A flag-only search never calls the loaders.
        var context = new SearchContext(1, 1, MessageFlags.Seen, [], DateTimeOffset.UnixEpoch, 1, 1,
            () => throw new AssertionException("headers loaded"), () => throw new AssertionException("body loaded"));
        Assert.That(SearchEvaluator.Matches(Key("SEEN NOT DELETED"), context, 1, 1), Is.True);
    }

    [TestCase(null, true)]
    [TestCase("UTF-8", true)]
    [TestCase("us-ascii", true)]
    [TestCase("ISO-2022-JP", false)]
    [TestCase("KOI8-R", false)]
    public void Charsets(string? charset, bool supported)
    {
        var check = SearchEvaluator.CheckCharset(charset);
        if (supported)
        {
            Assert.That(check, Is.TypeOf<CharsetCheck.Supported>());
        }
        else
        {
            var code = ((CharsetCheck.Unsupported)check).Code;
            Assert.That(code, Is.EqualTo(new ResponseCode.UnsupportedCharset(new ValueList<string>(["UTF-8", "US-ASCII"]))));
        }
    }
    [Test]
    public void Phrases_match_across_wrapped_lines_and_loaders_run_once()
    {
        var headerLoads = 0;
        var bodyLoads = 0;
        var raw = System.Text.Encoding.ASCII.GetBytes(Crlf("Subject: long", "  folded subject", "", "the quick brown", "fox jumps"));
        var context = new SearchContext(1, 1, MessageFlags.None, [], DateTimeOffset.UnixEpoch, raw.Length, 1,
            () => { headerLoads++; return ImapMessageView.ParseHeaderOnly(HeaderSection(raw)); },
            () => { bodyLoads++; return ImapMessageView.Parse(raw); });
        SearchKey Key(string criteria) => ((SearchCommand)((ParseResult.Ok)ImapCommandParser.Parse("a SEARCH " + criteria)).Command).Criteria;
        var matcher = SearchEvaluator.CreateMatcher(Key("BODY \"brown fox\" SUBJECT \"long folded\" TEXT jumps UID 1:*"), 1, 1);
        Assert.That(matcher.Matches(context), Is.True);
        // BODY loaded the full message first; the header keys then read it instead of loading the header section.
        Assert.That((headerLoads, bodyLoads), Is.EqualTo((0, 1)));
        Assert.That(matcher.Matches(context with { SequenceNumber = 1 }), Is.True);
        Assert.That(bodyLoads, Is.EqualTo(2), "each Matches call evaluates afresh");
        Assert.That(SearchEvaluator.Matches(Key("BODY \"brown  cat\""), context, 1, 1), Is.False);
    }
}
