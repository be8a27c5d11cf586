using System.Buffers;
using System.Text;
using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Tests.Protocols.Imap.Messages;

/// <summary>Messages and helpers shared by the FETCH / SEARCH / SORT / THREAD tests.</summary>
internal static class MessageFixtures
{
    public static string Crlf(params string[] lines) => string.Join("\r\n", lines);

    /// <summary>Text of exactly <paramref name="octets"/> octets in <paramref name="lines"/> CRLF-terminated lines.</summary>
    public static string Lines(int octets, int lines)
    {
        var sb = new StringBuilder();
        var size = octets / lines;
        var extra = octets % lines;
        for (var i = 0; i < lines; i++)
        {
            var length = size + (i < extra ? 1 : 0) - 2;
            sb.Append(new string((char)('a' + (i % 26)), length)).Append("\r\n");
        }
        return sb.ToString();
    }

    /// <summary>Writes one FETCH item the way the session would and returns the octets as Latin-1 text.</summary>
    public static string Render(FetchItem item, ImapMessageView view, bool utf8 = false)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new ImapResponseWriter(buffer, utf8);
        FetchDataWriter.Write(writer, item, view);
        return Encoding.Latin1.GetString(buffer.WrittenSpan);
    }

    /// <summary>The items of <c>FETCH 1 (items)</c> as the syntax layer parses them.</summary>
    public static IReadOnlyList<FetchItem> Items(string items)
    {
        var result = ImapCommandParser.Parse("a FETCH 1 (" + items + ")");
        var ok = result as ParseResult.Ok ?? throw new InvalidOperationException(result.ToString());
        return ((FetchCommand)ok.Command).Items;
    }

    public static FetchItem Item(string item) => Items(item).Single();

    public static ImapMessageView View(string message) => ImapMessageView.Parse(Encoding.UTF8.GetBytes(message));

    public static byte[] HeaderSection(byte[] raw)
    {
        var end = raw.AsSpan().IndexOf("\r\n\r\n"u8);
        return end < 0 ? raw : raw[..(end + 4)];
    }

    public static SearchContext Context(uint seq, uint uid, string message, MessageFlags flags = MessageFlags.None,
        string[]? keywords = null, DateTimeOffset? internalDate = null, long size = 0, ulong modSeq = 1, bool recent = false,
        DateTimeOffset? now = null)
    {
        var raw = Encoding.UTF8.GetBytes(message);
        return new SearchContext(seq, uid, flags, keywords ?? [], internalDate ?? new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero),
            size == 0 ? raw.Length : size, modSeq, () => ImapMessageView.ParseHeaderOnly(HeaderSection(raw)),
            () => ImapMessageView.Parse(raw), recent, now);
    }

    /// <summary>RFC 9051 §7.5.2 FETCH example message: the envelope and body of message 12.</summary>
    public static string Rfc9051Example() => Crlf(
        "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)",
        "From: Terry Gray <gray@cac.washington.edu>",
        "Subject: IMAP4rev2 WG mtg summary and minutes",
        "To: imap@cac.washington.edu",
        "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>",
        "Message-Id: <B27397-0100000@cac.washington.edu>",
        "MIME-Version: 1.0",
        "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII",
        "",
        "") + Lines(3028, 92);

    /// <summary>RFC 9051 §7.5.2 BODY example: multipart/mixed with a text part and a base64 "cc.diff".</summary>
    public static string Rfc9051MultipartExample() => Crlf(
        "From: Terry Gray <gray@cac.washington.edu>",
        "Subject: diff",
        "MIME-Version: 1.0",
        "Content-Type: MULTIPART/MIXED; BOUNDARY=\"x\"",
        "",
        "--x",
        "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII",
        "",
        "") + Lines(1152, 23) + Crlf(
        "",
        "--x",
        "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII; NAME=cc.diff",
        "Content-ID: <960723163407.20117h@cac.washington.edu>",
        "Content-Description: Compiler diff",
        "Content-Transfer-Encoding: BASE64",
        "",
        "") + Lines(4554, 73) + Crlf("", "--x--", "");

    /// <summary>multipart/mixed: text, a message/rfc822 holding a multipart/alternative, a base64 attachment.</summary>
    public static string Nested() => Crlf(
        "From: Ann <a@example.com>",
        "To: b@example.com",
        "Subject: nested",
        "MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=\"outer\"",
        "",
        "preamble",
        "--outer",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Hello body",
        "--outer",
        "Content-Type: message/rfc822",
        "Content-Description: forwarded",
        "",
        "From: inner@example.com",
        "Subject: inner subject",
        "MIME-Version: 1.0",
        "Content-Type: multipart/alternative; boundary=\"inner\"",
        "",
        "--inner",
        "Content-Type: text/plain",
        "",
        "inner plain",
        "--inner",
        "Content-Type: text/html; charset=us-ascii",
        "",
        "<p>inner html</p>",
        "--inner--",
        "--outer",
        "Content-Type: application/octet-stream; name=\"data.bin\"",
        "Content-Transfer-Encoding: base64",
        "Content-Disposition: attachment; filename=\"data.bin\"",
        "Content-Language: en, de",
        "Content-Location: http://example.com/data.bin",
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==",
        "",
        "AAECAwQ=",
        "--outer",
        "Content-Type: text/plain; charset=iso-8859-1",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "Gr=FC=DFe, caf=E9 =",
        "ok",
        "--outer",
        "Content-Type: text/plain",
        "Content-Transfer-Encoding: x-uuencode",
        "",
        "begin 644 x",
        "--outer--",
        "epilogue");
}
