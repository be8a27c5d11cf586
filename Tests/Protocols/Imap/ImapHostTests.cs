using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Server.Security;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap;

/// <summary>The real `mailserver` process: IMAP is composed into the host next to SMTP; IDLE hears of SMTP mail within a second.</summary>
[TestFixture]
public sealed class ImapHostTests
{
    [Test]
    public async Task Mail_delivered_over_smtp_reaches_an_idle_imap_client_of_the_real_server()
    {
        const string password = "host-test-pw";
        await using var server = ServerProcess.Create();
        await File.WriteAllTextAsync(server.ConfigPath, ServerProcess.SampleConfig(server.ListenerPorts)
            .Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{PasswordHasher.Hash(password, iterations: 1000)}\""));
        await server.StartAsync();

        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 15000 };
        await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imap, SecureSocketOptions.StartTls);
        await imap.AuthenticateAsync("a.liddell@example.test", password);
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        Assert.That(imap.Inbox.Count, Is.EqualTo(0));
        var arrived = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var sinceStored = new System.Diagnostics.Stopwatch();
        var heardAfter = TimeSpan.Zero;
        imap.Inbox.CountChanged += (_, _) => { heardAfter = sinceStored.Elapsed; arrived.TrySetResult(imap.Inbox.Count); };
        using var stopIdle = new CancellationTokenSource();
        var idle = imap.IdleAsync(stopIdle.Token);

        using (var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true })
        {
            await smtp.ConnectAsync("127.0.0.1", server.ListenerPorts.Smtp, SecureSocketOptions.None);
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse("sender@example.net"));
            message.To.Add(MailboxAddress.Parse("alice@example.test"));
            message.Subject = "over smtp";
            message.Body = new TextPart("plain") { Text = "hello" };
            await smtp.SendAsync(message);
            sinceStored.Start(); // the 250: the message is on disk
            await smtp.DisconnectAsync(true);
        }

        Assert.That(await arrived.Task.WaitAsync(TimeSpan.FromSeconds(15)), Is.EqualTo(1));
        // Issue 3: the idling client hears of it within a second (the change feed pushes; nothing polls).
        Assert.That(heardAfter, Is.LessThan(TimeSpan.FromSeconds(1)), "EXISTS reached the idling client within a second of the 250");
        await stopIdle.CancelAsync();
        await idle;
        var summary = (await imap.Inbox.FetchAsync(0, 0, MessageSummaryItems.Envelope))[0];
        Assert.That(summary.Envelope?.Subject, Is.EqualTo("over smtp"));
        await imap.DisconnectAsync(true);
        Assert.That(await server.StopAsync(), Is.EqualTo(0), server.Output);
    }
}
