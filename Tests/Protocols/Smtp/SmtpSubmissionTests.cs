using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Protocols.Smtp;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Smtp;

/// <summary>
/// Submission (STARTTLS) and submissions (implicit TLS, RFC 8314) listeners before AUTH exists: they take mail
/// for local users like MX and never relay.
/// </summary>
[TestFixture]
public sealed class SmtpSubmissionTests
{
    private SmtpTestServer _server = null!;

    [SetUp]
    public async Task StartServer() => _server = await SmtpTestServer.StartAsync();

    [TearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    private static MimeMessage Message(string to)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.test"));
        message.To.Add(MailboxAddress.Parse(to));
        message.Body = new TextPart("plain") { Text = "hello" };
        return message;
    }

    [TestCase(SmtpListenerKind.Submissions, SecureSocketOptions.SslOnConnect)]
    [TestCase(SmtpListenerKind.Submission, SecureSocketOptions.StartTls)]
    public async Task Local_delivery_works_and_is_tagged_with_the_listener(SmtpListenerKind kind, SecureSocketOptions security)
    {
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", _server.EndPointOf(kind).Port, security);

        await client.SendAsync(Message("bob@example.test"));
        await client.DisconnectAsync(true);

        var delivery = _server.Delivery.Deliveries.Single();
        Assert.That(delivery.Transaction.Listener, Is.EqualTo(kind));
        Assert.That(delivery.Transaction.Secure, Is.True);
        Assert.That(delivery.Transaction.AuthenticatedUser, Is.Null);
    }

    [TestCase(SmtpListenerKind.Submissions, SecureSocketOptions.SslOnConnect)]
    [TestCase(SmtpListenerKind.Submission, SecureSocketOptions.StartTls)]
    public async Task Unauthenticated_relay_is_refused(SmtpListenerKind kind, SecureSocketOptions security)
    {
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", _server.EndPointOf(kind).Port, security);
        Assert.That(client.Capabilities.HasFlag(SmtpCapabilities.Authentication), Is.False);

        var refused = Assert.ThrowsAsync<SmtpCommandException>(async () => await client.SendAsync(Message("someone@elsewhere.test")));

        Assert.That((int)refused!.StatusCode, Is.EqualTo(550));
        Assert.That(refused.Message, Does.StartWith("5.7.1 Relaying denied"));
        Assert.That(_server.Delivery.Deliveries, Is.Empty);
    }
}
