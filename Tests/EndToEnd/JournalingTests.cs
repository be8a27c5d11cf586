using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Rules.Journaling;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 7 item 1 on the real executable: a message that enters the organization for a group and a user yields
/// exactly one journal record at the journaling address (an archive reached by MX lookup), in the envelope journal
/// report format, whose envelope sender is the report address.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class JournalingTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Test]
    public async Task A_message_to_a_group_and_its_members_yields_one_journal_record_listing_every_mailbox()
    {
        await using var dns = LoopbackDnsServer.Start();
        dns.AddMx("vault.test", 10, "mx.vault.test").AddA("mx.vault.test", "127.0.0.1");
        await using var archive = await SmtpReceiver.StartAsync(tempFailures: 0);
        await using var server = ServerProcess.Create();
        var config = File.ReadAllText(server.ConfigPath)
            .Replace(ServerProcess.DefaultDns + ",", "") // this test's own zone below
            .Replace("\"DataDirectory\": \"data\",", $$"""
                "DataDirectory": "data",
                "Dns": { "Servers": [ "127.0.0.1" ], "Port": {{dns.Port}} },
                "Delivery": { "RemotePort": {{archive.Port}}, "RetryMinimumSeconds": 1, "RetryMaximumSeconds": 2 },
                """)
            .Replace("\"AccessControlRules\":", """
                "Journaling": { "Enabled": true, "JournalingAddress": "archive@vault.test", "ReportAddress": "alice@example.test" },
                "AccessControlRules":
                """);
        File.WriteAllText(server.ConfigPath, config);
        await server.StartAsync();

        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("partner@outside.test"));
        message.To.Add(MailboxAddress.Parse("team@example.test"));
        message.Cc.Add(MailboxAddress.Parse("bob@example.test"));
        message.Subject = "journal " + Guid.NewGuid().ToString("N");
        message.MessageId = "j1@outside.test";
        message.Body = new TextPart("plain") { Text = "For the record.\r\n" };
        using (var client = new SmtpClient())
        {
            await client.ConnectAsync("127.0.0.1", server.ListenerPorts.Smtp, SecureSocketOptions.None);
            await client.SendAsync(message, MailboxAddress.Parse("partner@outside.test"),
                [MailboxAddress.Parse("team@example.test"), MailboxAddress.Parse("bob@example.test"), MailboxAddress.Parse("alice@example.test")]);
            await client.DisconnectAsync(true);
        }

        var record = (await archive.WaitForAsync(1, Wait)).Single();
        await Task.Delay(1500); // a second record, if one were wrongly made, would arrive by now
        var parsed = MimeMessage.Load(new MemoryStream(record.Content));
        var text = parsed.BodyParts.OfType<TextPart>().First().Text ?? "";
        Assert.Multiple(() =>
        {
            Assert.That(archive.Messages(), Has.Count.EqualTo(1), "one record per message, whatever the recipients");
            Assert.That(record.RcptTos, Is.EqualTo(new[] { "archive@vault.test" }));
            Assert.That(record.MailFrom, Is.EqualTo("alice@example.test"), "refusals of the record go to the report address");
            Assert.That(parsed.Headers.Contains(JournalReport.MarkerHeader), Is.True);
            Assert.That(parsed.From.Mailboxes.Single().Address, Is.EqualTo("journal-noreply@example.test"));
            Assert.That(text, Does.Contain("Sender: partner@outside.test").And.Contain($"Subject: {message.Subject}").And.Contain("Message-Id: <j1@outside.test>"));
            Assert.That(text, Does.Contain("To: alice@example.test, Expanded: team@example.test")
                .And.Contain("To: bob@example.test, Expanded: team@example.test"));
            Assert.That(parsed.BodyParts.OfType<MessagePart>().Single().Message?.Subject, Is.EqualTo(message.Subject));
        });
    }
}
