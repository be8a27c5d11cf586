using System.Net.Sockets;
using System.Text;
using MailServer.Protocols.Imap;
using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;
using MailServer.Tests.Protocols.Imap.Messages;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>
/// FETCH BODYSTRUCTURE, BODY[n], BODY[n.MIME], BODY[HEADER], BINARY[n] and their partial forms answered from a
/// structure scanned off the stored stream (the message never read whole) are byte for byte what the same server
/// answers from the message read whole. Two servers get the same tricky messages (nested multiparts, message/rfc822,
/// a missing final boundary, 8bit, base64 with odd line lengths across segments, quoted-printable, a digest, NUL in a
/// big binary part, an unknown encoding): one reads every message through the stream
/// (<see cref="ImapLimits.StreamedFetchBytes"/> 0), the other none; every command's raw response is compared.
/// </summary>
[TestFixture]
public sealed class StreamedStructureTests
{
    private static readonly string[] Paths = ["1", "2", "3", "4", "1.1", "1.2", "1.3", "2.1", "2.2", "3.1", "1.1.1", "2.1.1", "2.2.1", "9"];

    private static readonly string[] PartItems =
    [
        "BODY.PEEK[{0}]", "BODY.PEEK[{0}.MIME]", "BODY.PEEK[{0}.HEADER]", "BODY.PEEK[{0}.TEXT]", "BINARY.PEEK[{0}]", "BINARY.SIZE[{0}]",
        "BODY.PEEK[{0}]<0.10>", "BODY.PEEK[{0}]<65530.20>", "BINARY.PEEK[{0}]<3.100000>", "BINARY.PEEK[{0}]<99999999.5>", "BODY.PEEK[{0}.HEADER.FIELDS (Content-Type SUBJECT)]",
    ];

    private static readonly string[] MessageItems =
    [
        "BODYSTRUCTURE", "BODY", "ENVELOPE", "BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]", "BODY.PEEK[]", "RFC822.TEXT", "BINARY.PEEK[]",
        "BINARY.SIZE[]", "BODY.PEEK[]<65535.2>", "BODY.PEEK[]<65536.300000>", "BODY.PEEK[]<99999999.5>", "BODY.PEEK[TEXT]<1.1>",
        "BODY.PEEK[HEADER.FIELDS.NOT (Received)]", "RFC822.HEADER", "BODYSTRUCTURE BODY.PEEK[2] BINARY.PEEK[1] ENVELOPE",
        "BINARY.PEEK[2] BINARY.PEEK[4]",
    ];

    [Test]
    public async Task Every_section_of_tricky_messages_is_byte_identical_whether_the_message_is_read_whole_or_streamed()
    {
        var log = new RecordingLogger<ImapListener>();
        await using var streamed = await ImapTestServer.StartAsync(limits: new ImapLimits(StreamedFetchBytes: 0), logger: log);
        await using var whole = await ImapTestServer.StartAsync(limits: new ImapLimits(StreamedFetchBytes: long.MaxValue));
        var messages = TrickyMessages();
        foreach (var message in messages)
        {
            await DeliverAsync(streamed, message);
            await DeliverAsync(whole, message);
        }
        using var a = await RawClient.OpenAsync(streamed);
        using var b = await RawClient.OpenAsync(whole);
        var compared = 0;
        for (var uid = 1; uid <= messages.Count; uid++)
        {
            var commands = MessageItems.Concat(Paths.SelectMany(p => PartItems.Select(i => string.Format(System.Globalization.CultureInfo.InvariantCulture, i, p))));
            foreach (var items in commands)
            {
                var command = $"UID FETCH {uid} ({items})";
                var fromStream = await a.CommandAsync(command);
                var fromArray = await b.CommandAsync(command);
                Assert.That(Encoding.Latin1.GetString(fromStream), Is.EqualTo(Encoding.Latin1.GetString(fromArray)), $"message {uid}: {command}");
                compared++;
            }
        }
        // The comparison means something only when the streamed server took the streamed path: once per message
        // (the session keeps the structure), and the array server answered real content.
        var scans = log.Records.Count(r => r.EventId.Id == 5066);
        Assert.That(scans, Is.EqualTo(messages.Count), "one stream scan per message, then the session's structure cache");
        Assert.That(compared, Is.GreaterThan(1000));
        var structure = Encoding.Latin1.GetString(await b.CommandAsync("UID FETCH 1 (BODYSTRUCTURE)"));
        Assert.That(structure, Does.Contain("(\"text\" \"html\""));
    }

