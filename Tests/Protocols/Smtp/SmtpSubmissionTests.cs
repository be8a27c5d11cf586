using System.Text;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Protocols.Smtp;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Smtp;

/// <summary>
/// Submission (STARTTLS, RFC 6409) and submissions (implicit TLS, RFC 8314): AUTH first (RFC 4954), then local and
/// remote recipients reach the mail flow (which checks the From/Sender rights of §5: Tests/Delivery/SendingTests).
/// </summary>
[TestFixture]
public sealed class SmtpSubmissionTests
{
    private SmtpTestServer _server = null!;

    [SetUp]
    public async Task StartServer()
    {
        SmtpTestServer? server = null;
        _server = server = await SmtpTestServer.StartAsync(credentials: new FixedPasswords(() => server!.Current));
    }

    [TearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    private static MimeMessage Message(string from, string to)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Body = new TextPart("plain") { Text = "hello" };
        return message;
    }

    private async Task<SmtpClient> LoggedInAsync(SmtpListenerKind kind, SecureSocketOptions security, string user)
    {
        var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", _server.EndPointOf(kind).Port, security);
        await client.AuthenticateAsync(user, "pw-" + user.Split('@')[0]);
        return client;
    }

    [TestCase(SmtpListenerKind.Submissions, SecureSocketOptions.SslOnConnect)]
    [TestCase(SmtpListenerKind.Submission, SecureSocketOptions.StartTls)]
    public async Task An_authenticated_user_reaches_local_and_remote_recipients(SmtpListenerKind kind, SecureSocketOptions security)
    {
        using var client = await LoggedInAsync(kind, security, "alice@example.test");

        await client.SendAsync(Message("alice@example.test", "bob@example.test"));
        await client.SendAsync(Message("alice@example.test", "someone@elsewhere.test"));
        await client.DisconnectAsync(true);

        var deliveries = _server.Delivery.Deliveries.ToList();
        Assert.That(deliveries, Has.Count.EqualTo(2));
        Assert.That(deliveries.Select(d => d.Transaction.Listener), Has.All.EqualTo(kind));
        Assert.That(deliveries.Select(d => d.Transaction.AuthenticatedUser), Has.All.EqualTo("alice@example.test"));
        Assert.That(deliveries[0].Transaction.Recipients.Single().IsRemote, Is.False);
        Assert.That(deliveries[1].Transaction.Recipients.Single().IsRemote, Is.True);
        Assert.That(deliveries[1].Transaction.Recipients.Single().Address, Is.EqualTo("someone@elsewhere.test"));
    }

    [TestCase(SmtpListenerKind.Submissions, SecureSocketOptions.SslOnConnect)]
    [TestCase(SmtpListenerKind.Submission, SecureSocketOptions.StartTls)]
    public async Task MAIL_before_AUTH_is_refused_with_530(SmtpListenerKind kind, SecureSocketOptions security)
    {
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", _server.EndPointOf(kind).Port, security);
        Assert.That(client.Capabilities.HasFlag(SmtpCapabilities.Authentication), Is.True);

        var refused = Assert.ThrowsAsync<ServiceNotAuthenticatedException>(async () => await client.SendAsync(Message("alice@example.test", "bob@example.test")));

        Assert.That(refused!.Message, Does.StartWith("5.7.0 Authentication required"));
        Assert.That(_server.Delivery.Deliveries, Is.Empty);
    }

    [Test]
    public async Task AUTH_on_the_MX_listener_is_not_available()
    {
        var (plain, _) = await SmtpLineClient.OpenAsync(_server.Mx);
        await using var __ = plain;
        await plain.CommandAsync("EHLO client.example.net");

        var auth = await plain.CommandAsync("AUTH PLAIN " + Convert.ToBase64String("\0alice@example.test\0pw-alice"u8.ToArray()));

        Assert.That(auth.ToString(), Does.StartWith("502 5.5.1") .Or.StartWith("503 5.5.1"));
    }
}
