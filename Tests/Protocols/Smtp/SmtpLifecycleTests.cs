using NUnit.Framework;
using System.Net;
using System.Text;
using MailServer.Protocols.Smtp;
using MailServer.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace MailServer.Tests.Protocols.Smtp;

/// <summary>Start, graceful stop (RFC 5321 §3.8) and the per-IP connection cap.</summary>
[TestFixture]
public sealed class SmtpLifecycleTests
{
    [Test]
    public async Task Port_zero_binds_an_ephemeral_port_that_is_reported()
    {
        await using var server = await SmtpTestServer.StartAsync();
        Assert.That(server.Mx.Port, Is.GreaterThan(0));
        Assert.That(server.Mx.Address, Is.EqualTo(IPAddress.Loopback));
    }

    [Test]
    public async Task Stop_tells_an_open_session_421_4_3_2()
    {
        var server = await SmtpTestServer.StartAsync();
        await using var client = await server.OpenEhloAsync();
        Assert.That((await client.CommandAsync("MAIL FROM:<sender@example.net>")).Code, Is.EqualTo(250));

        await server.Listener.StopAsync(CancellationToken.None);

        var reply = await client.ReadReplyAsync();
        Assert.That(reply.Code, Is.EqualTo(421));
        Assert.That(reply.Text, Is.EqualTo("4.3.2 Service shutting down"));
        Assert.That(await client.IsClosedByServerAsync(), Is.True);
        Assert.ThrowsAsync(Is.InstanceOf<System.Net.Sockets.SocketException>(), async () => await SmtpLineClient.ConnectAsync(server.Mx));
    }

    [Test]
    public async Task Stop_lets_a_delivery_in_flight_finish_and_answer_before_421()
    {
        var server = await SmtpTestServer.StartAsync();
        server.Delivery.Hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = await server.OpenEhloAsync();
        await client.CommandAsync("MAIL FROM:<sender@example.net>");
        await client.CommandAsync("RCPT TO:<alice@example.test>");
        Assert.That((await client.CommandAsync("DATA")).Code, Is.EqualTo(354));
        await client.SendRawAsync(Encoding.ASCII.GetBytes("Subject: late\r\n\r\nbody\r\n.\r\n"));
        await server.Delivery.Entered.Task.WaitAsync(TimeSpan.FromSeconds(15));

        var stopping = server.Listener.StopAsync(CancellationToken.None);
        Assert.That(stopping.IsCompleted, Is.False, "stop waits for the delivery");
        server.Delivery.Hold.SetResult();
        await stopping.WaitAsync(TimeSpan.FromSeconds(15));

        Assert.That((await client.ReadReplyAsync()).Code, Is.EqualTo(250));
        Assert.That((await client.ReadReplyAsync()).Code, Is.EqualTo(421));
        Assert.That(server.Delivery.Deliveries, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Stop_during_a_DATA_transfer_answers_421_and_delivers_nothing()
    {
        var server = await SmtpTestServer.StartAsync();
        await using var client = await server.OpenEhloAsync();
        await client.CommandAsync("MAIL FROM:<sender@example.net>");
        await client.CommandAsync("RCPT TO:<alice@example.test>");
        Assert.That((await client.CommandAsync("DATA")).Code, Is.EqualTo(354));
        await client.SendRawAsync(Encoding.ASCII.GetBytes("Subject: half\r\n\r\nthe first half"));

        await server.Listener.StopAsync(CancellationToken.None);

        var reply = await client.ReadReplyAsync();
        Assert.That(reply.ToString(), Is.EqualTo("421 4.3.2 Service shutting down"));
        Assert.That(await client.IsClosedByServerAsync(), Is.True);
        Assert.That(server.Delivery.Deliveries, Is.Empty);
    }

    [Test]
    public async Task Connections_over_the_per_IP_cap_get_421_4_7_0()
    {
        await using var server = await SmtpTestServer.StartAsync(new SmtpLimits { MaxConnectionsPerIp = 2 });
        var (first, _) = await SmtpLineClient.OpenAsync(server.Mx);
        var (second, _) = await SmtpLineClient.OpenAsync(server.Mx);
        await using (first)
        await using (second)
        {
            await using var third = await SmtpLineClient.ConnectAsync(server.Mx);
            var refused = await third.ReadReplyAsync();
            Assert.That(refused.Code, Is.EqualTo(421));
            Assert.That(refused.Text, Is.EqualTo("4.7.0 Too many connections from your address"));
        }

        // Closing one frees its slot.
        await Task.Delay(200); // let the server observe the close (not a timing assertion: retried below)
        SmtpLineReply greeting = null!;
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var (again, reply) = await SmtpLineClient.OpenAsync(server.Mx);
            await again.DisposeAsync();
            greeting = reply;
            if (reply.Code == 220)
                break;
            await Task.Delay(100);
        }
        Assert.That(greeting.Code, Is.EqualTo(220));
    }

    [Test]
    public async Task A_port_in_use_fails_StartAsync_and_dispose_is_still_safe()
    {
        await using var first = await SmtpTestServer.StartAsync();
        var options = new SmtpListenerOptions(
            "mx.example.test", [new SmtpEndpointOptions(SmtpListenerKind.Mx, IPAddress.Loopback, first.Mx.Port)],
            TestCertificates.Provider, false, new SmtpLimits());
        var second = new SmtpListener(options, new NoDirectory(), new RecordingDelivery(), NullLogger<SmtpListener>.Instance);

        Assert.ThrowsAsync(Is.InstanceOf<System.Net.Sockets.SocketException>(), () => second.StartAsync(CancellationToken.None));
        Assert.DoesNotThrowAsync(async () => await second.DisposeAsync());
    }

    [Test]
    public void Unusable_options_are_refused_at_construction()
    {
        var options = new SmtpListenerOptions("mx.example.test", [], TestCertificates.Provider, false, new SmtpLimits());
        Assert.Throws<ArgumentException>(() => _ = new SmtpListener(options, new NoDirectory(), new RecordingDelivery(), NullLogger<SmtpListener>.Instance));
    }

    private sealed class NoDirectory : MailServer.Rules.Directory.IDirectorySource
    {
        public MailServer.Rules.Directory.MailDirectory Current => MailServer.Rules.Directory.MailDirectory.Empty;
    }
}
