using System.Text;
using MailServer.Protocols.Smtp;
using MailServer.Tests.Support;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Smtp;

/// <summary>Stable event ids, a session scope, refusals with reasons, and never a message body in the log.</summary>
[TestFixture]
public sealed class SmtpLoggingTests
{
    [Test]
    public async Task Session_refusal_and_delivery_are_logged_in_the_session_scope_without_the_body()
    {
        var logger = new RecordingLogger<SmtpListener>();
        var server = await SmtpTestServer.StartAsync(logger: logger);
        await using (var client = await server.OpenEhloAsync())
        {
            await client.CommandAsync("MAIL FROM:<sender@example.net>");
            Assert.That((await client.CommandAsync("RCPT TO:<nobody@example.test>")).Code, Is.EqualTo(550));
            await client.CommandAsync("RCPT TO:<alice@example.test>");
            await client.CommandAsync("DATA");
            await client.SendRawAsync(Encoding.ASCII.GetBytes("Subject: TOP-SECRET-SUBJECT\r\n\r\nTOP-SECRET-BODY\r\n.\r\n"));
            Assert.That((await client.ReadReplyAsync()).Code, Is.EqualTo(250));
            Assert.That((await client.CommandAsync("QUIT")).Code, Is.EqualTo(221));
        }
        await server.DisposeAsync();

        var records = logger.Records.ToList();
        var started = records.Single(r => r.EventId.Id == 2010);
        var refused = records.Single(r => r.EventId.Id == 2021);
        var delivered = records.Single(r => r.EventId.Id == 2030);
        Assert.That(records.Select(r => r.EventId.Id), Has.All.InRange(2000, 2099));
        Assert.That(refused.Message, Does.Contain("nobody@example.test").And.Contain("no such user"));
        Assert.That(delivered.Message, Does.Contain("1 local recipient(s) accepted, 0 remote recipient(s) queued for delivery"));
        var sessionScope = SessionIdOf(refused.Scopes);
        Assert.That(started.Message, Does.Contain(sessionScope));
        Assert.That(SessionIdOf(delivered.Scopes), Is.EqualTo(sessionScope));
        Assert.That(records.Select(r => r.Message), Has.None.Contains("TOP-SECRET"));
        Assert.That(records.Any(r => r.EventId.Id == 2011), Is.True, "session end is logged");
    }

    [Test]
    public async Task A_message_for_a_remote_recipient_is_logged_as_queued_never_as_delivered()
    {
        var logger = new RecordingLogger<SmtpListener>();
        SmtpTestServer? server = null;
        server = await SmtpTestServer.StartAsync(logger: logger, credentials: new FixedPasswords(() => server!.Current));
        await using (server)
        {
            using var client = new MailKit.Net.Smtp.SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
            await client.ConnectAsync("127.0.0.1", server.EndPointOf(SmtpListenerKind.Submissions).Port, MailKit.Security.SecureSocketOptions.SslOnConnect);
            await client.AuthenticateAsync("alice@example.test", "pw-alice");
            var message = new MimeKit.MimeMessage();
            message.From.Add(MimeKit.MailboxAddress.Parse("alice@example.test"));
            message.To.Add(MimeKit.MailboxAddress.Parse("someone@elsewhere.test"));
            message.Cc.Add(MimeKit.MailboxAddress.Parse("bob@example.test"));
            message.Body = new MimeKit.TextPart("plain") { Text = "hello" };
            await client.SendAsync(message);
            await client.DisconnectAsync(true);
        }

        var completed = logger.Records.Single(r => r.EventId.Id == 2030).Message;
        Assert.That(completed, Does.Contain("1 local recipient(s) accepted, 1 remote recipient(s) queued for delivery, 0 temporary and 0 permanent failure(s); replied 250"));
        Assert.That(completed, Does.Not.Contain("delivered,"));
    }

    private static string SessionIdOf(IEnumerable<object?> scopes) =>
        (string)scopes.OfType<IEnumerable<KeyValuePair<string, object?>>>()
            .SelectMany(pairs => pairs)
            .Single(pair => pair.Key == "SmtpSessionId").Value!;
}