    [Test]
    public async Task Preview_and_search_body_and_text_are_byte_identical_whether_the_message_is_read_whole_or_streamed()
    {
        var log = new RecordingLogger<ImapListener>();
        await using var streamed = await ImapTestServer.StartAsync(limits: new ImapLimits(StreamedFetchBytes: 0), logger: log);
        await using var whole = await ImapTestServer.StartAsync(limits: new ImapLimits(StreamedFetchBytes: long.MaxValue));
        // The tricky messages, plus a big one whose text sits beside a 600 KB attachment (the case issue 21 is about),
        // an HTML-only one, and a text attachment in base64 (BODY searches it, PREVIEW leaves it out).
        var payload = new byte[450_000];
        new Random(11).NextBytes(payload);
        var attachment = Convert.ToBase64String(payload, Base64FormattingOptions.InsertLineBreaks);
        var messages = TrickyMessages();
        messages.Add(Encoding.Latin1.GetBytes("Subject: report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=r\r\n\r\n"
            + "--r\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n> quoted reply\r\nQuarterly numbers attached, see the needle.\r\n-- \r\nsignature\r\n"
            + "--r\r\nContent-Type: application/octet-stream; name=big.bin\r\nContent-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + attachment + "\r\n--r\r\nContent-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment; filename=notes.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + Convert.ToBase64String(Encoding.UTF8.GetBytes("haystack with a hidden pin\r\n")) + "\r\n--r--\r\n"));
        messages.Add(Encoding.Latin1.GetBytes("Subject: html\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            + "<html><head><title>t</title><style>p{}</style></head><body><p>Caf=C3=A9 &amp; cr=C3=A8me menu</p></body></html>\r\n"));
        foreach (var message in messages)
        {
            await DeliverAsync(streamed, message);
            await DeliverAsync(whole, message);
        }
        // PREVIEW (RFC 8970) of each message, alone and beside other items.
        using (var a = await RawClient.OpenAsync(streamed))
        using (var b = await RawClient.OpenAsync(whole))
        {
            for (var uid = 1; uid <= messages.Count; uid++)
            {
                foreach (var items in new[] { "PREVIEW", "UID PREVIEW BODYSTRUCTURE BODY.PEEK[1]" })
                {
                    var command = $"UID FETCH {uid} ({items})";
                    Assert.That(Encoding.Latin1.GetString(await a.CommandAsync(command)), Is.EqualTo(Encoding.Latin1.GetString(await b.CommandAsync(command))), command);
                }
            }
            var report = Encoding.UTF8.GetString(await b.CommandAsync($"UID FETCH {messages.Count - 1} (PREVIEW)"));
            Assert.That(report, Does.Contain("PREVIEW \"Quarterly numbers attached, see the needle.\""), "the comparison compares real previews");
        }
        // SEARCH BODY / TEXT (RFC 9051 §6.4.4) in a session of its own, so its structures are its own scans.
        using (var a = await RawClient.OpenAsync(streamed))
        using (var b = await RawClient.OpenAsync(whole))
        {
            string[] keys = ["BODY needle", "BODY pin", "TEXT report", "BODY Hello", "BODY \"inner text\"", "TEXT nested", "BODY caf\u00e9",
                "BODY \"continues here\"", "BODY zzzz-nowhere", "TEXT \"last part\"", "BODY menu", "NOT BODY text", "OR BODY one BODY two"];
            foreach (var key in keys)
            {
                var command = key.Any(c => c > 127) ? $"UID SEARCH CHARSET UTF-8 {key}" : $"UID SEARCH {key}";
                Assert.That(Encoding.UTF8.GetString(await a.CommandAsync(command)), Is.EqualTo(Encoding.UTF8.GetString(await b.CommandAsync(command))), command);
            }
            Assert.That(Encoding.UTF8.GetString(await b.CommandAsync("UID SEARCH BODY pin")), Does.StartWith($"* SEARCH {messages.Count - 1}\r\n"));
        }
        // The streamed server took the streamed paths: one scan per message for PREVIEW (then the session's structure
        // cache), and SEARCH scanned every message (more than the cache's eight are searched, so each SEARCH scans again).
        Assert.That(log.Records.Count(r => r.EventId.Id == 5066), Is.EqualTo(messages.Count), "PREVIEW read the structure off the stream");
        Assert.That(log.Records.Where(r => r.EventId.Id == 5068).Select(r => r.Message).Distinct().Count(), Is.EqualTo(messages.Count),
            "SEARCH read the structure of every message off the stream");
    }

    [Test]
    public void The_search_index_reads_the_same_texts_from_the_stream_as_from_the_whole_message()
    {
        foreach (var message in TrickyMessages())
        {
            var whole = MailServer.Protocols.Imap.Search.MessageTexts.Of(ImapMessageView.Parse(message));
            using var stream = new MemoryStream(message, writable: false);
            var streamed = MailServer.Protocols.Imap.Search.MessageTexts.Of(ImapMessageView.ScanStream(stream, windowSize: 4093), stream);
            Assert.That(streamed.Body, Is.EqualTo(whole.Body), Encoding.Latin1.GetString(message.AsSpan(0, 40)));
            Assert.That(streamed.Headers, Is.EqualTo(whole.Headers));
            Assert.That(streamed.Addresses, Is.EqualTo(whole.Addresses));
        }
    }

    [Test]
    public async Task A_multi_segment_attachment_streams_by_range_and_BINARY_decodes_it_in_pieces()
    {
        var log = new RecordingLogger<ImapListener>();
        await using var server = await ImapTestServer.StartAsync(limits: new ImapLimits(StreamedFetchBytes: 0), logger: log);
        var payload = new byte[3 * 1024 * 1024 + 17];
        new Random(21).NextBytes(payload);
        var base64 = Convert.ToBase64String(payload, Base64FormattingOptions.InsertLineBreaks);
        var message = Encoding.ASCII.GetBytes("From: a@example.net\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            + "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64 + "\r\n--b1--\r\n");
        await DeliverAsync(server, message);
        using var client = await RawClient.OpenAsync(server);

        var binary = await client.CommandAsync("UID FETCH 1 (BINARY.PEEK[2])");
        var prefix = Encoding.ASCII.GetBytes($"* 1 FETCH (UID 1 BINARY[2] ~{{{payload.Length}}}\r\n");
        Assert.That(binary.AsSpan(0, prefix.Length).ToArray(), Is.EqualTo(prefix), Encoding.Latin1.GetString(binary.AsSpan(0, Math.Min(200, binary.Length))));
        Assert.That(binary.AsSpan(prefix.Length, payload.Length).SequenceEqual(payload), Is.True, "BINARY[2] is the attachment's octets");

        var part = await client.CommandAsync("UID FETCH 1 (BODY.PEEK[2]<65000.200000>)");
        var expected = Encoding.ASCII.GetBytes(base64).AsSpan(65000, 200000).ToArray();
        Assert.That(Encoding.Latin1.GetString(part), Does.StartWith("* 1 FETCH (UID 1 BODY[2]<65000> {200000}\r\n" + Encoding.Latin1.GetString(expected) + ")"));
        Assert.That(Encoding.Latin1.GetString(await client.CommandAsync("UID FETCH 1 (BINARY.SIZE[2] BODY.PEEK[1])")),
            Does.StartWith($"* 1 FETCH (UID 1 BINARY.SIZE[2] {payload.Length} BODY[1] {{12}}\r\nsee attached)"));
        Assert.That(log.Records.Count(r => r.EventId.Id == 5066), Is.EqualTo(1), "scanned once, then cached");
    }

    [Test]
    public async Task A_damaged_segment_is_corruption_before_any_octet_of_the_response_and_the_session_goes_on()
    {
        await using var server = await ImapTestServer.StartAsync(limits: new ImapLimits(StreamedFetchBytes: 0));
        var attachment = Convert.ToBase64String(new byte[400_000], Base64FormattingOptions.InsertLineBreaks);
        var head = "Subject: fragile\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            + "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n";
        var message = Encoding.ASCII.GetBytes(head + attachment + "\r\n--b--\r\n");
        await DeliverAsync(server, message);
        using var cached = await RawClient.OpenAsync(server);
        Assert.That(Encoding.Latin1.GetString(await cached.CommandAsync("UID FETCH 1 (BODYSTRUCTURE)")), Does.Contain("\"octet-stream\""));

        // Damage the segment that holds the start of part 2 (segment 0) after this session has kept the structure.
        var blob = Directory.GetFiles(server.Store.BlobDirectory, "*", SearchOption.AllDirectories).Single();
        var bytes = await File.ReadAllBytesAsync(blob);
        var segments = message.Length / MailServer.Storage.Blobs.BlobStore.SegmentSize + 1;
        var header = bytes.Length - message.Length - segments * (MailServer.Storage.Blobs.BlobStore.SealedSegmentSize - MailServer.Storage.Blobs.BlobStore.SegmentSize);
        bytes[header + MailServer.Storage.Blobs.BlobStore.SealedSegmentSize - MailServer.Storage.Blobs.BlobStore.SegmentSize + head.Length + 10] ^= 0xff;
        await File.WriteAllBytesAsync(blob, bytes);

        // A part of 256 KiB and more is announced only after its first and last segments authenticate.
        Assert.That(Encoding.Latin1.GetString(await cached.CommandAsync("UID FETCH 1 (BODY.PEEK[2])")), Does.StartWith("t4 NO [CORRUPTION] "));
        Assert.That(Encoding.Latin1.GetString(await cached.CommandAsync("UID FETCH 1 (BINARY.PEEK[2])")), Does.StartWith("t5 NO [CORRUPTION] "));
        Assert.That(Encoding.Latin1.GetString(await cached.CommandAsync("UID FETCH 1 (UID FLAGS)")), Is.EqualTo("* 1 FETCH (UID 1 FLAGS (\\Recent))\r\nt6 OK FETCH completed\r\n"));
        // A new session scans the message again and meets the damage before it writes anything.
        using var fresh = await RawClient.OpenAsync(server);
        Assert.That(Encoding.Latin1.GetString(await fresh.CommandAsync("UID FETCH 1 (BODYSTRUCTURE)")), Does.StartWith("t3 NO [CORRUPTION] "));
        Assert.That(Encoding.Latin1.GetString(await fresh.CommandAsync("UID FETCH 1 (BODY.PEEK[1])")), Does.StartWith("t4 NO [CORRUPTION] "));
    }

    [Test]
    public void A_streamed_scan_finds_the_same_structure_as_a_scan_of_the_whole_message_and_keeps_no_body()
    {
        var deep = new StringBuilder("Subject: deep\r\n");
        for (var i = 0; i < 120; i++)
            deep.Append($"Content-Type: multipart/mixed; boundary=d{i}\r\n\r\n--d{i}\r\n");
        deep.Append("Content-Type: text/plain\r\n\r\nbottom\r\n");
        var wide = new StringBuilder("Subject: wide\r\nContent-Type: multipart/mixed; boundary=w\r\n\r\n");
        for (var i = 0; i < 1200; i++)
            wide.Append($"--w\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n");
        var messages = TrickyMessages().Concat(new[]
        {
            MessageFixtures.Rfc9051Example(), MessageFixtures.Rfc9051MultipartExample(), MessageFixtures.Nested(), deep.ToString(), wide.ToString(),
        }.Select(Encoding.UTF8.GetBytes)).ToList();
        var headerItems = new[] { "BODYSTRUCTURE", "BODY", "ENVELOPE", "BODY[HEADER]", "RFC822.HEADER", "BODY[HEADER.FIELDS (SUBJECT TO)]" }
            .Concat(Paths.SelectMany(p => new[] { $"BODY[{p}.MIME]", $"BODY[{p}.HEADER]", $"BODY[{p}.HEADER.FIELDS.NOT (FROM)]" }))
            .Select(MessageFixtures.Item).ToList();
        var sections = new[] { "BODY[]", "BODY[TEXT]" }.Concat(Paths.SelectMany(p => new[] { $"BODY[{p}]", $"BODY[{p}.TEXT]" }))
            .Select(i => ((FetchItem.BodySection)MessageFixtures.Item(i)).Section).ToList();
        // Odd window sizes put delimiters, header lines and CRLF pairs across windows; 65536 is the store's segment.
        foreach (var (message, window) in messages.SelectMany(m => new[] { 1, 7, 4093, 65536 }.Select(w => (m, w))))
        {
            if (window < 64 && message.Length > 400_000)
                continue; // a window of a few octets over the biggest messages only makes the test slow
            var whole = ImapMessageView.Parse(message);
            var streamed = ImapMessageView.ScanStream(new MemoryStream(message, writable: false), windowSize: window);
            Assert.That(streamed.IsStreamed && !whole.IsStreamed, Is.True);
            Assert.That(streamed.StructureTruncated, Is.EqualTo(whole.StructureTruncated));
            Assert.That(streamed.HeldBytes, Is.LessThan(message.Length - 10), "only the header sections are kept");
            foreach (var item in headerItems)
                Assert.That(MessageFixtures.Render(item, streamed), Is.EqualTo(MessageFixtures.Render(item, whole)), $"{item} of {Encoding.Latin1.GetString(message.AsSpan(0, 40))}");
            foreach (var section in sections)
            {
                var expected = whole.Section(section);
                var location = streamed.Locate(section);
                Assert.That(location.HasValue, Is.EqualTo(expected.HasValue), section.ToString());
                if (location is { IsRange: true } range)
                    Assert.That(message.AsSpan(range.Start, range.End - range.Start).SequenceEqual(expected!.Value.Span), Is.True, section.ToString());
            }
        }
        Assert.That(ImapMessageView.Parse(messages[^2]).StructureTruncated && ImapMessageView.Parse(messages[^1]).StructureTruncated, Is.True,
            "the depth and part caps are exercised");
    }

    [Test]
    public void Header_sections_over_the_cap_make_the_streamed_scan_give_up_so_FETCH_reads_the_message_whole()
    {
        var header = new StringBuilder("Subject: many fields\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n");
        while (header.Length < StreamMimeBytes.MaxHeaderBytes + 1000)
            header.Append("X-Filler: ").Append('x', 70).Append("\r\n");
        var message = Encoding.ASCII.GetBytes(header + "\r\nbody\r\n--b--\r\n");
        Assert.Throws<MimeStructureTooLargeException>(() => ImapMessageView.ScanStream(new MemoryStream(message)));
    }

    private static async Task DeliverAsync(ImapTestServer server, byte[] message) =>
        await server.Store.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(await server.MailboxIdAsync("alice"), "INBOX", MessageFlags.None)], CancellationToken.None);

