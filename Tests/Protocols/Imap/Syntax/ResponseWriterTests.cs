using System.Buffers;
using System.Text;
using MailServer.Protocols.Imap.Syntax;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Syntax;

[TestFixture]
public sealed class ResponseWriterTests
{
    private ArrayBufferWriter<byte> _buffer = null!;
    private ImapResponseWriter _w = null!;

    [SetUp]
    public void SetUp()
    {
        _buffer = new ArrayBufferWriter<byte>();
        _w = new ImapResponseWriter(_buffer);
    }

    private string Written => Encoding.UTF8.GetString(_buffer.WrittenSpan);

    [Test]
    public void Tagged_ok_with_a_code()
    {
        _w.Tagged("A142", ImapStatus.Ok, new ResponseCode.NextUid(4392), "Predicted next UID");

        Assert.That(Written, Is.EqualTo("A142 OK [UIDNEXT 4392] Predicted next UID\r\n"));
    }

    [Test]
    public void Select_style_untagged_codes()
    {
        _w.Untagged(ImapStatus.Ok, new ResponseCode.MailboxUidValidity(3857529045), "UIDs valid");
        _w.Untagged(ImapStatus.Ok, new ResponseCode.PermanentFlags(ValueList.Of("\\Deleted", "\\Seen", "\\*")), "Limited");
        _w.Tagged("A142", ImapStatus.Ok, ResponseCode.ReadWrite, "SELECT completed");

        Assert.That(Written, Is.EqualTo(
            "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n" +
            "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n" +
            "A142 OK [READ-WRITE] SELECT completed\r\n"));
    }

    [Test]
    public void Uidplus_codes_use_compact_sets()
    {
        // RFC 4315 §3 examples.
        _w.Tagged("A003", ImapStatus.Ok, new ResponseCode.AppendedUids(38505, ResolvedSequenceSet.FromValues([3955])), "APPEND completed");
        _w.Tagged("A004", ImapStatus.Ok, new ResponseCode.CopiedUids(38505,
            ResolvedSequenceSet.FromValues([304, 319, 320]), ResolvedSequenceSet.FromValues([3956, 3957, 3958])), "Done");

        Assert.That(Written, Is.EqualTo(
            "A003 OK [APPENDUID 38505 3955] APPEND completed\r\n" +
            "A004 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n"));
    }

    [Test]
    public void Capability_greeting_and_bye()
    {
        _w.Untagged(ImapStatus.Ok, new ResponseCode.Capabilities(ValueList.Of("IMAP4rev2", "IMAP4rev1", "STARTTLS", "LOGINDISABLED")), "ready");
        _w.Untagged(ImapStatus.Bye, null, "Autologout; idle for too long");

        Assert.That(Written, Is.EqualTo(
            "* OK [CAPABILITY IMAP4rev2 IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n" +
            "* BYE Autologout; idle for too long\r\n"));
    }

    [Test]
    public void Status_text_cannot_break_the_line()
    {
        _w.Tagged("a", ImapStatus.No, ResponseCode.ServerBug, "first\r\nsecond");

        Assert.That(Written, Is.EqualTo("a NO [SERVERBUG] first  second\r\n"));
    }

    [Test]
    public void Preauth_and_bye_cannot_be_tagged()
    {
        Assert.Throws<ArgumentException>(() => _w.Tagged("a", ImapStatus.Bye, null, "x"));
    }

