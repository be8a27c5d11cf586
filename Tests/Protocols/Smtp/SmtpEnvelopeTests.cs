using NUnit.Framework;
using MailServer.Tests.Support;

namespace MailServer.Tests.Protocols.Smtp;

/// <summary>Greeting, EHLO and the MAIL/RCPT decisions, as transcripts over a raw connection.</summary>
[TestFixture]
public sealed class SmtpEnvelopeTests
{
    private SmtpTestServer _server = null!;

    [SetUp]
    public async Task StartServer() => _server = await SmtpTestServer.StartAsync();

    [TearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    [Test]
    public async Task Greeting_and_EHLO_list_our_extensions_and_no_AUTH()
    {
        var (client, greeting) = await SmtpLineClient.OpenAsync(_server.Mx);
        await using var _ = client;
        Assert.That(greeting.ToString(), Is.EqualTo("220 mx.example.test ESMTP"));

        var ehlo = await client.CommandAsync("EHLO client.example.net");

        Assert.That(ehlo.Code, Is.EqualTo(250));
        Assert.That(ehlo.Lines[0], Is.EqualTo("mx.example.test Hello client.example.net"));
        Assert.That(ehlo.Lines.Skip(1), Is.EquivalentTo(new[] { "PIPELINING", "SIZE 41943040", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN", "STARTTLS" }));
    }

    [Test]
    public async Task Every_reply_after_EHLO_carries_an_enhanced_status_code()
    {
        await using var client = await _server.OpenEhloAsync();

        Assert.That((await client.CommandAsync("NOOP")).ToString(), Is.EqualTo("250 2.0.0 Ok"));
        Assert.That((await client.CommandAsync("MAIL FROM:<sender@example.net>")).ToString(), Is.EqualTo("250 2.0.0 Ok"));
        Assert.That((await client.CommandAsync("RCPT TO:<alice@example.test>")).ToString(), Is.EqualTo("250 2.0.0 Ok"));
        Assert.That((await client.CommandAsync("RSET")).ToString(), Is.EqualTo("250 2.0.0 Ok"));
        Assert.That((await client.CommandAsync("QUIT")).ToString(), Is.EqualTo("221 2.0.0 bye"));
    }

    [Test]
    public async Task AUTH_and_PROXY_are_refused()
    {
        await using var client = await _server.OpenEhloAsync();
        Assert.That((await client.CommandAsync("AUTH PLAIN AGFsaWNlAHNlY3JldA==")).Text, Does.StartWith("5.5.1 Command not implemented"));
        Assert.That((await client.CommandAsync("PROXY TCP4 10.0.0.1 10.0.0.2 1234 25")).Code, Is.EqualTo(502));
    }

    [Test]
    public async Task Relaying_is_refused_with_550_5_7_1()
    {
        await using var client = await _server.OpenEhloAsync();
        Assert.That((await client.CommandAsync("MAIL FROM:<sender@example.net>")).Code, Is.EqualTo(250));

        var reply = await client.CommandAsync("RCPT TO:<someone@elsewhere.test>");

        Assert.That(reply.Code, Is.EqualTo(550));
        Assert.That(reply.Text, Does.StartWith("5.7.1 Relaying denied"));
    }

    [TestCase("nobody@example.test", 550, "5.1.1 <nobody@example.test>: Recipient address rejected: no such user")]
    [TestCase("carol@example.test", 550, "5.2.1 <carol@example.test>: mailbox disabled")]
    public async Task Unknown_and_disabled_recipients_are_refused(string address, int code, string text)
    {
        await using var client = await _server.OpenEhloAsync();
        await client.CommandAsync("MAIL FROM:<sender@example.net>");

        var reply = await client.CommandAsync($"RCPT TO:<{address}>");

        Assert.That(reply.Code, Is.EqualTo(code));
        Assert.That(reply.Text, Does.StartWith(text));
        // The session goes on: a good recipient is still accepted.
        Assert.That((await client.CommandAsync("RCPT TO:<alice@example.test>")).Code, Is.EqualTo(250));
    }

    [Test]
    public async Task Full_mailbox_is_refused_at_RCPT_with_552_5_2_2()
    {
        _server.Delivery.FullMailboxes.Add("dave@example.test");
        await using var client = await _server.OpenEhloAsync();
        await client.CommandAsync("MAIL FROM:<sender@example.net>");

        var reply = await client.CommandAsync("RCPT TO:<dave@example.test>");

        Assert.That(reply.Code, Is.EqualTo(552));
        Assert.That(reply.Text, Does.StartWith("5.2.2 <dave@example.test>: Mailbox full"));
    }

    [Test]
    public async Task A_store_fault_during_the_quota_check_is_a_451_and_the_session_goes_on()
    {
        _server.Delivery.HasRoomThrows = new IOException("the key file is being created by another thread");
        await using var client = await _server.OpenEhloAsync();
        await client.CommandAsync("MAIL FROM:<sender@example.net>");

        var failed = await client.CommandAsync("RCPT TO:<alice@example.test>");
        _server.Delivery.HasRoomThrows = null;
        var retried = await client.CommandAsync("RCPT TO:<alice@example.test>");

        Assert.That(failed.Code, Is.EqualTo(451), "RFC 5321 §4.2.5: a local error is temporary, not a dropped connection");
        Assert.That(failed.Text, Does.StartWith("4.3.0"));
        Assert.That(retried.Code, Is.EqualTo(250));
    }

    [Test]
    public async Task Malformed_MAIL_FROM_is_refused_and_opens_no_transaction()
    {
        await using var client = await _server.OpenEhloAsync();

        var malformed = await client.CommandAsync("MAIL FROM:<not an address>");
        var rcpt = await client.CommandAsync("RCPT TO:<alice@example.test>");

        // SmtpServer 11.1.0's parser tries every verb and reports any unparsable line as
        // "502 Unrecognized command" (RFC 5321 would prefer 501); its "501 expected ..." for a bad
        // sequence is rewritten on the wire to RFC 5321's 503. What matters: no transaction was opened.
        Assert.That(malformed.Code, Is.EqualTo(502));
        Assert.That(malformed.Text, Does.StartWith("5.5.1 Unrecognized command"));
        Assert.That(rcpt.Code, Is.EqualTo(503), "RCPT without a MAIL transaction is out of sequence (RFC 5321 §4.3.2)");
        Assert.That(rcpt.Text, Does.StartWith("5.5.1 Bad sequence of commands, expected"));
        Assert.That((await client.CommandAsync("MAIL FROM:<sender@example.net>")).Code, Is.EqualTo(250));
    }

    [Test]
    public async Task Declared_SIZE_over_the_limit_gets_552_5_3_4_at_MAIL()
    {
        await using var client = await _server.OpenEhloAsync();

        var tooBig = await client.CommandAsync("MAIL FROM:<sender@example.net> SIZE=41943041");
        var overflow = await client.CommandAsync("MAIL FROM:<sender@example.net> SIZE=99999999999999");
        var fits = await client.CommandAsync("MAIL FROM:<sender@example.net> SIZE=41943040");

        Assert.That(tooBig.Code, Is.EqualTo(552));
        Assert.That(tooBig.Text, Does.StartWith("5.3.4 Message size exceeds fixed maximum message size"));
        Assert.That(overflow.Code, Is.EqualTo(552));
        Assert.That(fits.Code, Is.EqualTo(250));
    }

    [Test]
    public async Task The_501st_recipient_gets_452_4_5_3()
    {
        await using var client = await _server.OpenEhloAsync();
        await client.CommandAsync("MAIL FROM:<sender@example.net>");
        for (var i = 1; i <= 500; i++)
        {
            var accepted = await client.CommandAsync("RCPT TO:<alice@example.test>");
            Assert.That(accepted.Code, Is.EqualTo(250), $"recipient {i}");
        }

        var refused = await client.CommandAsync("RCPT TO:<bob@example.test>");

        Assert.That(refused.Code, Is.EqualTo(452));
        Assert.That(refused.Text, Does.StartWith("4.5.3 Too many recipients"));
    }
    [Test]
    public async Task Bare_postmaster_is_accepted_even_pipelined_past_one_read_buffer_and_reaches_the_postmaster()
    {
        // RFC 5321 §4.1.1.3 and §4.5.1: "<Postmaster>" needs no domain. SmtpServer's grammar lacks it, so the
        // connection guard rewrites each such line to a longer one; 300 of them in one write overflow the reader's
        // buffer, and the rest must come out on the next read, in order.
        await using var client = await _server.OpenEhloAsync();
        Assert.That((await client.CommandAsync("MAIL FROM:<someone@example.net>")).Code, Is.EqualTo(250));
        var lines = Enumerable.Range(0, 300).Select(i => i % 2 == 0 ? "RCPT TO:<postmaster>" : "RCPT TO:<PostMaster> NOTIFY=NEVER");
        await client.SendRawAsync(System.Text.Encoding.ASCII.GetBytes(string.Concat(lines.Select(l => l + "\r\n")) + "DATA\r\n"));
        for (var i = 0; i < 300; i++)
            Assert.That((await client.ReadReplyAsync()).Code, Is.EqualTo(250), $"RCPT {i}");
        Assert.That((await client.ReadReplyAsync()).Code, Is.EqualTo(354));
        await client.SendRawAsync(System.Text.Encoding.ASCII.GetBytes("Subject: x\r\n\r\nx\r\n.\r\n"));
        Assert.That((await client.ReadReplyAsync()).Code, Is.EqualTo(250));

        var delivery = _server.Delivery.Deliveries.Single();
        Assert.That(delivery.Transaction.Recipients.Select(r => r.Address).Distinct(), Is.EqualTo(new[] { "postmaster@example.test" }));
        Assert.That(delivery.Mailboxes.Distinct(), Is.EqualTo(new[] { "alice@example.test" }));
        Assert.That(delivery.Transaction.Recipients[1].Notify, Is.EqualTo(MailServer.Rules.Sending.DsnNotify.Never));
    }
}