    /// <summary>Messages whose structure has caught parsers out.</summary>
    private static List<byte[]> TrickyMessages()
    {
        static byte[] A(string text) => Encoding.Latin1.GetBytes(text);
        var odd = new StringBuilder();
        var random = new Random(7);
        var alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        var quads = 0;
        while (odd.Length < 200_000)
        {
            // Lines of odd lengths (not multiples of 4), some with trailing space: base64 decoders must carry state.
            var length = 13 + random.Next(90);
            for (var i = 0; i < length; i++)
            {
                odd.Append(alphabet[random.Next(64)]);
                quads++;
            }
            odd.Append(random.Next(5) == 0 ? " \r\n" : "\r\n");
        }
        odd.Append(new string('A', (4 - quads % 4) % 4)).Append("\r\n");
        var qp = new StringBuilder();
        for (var i = 0; qp.Length < 150_000; i++)
            qp.Append("Line ").Append(i).Append(" caf=C3=A9 na=EFve soft break=\r\n continues here =3D done\r\n");
        var binaryPayload = new byte[300_000];
        new Random(3).NextBytes(binaryPayload);
        binaryPayload[10] = 0;
        binaryPayload[200_000] = 0;
        return
        [
            // 1. Nested multiparts with preamble, epilogue, a boundary that is a prefix of another, transport padding.
            A("From: \"Ann\" <ann@example.net>\r\nTo: bob@example.test, carol@example.test\r\nSubject: =?UTF-8?B?bmVzdGVk?=\r\nDate: Mon, 7 Dec 2026 01:00:00 +0000\r\n"
              + "Message-ID: <n1@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
              + "This is the preamble.\r\n--outer\r\nContent-Type: multipart/alternative; boundary=\"outerx\"\r\n\r\n"
              + "--outerx\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHello =C3=A9\r\nsecond line\r\n"
              + "--outerx  \r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello</p>\r\n--outerx--\r\ninner epilogue\r\n"
              + "--outer\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment;\r\n filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
              + "JVBERi0xLjQK\r\nJSVFT0YK\r\n--outer--\r\nepilogue\r\n"),
            // 2. message/rfc822 holding a multipart, then a digest with default message/rfc822 parts.
            A("From: a@example.net\r\nSubject: forward\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
              + "--b\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
              + "--b\r\nContent-Type: message/rfc822\r\nContent-Description: the original\r\n\r\n"
              + "From: c@example.org\r\nTo: d@example.org\r\nSubject: inner\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n"
              + "--c\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--c\r\nContent-Type: text/html\r\n\r\n<b>inner</b>\r\n--c--\r\n"
              + "--b\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: digest one\r\n\r\none\r\n--d\r\nContent-Type: text/plain\r\n\r\nplain two\r\n--d--\r\n"
              + "--b--\r\n"),
            // 3. Missing final boundary; a part whose header never ends; an empty part; a part with no header.
            A("Subject: unterminated\r\nContent-Type: multipart/mixed; boundary=\"x y\"\r\n\r\n--x y\r\nContent-Type: text/plain\r\n\r\nfirst\r\n"
              + "--x y\r\nContent-Type: text/plain\r\nX-No-Blank: line\r\n--x y\r\n--x y\r\n\r\nno header at all\r\n--x y\r\nContent-Type: text/plain\r\n\r\nlast part runs to the end\r\n"),
            // 4. 8bit text in Latin-1 and UTF-8, bare LF line ends, an mbox From line.
            [.. A("From someone Mon Dec  7 01:00:00 2026\nFrom: b@example.net\nSubject: eight\nContent-Type: multipart/mixed; boundary=z\nMIME-Version: 1.0\n\n--z\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"),
             .. A("Caf\u00e9 cr\u00e8me\n"), .. "--z\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"u8, .. "na\u00efve \u2603\n"u8.ToArray(), .. "--z--\n"u8],
            // 5. Base64 with odd line lengths across several 64 KiB segments, then quoted-printable across segments.
            A("Subject: odd base64\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"==b\"\r\n\r\n--==b\r\nContent-Type: application/octet-stream\r\n"
              + "Content-Transfer-Encoding: BASE64 (comment)\r\n\r\n" + odd + "--==b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
              + qp + "--==b\r\nContent-Type: application/x-thing\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\nend\r\n--==b--\r\n"),
            // 6. A big binary part holding NUL octets (literal8), beside a text part.
            [.. A("Subject: binary\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\ntext\r\n--q\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"),
             .. binaryPayload, .. "\r\n--q--\r\n"u8],
            // 7. Not MIME at all: a single text body, no Content-Type; and a multipart with no boundary lines.
            A("Subject: plain\r\n\r\njust text\r\nwithout a final line break"),
            A("Subject: empty multipart\r\nContent-Type: multipart/mixed; boundary=nothere\r\n\r\nno delimiter here\r\n"),
        ];
    }

