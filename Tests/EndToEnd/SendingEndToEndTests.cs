using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Server;
using MailServer.Server.Security;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 4, "done when", on the real executable: a user with Thunderbird-style settings (submission 2587,
/// STARTTLS, normal password) sends to a local user and to a remote address found by MX lookup; both arrive;
/// a refused recipient comes back as a DSN read over IMAP; the queue survives kill -9; the CLI sees the queue.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class SendingEndToEndTests
{
    private const string Password = "a long test password 4 sending";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static ServerProcess Create(LoopbackDnsServer dns, int remotePort)
    {
        var server = ServerProcess.Create();
        var config = File.ReadAllText(server.ConfigPath)
            .Replace(ServerProcess.DefaultDns + ",", "") // this test's own zone below
            .Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{PasswordHasher.Hash(Password, iterations: 1000)}\"")
            .Replace("\"DataDirectory\": \"data\",", $$"""
                "DataDirectory": "data",
                "Dns": { "Servers": [ "127.0.0.1" ], "Port": {{dns.Port}} },
                "Delivery": { "RemotePort": {{remotePort}}, "RetryMinimumSeconds": 1, "RetryMaximumSeconds": 2 },
                """);
        File.WriteAllText(server.ConfigPath, config);
        return server;
    }

    private static async Task<LoopbackDnsServer> DnsAsync()
    {
        var dns = LoopbackDnsServer.Start();
        dns.AddMx("remote.test", 10, "mx.remote.test").AddA("mx.remote.test", "127.0.0.1");
        return await Task.FromResult(dns);
    }

    private static async Task SubmitAsync(ServerProcess server, MimeMessage message)
    {
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", server.ListenerPorts.Submission, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync("alice@example.test", Password);
        await client.SendAsync(message);
        await client.DisconnectAsync(true);
    }

    private static MimeMessage Message(params string[] to)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice", "alice@example.test"));
        foreach (var address in to)
            message.To.Add(MailboxAddress.Parse(address));
        message.Subject = "e2e " + Guid.NewGuid().ToString("N");
        message.Body = new TextPart("plain") { Text = "Sent through the submission port.\r\n" };
        return message;
    }

    [Test]
    public async Task Submitted_mail_leaves_DKIM_signed_for_its_From_domain_and_the_signature_verifies_with_dkimpy()
    {
        await using var dns = await DnsAsync();
        await using var receiver = await SmtpReceiver.StartAsync(tempFailures: 0);
        await using var server = Create(dns, receiver.Port);
        // What `mailserver dkim generate example.test --selector s1` writes, before the server starts.
        var key = MailServer.Server.Dkim.DkimKeyFile.Generate(server.DataDirectory, "example.test", "s1",
            MimeKit.Cryptography.DkimSignatureAlgorithm.RsaSha256);
        await server.StartAsync();
        var message = Message("friend@remote.test");

        await SubmitAsync(server, message);

        var received = (await receiver.WaitForAsync(1, Wait)).Single();
        var verified = await DkimPy.VerifyAsync(received.Content, key.DnsRecordText);
        Assert.Multiple(() =>
        {
            Assert.That(received.Text, Does.Contain("DKIM-Signature:").And.Contain("d=example.test").And.Contain("s=s1"));
            Assert.That(received.Text, Does.Not.Contain("Authentication-Results"), "submitted mail is not sender-authenticated");
            Assert.That(verified.AllPass, Is.True, verified.Results);
        });
    }

    [Test]
    public async Task Submission_reaches_a_local_and_a_remote_recipient_and_a_refusal_comes_back_as_a_DSN_over_IMAP()
    {
        await using var dns = await DnsAsync();
        await using var receiver = await SmtpReceiver.StartAsync();
        await using var server = Create(dns, receiver.Port);
        await server.StartAsync();
        var message = Message("bob@example.test", "friend@remote.test", "reject@remote.test");

        await SubmitAsync(server, message);

        var received = (await receiver.WaitForAsync(1, Wait)).Single();
        Assert.That(received.RcptTos, Is.EqualTo(new[] { "friend@remote.test" }));
        Assert.That(received.Text, Does.Contain(message.Subject));

        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
        await imap.AuthenticateAsync("bob@example.test", Password);
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        Assert.That((await imap.Inbox.GetMessageAsync(0)).Subject, Is.EqualTo(message.Subject), "the local copy");
        await imap.DisconnectAsync(true);

        await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
        await imap.AuthenticateAsync("alice@example.test", Password);
        var deadline = DateTime.UtcNow + Wait;
        while ((await imap.Inbox.OpenAsync(FolderAccess.ReadOnly)) is var _ && imap.Inbox.Count == 0 && DateTime.UtcNow < deadline)
        {
            await imap.Inbox.CloseAsync();
            await Task.Delay(200);
        }
        var dsn = await imap.Inbox.GetMessageAsync(0);
        Assert.That(dsn.Subject, Is.EqualTo("Undelivered Mail Returned to Sender"));
        var report = (MultipartReport)dsn.Body!;
        var status = report.OfType<MessageDeliveryStatus>().Single();
        Assert.That(status.StatusGroups[1]["Final-Recipient"], Is.EqualTo("rfc822; reject@remote.test"));
        Assert.That(status.StatusGroups[1]["Status"], Is.EqualTo("5.1.1"));
        await imap.DisconnectAsync(true);

        // §18: one OUTGOING_EMAIL_SUBMITTED for the queued recipients, then SENT / BOUNCED per recipient, one trace.
        var outgoing = server.EventLogLines()
            .Where(l => ((string)l["event"]!["eventName"]!).StartsWith("OUTGOING_", StringComparison.Ordinal)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(outgoing.Select(l => (string)l["event"]!["eventName"]!), Is.EquivalentTo(new[]
                { "OUTGOING_EMAIL_SUBMITTED", "OUTGOING_EMAIL_SENT", "OUTGOING_EMAIL_BOUNCED" }));
            Assert.That(outgoing.Select(l => (string)l["traceId"]!).Distinct().Count(), Is.EqualTo(1));
            // §18.2: the local copy's events and the queued recipients' events are one message, one trace.
            var trace = (string)outgoing[0]["traceId"]!;
            Assert.That(server.EventLogLines().Where(l => (string)l["traceId"]! == trace && (string)l["event"]!["eventName"]! == "MAILBOX_EMAIL_DELIVERED")
                .Select(l => (string)l["event"]!["recipient"]!), Is.EqualTo(new[] { "bob@example.test" }));
            var submitted = outgoing.Single(l => (string)l["event"]!["eventName"]! == "OUTGOING_EMAIL_SUBMITTED")["event"]!;
            Assert.That(submitted["recipients"]!.AsArray().Select(r => (string)r!), Is.EqualTo(new[] { "bob@example.test", "friend@remote.test", "reject@remote.test" }),
                "every envelope recipient, the local one too (§18.3: To, Cc and Bcc)");
            Assert.That((string)submitted["subject"]!, Is.EqualTo(message.Subject));
            Assert.That((string)outgoing.Single(l => (string)l["event"]!["eventName"]! == "OUTGOING_EMAIL_SENT")["event"]!["recipient"]!, Is.EqualTo("friend@remote.test"));
        });
    }

    [Test]
    public async Task An_accepted_message_survives_kill_9_and_is_delivered_after_the_restart_and_the_CLI_lists_the_queue()
    {
        await using var dns = await DnsAsync();
        var remotePort = ServerProcess.FreePort(); // nothing listens yet: every attempt fails temporarily
        await using var server = Create(dns, remotePort);
        await server.StartAsync();
        var message = Message("friend@remote.test");

        await SubmitAsync(server, message); // 250: on disk
        // Kill once the first attempt has failed and been recorded (the worker runs it asynchronously).
        var online = await CliAsync(server, "queue", "list");
        for (var deadline = DateTime.UtcNow + Wait; !online.Out.Contains("last error:", StringComparison.Ordinal) && DateTime.UtcNow < deadline;)
        {
            await Task.Delay(200);
            online = await CliAsync(server, "queue", "list");
        }
        Assert.That(online.Out, Does.Contain("<friend@remote.test>  Pending").And.Contain("from <alice@example.test>"), online.Error);
        await server.KillAsync();

        var offline = await CliAsync(server, "queue", "list");
        Assert.That(offline.Code, Is.Zero, offline.Error);
        Assert.That(offline.Out, Does.Contain("<friend@remote.test>  Pending"));
        Assert.That(offline.Out, Does.Contain("last error:"), "the failed attempts were recorded");

        await using var receiver = await SmtpReceiver.StartAsync(port: remotePort);
        await server.StartAsync();
        var retried = await CliAsync(server, "queue", "retry", "--all");
        Assert.That(retried.Code, Is.Zero, retried.Error);
        var received = (await receiver.WaitForAsync(1, Wait)).Single();
        Assert.That(received.Text, Does.Contain(message.Subject));
        Assert.That(received.RcptTos, Is.EqualTo(new[] { "friend@remote.test" }));
    }

    internal sealed record CliOutcome(int Code, string Out, string Error);

    /// <summary>Runs a CLI verb against <paramref name="server"/>'s config (online through its admin listener while it runs).</summary>
    internal static async Task<CliOutcome> CliAsync(ServerProcess server, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Program.RunAsync([.. args, "--config", server.ConfigPath], output, error, new StringReader(""));
        return new CliOutcome(code, output.ToString(), error.ToString());
    }
}