    [Test]
    public void Fetch_response_tokens_are_spaced_and_parenthesised()
    {
        _w.BeginUntagged().Number(12).Atom("FETCH").BeginList()
            .Atom("FLAGS").FlagList(["\\Seen"])
            .Atom("INTERNALDATE").DateTime(new DateTimeOffset(1996, 7, 17, 2, 44, 25, TimeSpan.FromHours(-7)))
            .Atom("UID").Number(4)
            .Atom("BODY[]").Literal("Hi\r\n"u8)
            .Atom("BINARY[1]").Literal8(new byte[] { 0, 1 })
            .EndList().End();

        Assert.That(_buffer.WrittenSpan.ToArray(), Is.EqualTo(Encoding.ASCII.GetBytes(
            "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" UID 4 BODY[] {4}\r\nHi\r\n BINARY[1] ~{2}\r\n\0\u0001)\r\n")));
    }

    [TestCase("BODY.PEEK[HEADER.FIELDS (Date From)]", "BODY[HEADER.FIELDS (DATE FROM)]")]
    [TestCase("BODY[1.2.MIME]<0.100>", "BODY[1.2.MIME]<0>")]
    [TestCase("BODY[]<500.100>", "BODY[]<500>")]
    [TestCase("BINARY.PEEK[1.3]<10.5>", "BINARY[1.3]<10>")]
    [TestCase("BINARY.SIZE[2]", "BINARY.SIZE[2]")]
    [TestCase("BODY[HEADER.FIELDS (\"X Odd\")]", "BODY[HEADER.FIELDS (\"X ODD\")]")]
    public void Fetch_item_echo_names_follow_rfc_9051_section_7_5_2(string requested, string echoed)
    {
        var command = (FetchCommand)((ParseResult.Ok)ImapCommandParser.Parse("a FETCH 1 " + requested)).Command;
        var name = command.Items[0] switch
        {
            FetchItem.BodySection b => b.ResponseName,
            FetchItem.Binary b => b.ResponseName,
            FetchItem.BinarySize b => b.ResponseName,
            var other => other.ToString(),
        };

        _w.BeginUntagged().Number(1).Atom("FETCH").BeginList().RawToken(name).Nil().EndList().End();

        Assert.That(Written, Is.EqualTo($"* 1 FETCH ({echoed} NIL)\r\n"));
    }

    [Test]
    public void Raw_tokens_cannot_carry_line_breaks()
    {
        Assert.Throws<ArgumentException>(() => _w.RawToken("BODY[]\r\n* BYE"));
        Assert.Throws<ArgumentException>(() => _w.Atom("two words"));
    }

    [TestCase("INBOX", "INBOX")]
    [TestCase("Sent Items", "\"Sent Items\"")]
    [TestCase("a\"b\\c", "\"a\\\"b\\\\c\"")]
    [TestCase("", "\"\"")]
    [TestCase("NIL", "\"NIL\"")]
    [TestCase("x]y", "x]y")]
    [TestCase("50%", "\"50%\"")]
    [TestCase("line1\r\nline2", "{12}\r\nline1\r\nline2")]
    public void Astring_chooses_atom_quoted_or_literal(string value, string wire)
    {
        _w.BeginUntagged().AString(value).End();

        Assert.That(Written, Is.EqualTo("* " + wire + "\r\n"));
    }

    [Test]
    public void Eight_bit_strings_are_literals_until_utf8_is_enabled()
    {
        _w.BeginUntagged().String("Gr\u00FC\u00DFe").End();
        _w.Utf8Enabled = true;
        _w.BeginUntagged().String("Gr\u00FC\u00DFe").End();

        Assert.That(Written, Is.EqualTo("* {7}\r\nGr\u00FC\u00DFe\r\n* \"Gr\u00FC\u00DFe\"\r\n"));
    }

    [Test]
    public void Mailbox_names_are_encoded_for_the_client()
    {
        _w.BeginUntagged().Atom("LIST").BeginList().EndList().String("/").Mailbox("Entw\u00fcrfe").End();
        _w.Utf8Enabled = true;
        _w.BeginUntagged().Atom("LIST").BeginList().EndList().String("/").Mailbox("Entw\u00fcrfe").End();

        Assert.That(Written, Is.EqualTo("* LIST () \"/\" Entw&APw-rfe\r\n* LIST () \"/\" \"Entw\u00fcrfe\"\r\n"));
    }

    [Test]
    public void Esearch_style_sequence_sets()
    {
        _w.BeginUntagged().Atom("ESEARCH").BeginList().Atom("TAG").String("A285").EndList().Atom("UID").Atom("ALL")
            .SequenceSet(ResolvedSequenceSet.FromValues([4, 5, 6, 10])).End();

        Assert.That(Written, Is.EqualTo("* ESEARCH (TAG \"A285\") UID ALL 4:6,10\r\n"));
        Assert.Throws<ArgumentException>(() => _w.SequenceSet(ResolvedSequenceSet.Empty));
    }

    [Test]
    public void Nstring_writes_nil_for_null()
    {
        _w.BeginUntagged().BeginList().NString(null).NString("x").NStringBytes(null).EndList().End();

        Assert.That(Written, Is.EqualTo("* (NIL \"x\" NIL)\r\n"));
    }

    [Test]
    public void Continuations()
    {
        _w.Continuation("Ready for literal data");
        _w.ContinuationBase64("abc"u8);
        _w.ContinuationBase64([]);

        Assert.That(Written, Is.EqualTo("+ Ready for literal data\r\n+ YWJj\r\n+ \r\n"));
    }

    [Test]
    public void Written_strings_parse_back_to_the_same_value()
    {
        string[] values = ["plain", "with space", "q\"uote", "back\\slash", "crlf\r\ninside", "Gr\u00FC\u00DFe", ""];
        foreach (var value in values)
        {
            var buffer = new ArrayBufferWriter<byte>();
            new ImapResponseWriter(buffer).BeginUntagged().Atom("x").AString(value);
            var wire = Encoding.UTF8.GetString(buffer.WrittenSpan).Replace("* x ", "t LOGIN u ");

            var parsed = ImapCommandParser.Parse(wire);

            Assert.That(parsed, Is.EqualTo(new ParseResult.Ok(new LoginCommand("t", "u", value))), value);
        }
    }
}
