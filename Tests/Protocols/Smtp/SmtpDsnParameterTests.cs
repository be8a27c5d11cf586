using MailServer.Rules.Sending;
using NUnit.Framework;
using MailServer.Protocols.Smtp;

namespace MailServer.Tests.Protocols.Smtp;

/// <summary>RFC 3461 parameters on MAIL and RCPT, pipelined like a real client sends them.</summary>
[TestFixture]
public sealed class SmtpDsnParameterTests
{
    private SmtpTestServer _server = null!;

    [SetUp]
    public async Task StartServer() => _server = await SmtpTestServer.StartAsync();

    [TearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    [Test]
    public async Task NOTIFY_ORCPT_RET_and_ENVID_reach_the_transaction()
    {
        await using var client = await _server.OpenEhloAsync();

        Assert.That((await client.CommandAsync("MAIL FROM:<someone@elsewhere.test> RET=HDRS ENVID=QQ314159")).Code, Is.EqualTo(250));
        // Pipelined (RFC 2920): both RCPT lines in one write.
        await client.SendRawAsync("RCPT TO:<alice@example.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Alice+2BA@example.test\r\nRCPT TO:<bob@example.test>\r\n"u8.ToArray());
        Assert.That((await client.ReadReplyAsync()).Code, Is.EqualTo(250));
        Assert.That((await client.ReadReplyAsync()).Code, Is.EqualTo(250));
        Assert.That((await client.CommandAsync("DATA")).Code, Is.EqualTo(354));
        Assert.That((await client.CommandAsync("Subject: x\r\n\r\nbody\r\n.")).Code, Is.EqualTo(250));

        var transaction = _server.Delivery.Deliveries.Single().Transaction;
        Assert.That(transaction.Return, Is.EqualTo(DsnReturn.Headers));
        Assert.That(transaction.EnvelopeId, Is.EqualTo("QQ314159"));
        Assert.That(transaction.Recipients[0].Notify, Is.EqualTo(DsnNotify.Success | DsnNotify.Delay));
        Assert.That(transaction.Recipients[0].OriginalRecipient, Is.EqualTo("rfc822;Alice+A@example.test"), "xtext decoded");
        Assert.That(transaction.Recipients[1].Notify, Is.EqualTo(DsnNotify.NotGiven));
        Assert.That(transaction.Recipients[1].OriginalRecipient, Is.Null);
    }

    [TestCase("RCPT TO:<alice@example.test> NOTIFY=NEVER,SUCCESS")]
    [TestCase("RCPT TO:<alice@example.test> NOTIFY=SOMETIMES")]
    [TestCase("RCPT TO:<alice@example.test> ORCPT=no-semicolon")]
    public async Task A_malformed_RCPT_parameter_is_refused_with_501(string rcpt)
    {
        await using var client = await _server.OpenEhloAsync();
        await client.CommandAsync("MAIL FROM:<someone@elsewhere.test>");

        var reply = await client.CommandAsync(rcpt);

        Assert.That(reply.ToString(), Does.StartWith("501 5.5.4 Invalid DSN parameter"));
        Assert.That((await client.CommandAsync("RCPT TO:<alice@example.test>")).Code, Is.EqualTo(250), "the session goes on");
    }

    [TestCase("MAIL FROM:<someone@elsewhere.test> RET=MOST")]
    [TestCase("MAIL FROM:<someone@elsewhere.test> ENVID=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public async Task A_malformed_MAIL_parameter_is_refused_with_501(string mail)
    {
        await using var client = await _server.OpenEhloAsync();

        var reply = await client.CommandAsync(mail);

        Assert.That(reply.ToString(), Does.StartWith("501 5.5.4 Invalid DSN parameter"));
    }
}
