using System.Text.Json.Nodes;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Server.Security;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 7 item 3, the SMTP side of §19.1 ([SH] mapping: SMTP submission → <c>submit_email_for_sending</c>): every
/// message a user submits, and every one refused for want of Send As / Send On Behalf, is one MailboxAccess line
/// naming the mailbox it goes out from.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class SubmissionAuditTests
{
    private const string Password = "submission audit test password";

    private static JsonObject[] SubmissionLines(ServerProcess server) =>
        server.AuditLogLines().Where(l => (string?)l["action"] == "submit_email_for_sending").ToArray();

    private static MimeMessage Message(string from, string id)
    {
        var message = new MimeMessage { MessageId = id, Subject = "audited submission" };
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse("bob@example.test"));
        message.Body = new TextPart("plain") { Text = "Hello.\r\n" };
        return message;
    }

    [Test]
    public async Task Own_and_send_as_submissions_are_allowed_lines_and_a_refused_from_and_envelope_are_denied_lines()
    {
        await using var server = ServerProcess.Create();
        var hash = PasswordHasher.Hash(Password, iterations: 1000);
        File.WriteAllText(server.ConfigPath, File.ReadAllText(server.ConfigPath)
            .Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{hash}\"")
            .Replace("\"Groups\":", """
                "MailboxPermissions": [ { "Mailbox": "bob@example.test", "Grantee": "alice@example.test", "Permissions": [ "SendAs" ] } ],
                "Groups":
                """));
        await server.StartAsync();

        using (var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true })
        {
            await client.ConnectAsync("127.0.0.1", server.ListenerPorts.Submission, SecureSocketOptions.StartTls);
            await client.AuthenticateAsync("alice@example.test", Password);
            await client.SendAsync(Message("alice@example.test", "own@client.test"));
            await client.SendAsync(Message("bob@example.test", "sendas@client.test"));
            await client.DisconnectAsync(true);
        }
        // Bob granted Alice nothing: his From is refused at end of DATA, his envelope sender at MAIL FROM.
        using (var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true })
        {
            await client.ConnectAsync("127.0.0.1", server.ListenerPorts.Submission, SecureSocketOptions.StartTls);
            await client.AuthenticateAsync("bob@example.test", Password);
            var refused = Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(Message("alice@example.test", "forged@client.test")));
            Assert.That(refused!.StatusCode, Is.EqualTo(SmtpStatusCode.MailboxUnavailable));
            Assert.That(refused.Message, Does.Contain("5.7.60"));
            var envelope = Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(Message("bob@example.test", "envelope@client.test"),
                MailboxAddress.Parse("alice@example.test"), [MailboxAddress.Parse("bob@example.test")]));
            Assert.That(envelope!.ErrorCode, Is.EqualTo(SmtpErrorCode.SenderNotAccepted));
            await client.DisconnectAsync(true);
        }

        var lines = SubmissionLines(server);
        Assert.That(lines.Select(l => ((string?)l["user_id"], (string?)l["owner_id"], (string?)l["item_id"], (bool)l["action_allowed"]!)), Is.EqualTo(new[]
        {
            ("alice@example.test", "alice@example.test", "own@client.test", true),
            ("alice@example.test", "bob@example.test", "sendas@client.test", true),
            ("bob@example.test", "alice@example.test", (string?)null, false),
            ("bob@example.test", "alice@example.test", (string?)null, false),
        }));
        Assert.Multiple(() =>
        {
            foreach (var line in lines)
            {
                Assert.That((string?)line["protocol"], Is.EqualTo("SMTP"));
                Assert.That((string?)line["object_type"], Is.EqualTo("Message"));
                Assert.That((string?)line["source_ip"], Is.EqualTo("127.0.0.1"));
                Assert.That((string?)line["organization_arn"], Is.EqualTo($"urn:mailserver:organization/{ServerProcess.OrganizationId}"));
                Assert.That(line.ContainsKey("request_id"), Is.True);
            }
        });
    }
}
