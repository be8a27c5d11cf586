using MailKit.Net.Smtp;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Delivery;

/// <summary>
/// Issue 5 with real peers: outbound email flow rules on the sending path. MailKit submits as an authenticated
/// user; the server applies the organization's outbound rules to every recipient, then delivers locally, by MX to
/// an aiosmtpd receiver (remote.test on a loopback DNS server) or through a named gateway (a second receiver).
/// </summary>
[TestFixture, NonParallelizable]
public sealed class OutboundFlowRulesTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private const string Rules = """
        {
          "Inbound": [],
          "Outbound": [
            { "Name": "no-partner", "Action": "Drop", "SenderPatterns": [ "example.test" ], "RecipientPatterns": [ "partner.test" ] },
            { "Name": "embargo", "Action": "Bounce", "SenderPatterns": [ "example.test" ], "RecipientPatterns": [ "embargo.test", "bob@example.test" ] },
            { "Name": "via-relay", "Action": "RouteToSmtpGateway", "SmtpGateway": "relay", "SenderPatterns": [ "*" ], "RecipientPatterns": [ "routed.test" ] }
          ]
        }
        """;

    [Test]
    public async Task A_Drop_rule_for_partner_test_drops_only_that_recipient()
    {
        await using var harness = await SendingHarness.StartAsync(flowRules: Rules);
        using var client = await harness.SubmitClientAsync("alice@example.test");
        var message = SendingHarness.Message("alice@example.test", "pat@partner.test", "carol@remote.test");

        var reply = await client.SendAsync(message);

        Assert.That(reply, Does.StartWith("2.0.0"), "a dropped recipient is accepted: the sender is not told");
        var received = (await harness.Receiver.WaitForAsync(1, Wait)).Single();
        Assert.That(received.RcptTos, Is.EqualTo(new[] { "carol@remote.test" }), "the partner.test recipient is not sent");
        Assert.That(received.Text, Does.Contain(message.Subject));
        await harness.WaitForEmptyQueueAsync(Wait);
        Assert.That(await harness.InboxAsync("alice@example.test"), Is.Empty, "Drop sends no DSN");
        Assert.That(harness.Receiver.Messages(), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task A_Bounce_rule_refuses_in_the_session_when_every_recipient_is_refused_local_ones_included()
    {
        await using var harness = await SendingHarness.StartAsync(flowRules: Rules);
        using var client = await harness.SubmitClientAsync("alice@example.test");

        var refused = Assert.ThrowsAsync<SmtpCommandException>(async () =>
            await client.SendAsync(SendingHarness.Message("alice@example.test", "ed@embargo.test", "bob@example.test")));

        Assert.That((int)refused!.StatusCode, Is.EqualTo(550));
        Assert.That(refused.Message, Does.StartWith("5.7.1").And.Contain("administrator").And.Contain("embargo"));
        Assert.That(harness.Store.Store.ListQueue(), Is.Empty, "nothing queued");
        Assert.That(await harness.InboxAsync("bob@example.test"), Is.Empty, "outbound rules apply to local recipients too");
        Assert.That(await harness.InboxAsync("alice@example.test"), Is.Empty, "refused in the session: no DSN");
        await client.NoOpAsync();
    }

    [Test]
    public async Task A_partial_Bounce_sends_the_submitter_a_DSN_for_the_blocked_recipient_and_delivers_the_rest()
    {
        await using var harness = await SendingHarness.StartAsync(flowRules: Rules);
        using var client = await harness.SubmitClientAsync("alice@example.test");
        var message = SendingHarness.Message("alice@example.test", "ed@embargo.test", "carol@remote.test");

        await client.SendAsync(message);

        var received = (await harness.Receiver.WaitForAsync(1, Wait)).Single();
        Assert.That(received.RcptTos, Is.EqualTo(new[] { "carol@remote.test" }));
        var dsn = (await harness.WaitForInboxAsync("alice@example.test", 1, Wait)).Single();
        var status = ((MultipartReport)dsn.Body!).OfType<MessageDeliveryStatus>().Single();
        var recipient = status.StatusGroups[1];
        Assert.That(recipient["Final-Recipient"], Is.EqualTo("rfc822; ed@embargo.test"));
        Assert.That(recipient["Action"], Is.EqualTo("failed"));
        Assert.That(recipient["Status"], Is.EqualTo("5.7.1"));
        Assert.That(recipient["Diagnostic-Code"], Does.Contain("administrator"));
        await harness.WaitForEmptyQueueAsync(Wait);
    }

    [Test]
    public async Task A_RouteToSmtpGateway_rule_sends_that_recipient_through_the_gateway_and_the_others_by_MX()
    {
        await using var gateway = await Support.SmtpReceiver.StartAsync();
        await using var harness = await SendingHarness.StartAsync(gatewayPort: gateway.Port, flowRules: Rules);
        using var client = await harness.SubmitClientAsync("alice@example.test");
        var message = SendingHarness.Message("alice@example.test", "rita@routed.test", "carol@remote.test");

        await client.SendAsync(message);

        var relayed = (await gateway.WaitForAsync(1, Wait)).Single();
        Assert.That(relayed.RcptTos, Is.EqualTo(new[] { "rita@routed.test" }), "routed.test has no MX: only the gateway can reach it");
        Assert.That(relayed.Text, Does.Contain(message.Subject));
        var direct = (await harness.Receiver.WaitForAsync(1, Wait)).Single();
        Assert.That(direct.RcptTos, Is.EqualTo(new[] { "carol@remote.test" }));
        await harness.WaitForEmptyQueueAsync(Wait);
        Assert.That(gateway.Messages(), Has.Count.EqualTo(1));
    }
}