    /// <summary>A client that keeps the server's octets exactly (literals included), for byte comparisons.</summary>
    private sealed class RawClient : IDisposable
    {
        private readonly TcpClient _tcp;
        private readonly NetworkStream _stream;
        private readonly byte[] _buffer = new byte[65536];
        private int _start, _end, _tag;

        private RawClient(TcpClient tcp)
        {
            _tcp = tcp;
            _stream = tcp.GetStream();
        }

        public static async Task<RawClient> OpenAsync(ImapTestServer server)
        {
            var tcp = new TcpClient();
            using (var connect = new CancellationTokenSource(TimeSpan.FromSeconds(15)))
                await tcp.ConnectAsync(server.Imap, connect.Token);
            var client = new RawClient(tcp);
            await client.ReadLineAsync(new MemoryStream());
            await client.CommandAsync($"LOGIN alice@example.test {ImapTestServer.Password}");
            await client.CommandAsync("SELECT INBOX");
            return client;
        }

        /// <summary>Sends a command and returns every octet up to and including its tagged reply.</summary>
        public async Task<byte[]> CommandAsync(string command)
        {
            var tag = "t" + ++_tag;
            using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
                await _stream.WriteAsync(Encoding.ASCII.GetBytes($"{tag} {command}\r\n"), timeout.Token);
            var output = new MemoryStream();
            while (true)
            {
                var line = await ReadLineAsync(output);
                if (line.StartsWith(tag + " ", StringComparison.Ordinal))
                    return output.ToArray();
            }
        }

