using System.Text;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>BINARY (RFC 3516): APPEND of a literal8 (<c>~{n}</c>) whose part holds NUL octets is stored with that part
/// base64-encoded, so BODY[] stays a legal string while BINARY[part] and BINARY.SIZE give back the octets sent; a
/// literal8 without NUL is stored as sent; NUL in a header cannot be encoded and is NO [UNKNOWN-CTE].</summary>
[TestFixture]
public sealed class BinaryTests
{
    [Test]
    public async Task Append_literal8_with_nul_then_fetch_binary_returns_the_octets()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That((await client.CommandAsync("c", "CAPABILITY"))[0], Does.Contain(" BINARY "));
        byte[] payload = [0x00, 0x01, 0x02, 0xFF, 0x00, (byte)'a', (byte)'b', 0x0D, 0x0A, 0x00];
        byte[] message = [.. "From: a@example.net\r\nSubject: bin\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"u8,
            .. payload, .. "\r\n--b--\r\n"u8];
        await client.SendRawAsync(Encoding.ASCII.GetBytes($"A1 APPEND INBOX ~{{{message.Length}+}}\r\n").Concat(message).Concat("\r\n"u8.ToArray()).ToArray());
        Assert.That((await client.ReadUntilTaggedAsync("A1"))[^1], Does.StartWith("A1 OK [APPENDUID "));
        await client.CommandAsync("s", "SELECT INBOX");

        Assert.That(await client.CommandAsync("f1", "FETCH 1 (BINARY.SIZE[2] BODY.PEEK[2.MIME])"), Is.EqualTo(new[]
        {
            $"* 1 FETCH (BINARY.SIZE[2] {payload.Length} BODY[2.MIME] {{77}}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n)",
            "f1 OK FETCH completed",
        }));
        await client.SendLineAsync("f2 FETCH 1 (BINARY.PEEK[2])");
        var raw = await client.ReadUntilTaggedAsync("f2");
        Assert.That(raw[0], Does.StartWith($"* 1 FETCH (BINARY[2] ~{{{payload.Length}}}\r\n"));
        Assert.That(raw[0], Does.EndWith(Encoding.UTF8.GetString(payload) + ")"));
        var whole = await client.CommandAsync("f3", "FETCH 1 (BODY.PEEK[])");
        Assert.That(whole[0], Does.Not.Contain("\0").And.Contain("see attached").And.Contain("AAEC/wBhYg0KAA=="));

        const string plain = "Subject: eight bit\r\n\r\nCaf\u00e9\r\n";
        var bytes = Encoding.UTF8.GetBytes(plain);
        await client.SendRawAsync(Encoding.ASCII.GetBytes($"A2 APPEND INBOX ~{{{bytes.Length}+}}\r\n").Concat(bytes).Concat("\r\n"u8.ToArray()).ToArray());
        Assert.That((await client.ReadUntilTaggedAsync("A2"))[^1], Does.StartWith("A2 OK "));
        Assert.That(await client.CommandAsync("f4", "FETCH 2 (BODY.PEEK[])"), Is.EqualTo(new[] { $"* 2 FETCH (BODY[] {{{bytes.Length}}}\r\n{plain})", "f4 OK FETCH completed" }),
            "without NUL the message is stored as sent");

        byte[] badHeader = [.. "Subject: a"u8, 0x00, .. "b\r\n\r\nbody\r\n"u8];
        await client.SendRawAsync(Encoding.ASCII.GetBytes($"A3 APPEND INBOX ~{{{badHeader.Length}+}}\r\n").Concat(badHeader).Concat("\r\n"u8.ToArray()).ToArray());
        Assert.That(await client.ReadUntilTaggedAsync("A3"), Is.EqualTo(new[] { "A3 NO [UNKNOWN-CTE] The message holds NUL octets outside any part's content" }));
        Assert.That(await client.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "n OK NOOP completed" }), "nothing more was stored");
    }

    [Test]
    public async Task A_big_part_is_sent_in_pieces_with_the_same_octets_and_the_items_after_it_in_the_same_response()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        var payload = Enumerable.Range(0, 600 * 1024).Select(i => (byte)(i % 128)).ToArray(); // NUL included: stored base64
        byte[] message = [.. "From: a@example.net\r\nSubject: big part\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"u8,
            .. payload, .. "\r\n--b--\r\n"u8];
        await client.SendRawAsync(Encoding.ASCII.GetBytes($"A1 APPEND INBOX ~{{{message.Length}+}}\r\n").Concat(message).Concat("\r\n"u8.ToArray()).ToArray());
        Assert.That((await client.ReadUntilTaggedAsync("A1"))[^1], Does.StartWith("A1 OK [APPENDUID "));
        await client.CommandAsync("s", "SELECT INBOX");
        var base64 = Convert.ToBase64String(payload);

        var lines = await client.CommandAsync("f1", "FETCH 1 (BINARY.PEEK[2] UID BODY.PEEK[2]<1000.300000> BINARY.SIZE[2] BODY.PEEK[1])");

        Assert.That(lines, Has.Count.EqualTo(2));
        var response = lines[0];
        var expected = $"* 1 FETCH (BINARY[2] ~{{{payload.Length}}}\r\n{Encoding.ASCII.GetString(payload)} UID 1 BODY[2]<1000> {{300000}}\r\n";
        Assert.That(response, Does.StartWith(expected), "the decoded octets as a literal8, then the next item");
        var tail = response[expected.Length..];
        var stored = tail[..300000].Replace("\r\n", "");
        Assert.That(base64, Does.Contain(stored), "the partial range of the stored base64 text");
        Assert.That(tail[300000..], Is.EqualTo($" BINARY.SIZE[2] {payload.Length} BODY[1] {{12}}\r\nsee attached)"));
        Assert.That(lines[1], Is.EqualTo("f1 OK FETCH completed"));
    }

    [Test]
    public async Task An_unknown_encoding_after_a_big_part_is_refused_before_any_of_the_message_is_sent()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        var big = string.Concat(Enumerable.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n", 10_000));
        var message = Encoding.ASCII.GetBytes("From: a@example.net\r\nSubject: odd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
            "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + big +
            "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-made-up\r\n\r\nzzz\r\n--b--\r\n");
        await client.SendRawAsync(Encoding.ASCII.GetBytes($"A1 APPEND INBOX {{{message.Length}+}}\r\n").Concat(message).Concat("\r\n"u8.ToArray()).ToArray());
        Assert.That((await client.ReadUntilTaggedAsync("A1"))[^1], Does.StartWith("A1 OK "));
        await client.CommandAsync("s", "SELECT INBOX");

        Assert.That(await client.CommandAsync("f1", "FETCH 1 (BODY.PEEK[1] BINARY.PEEK[2])"),
            Is.EqualTo(new[] { "f1 NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding 'x-made-up'." }), "no half-sent FETCH response");
        Assert.That(await client.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "n OK NOOP completed" }));
    }
}
