using NUnit.Framework;
using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Protocols.Smtp;
using MailServer.Tests.Support;
using MimeKit;

namespace MailServer.Tests.Protocols.Smtp;

/// <summary>End-of-DATA checks, the Received header and the delivery reply.</summary>
[TestFixture]
public sealed class SmtpDataTests
{
    private SmtpTestServer _server = null!;

    [TearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    private const string SimpleMessage = "From: sender@example.net\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nHello.\r\n";

    /// <summary>MAIL, RCPT, DATA, the body bytes as given, then CRLF.CRLF; returns the reply to the data.</summary>
    private static async Task<SmtpLineReply> SendAsync(SmtpLineClient client, byte[] body, string rcpt = "alice@example.test")
    {
        Assert.That((await client.CommandAsync("MAIL FROM:<sender@example.net>")).Code, Is.EqualTo(250));
        Assert.That((await client.CommandAsync($"RCPT TO:<{rcpt}>")).Code, Is.EqualTo(250));
        Assert.That((await client.CommandAsync("DATA")).Code, Is.EqualTo(354));
        await client.SendRawAsync(body);
        await client.SendRawAsync(Ascii(".\r\n"));
        return await client.ReadReplyAsync();
    }

    [Test]
    public async Task Accepted_message_gets_250_with_Received_header_first()
    {
        _server = await SmtpTestServer.StartAsync();
        await using var client = await _server.OpenEhloAsync();

        var reply = await SendAsync(client, Ascii(SimpleMessage));

        Assert.That(reply.Code, Is.EqualTo(250));
        Assert.That(reply.Text, Does.Match(@"^2\.0\.0 Ok: queued as [0-9a-f]{32}$"));
        Assert.That(reply.Text, Does.EndWith(_server.Delivery.Deliveries.Single().Transaction.TraceId.ToString("N")), "the id the client sees is the trace id");
        var delivery = _server.Delivery.Deliveries.Single();
        Assert.That(delivery.Text, Does.StartWith("Received: from client.example.net ([127.0.0.1])\r\n\tby mx.example.test with ESMTP\r\n\tid "));
        Assert.That(delivery.Text, Does.Contain("\r\n\tfor <alice@example.test>;"));
        Assert.That(delivery.Text, Does.EndWith("\r\n" + SimpleMessage));
        Assert.That(delivery.Transaction.ReversePath, Is.EqualTo("sender@example.net"));
        Assert.That(delivery.Transaction.HeloName, Is.EqualTo("client.example.net"));
        Assert.That(delivery.Transaction.Secure, Is.False);
    }

    [Test]
    public async Task Group_recipient_expands_to_its_members_and_Received_names_no_recipient()
    {
        _server = await SmtpTestServer.StartAsync();
        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", _server.Mx.Port, SecureSocketOptions.None);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("sender@example.net"));
        message.To.Add(MailboxAddress.Parse("team@example.test"));
        message.Subject = "to the team";
        message.Body = new TextPart("plain") { Text = "Hello team." };

        await client.SendAsync(message);
        await client.DisconnectAsync(true);

        var delivery = _server.Delivery.Deliveries.Single();
        Assert.That(delivery.Transaction.Recipients.Single().Address, Is.EqualTo("team@example.test"));
        Assert.That(delivery.Mailboxes, Is.EqualTo(new[] { "alice@example.test", "bob@example.test" }));
        // Two recipients behind one address: RFC 5321 §4.4 "for" is still the envelope's single recipient.
        Assert.That(delivery.Text, Does.Contain("for <team@example.test>;"));
    }

    [Test]
    public async Task STARTTLS_with_MailKit_then_send_is_marked_ESMTPS_and_offers_no_AUTH()
    {
        _server = await SmtpTestServer.StartAsync();
        var transcript = new MemoryStream();
        using var client = new SmtpClient(new MailKit.ProtocolLogger(transcript, leaveOpen: true))
        {
            ServerCertificateValidationCallback = (_, _, _, _) => true,
        };
        await client.ConnectAsync("127.0.0.1", _server.Mx.Port, SecureSocketOptions.StartTls);
        Assert.That(client.IsSecure, Is.True);
        Assert.That(client.AuthenticationMechanisms, Is.Empty);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("sender@example.net"));
        message.To.Add(MailboxAddress.Parse("alice@example.test"));
        message.To.Add(MailboxAddress.Parse("bob@example.test"));
        message.Body = new TextPart("plain") { Text = "secret" };

        await client.SendAsync(message);
        await client.DisconnectAsync(true);

        var delivery = _server.Delivery.Deliveries.Single();
        Assert.That(delivery.Transaction.Secure, Is.True);
        Assert.That(delivery.Text, Does.StartWith("Received: from "));
        Assert.That(delivery.Text, Does.Contain("with ESMTPS\r\n"));
        Assert.That(delivery.Text, Does.Not.Contain("\tfor <"), "two recipients: no 'for' clause");
        Assert.That(delivery.Mailboxes, Is.EqualTo(new[] { "alice@example.test", "bob@example.test" }));
        // Server lines of the transcript: EHLO before TLS offers STARTTLS, the EHLO after TLS does not.
        var serverLines = Encoding.UTF8.GetString(transcript.ToArray()).Split('\n').Where(l => l.StartsWith("S: 250")).ToList();
        Assert.That(serverLines.Count(l => l.Contains("STARTTLS")), Is.EqualTo(1));
        Assert.That(serverLines.Count(l => l.Contains("ENHANCEDSTATUSCODES")), Is.EqualTo(2));
        Assert.That(serverLines, Has.None.Contains("AUTH"));
    }

