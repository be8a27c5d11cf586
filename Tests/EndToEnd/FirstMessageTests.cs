using System.Text;
using MailServer.Storage;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 2, "done when": the real executable, a message sent with swaks to alice on the SMTP port is
/// stored in her Inbox, encrypted — a unique marker from its subject and body appears in no file of the
/// data folder — and relaying is refused.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class FirstMessageTests
{
    [Test]
    public async Task A_message_sent_with_swaks_lands_in_alices_inbox_and_is_encrypted_at_rest()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();
        var marker = "MARKER" + Guid.NewGuid().ToString("N");

        var (exit, transcript) = await Swaks.RunAsync(
            "--server", $"127.0.0.1:{server.ListenerPorts.Smtp}",
            "--from", "someone@elsewhere.test", "--to", "alice@example.test",
            "--header", $"Subject: subject {marker}", "--body", $"body {marker}");

        Assert.That(exit, Is.Zero, transcript);
        Assert.That(transcript, Does.Match(@"<-  250 2\.0\.0 Ok: queued as \S+"));
        Assert.That(await server.StopAsync(), Is.Zero, "SIGTERM stops the server cleanly");

        var needle = Encoding.ASCII.GetBytes(marker);
        var files = Directory.EnumerateFiles(server.DataDirectory, "*", SearchOption.AllDirectories).ToList();
        Assert.That(files, Has.Some.Contains("blobs"), "the message body is a file of its own");
        foreach (var file in files)
            Assert.That(File.ReadAllBytes(file).AsSpan().IndexOf(needle), Is.EqualTo(-1), $"{file} holds the marker in clear");

        await using var store = server.OpenStore();
        var mailbox = store.FindMailbox(ServerProcess.OrganizationId, "alice@example.test")!;
        var inbox = store.FindFolder(mailbox.MailboxId, "INBOX")!;
        var stored = store.ListMessages(inbox.FolderId).Single();
        var message = MimeMessage.Load(new MemoryStream(await store.ReadMessageAsync(mailbox.MailboxId, stored.EntryId, CancellationToken.None)));
        Assert.That(message.Subject, Is.EqualTo($"subject {marker}"));
        Assert.That(message.TextBody, Does.Contain($"body {marker}"));
        Assert.That(message.Headers[0].Field, Is.EqualTo("Received"), "our trace header comes first");
        Assert.That(message.Headers[0].Value, Does.Contain("by mx.example.test").And.Contain("for <alice@example.test>"));
    }

    [Test]
    public async Task Mail_for_other_domains_is_refused_and_group_mail_reaches_each_member_once()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();

        var (relayExit, relay) = await Swaks.RunAsync(
            "--server", $"127.0.0.1:{server.ListenerPorts.Smtp}",
            "--from", "someone@elsewhere.test", "--to", "victim@elsewhere.test");
        Assert.That(relayExit, Is.Not.Zero);
        Assert.That(relay, Does.Contain("550 5.7.1 Relaying denied"));

        var (exit, transcript) = await Swaks.RunAsync(
            "--server", $"127.0.0.1:{server.ListenerPorts.Smtp}",
            "--from", "someone@elsewhere.test", "--to", "team@example.test,alice@example.test",
            "--header", "Subject: to the team");
        Assert.That(exit, Is.Zero, transcript);
        await server.StopAsync();

        await using var store = server.OpenStore();
        foreach (var user in new[] { "alice@example.test", "bob@example.test" })
        {
            var mailbox = store.FindMailbox(ServerProcess.OrganizationId, user)!;
            var inbox = store.FindFolder(mailbox.MailboxId, "INBOX")!;
            Assert.That(store.ListMessages(inbox.FolderId), Has.Count.EqualTo(1), $"{user} gets exactly one copy");
        }
    }
}