        /// <summary>Reads one response line into <paramref name="output"/> with any literals it announces; returns its first line.</summary>
        private async Task<string> ReadLineAsync(MemoryStream output)
        {
            string? first = null;
            while (true)
            {
                var line = new MemoryStream();
                while (true)
                {
                    if (_start == _end)
                        await FillAsync();
                    var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                    var stop = lf < 0 ? _end : lf + 1;
                    line.Write(_buffer, _start, stop - _start);
                    _start = stop;
                    if (lf >= 0)
                        break;
                }
                var text = Encoding.Latin1.GetString(line.ToArray());
                output.Write(line.ToArray());
                first ??= text;
                var open = text.LastIndexOf('{');
                if (!text.EndsWith("}\r\n", StringComparison.Ordinal) || open < 0 || !long.TryParse(text.AsSpan(open + 1, text.Length - open - 4), out var size))
                    return first;
                for (var left = size; left > 0;)
                {
                    if (_start == _end)
                        await FillAsync();
                    var n = (int)Math.Min(left, _end - _start);
                    output.Write(_buffer, _start, n);
                    _start += n;
                    left -= n;
                }
            }
        }

        private async Task FillAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            _start = 0;
            _end = await _stream.ReadAsync(_buffer, timeout.Token);
            if (_end == 0)
                throw new EndOfStreamException("The server closed the connection.");
        }

        public void Dispose()
        {
            _stream.Dispose();
            _tcp.Dispose();
        }
    }
}
