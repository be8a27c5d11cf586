using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Protocols.Smtp;
using MailServer.Storage;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Delivery;

/// <summary>
/// Issue 4 with real peers: MailKit submits, the server delivers locally and through the outbound queue to a
/// third-party receiver (aiosmtpd) found by MX lookup on a loopback DNS server; failures come back as DSNs.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class SendingTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Test]
    public async Task A_message_to_a_local_and_a_remote_recipient_reaches_both()
    {
        await using var harness = await SendingHarness.StartAsync();
        using var client = await harness.SubmitClientAsync("alice@example.test");

        var message = SendingHarness.Message("alice@example.test", "bob@example.test", "carol@remote.test");
        await client.SendAsync(message);
        await client.DisconnectAsync(true);

        var received = (await harness.Receiver.WaitForAsync(1, Wait)).Single();
        Assert.That(received.MailFrom, Is.EqualTo("alice@example.test"));
        Assert.That(received.RcptTos, Is.EqualTo(new[] { "carol@remote.test" }), "the local recipient is not sent out");
        Assert.That(received.Text, Does.Contain(message.Subject));
        var inbox = await harness.WaitForInboxAsync("bob@example.test", 1, Wait);
        Assert.That(inbox.Single().Subject, Is.EqualTo(message.Subject));
        Assert.That(inbox.Single().Headers[HeaderId.Received], Does.Contain("ESMTPSA"), "RFC 3848: authenticated and TLS");
        await harness.WaitForEmptyQueueAsync(Wait);
    }

    [Test]
    public async Task A_temporary_failure_is_retried_until_the_receiver_accepts()
    {
        await using var harness = await SendingHarness.StartAsync(tempFailures: 2);
        using var client = await harness.SubmitClientAsync("alice@example.test");

        await client.SendAsync(SendingHarness.Message("alice@example.test", "tempfail@remote.test"));

        var received = (await harness.Receiver.WaitForAsync(1, Wait)).Single();
        Assert.That(received.RcptTos, Is.EqualTo(new[] { "tempfail@remote.test" }));
        await harness.WaitForEmptyQueueAsync(Wait);
        Assert.That(await harness.InboxAsync("alice@example.test"), Is.Empty, "no DSN for a delivered message");
    }

    [Test]
    public async Task A_permanent_failure_puts_a_delivery_status_notification_in_the_senders_inbox()
    {
        await using var harness = await SendingHarness.StartAsync();
        using var client = await harness.SubmitClientAsync("alice@example.test");
        var message = SendingHarness.Message("alice@example.test", "reject@remote.test", "ok@remote.test");

        await client.SendAsync(message);

        var received = (await harness.Receiver.WaitForAsync(1, Wait)).Single();
        Assert.That(received.RcptTos, Is.EqualTo(new[] { "ok@remote.test" }), "one connection, the refused recipient does not stop the other");
        var dsn = (await harness.WaitForInboxAsync("alice@example.test", 1, Wait)).Single();
        Assert.That(dsn.Body, Is.InstanceOf<MultipartReport>());
        Assert.That(((MultipartReport)dsn.Body).ReportType, Is.EqualTo("delivery-status"));
        var status = ((MultipartReport)dsn.Body!).OfType<MessageDeliveryStatus>().Single();
        var recipient = status.StatusGroups[1];
        Assert.That(recipient["Final-Recipient"], Is.EqualTo("rfc822; reject@remote.test"));
        Assert.That(recipient["Action"], Is.EqualTo("failed"));
        Assert.That(recipient["Status"], Is.EqualTo("5.1.1"));
        Assert.That(recipient["Diagnostic-Code"], Does.Contain("User unknown"));
        Assert.That(((MultipartReport)dsn.Body!).OfType<TextRfc822Headers>().Single().Message!.Subject, Is.EqualTo(message.Subject),
            "RFC 3464: the original headers come back");
        await harness.WaitForEmptyQueueAsync(Wait);
    }

    /// <summary>The system clock moved forward by <see cref="Offset"/>: the queue's view of time in the delay test.</summary>
    private sealed class ShiftedClock : TimeProvider
    {
        public TimeSpan Offset { get; set; }
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Offset;
    }

    [Test]
    public async Task A_recipient_still_deferred_after_the_warning_time_gets_one_delay_DSN_then_a_failure_DSN_at_expiry()
    {
        var clock = new ShiftedClock();
        await using var harness = await SendingHarness.StartAsync(tempFailures: int.MaxValue, queueTime: clock,
            queueLifetimeHours: 5, delayWarningHours: 1);
        using var client = await harness.SubmitClientAsync("alice@example.test");
        var message = SendingHarness.Message("alice@example.test", "tempfail-slow@remote.test");
        await client.SendAsync(message);
        await Task.Delay(1500); // a first attempt, deferred (4xx)
        Assert.That(await harness.InboxAsync("alice@example.test"), Is.Empty, "no DSN before the warning time");

        clock.Offset = TimeSpan.FromHours(2);
        harness.Queue.Wake();
        var delay = (await harness.WaitForInboxAsync("alice@example.test", 1, Wait)).Single();
        clock.Offset = TimeSpan.FromHours(6);
        harness.Queue.Wake();
        var both = await harness.WaitForInboxAsync("alice@example.test", 2, Wait);

        static string Action(MimeMessage dsn) => ((MultipartReport)dsn.Body!).OfType<MessageDeliveryStatus>().Single().StatusGroups[1]["Action"] ?? "";
        Assert.Multiple(() =>
        {
            Assert.That(Action(delay), Is.EqualTo("delayed"), "RFC 3464 §2.3.3");
            Assert.That(both.Select(Action), Is.EqualTo(new[] { "delayed", "failed" }), "one delay warning, then the failure at expiry");
            Assert.That(harness.Receiver.Messages(), Is.Empty);
        });
        await harness.WaitForEmptyQueueAsync(Wait);
    }

    [Test]
    public async Task NOTIFY_NEVER_suppresses_the_DSN_and_ORCPT_and_NOTIFY_reach_the_transaction()
    {
        await using var harness = await SendingHarness.StartAsync();
        using var client = new NotifyingClient(DeliveryStatusNotification.Never) { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", harness.PortOf(SmtpListenerKind.Submission), SecureSocketOptions.StartTls);
        Assert.That(client.Capabilities.HasFlag(SmtpCapabilities.Dsn), Is.True);
        await client.AuthenticateAsync("alice@example.test", SendingHarness.Password);

        await client.SendAsync(SendingHarness.Message("alice@example.test", "reject@remote.test", "ok@remote.test"));

        var received = (await harness.Receiver.WaitForAsync(1, Wait)).Single();
        await harness.WaitForEmptyQueueAsync(Wait);
        Assert.That(await harness.InboxAsync("alice@example.test"), Is.Empty, "NOTIFY=NEVER: no DSN (RFC 3461 §4.1)");
        Assert.That(received.RcptTos, Is.EqualTo(new[] { "ok@remote.test" }));
    }

    [Test]
    public async Task A_user_cannot_send_as_someone_else()
    {
        await using var harness = await SendingHarness.StartAsync();
        using var client = await harness.SubmitClientAsync("erin@example.test");

        var envelope = Assert.ThrowsAsync<SmtpCommandException>(async () =>
            await client.SendAsync(SendingHarness.Message("alice@example.test", "carol@remote.test")));
        Assert.That((int)envelope!.StatusCode, Is.EqualTo(550));
        Assert.That(envelope.Message, Does.StartWith("5.7.60").And.Contain("alice@example.test"));

        // Her own envelope, someone else's From: refused at the end of DATA.
        await client.NoOpAsync();
        var header = Assert.ThrowsAsync<SmtpCommandException>(async () =>
            await client.SendAsync(SendingHarness.Message("alice@example.test", "carol@remote.test"),
                MailboxAddress.Parse("erin@example.test"), [MailboxAddress.Parse("carol@remote.test")]));
        Assert.That((int)header!.StatusCode, Is.EqualTo(550));
        Assert.That(header.Message, Does.StartWith("5.7.60").And.Contain("alice@example.test"));
        await Task.Delay(300);
        Assert.That(harness.Store.Store.ListQueue(), Is.Empty);
        Assert.That(harness.Receiver.Messages(), Is.Empty);
    }

    [Test]
    public async Task A_smuggled_second_From_address_is_refused()
    {
        await using var harness = await SendingHarness.StartAsync();
        using var client = await harness.SubmitClientAsync("erin@example.test");
        var message = SendingHarness.Message("erin@example.test", "carol@remote.test");
        message.Headers.Replace(HeaderId.From, "erin@example.test,\r\n alice@example.test");

        var refused = Assert.ThrowsAsync<SmtpCommandException>(async () => await client.SendAsync(message));

        Assert.That((int)refused!.StatusCode, Is.EqualTo(550));
        Assert.That(refused.Message, Does.Contain("From header must hold exactly one"));
    }

    [Test]
    public async Task Send_on_behalf_sets_the_Sender_header_to_the_real_sender()
    {
        await using var harness = await SendingHarness.StartAsync();
        using var client = await harness.SubmitClientAsync("dave@example.test"); // SendOnBehalf through the assistants group

        await client.SendAsync(SendingHarness.Message("alice@example.test", "carol@remote.test"),
            MailboxAddress.Parse("dave@example.test"), [MailboxAddress.Parse("carol@remote.test")]);

        var received = (await harness.Receiver.WaitForAsync(1, Wait)).Single();
        using var stream = new MemoryStream(received.Content);
        var delivered = await MimeMessage.LoadAsync(stream);
        Assert.That(delivered.From.Mailboxes.Single().Address, Is.EqualTo("alice@example.test"));
        Assert.That(delivered.Sender?.Address, Is.EqualTo("dave@example.test"));
    }

    [Test]
    public async Task Send_as_removes_any_Sender_header()
    {
        await using var harness = await SendingHarness.StartAsync();
        using var client = await harness.SubmitClientAsync("bob@example.test"); // SendAs on alice
        var message = SendingHarness.Message("alice@example.test", "carol@remote.test");
        message.Sender = MailboxAddress.Parse("bob@example.test");

        await client.SendAsync(message, MailboxAddress.Parse("alice@example.test"), [MailboxAddress.Parse("carol@remote.test")]);

        var received = (await harness.Receiver.WaitForAsync(1, Wait)).Single();
        using var stream = new MemoryStream(received.Content);
        var delivered = await MimeMessage.LoadAsync(stream);
        Assert.That(delivered.From.Mailboxes.Single().Address, Is.EqualTo("alice@example.test"));
        Assert.That(delivered.Sender, Is.Null, "Send As hides the real sender (§5)");
        Assert.That(received.MailFrom, Is.EqualTo("alice@example.test"));
    }

    [Test]
    public async Task A_submission_without_Date_and_Message_ID_gets_them_below_the_trace_fields_and_one_with_them_keeps_its_own()
    {
        await using var harness = await SendingHarness.StartAsync();
        using var client = await harness.SubmitClientAsync("alice@example.test");
        var bare = SendingHarness.Message("alice@example.test", "carol@remote.test");
        bare.Headers.Remove(HeaderId.Date);
        bare.Headers.Remove(HeaderId.MessageId);
        var complete = SendingHarness.Message("alice@example.test", "carol@remote.test");
        complete.MessageId = "mine@client.example.net";

        await client.SendAsync(bare);
        await client.SendAsync(complete);

        var received = (await harness.Receiver.WaitForAsync(2, Wait)).ToList();
        var delivered = received.Select(r => MimeMessage.Load(new MemoryStream(r.Content))).ToList();
        var added = delivered.Single(m => m.MessageId != "mine@client.example.net");
        var kept = delivered.Single(m => m.MessageId == "mine@client.example.net");
        Assert.Multiple(() =>
        {
            // RFC 6409 §8.2, §8.3: added by the submission server, once.
            Assert.That(added.Headers.Count(h => h.Id == HeaderId.Date), Is.EqualTo(1));
            Assert.That(added.Date, Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(5)));
            Assert.That(added.MessageId, Does.EndWith("@mx.example.test"));
            Assert.That(kept.Headers.Count(h => h.Id == HeaderId.MessageId), Is.EqualTo(1));
            // RFC 5321 §4.4: our Received field stays the first field (the DKIM signature goes above it).
            var fields = added.Headers.Where(h => h.Id != HeaderId.DkimSignature).Select(h => h.Id).ToList();
            Assert.That(fields[0], Is.EqualTo(HeaderId.Received));
        });
    }

    [Test]
    public async Task Relay_without_authentication_is_refused_on_every_port()
    {
        await using var harness = await SendingHarness.StartAsync();
        foreach (var (kind, security, code, text) in new[]
                 {
                     (SmtpListenerKind.Mx, SecureSocketOptions.None, 550, "5.7.1 Relaying denied"),
                     (SmtpListenerKind.Submission, SecureSocketOptions.StartTls, 530, "5.7.0 Authentication required"),
                     (SmtpListenerKind.Submissions, SecureSocketOptions.SslOnConnect, 530, "5.7.0 Authentication required"),
                 })
        {
            using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
            await client.ConnectAsync("127.0.0.1", harness.PortOf(kind), security);
            Assert.That(client.Capabilities.HasFlag(SmtpCapabilities.Authentication), Is.EqualTo(kind != SmtpListenerKind.Mx), $"{kind}: AUTH offered");

            // MailKit reports 530 as ServiceNotAuthenticatedException, other refusals as SmtpCommandException.
            var refused = Assert.CatchAsync(async () => await client.SendAsync(SendingHarness.Message("alice@example.test", "carol@remote.test")));

            Assert.That(refused, code == 530 ? Is.InstanceOf<ServiceNotAuthenticatedException>() : Is.InstanceOf<SmtpCommandException>(), kind.ToString());
            if (refused is SmtpCommandException command)
                Assert.That((int)command.StatusCode, Is.EqualTo(code), kind.ToString());
            Assert.That(refused!.Message, Does.StartWith(text), kind.ToString());
        }
        Assert.That(harness.Store.Store.ListQueue(), Is.Empty);
    }

    [Test]
    public async Task AUTH_is_offered_on_submission_only_after_STARTTLS_and_checks_the_password()
    {
        await using var harness = await SendingHarness.StartAsync();
        using var plain = new SmtpClient();
        await plain.ConnectAsync("127.0.0.1", harness.PortOf(SmtpListenerKind.Submission), SecureSocketOptions.None);
        Assert.That(plain.Capabilities.HasFlag(SmtpCapabilities.Authentication), Is.False, "RFC 4954 §4: no AUTH in the clear");
        Assert.That(plain.Capabilities.HasFlag(SmtpCapabilities.StartTLS), Is.True);
        await plain.DisconnectAsync(true);

        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", harness.PortOf(SmtpListenerKind.Submission), SecureSocketOptions.StartTls);
        Assert.That(client.AuthenticationMechanisms, Is.SupersetOf(new[] { "PLAIN", "LOGIN" }));
        var wrong = Assert.ThrowsAsync<AuthenticationException>(async () => await client.AuthenticateAsync("alice@example.test", "wrong"));
        Assert.That(wrong!.Message, Does.Contain("5.7.8"));
        client.AuthenticationMechanisms.Remove("PLAIN");
        await client.AuthenticateAsync("a.liddell@example.test", SendingHarness.Password); // an alias, with LOGIN
        Assert.That(client.IsAuthenticated, Is.True);
    }

    [Test]
    public async Task The_default_SMTP_gateway_carries_remote_mail_and_its_refusal_bounces_at_once()
    {
        await using var harness = await SendingHarness.StartAsync(defaultGateway: "relay");
        using var client = await harness.SubmitClientAsync("alice@example.test");

        // nowhere.test has no DNS at all: only the gateway can deliver it.
        await client.SendAsync(SendingHarness.Message("alice@example.test", "someone@nowhere.test", "reject@nowhere.test"));

        var received = (await harness.Receiver.WaitForAsync(1, Wait)).Single();
        Assert.That(received.RcptTos, Is.EqualTo(new[] { "someone@nowhere.test" }));
        var dsn = (await harness.WaitForInboxAsync("alice@example.test", 1, Wait)).Single();
        var status = ((MultipartReport)dsn.Body!).OfType<MessageDeliveryStatus>().Single();
        Assert.That(status.StatusGroups[1]["Final-Recipient"], Is.EqualTo("rfc822; reject@nowhere.test"));
        Assert.That(harness.Dns.Queries, Has.None.Contains("nowhere.test"), "the gateway route needs no MX lookup");
    }

    [Test]
    public async Task The_daily_external_recipient_limit_refuses_with_a_clear_reply()
    {
        await using var harness = await SendingHarness.StartAsync(externalPerDay: 2);
        using var client = await harness.SubmitClientAsync("alice@example.test");

        var full = Assert.ThrowsAsync<SmtpCommandException>(async () =>
            await client.SendAsync(SendingHarness.Message("alice@example.test", "one@remote.test", "two@remote.test", "three@remote.test")));
        Assert.That((int)full!.StatusCode, Is.EqualTo(452));
        Assert.That(full.Message, Does.StartWith("4.5.3 Daily limit of 2 external recipients"));

        await client.SendAsync(SendingHarness.Message("alice@example.test", "one@remote.test", "two@remote.test", "bob@example.test"));
        var reached = Assert.ThrowsAsync<SmtpCommandException>(async () =>
            await client.SendAsync(SendingHarness.Message("alice@example.test", "three@remote.test")));
        Assert.That((int)reached!.StatusCode, Is.EqualTo(550));
        Assert.That(reached.Message, Does.StartWith("5.5.3 Daily limit of 2 external recipients per user reached"));
        await client.SendAsync(SendingHarness.Message("alice@example.test", "bob@example.test")); // internal mail is unlimited
    }

    [Test]
    public async Task A_body_line_that_looks_like_the_end_of_data_is_relayed_inside_the_one_message()
    {
        // docs/dependencies.md, "MailKit": relayed through SmtpClient.Send of a MimeMessage, which
        // dot-stuffs; a line "." followed by SMTP commands must not end the message or start a second one.
        await using var harness = await SendingHarness.StartAsync();
        using var client = await harness.SubmitClientAsync("alice@example.test");
        var message = SendingHarness.Message("alice@example.test", "carol@remote.test");
        message.Body = new TextPart("plain") { Text = "first\r\n.\r\nMAIL FROM:<evil@remote.test>\r\nRCPT TO:<victim@remote.test>\r\n..dots\r\nlast\r\n" };

        await client.SendAsync(message);

        var received = await harness.Receiver.WaitForAsync(1, Wait);
        await harness.WaitForEmptyQueueAsync(Wait);
        Assert.That(received, Has.Count.EqualTo(1));
        Assert.That(received[0].RcptTos, Is.EqualTo(new[] { "carol@remote.test" }));
        Assert.That(received[0].Text, Does.Contain("\r\n.\r\nMAIL FROM:<evil@remote.test>\r\n").And.Contain("\r\n..dots\r\nlast"));
    }

    [Test]
    public async Task An_address_literal_is_delivered_to_that_address_without_DNS()
    {
        await using var harness = await SendingHarness.StartAsync();
        using var client = await harness.SubmitClientAsync("alice@example.test");

        await client.SendAsync(SendingHarness.Message("alice@example.test", "someone@[127.0.0.1]"));

        var received = (await harness.Receiver.WaitForAsync(1, Wait)).Single();
        Assert.That(received.RcptTos, Is.EqualTo(new[] { "someone@[127.0.0.1]" }));
        Assert.That(harness.Dns.Queries, Is.Empty, "RFC 5321 §4.1.3: a literal is used as it is");
    }

    [Test]
    public void The_SMTP_authenticator_is_not_disposable()
    {
        // docs/dependencies.md, "SmtpServer": it disposes IDisposable filters and authenticators after each use;
        // ours is one instance for every session.
        Assert.That(typeof(SmtpListener).Assembly.GetType("MailServer.Protocols.Smtp.UserAuthenticator")!.IsAssignableTo(typeof(IDisposable)), Is.False);
    }

    /// <summary>A MailKit client that asks for the given NOTIFY and an ORCPT on every recipient (RFC 3461).</summary>
    private sealed class NotifyingClient(DeliveryStatusNotification notify) : SmtpClient
    {
        protected override DeliveryStatusNotification? GetDeliveryStatusNotifications(MimeMessage message, MailboxAddress mailbox) => notify;
    }
}
