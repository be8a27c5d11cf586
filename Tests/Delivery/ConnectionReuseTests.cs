using System.Net;
using System.Net.Sockets;
using System.Text;
using MailServer.Server.Configuration;
using MailServer.Server.Delivery;
using MailServer.Server.Dns;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Delivery;

/// <summary>
/// Outbound connections are reused per destination (RFC 5321 §3.3: several transactions per session): the remote
/// side here is a raw SMTP receiver on loopback that counts connections and transactions, and can hang up on an
/// idle connection the way a server does on its timeout.
/// </summary>
[TestFixture]
public sealed class ConnectionReuseTests
{
    [Test]
    public async Task Messages_to_one_destination_share_one_connection_and_a_closed_one_is_replaced()
    {
        using var receiver = new CountingReceiver();
        var delivery = new RemoteDelivery(new DnsResolver(new DnsConfig([IPAddress.Loopback], 1, 1)),
            () => DeliveryConfig.Default with { RemotePort = receiver.Port }, "mx.example.test");
        using var _ = delivery;
        var destination = new Destination.Domain("[127.0.0.1]");

        for (var i = 0; i < 3; i++)
        {
            var outcomes = await delivery.DeliverAsync(destination, Message(i), "alice@example.test",
                [new RemoteRecipient($"r{i}@[127.0.0.1]", null, null)], null, CancellationToken.None);
            Assert.That(outcomes.Single(), Is.TypeOf<RemoteOutcome.Delivered>());
        }
        Assert.That((receiver.Connections, receiver.Messages), Is.EqualTo((1, 3)), "three messages over one connection");
        Assert.That(receiver.Transcript, Does.Contain("MAIL FROM:<alice@example.test>").And.Not.Contain("QUIT"));

        // The receiver hangs up on the idle connection (as on its own timeout): the next message is not lost or
        // deferred, it goes over a new connection.
        receiver.HangUpAll();
        await Task.Delay(200);
        var after = await delivery.DeliverAsync(destination, Message(3), "alice@example.test",
            [new RemoteRecipient("r3@[127.0.0.1]", null, null)], null, CancellationToken.None);
        Assert.That(after.Single(), Is.TypeOf<RemoteOutcome.Delivered>());
        Assert.That((receiver.Connections, receiver.Messages), Is.EqualTo((2, 4)));

        // Closing the idle connections says QUIT (RFC 5321 §4.1.1.10).
        delivery.Dispose();
        await receiver.WaitForAsync(() => receiver.Transcript.Contains("QUIT"), TimeSpan.FromSeconds(10));
    }

    [Test]
    public async Task A_refused_recipient_on_a_reused_connection_is_reported_for_that_message_only()
    {
        using var receiver = new CountingReceiver();
        using var delivery = new RemoteDelivery(new DnsResolver(new DnsConfig([IPAddress.Loopback], 1, 1)),
            () => DeliveryConfig.Default with { RemotePort = receiver.Port }, "mx.example.test");
        var destination = new Destination.Domain("[127.0.0.1]");

        var first = await delivery.DeliverAsync(destination, Message(0), "alice@example.test",
            [new RemoteRecipient("reject@[127.0.0.1]", null, null), new RemoteRecipient("ok@[127.0.0.1]", null, null)], null, CancellationToken.None);
        var second = await delivery.DeliverAsync(destination, Message(1), "alice@example.test",
            [new RemoteRecipient("ok2@[127.0.0.1]", null, null)], null, CancellationToken.None);

        Assert.That(first[0], Is.TypeOf<RemoteOutcome.PermanentFailure>());
        Assert.That(first[1], Is.TypeOf<RemoteOutcome.Delivered>());
        Assert.That(second.Single(), Is.TypeOf<RemoteOutcome.Delivered>(), "the refusal of the first message does not stick to the connection");
        Assert.That(receiver.Connections, Is.EqualTo(1));
    }

    private static MimeMessage Message(int index)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.test"));
        message.To.Add(MailboxAddress.Parse("someone@[127.0.0.1]"));
        message.Subject = "reuse " + index;
        message.Body = new TextPart("plain") { Text = "Hello.\r\n" };
        return message;
    }

    /// <summary>An SMTP receiver (PIPELINING offered) that refuses RCPT to reject*@ with 550.</summary>
    private sealed class CountingReceiver : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly List<TcpClient> _open = [];
        private readonly StringBuilder _transcript = new();
        private int _connections;
        private int _messages;

        public CountingReceiver()
        {
            _listener.Start();
            _ = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
        public int Connections => Volatile.Read(ref _connections);
        public int Messages => Volatile.Read(ref _messages);
        public string Transcript { get { lock (_transcript) return _transcript.ToString(); } }

        public void HangUpAll()
        {
            lock (_open)
            {
                foreach (var client in _open)
                    client.Dispose();
                _open.Clear();
            }
        }

        public async Task WaitForAsync(Func<bool> condition, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (!condition())
            {
                if (DateTime.UtcNow > deadline)
                    Assert.Fail("timed out; transcript:\n" + Transcript);
                await Task.Delay(20);
            }
        }

        private async Task AcceptAsync()
        {
            while (true)
            {
                TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(); }
                catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
                Interlocked.Increment(ref _connections);
                lock (_open) _open.Add(client);
                _ = ServeAsync(client);
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            try
            {
                var stream = client.GetStream();
                using var reader = new StreamReader(stream, Encoding.Latin1);
                var writer = new StreamWriter(stream, Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true };
                await writer.WriteLineAsync("220 receiver ESMTP");
                var inData = false;
                while (await reader.ReadLineAsync() is { } line)
                {
                    lock (_transcript) _transcript.Append(line).Append('\n');
                    if (inData)
                    {
                        if (line == ".")
                        {
                            inData = false;
                            Interlocked.Increment(ref _messages);
                            await writer.WriteLineAsync("250 2.0.0 ok");
                        }
                        continue;
                    }
                    var verb = line.Length >= 4 ? line[..4].ToUpperInvariant() : line.ToUpperInvariant();
                    switch (verb)
                    {
                        case "EHLO": await writer.WriteAsync("250-receiver\r\n250-PIPELINING\r\n250 8BITMIME\r\n"); break;
                        case "RCPT" when line.Contains("<reject", StringComparison.OrdinalIgnoreCase): await writer.WriteLineAsync("550 5.1.1 no such user"); break;
                        case "DATA": inData = true; await writer.WriteLineAsync("354 go ahead"); break;
                        case "QUIT": await writer.WriteLineAsync("221 bye"); return;
                        default: await writer.WriteLineAsync("250 ok"); break;
                    }
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException)
            {
                // Hung up.
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            HangUpAll();
        }
    }
}