    [Test]
    public async Task Bare_LF_is_refused_with_550_5_6_0_and_the_session_continues()
    {
        _server = await SmtpTestServer.StartAsync();
        await using var client = await _server.OpenEhloAsync();

        var refused = await SendAsync(client, Ascii("Subject: x\r\n\r\nline one\nline two\r\n"));

        Assert.That(refused.Code, Is.EqualTo(550));
        Assert.That(refused.Text, Is.EqualTo("5.6.0 Message contains bare CR or LF (RFC 5322 section 2.3)"));
        Assert.That(_server.Delivery.Deliveries, Is.Empty);
        Assert.That((await SendAsync(client, Ascii(SimpleMessage))).Code, Is.EqualTo(250));
    }

    [TestCase("Subject: x\r\n\r\nbody\rmore\r\n", TestName = "Bare CR")]
    [TestCase("Subject: x\r\n\r\nbody\0more\r\n", TestName = "NUL")]
    public async Task Bare_CR_and_NUL_are_refused(string body)
    {
        _server = await SmtpTestServer.StartAsync();
        await using var client = await _server.OpenEhloAsync();
        Assert.That((await SendAsync(client, Ascii(body))).Code, Is.EqualTo(550));
        Assert.That(_server.Delivery.Deliveries, Is.Empty);
    }

    [Test]
    public async Task Smuggled_transaction_after_LF_dot_LF_never_yields_two_deliveries()
    {
        _server = await SmtpTestServer.StartAsync();
        await using var client = await _server.OpenEhloAsync();
        var smuggling = "Subject: first\r\n\r\nfirst\n.\nMAIL FROM:<ceo@example.test>\nRCPT TO:<bob@example.test>\nDATA\nSubject: spoofed\n\nspoofed\r\n";

        var reply = await SendAsync(client, Ascii(smuggling));

        Assert.That(reply.Code, Is.EqualTo(550));
        Assert.That(reply.Text, Does.StartWith("5.6.0"));
        Assert.That((await client.CommandAsync("NOOP")).Code, Is.EqualTo(250), "no stray replies queued behind");
        Assert.That(_server.Delivery.Deliveries, Is.Empty);
    }

