using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>PREVIEW (RFC 8970): FETCH PREVIEW and PREVIEW (LAZY) give a short plain-text preview, as in the RFC's §4
/// examples: text from the plain part (quotes and signature left out), from HTML without markup, "" for a message
/// without text, at most 200 characters; it does not set \Seen.</summary>
[TestFixture]
public sealed class PreviewTests
{
    [Test]
    public async Task Preview_of_plain_html_attachment_only_and_long_messages()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverRawAsync("alice", "From: a@example.net\r\nSubject: plain\r\n\r\nHi Bob,\r\n\r\nThe   report is\r\nattached.\r\n> what you wrote\r\n> before\r\n-- \r\nAlice\r\n");
        await server.DeliverRawAsync("alice", "From: a@example.net\r\nSubject: html\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
            + "Content-Type: text/html; charset=utf-8\r\n\r\n<html><head><title>T</title><style>p { color: red }</style></head><body><p>Caf&eacute; at <b>10</b></p><!-- hidden --></body></html>\r\n"
            + "--b\r\nContent-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment; filename=notes.txt\r\n\r\nnot the preview\r\n--b--\r\n");
        await server.DeliverRawAsync("alice", "From: a@example.net\r\nSubject: pdf\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n");
        var words = string.Join(' ', Enumerable.Range(1, 100).Select(i => "word" + i));
        await server.DeliverRawAsync("alice", "From: a@example.net\r\nSubject: long\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E9t=E9 " + words + "\r\n");
        await using var client = await server.LoggedInAsync();
        Assert.That((await client.CommandAsync("A1", "CAPABILITY"))[0], Does.Contain(" PREVIEW "));
        await client.CommandAsync("s", "SELECT INBOX");

        Assert.That(await client.CommandAsync("A2", "FETCH 1 (PREVIEW)"), Is.EqualTo(new[] { "* 1 FETCH (PREVIEW \"Hi Bob, The report is attached.\")", "A2 OK FETCH completed" }));
        Assert.That(await client.CommandAsync("A3", "FETCH 2:3 (PREVIEW (LAZY) FLAGS)"), Is.EqualTo(new[]
        {
            "* 2 FETCH (PREVIEW {11}\r\nCafé at 10 FLAGS (\\Recent))", "* 3 FETCH (PREVIEW \"\" FLAGS (\\Recent))", "A3 OK FETCH completed",
        }));
        var expected = ("été " + words)[..200].TrimEnd();
        var utf8Length = System.Text.Encoding.UTF8.GetByteCount(expected);
        Assert.That(await client.CommandAsync("A4", "UID FETCH 4 PREVIEW"), Is.EqualTo(new[] { $"* 4 FETCH (UID 4 PREVIEW {{{utf8Length}}}\r\n{expected})", "A4 OK FETCH completed" }));
        Assert.That(await client.CommandAsync("A5", "FETCH 1:4 (FLAGS)"), Has.None.Contains("\\Seen"), "PREVIEW does not set \\Seen");
        Assert.That((await client.CommandAsync("A6", "FETCH 1 (PREVIEW (FUZZY))"))[0], Does.StartWith("A6 BAD "));
    }
}
