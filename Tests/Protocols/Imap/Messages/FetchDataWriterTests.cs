using System.Text;
using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;
using NUnit.Framework;
using static MailServer.Tests.Protocols.Imap.Messages.MessageFixtures;

namespace MailServer.Tests.Protocols.Imap.Messages;

[TestFixture]
public sealed class FetchDataWriterTests
{
    [Test]
    public void Rfc9051_example_envelope_and_body()
    {
        var view = View(Rfc9051Example());
        // RFC 9051 §7.5.2, the FETCH response example for message 12.
        Assert.That(Render(Item("ENVELOPE"), view), Is.EqualTo(
            "ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev2 WG mtg summary and minutes\" " +
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) " +
            "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) " +
            "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL " +
            "\"<B27397-0100000@cac.washington.edu>\")"));
        Assert.That(Render(Item("BODY"), view), Is.EqualTo("BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92)"));
        Assert.That(Render(Item("BODYSTRUCTURE"), view),
            Is.EqualTo("BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92 NIL NIL NIL NIL)"));
    }

    [Test]
    public void Rfc9051_example_multipart_body()
    {
        var view = View(Rfc9051MultipartExample());
        Assert.That(Render(Item("BODY"), view), Is.EqualTo(
            "BODY ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23)" +
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") \"<960723163407.20117h@cac.washington.edu>\" " +
            "\"Compiler diff\" \"BASE64\" 4554 73) \"MIXED\")"));
        Assert.That(Render(Item("BODYSTRUCTURE"), view), Does.EndWith("4554 73 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"x\") NIL NIL NIL)"));
    }

    [Test]
    public void Nested_bodystructure_has_extension_data_and_encapsulated_message()
    {
        var view = View(Nested());
        var text = Render(Item("BODYSTRUCTURE"), view);
        Assert.That(text, Does.StartWith("BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL \"forwarded\" \"7BIT\" "));
        Assert.That(text, Does.Contain("(NIL \"inner subject\" ((NIL NIL \"inner\" \"example.com\"))"));
        Assert.That(text, Does.Contain("((\"text\" \"plain\" NIL NIL NIL \"7BIT\" 11 1 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 17 1 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL) 14 NIL NIL NIL NIL)"));
        Assert.That(text, Does.Contain("(\"application\" \"octet-stream\" (\"name\" \"data.bin\") NIL NIL \"base64\" 8 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"filename\" \"data.bin\")) (\"en\" \"de\") \"http://example.com/data.bin\")"));
        Assert.That(text, Does.EndWith(" \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)"));
        // BODY carries no extension data at any level.
        var body = Render(Item("BODY"), view);
        Assert.That(body, Does.Not.Contain("attachment").And.Not.Contain("boundary"));
    }

    [TestCase("BODY[1]", "BODY[1] {10}\r\nHello body")]
    [TestCase("BODY.PEEK[2.1]", "BODY[2.1] {11}\r\ninner plain")]
    [TestCase("BODY[2.2]", "BODY[2.2] {17}\r\n<p>inner html</p>")]
    [TestCase("BODY[2.1.MIME]", "BODY[2.1.MIME] {28}\r\nContent-Type: text/plain\r\n\r\n")]
    [TestCase("BODY[2.HEADER]", "BODY[2.HEADER] {125}\r\nFrom: inner@example.com\r\nSubject: inner subject\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n")]
    [TestCase("BODY[2.HEADER.FIELDS (subject)]", "BODY[2.HEADER.FIELDS (SUBJECT)] {26}\r\nSubject: inner subject\r\n\r\n")]
    [TestCase("BODY[3.MIME]<0.13>", "BODY[3.MIME]<0> {13}\r\nContent-Type:")]
    [TestCase("BODY[1]<6.100>", "BODY[1]<6> {4}\r\nbody")]
    [TestCase("BODY[1]<100.5>", "BODY[1]<100> \"\"")]
    [TestCase("BODY[1]<10.5>", "BODY[1]<10> \"\"")]
    [TestCase("BODY[7]", "BODY[7] NIL")]
    [TestCase("BODY[1.1]", "BODY[1.1] NIL")]
    [TestCase("BODY[1.HEADER]", "BODY[1.HEADER] NIL")]
    [TestCase("BODY[HEADER.FIELDS (SUBJECT from)]", "BODY[HEADER.FIELDS (SUBJECT FROM)] {46}\r\nFrom: Ann <a@example.com>\r\nSubject: nested\r\n\r\n")]
    [TestCase("BODY[HEADER.FIELDS.NOT (From To MIME-Version Content-Type)]", "BODY[HEADER.FIELDS.NOT (FROM TO MIME-VERSION CONTENT-TYPE)] {19}\r\nSubject: nested\r\n\r\n")]
    [TestCase("BODY[HEADER.FIELDS (X-None)]", "BODY[HEADER.FIELDS (X-NONE)] {2}\r\n\r\n")]
    [TestCase("BINARY[3]", "BINARY[3] ~{5}\r\n\0\u0001\u0002\u0003\u0004")]
    [TestCase("BINARY.PEEK[3]<1.2>", "BINARY[3]<1> {2}\r\n\u0001\u0002")]
    [TestCase("BINARY[4]", "BINARY[4] {14}\r\nGr\u00fc\u00dfe, caf\u00e9 ok")]
    [TestCase("BINARY.SIZE[3]", "BINARY.SIZE[3] 5")]
    [TestCase("BINARY.SIZE[4]", "BINARY.SIZE[4] 14")]
    [TestCase("BINARY.SIZE[1]", "BINARY.SIZE[1] 10")]
    [TestCase("BINARY[9]", "BINARY[9] NIL")]
    public void Sections_of_a_nested_message(string item, string expected)
    {
        Assert.That(Render(Item(item), View(Nested())), Is.EqualTo(expected));
    }

    [Test]
    public void Whole_message_header_and_text_sections()
    {
        var raw = Nested();
        var view = View(raw);
        var headerEnd = raw.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4;
        Assert.That(Render(Item("BODY[]"), view), Is.EqualTo($"BODY[] {{{raw.Length}}}\r\n{raw}"));
        Assert.That(Render(Item("RFC822"), view), Is.EqualTo($"RFC822 {{{raw.Length}}}\r\n{raw}"));
        Assert.That(Render(Item("RFC822.HEADER"), view), Is.EqualTo($"RFC822.HEADER {{{headerEnd}}}\r\n{raw[..headerEnd]}"));
        Assert.That(Render(Item("BODY.PEEK[HEADER]"), view), Is.EqualTo($"BODY[HEADER] {{{headerEnd}}}\r\n{raw[..headerEnd]}"));
        Assert.That(Render(Item("RFC822.TEXT"), view), Is.EqualTo($"RFC822.TEXT {{{raw.Length - headerEnd}}}\r\n{raw[headerEnd..]}"));
        Assert.That(Render(Item("BODY[TEXT]<0.8>"), view), Is.EqualTo("BODY[TEXT]<0> {8}\r\npreamble"));
        Assert.That(Render(Item("BODY[]<5000.10>"), view), Is.EqualTo("BODY[]<5000> \"\""));
    }

    [Test]
    public void Non_multipart_message_has_part_one_as_its_body()
    {
        var raw = Crlf("Subject: one", "Content-Type: text/plain", "", "just text");
        var view = View(raw);
        Assert.That(Render(Item("BODY[1]"), view), Is.EqualTo("BODY[1] {9}\r\njust text"));
        Assert.That(Render(Item("BODY[1.MIME]"), view), Does.StartWith("BODY[1.MIME] {42}\r\nSubject: one"));
        Assert.That(Render(Item("BODY[2]"), view), Is.EqualTo("BODY[2] NIL"));
        Assert.That(Render(Item("BODYSTRUCTURE"), view), Is.EqualTo("BODYSTRUCTURE (\"text\" \"plain\" NIL NIL NIL \"7BIT\" 9 1 NIL NIL NIL NIL)"));
    }

    [Test]
    public void Message_without_content_type_defaults_to_text_plain_us_ascii()
    {
        var view = View(Crlf("Subject: plain", "", "line one", "line two", ""));
        Assert.That(Render(Item("BODY"), view), Is.EqualTo("BODY (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 20 2)"));
    }

    [Test]
    public void Unknown_transfer_encoding_is_a_typed_error()
    {
        var view = View(Nested());
        var ex = Assert.Throws<UnknownTransferEncodingException>(() => Render(Item("BINARY[5]"), view));
        Assert.That(ex!.Encoding, Is.EqualTo("x-uuencode"));
        Assert.Throws<UnknownTransferEncodingException>(() => Render(Item("BINARY.SIZE[5]"), view));
        Assert.That(FetchDataWriter.FindUnknownTransferEncoding(Items("FLAGS BINARY[3] BINARY.SIZE[5]"), view), Is.EqualTo("x-uuencode"));
        Assert.That(FetchDataWriter.FindUnknownTransferEncoding(Items("BINARY[3] BINARY[4] BINARY[] BINARY[2] BODY[5]"), view), Is.Null);
        // BODY[5] needs no decoding.
        Assert.That(Render(Item("BODY[5]"), view), Is.EqualTo("BODY[5] {11}\r\nbegin 644 x"));
    }

    [Test]
    public void Envelope_with_encoded_words_groups_and_missing_fields()
    {
        var view = View(Crlf(
            "From: =?utf-8?b?SsO2cmc=?= <jorg@example.com>",
            "To: Team: ann@example.com, \"Bob B\" <bob@example.com>;, carol@example.com",
            "Cc: undisclosed-recipients:;",
            "Subject: =?utf-8?q?caf=C3=A9?=",
            "In-Reply-To: <parent@example.com>",
            "",
            "body"));
        var text = Render(Item("ENVELOPE"), view);
        Assert.That(text, Is.EqualTo(
            "ENVELOPE (NIL \"=?utf-8?q?caf=C3=A9?=\" " +
            "((\"=?utf-8?b?SsO2cmc=?=\" NIL \"jorg\" \"example.com\")) " +
            "((\"=?utf-8?b?SsO2cmc=?=\" NIL \"jorg\" \"example.com\")) " +
            "((\"=?utf-8?b?SsO2cmc=?=\" NIL \"jorg\" \"example.com\")) " +
            "((NIL NIL \"Team\" NIL)(NIL NIL \"ann\" \"example.com\")(\"Bob B\" NIL \"bob\" \"example.com\")(NIL NIL NIL NIL)(NIL NIL \"carol\" \"example.com\")) " +
            "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) " +
            "NIL \"<parent@example.com>\" NIL)"));
        // With UTF-8 enabled the decoded name goes out as UTF-8 (RFC 9051 §6.3.1).
        Assert.That(Render(Item("ENVELOPE"), view, utf8: true), Does.Contain(Encoding.Latin1.GetString(Encoding.UTF8.GetBytes("((\"Jörg\" NIL \"jorg\" \"example.com\"))"))));
    }

    [Test]
    public void Envelope_of_an_empty_header_is_all_nil()
    {
        var view = View("\r\nbody");
        Assert.That(Render(Item("ENVELOPE"), view), Is.EqualTo("ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"));
    }

    [Test]
    public void Header_only_view_answers_header_items_and_refuses_body_items()
    {
        var raw = Encoding.UTF8.GetBytes(Nested());
        var view = ImapMessageView.ParseHeaderOnly(HeaderSection(raw));
        Assert.That(view.HasBody, Is.False);
        foreach (var item in Items("ENVELOPE RFC822.HEADER BODY[HEADER] BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY[HEADER.FIELDS.NOT (SUBJECT)]"))
        {
            Assert.That(FetchDataWriter.NeedsFullMessage(item), Is.False, item.ToString());
            Assert.That(Render(item, view), Is.EqualTo(Render(item, View(Nested()))), item.ToString());
        }
        foreach (var item in Items("BODY BODYSTRUCTURE RFC822 RFC822.TEXT BODY[] BODY[TEXT] BODY[1] BODY[1.HEADER] BINARY[1] BINARY.SIZE[1]"))
        {
            Assert.That(FetchDataWriter.NeedsFullMessage(item), Is.True, item.ToString());
            Assert.Throws<InvalidOperationException>(() => Render(item, view), item.ToString());
        }
    }

    [Test]
    public void Metadata_items_are_left_to_the_session()
    {
        foreach (var item in Items("FLAGS UID INTERNALDATE RFC822.SIZE MODSEQ"))
        {
            Assert.That(FetchDataWriter.IsContentItem(item), Is.False);
            Assert.Throws<ArgumentException>(() => Render(item, View(Nested())));
        }
    }

    [Test]
    public void Structure_depth_is_capped()
    {
        var sb = new StringBuilder();
        const int depth = 150;
        for (var i = 0; i < depth; i++)
        {
            sb.Append($"Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n");
        }
        sb.Append("Content-Type: text/plain\r\n\r\nleaf\r\n");
        for (var i = depth - 1; i >= 0; i--)
        {
            sb.Append($"--b{i}--\r\n");
        }
        var view = ImapMessageView.Parse(Encoding.ASCII.GetBytes(sb.ToString()), new ImapMessageLimits(MaxDepth: 10));
        Assert.That(view.StructureTruncated, Is.True);
        var text = Render(Item("BODYSTRUCTURE"), view);
        // Ten multipart levels open, then the eleventh is shown as a leaf.
        Assert.That(text, Does.StartWith("BODYSTRUCTURE " + new string('(', 11) + "\"multipart\" \"mixed\""));
    }

    [Test]
    public void Part_count_is_capped()
    {
        var sb = new StringBuilder("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n");
        for (var i = 0; i < 50; i++)
        {
            sb.Append("--b\r\n\r\npart\r\n");
        }
        sb.Append("--b--\r\n");
        var view = ImapMessageView.Parse(Encoding.ASCII.GetBytes(sb.ToString()), new ImapMessageLimits(MaxParts: 10));
        Assert.That(view.StructureTruncated, Is.True);
        Assert.That(Render(Item("BODY[9]"), view), Is.EqualTo("BODY[9] {4}\r\npart"));
        Assert.That(Render(Item("BODY[10]"), view), Is.EqualTo("BODY[10] NIL"));
    }
    [Test]
    public void Huge_folded_address_field_is_not_handed_to_the_address_parser()
    {
        // Dependency pitfall (MimeKit): parsing is super-linear on huge folded headers. A 4 MB folded To: reads as
        // absent in the ENVELOPE; the header section itself is still served as stored.
        var sb = new StringBuilder("Subject: big\r\nTo: first@example.com");
        for (var i = 0; i < 4 * 1024 * 1024 / 78; i++)
        {
            sb.Append(",\r\n ").Append(new string('x', 60)).Append("@example.com");
        }
        sb.Append("\r\nFrom: a@example.com\r\n\r\nbody");
        var view = View(sb.ToString());
        var envelope = Render(Item("ENVELOPE"), view);
        Assert.That(envelope, Is.EqualTo("ENVELOPE (NIL \"big\" ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) NIL NIL NIL NIL NIL)"));
        Assert.That(Render(Item("BODY[HEADER.FIELDS (FROM)]"), view), Is.EqualTo("BODY[HEADER.FIELDS (FROM)] {23}\r\nFrom: a@example.com\r\n\r\n"));
        Assert.That(view.GetAddresses("To"), Is.Empty);
    }
    [Test]
    public void Digest_parts_default_to_message_rfc822()
    {
        var view = View(Crlf(
            "Content-Type: multipart/digest; boundary=d",
            "",
            "--d",
            "",
            "Subject: first",
            "",
            "one",
            "--d",
            "Content-Type: text/plain",
            "",
            "two",
            "--d--"));
        Assert.That(Render(Item("BODY"), view), Is.EqualTo(
            "BODY ((\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 21 (NIL \"first\" NIL NIL NIL NIL NIL NIL NIL NIL) " +
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 3 1) 3)(\"text\" \"plain\" NIL NIL NIL \"7BIT\" 3 1) \"digest\")"));
        Assert.That(Render(Item("BODY[1.HEADER]"), view), Is.EqualTo("BODY[1.HEADER] {18}\r\nSubject: first\r\n\r\n"));
        Assert.That(Render(Item("BODY[1.1]"), view), Is.EqualTo("BODY[1.1] {3}\r\none"));
    }

    [Test]
    public void Encoded_message_rfc822_is_a_basic_part()
    {
        var view = View(Crlf(
            "Content-Type: multipart/mixed; boundary=b",
            "",
            "--b",
            "Content-Type: message/rfc822",
            "Content-Transfer-Encoding: base64",
            "",
            "U3ViamVjdDogeA0KDQp5",
            "--b--"));
        Assert.That(Render(Item("BODY"), view), Is.EqualTo("BODY ((\"message\" \"rfc822\" NIL NIL NIL \"base64\" 20) \"mixed\")"));
        Assert.That(Render(Item("BINARY[1]"), view), Is.EqualTo("BINARY[1] {15}\r\nSubject: x\r\n\r\ny"));
        Assert.That(Render(Item("BODY[1.HEADER]"), view), Is.EqualTo("BODY[1.HEADER] NIL"));
    }

    [Test]
    public void Multipart_without_delimiters_shows_one_empty_part()
    {
        var view = View(Crlf("Content-Type: multipart/mixed; boundary=missing", "", "no parts here"));
        Assert.That(Render(Item("BODY"), view), Is.EqualTo("BODY ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 0) \"mixed\")"));
        Assert.That(Render(Item("BODY[TEXT]"), view), Is.EqualTo("BODY[TEXT] {13}\r\nno parts here"));
    }
    [TestCase("Subject: a\r\n\r\n", 100, true)]
    [TestCase("Subject: a\n\n", 100, true)]
    [TestCase("\r\n", 100, true)]
    [TestCase("Subject: a\r\nTo: b", 17, true)]
    [TestCase("Subject: a\r\nTo: b", 300000, false)]
    public void Header_section_completeness(string section, long size, bool complete)
    {
        // The store cuts header summaries at 256 KiB; a cut one must not answer BODY[HEADER].
        Assert.That(ImapMessageView.IsCompleteHeaderSection(Encoding.ASCII.GetBytes(section), size), Is.EqualTo(complete));
    }
}