    [Test]
    public async Task Header_section_over_the_cap_is_refused()
    {
        _server = await SmtpTestServer.StartAsync(new SmtpLimits { MaxHeaderSectionBytes = 4096 });
        await using var client = await _server.OpenEhloAsync();
        var headers = string.Concat(Enumerable.Range(0, 100).Select(i => $"X-Filler-{i}: {new string('a', 60)}\r\n"));

        var reply = await SendAsync(client, Ascii(headers + "\r\nbody\r\n"));

        Assert.That(reply.Code, Is.EqualTo(552));
        Assert.That(reply.Text, Does.StartWith("5.3.4 Message header section too large"));
        Assert.That(_server.Delivery.Deliveries, Is.Empty);
    }

    [Test]
    public async Task MIME_nesting_over_the_cap_is_refused()
    {
        _server = await SmtpTestServer.StartAsync(new SmtpLimits { MaxMimeDepth = 5 });
        await using var client = await _server.OpenEhloAsync();

        var reply = await SendAsync(client, Ascii(NestedMultipart(depth: 8)));

        Assert.That(reply.Code, Is.EqualTo(554));
        Assert.That(reply.Text, Does.StartWith("5.6.0 Message structure refused: MIME nesting too deep"));
        Assert.That(_server.Delivery.Deliveries, Is.Empty);
        Assert.That((await SendAsync(client, Ascii(NestedMultipart(depth: 3)))).Code, Is.EqualTo(250), "within the cap");
    }

    [Test]
    public async Task Too_many_MIME_parts_and_attachments_are_refused()
    {
        _server = await SmtpTestServer.StartAsync(new SmtpLimits { MaxMimeParts = 20, MaxAttachments = 3 });
        await using var client = await _server.OpenEhloAsync();

        var parts = await SendAsync(client, Ascii(FlatMultipart(parts: 30, attachments: false)));
        var attachments = await SendAsync(client, Ascii(FlatMultipart(parts: 5, attachments: true)));

        Assert.That(parts.Code, Is.EqualTo(554));
        Assert.That(parts.Text, Does.Contain("too many MIME parts"));
        Assert.That(attachments.Code, Is.EqualTo(554));
        Assert.That(attachments.Text, Does.Contain("too many attachments"));
        Assert.That(_server.Delivery.Deliveries, Is.Empty);
    }

    [Test]
    public async Task Actual_DATA_over_the_limit_is_refused_and_nothing_delivered_but_exactly_the_limit_is_accepted()
    {
        const int limit = 16 * 1024;
        _server = await SmtpTestServer.StartAsync(new SmtpLimits { MaxMessageBytes = limit });
        await using var client = await _server.OpenEhloAsync();

        var over = await SendAsync(client, Ascii(MessageOfLength(limit + 1)));
        var exact = await SendAsync(client, Ascii(MessageOfLength(limit)));

        Assert.That(over.Code, Is.EqualTo(552));
        Assert.That(over.Text, Does.StartWith("5.3.4 Message size exceeds fixed maximum message size"));
        Assert.That(exact.Code, Is.EqualTo(250), "RFC 1870: a message of exactly SIZE bytes is accepted");
        Assert.That(_server.Delivery.Deliveries.Single().Message.Length, Is.GreaterThan(limit), "only the Received header is added");
    }

    [Test]
    public async Task DATA_far_over_the_limit_is_cut_with_552_and_the_connection_closed()
    {
        _server = await SmtpTestServer.StartAsync(new SmtpLimits { MaxMessageBytes = 16 * 1024 });
        await using var client = await _server.OpenEhloAsync();
        var body = "Subject: big\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('x', 998) + "\r\n", 200));

        Assert.That((await client.CommandAsync("MAIL FROM:<sender@example.net>")).Code, Is.EqualTo(250));
        Assert.That((await client.CommandAsync("RCPT TO:<alice@example.test>")).Code, Is.EqualTo(250));
        Assert.That((await client.CommandAsync("DATA")).Code, Is.EqualTo(354));
        await client.SendRawAsync(Ascii(body + ".\r\n"));
        var reply = await client.ReadReplyAsync();

        Assert.That(reply.Code, Is.EqualTo(552));
        Assert.That(reply.Text, Does.StartWith("5.3.4"));
        Assert.That(await client.IsClosedByServerAsync(), Is.True);
        Assert.That(_server.Delivery.Deliveries, Is.Empty);
    }

