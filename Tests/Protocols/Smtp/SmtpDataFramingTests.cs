using System.Net;
using System.Text;
using MailServer.Protocols.Smtp;
using MailServer.Storage.Spool;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Smtp;

/// <summary>
/// The DATA section as the connection guard reads it (PackageWorkarounds/ConnectionGuard.cs): where it ends (RFC 5321
/// §4.1.1.4) and how dot-stuffing is undone (§4.5.2) when the client's bytes arrive in pieces, a message sent before
/// the 354, the size cap at the spool's memory threshold, and the spool file of a big message, gone once the
/// transaction is answered.
/// </summary>
[TestFixture]
public sealed class SmtpDataFramingTests
{
    private SmtpTestServer _server = null!;
    private string _spool = null!;

    [SetUp]
    public void MakeSpoolDirectory() =>
        _spool = Path.Combine(Path.GetTempPath(), "smtp-framing-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public async Task StopServer()
    {
        await _server.DisposeAsync();
        if (Directory.Exists(_spool))
            Directory.Delete(_spool, recursive: true);
    }

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    private async Task<SmtpLineClient> StartAndOpenAsync(SmtpLimits? limits = null)
    {
        _server = await SmtpTestServer.StartAsync(limits, spoolDirectory: _spool);
        return await _server.OpenEhloAsync();
    }

    /// <summary>MAIL, RCPT, DATA, then each piece in its own write with a pause between (so each arrives in a read of its own).</summary>
    private static async Task<SmtpLineReply> SendInPiecesAsync(SmtpLineClient client, params byte[][] pieces)
    {
        Assert.That((await client.CommandAsync("MAIL FROM:<sender@example.net>")).Code, Is.EqualTo(250));
        Assert.That((await client.CommandAsync("RCPT TO:<alice@example.test>")).Code, Is.EqualTo(250));
        Assert.That((await client.CommandAsync("DATA")).Code, Is.EqualTo(354));
        foreach (var piece in pieces)
        {
            await client.SendRawAsync(piece);
            await Task.Delay(60);
        }
        return await client.ReadReplyAsync();
    }

    /// <summary>What was delivered, below our Received field.</summary>
    private string LastDeliveredBelowTrace()
    {
        var text = _server.Delivery.Deliveries.Last().Text;
        var subject = text.IndexOf("Subject:", StringComparison.Ordinal);
        return text[subject..];
    }

    [Test]
    public async Task Stuffed_dots_are_removed_and_a_line_of_two_dots_is_one_dot()
    {
        await using var client = await StartAndOpenAsync();

        var reply = await SendInPiecesAsync(client, Ascii("Subject: dots\r\n\r\n..\r\n...two\r\n.x\r\nend\r\n.\r\n"));

        Assert.That(reply.Code, Is.EqualTo(250), reply.ToString());
        Assert.That(LastDeliveredBelowTrace(), Is.EqualTo("Subject: dots\r\n\r\n.\r\n..two\r\nx\r\nend\r\n"));
    }

    [Test]
    public async Task The_end_of_DATA_split_across_reads_at_every_point_ends_the_message_once_and_the_session_goes_on()
    {
        await using var client = await StartAndOpenAsync();
        var terminator = "\r\n.\r\n";

        for (var split = 0; split <= terminator.Length; split++)
        {
            var reply = await SendInPiecesAsync(client,
                Ascii($"Subject: split {split}\r\n\r\nbody{terminator[..split]}"), Ascii(terminator[split..]));
            Assert.That(reply.Code, Is.EqualTo(250), $"split after {split}: {reply}");
            Assert.That(LastDeliveredBelowTrace(), Is.EqualTo($"Subject: split {split}\r\n\r\nbody\r\n"), $"split after {split}");
        }
        Assert.That(_server.Delivery.Deliveries, Has.Count.EqualTo(terminator.Length + 1));
        Assert.That((await client.CommandAsync("NOOP")).Code, Is.EqualTo(250), "the session is still in step");
    }

    [Test]
    public async Task A_stuffed_dot_in_a_read_of_its_own_is_still_removed()
    {
        await using var client = await StartAndOpenAsync();

        // ".", then ".rest" in the next read: a stuffed line; "." CR LF after that, cut after the dot: the end.
        var reply = await SendInPiecesAsync(client, Ascii("Subject: x\r\n\r\nline\r\n."), Ascii(".rest\r\n."), Ascii("\r\n"));

        Assert.That(reply.Code, Is.EqualTo(250), reply.ToString());
        Assert.That(LastDeliveredBelowTrace(), Is.EqualTo("Subject: x\r\n\r\nline\r\n.rest\r\n"));
    }

    [Test]
    public async Task Dot_CR_without_LF_does_not_end_the_message_and_its_bare_CR_is_refused()
    {
        await using var client = await StartAndOpenAsync();

        var refused = await SendInPiecesAsync(client, Ascii("Subject: x\r\n\r\n.\r"), Ascii("X\r\n.\r\n"));
        var next = await SendInPiecesAsync(client, Ascii("Subject: y\r\n\r\nfine\r\n.\r\n"));

        Assert.That(refused.Code, Is.EqualTo(550), refused.ToString());
        Assert.That(refused.Text, Does.StartWith("5.6.0"));
        Assert.That(next.Code, Is.EqualTo(250), "the session goes on");
        Assert.That(_server.Delivery.Deliveries, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Message_text_pipelined_behind_DATA_is_taken_after_the_354()
    {
        await using var client = await StartAndOpenAsync();

        // RFC 2920 §3.1 says to wait for the 354; a client that does not still gets its message taken whole, once.
        await client.SendRawAsync(Ascii("MAIL FROM:<sender@example.net>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n" +
                                        "Subject: eager\r\n\r\nno wait\r\n.\r\nNOOP\r\n"));
        var replies = new List<int>();
        for (var i = 0; i < 5; i++)
            replies.Add((await client.ReadReplyAsync()).Code);

        Assert.That(replies, Is.EqualTo(new[] { 250, 250, 354, 250, 250 }));
        Assert.That(LastDeliveredBelowTrace(), Is.EqualTo("Subject: eager\r\n\r\nno wait\r\n"));
    }

    private static string MessageOfLength(int length)
    {
        var head = "Subject: sized\r\n\r\n";
        var body = new StringBuilder(head);
        while (body.Length + 80 <= length)
            body.Append(new string('y', 78)).Append("\r\n");
        body.Append(new string('z', length - body.Length - 2)).Append("\r\n");
        return body.ToString();
    }

    [Test]
    public async Task Above_the_memory_threshold_a_message_at_the_cap_is_taken_and_one_byte_over_gets_552_with_the_session_kept()
    {
        var limit = SpooledData.MemoryThreshold + 100_000;
        await using var client = await StartAndOpenAsync(new SmtpLimits { MaxMessageBytes = limit });

        var over = await SendInPiecesAsync(client, Ascii(MessageOfLength(limit + 1) + ".\r\n"));
        var exact = await SendInPiecesAsync(client, Ascii(MessageOfLength(limit) + ".\r\n"));

        Assert.That(over.Code, Is.EqualTo(552), over.ToString());
        Assert.That(over.Text, Does.StartWith("5.3.4"));
        Assert.That(exact.Code, Is.EqualTo(250), "RFC 1870: exactly SIZE bytes is accepted");
        Assert.That(LastDeliveredBelowTrace(), Is.EqualTo(MessageOfLength(limit)));
        Assert.That(Directory.Exists(_spool) ? Directory.GetFiles(_spool) : [], Is.Empty, "no spool file outlives its transaction");
    }

    [Test]
    public async Task A_big_message_waits_in_an_encrypted_spool_file_that_is_gone_once_it_is_answered()
    {
        await using var client = await StartAndOpenAsync();
        var message = Ascii(MessageOfLength(2 * 1024 * 1024));
        var secret = Ascii("yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");

        Assert.That((await client.CommandAsync("MAIL FROM:<sender@example.net>")).Code, Is.EqualTo(250));
        Assert.That((await client.CommandAsync("RCPT TO:<alice@example.test>")).Code, Is.EqualTo(250));
        Assert.That((await client.CommandAsync("DATA")).Code, Is.EqualTo(354));
        await client.SendRawAsync(message.AsMemory(0, message.Length / 2));
        string[] files = [];
        for (var deadline = DateTime.UtcNow.AddSeconds(20); files.Length == 0 && DateTime.UtcNow < deadline; await Task.Delay(20))
            files = Directory.Exists(_spool) ? Directory.GetFiles(_spool, "*" + MessageSpool.FileExtension) : [];
        Assert.That(files, Has.Length.EqualTo(1), "half a 2 MiB message is in a spool file");
        for (var deadline = DateTime.UtcNow.AddSeconds(20); new FileInfo(files[0]).Length < message.Length / 4 && DateTime.UtcNow < deadline; )
            await Task.Delay(20);
        var onDisk = await File.ReadAllBytesAsync(files[0]);
        Assert.That(onDisk.AsSpan().IndexOf(secret), Is.EqualTo(-1), "the spool file holds no plaintext");

        await client.SendRawAsync(message.AsMemory(message.Length / 2));
        var reply = await client.CommandAsync(".");

        Assert.That(reply.Code, Is.EqualTo(250), reply.ToString());
        Assert.That(Encoding.ASCII.GetBytes(LastDeliveredBelowTrace()), Is.EqualTo(message), "delivered byte for byte");
        Assert.That(Directory.GetFiles(_spool), Is.Empty, "the spool file is removed with the transaction");
    }

    [Test]
    public async Task A_client_gone_mid_DATA_leaves_no_spool_file()
    {
        await using var client = await StartAndOpenAsync();
        var message = Ascii(MessageOfLength(1024 * 1024));

        Assert.That((await client.CommandAsync("MAIL FROM:<sender@example.net>")).Code, Is.EqualTo(250));
        Assert.That((await client.CommandAsync("RCPT TO:<alice@example.test>")).Code, Is.EqualTo(250));
        Assert.That((await client.CommandAsync("DATA")).Code, Is.EqualTo(354));
        await client.SendRawAsync(message);
        for (var deadline = DateTime.UtcNow.AddSeconds(20); !(Directory.Exists(_spool) && Directory.GetFiles(_spool).Length > 0) && DateTime.UtcNow < deadline; )
            await Task.Delay(20);
        Assert.That(Directory.GetFiles(_spool), Has.Length.EqualTo(1), "the message is being spooled");
        client.Abort();

        for (var deadline = DateTime.UtcNow.AddSeconds(20); Directory.GetFiles(_spool).Length > 0 && DateTime.UtcNow < deadline; )
            await Task.Delay(20);
        Assert.That(Directory.GetFiles(_spool), Is.Empty);
        Assert.That(_server.Delivery.Deliveries, Is.Empty);
    }
}