    [Test]
    public async Task A_first_line_starting_with_a_dot_is_unstuffed()
    {
        _server = await SmtpTestServer.StartAsync();
        await using var client = await _server.OpenEhloAsync();

        // RFC 5321 §4.5.2: the client doubles a leading dot on every line, the first one included.
        var reply = await SendAsync(client, Ascii("..X-Odd: header-like first line\r\nSubject: x\r\n\r\n..body dot\r\n"));

        Assert.That(reply.Code, Is.EqualTo(250));
        Assert.That(_server.Delivery.Deliveries.Single().Text, Does.EndWith("\r\n.X-Odd: header-like first line\r\nSubject: x\r\n\r\n.body dot\r\n"));
    }

    [Test]
    public async Task Pipelined_commands_in_one_write_are_all_answered_in_order()
    {
        _server = await SmtpTestServer.StartAsync();
        await using var client = await _server.OpenEhloAsync();
        // 100 RCPT lines in one write: together far over the 2048-byte line cap, each well under it.
        var burst = "MAIL FROM:<sender@example.net>\r\n" + string.Concat(Enumerable.Repeat("RCPT TO:<alice@example.test>\r\n", 100)) + "RCPT TO:<nobody@example.test>\r\n";

        await client.SendRawAsync(Ascii(burst));

        Assert.That((await client.ReadReplyAsync()).Code, Is.EqualTo(250));
        for (var i = 0; i < 100; i++)
            Assert.That((await client.ReadReplyAsync()).Code, Is.EqualTo(250), $"RCPT {i + 1}");
        Assert.That((await client.ReadReplyAsync()).Code, Is.EqualTo(550));
    }

    /// <summary>A valid message of exactly <paramref name="length"/> bytes (CRLF line endings, final CRLF included).</summary>
    private static string MessageOfLength(int length)
    {
        var builder = new StringBuilder("Subject: sized\r\n\r\n");
        while (builder.Length + 80 + 2 <= length)
            builder.Append(new string('y', 78)).Append("\r\n");
        var remaining = length - builder.Length - 2;
        builder.Append(new string('z', remaining)).Append("\r\n");
        Assert.That(builder.Length, Is.EqualTo(length));
        return builder.ToString();
    }

    [Test]
    public async Task Delivery_exception_gets_451_and_the_session_continues()
    {
        _server = await SmtpTestServer.StartAsync();
        _server.Delivery.ThrowOnce = new IOException("disk on fire");
        await using var client = await _server.OpenEhloAsync();

        var failed = await SendAsync(client, Ascii(SimpleMessage));
        var retried = await SendAsync(client, Ascii(SimpleMessage));

        Assert.That(failed.Code, Is.EqualTo(451));
        Assert.That(failed.Text, Is.EqualTo("4.3.0 Temporary server error"));
        Assert.That(retried.Code, Is.EqualTo(250));
        Assert.That(_server.Delivery.Deliveries, Has.Count.EqualTo(1));
    }

    private static string NestedMultipart(int depth)
    {
        var builder = new StringBuilder("From: sender@example.net\r\nMIME-Version: 1.0\r\n");
        for (var level = 0; level < depth; level++)
            builder.Append($"Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n");
        builder.Append("Content-Type: text/plain\r\n\r\ndeep\r\n");
        for (var level = depth - 1; level >= 0; level--)
            builder.Append($"--b{level}--\r\n");
        return builder.ToString();
    }

    private static string FlatMultipart(int parts, bool attachments)
    {
        var builder = new StringBuilder("From: sender@example.net\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n");
        for (var i = 0; i < parts; i++)
        {
            builder.Append("--b\r\nContent-Type: text/plain\r\n");
            if (attachments)
                builder.Append($"Content-Disposition: attachment; filename=\"f{i}.txt\"\r\n");
            builder.Append($"\r\npart {i}\r\n");
        }
        builder.Append("--b--\r\n");
        return builder.ToString();
    }
}
