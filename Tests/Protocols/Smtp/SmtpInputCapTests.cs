using NUnit.Framework;
using System.Net.Sockets;
using System.Text;
using MailServer.Protocols.Smtp;
using MailServer.Tests.Support;

namespace MailServer.Tests.Protocols.Smtp;

/// <summary>
/// SmtpServer 11.1.0 buffers unterminated input without limit (docs/dependencies.md, "SmtpServer"); the listener's guard
/// must end such connections while this process's managed heap stays bounded.
/// </summary>
[TestFixture]
[NonParallelizable] // measures this process's managed heap
public sealed class SmtpInputCapTests
{
    private const long FloodBytes = 200L * 1024 * 1024;
    private const long HeapGrowthBound = 64L * 1024 * 1024;
    private SmtpTestServer _server = null!;

    [TearDown]
    public async Task StopServer() => await _server.DisposeAsync();

    [Test]
    public async Task Endless_command_line_closes_the_connection_with_bounded_memory()
    {
        _server = await SmtpTestServer.StartAsync();
        await using var client = await _server.OpenEhloAsync();

        var (sent, growth) = await FloodAsync(client, Encoding.ASCII.GetBytes("NOOP " + new string('A', 1024 * 1024 - 5)));

        // Closed at the 2048-byte line cap: what was sent is what the socket buffers held (without the guard,
        // SmtpServer would buffer up to its 40 MiB message limit before giving up).
        Assert.That(sent, Is.LessThan(16L * 1024 * 1024), "the server must close the connection early");
        Assert.That(growth, Is.LessThan(HeapGrowthBound));
        Assert.That(await client.IsClosedByServerAsync(), Is.True);
    }

    [Test]
    public async Task Idle_session_is_closed_with_421_4_4_2()
    {
        _server = await SmtpTestServer.StartAsync(new SmtpLimits { SessionTimeout = TimeSpan.FromMilliseconds(500) });
        await using var client = await _server.OpenEhloAsync();

        var reply = await client.ReadReplyAsync(); // sent nothing: the server speaks first when idle too long

        Assert.That(reply.Code, Is.EqualTo(421));
        Assert.That(reply.Text, Does.StartWith("4.4.2"));
        Assert.That(await client.IsClosedByServerAsync(), Is.True);
    }

    [Test]
    public async Task Command_line_just_over_the_cap_gets_500_and_close()
    {
        _server = await SmtpTestServer.StartAsync();
        await using var client = await _server.OpenEhloAsync();

        await client.SendRawAsync(Encoding.ASCII.GetBytes("NOOP " + new string('A', 2100) + "\r\n"));

        var reply = await client.ReadReplyAsync();
        Assert.That(reply.Code, Is.EqualTo(500));
        Assert.That(reply.Text, Is.EqualTo("5.5.2 Line too long"));
        Assert.That(await client.IsClosedByServerAsync(), Is.True);
    }

    [Test]
    public async Task Endless_DATA_closes_the_connection_with_bounded_memory_and_delivers_nothing()
    {
        _server = await SmtpTestServer.StartAsync(new SmtpLimits { MaxMessageBytes = 1024 * 1024 });
        await using var client = await _server.OpenEhloAsync();
        Assert.That((await client.CommandAsync("MAIL FROM:<sender@example.net>")).Code, Is.EqualTo(250));
        Assert.That((await client.CommandAsync("RCPT TO:<alice@example.test>")).Code, Is.EqualTo(250));
        Assert.That((await client.CommandAsync("DATA")).Code, Is.EqualTo(354));
        var line = Encoding.ASCII.GetBytes(new string('x', 998) + "\r\n");
        var chunk = Enumerable.Repeat(line, 1024).SelectMany(b => b).ToArray();

        var (sent, growth) = await FloodAsync(client, chunk);

        Assert.That(sent, Is.LessThan(FloodBytes), "the server must close the connection");
        Assert.That(growth, Is.LessThan(HeapGrowthBound));
        Assert.That(await client.IsClosedByServerAsync(), Is.True);
        Assert.That(_server.Delivery.Deliveries, Is.Empty);
    }

    /// <summary>
    /// Writes <paramref name="chunk"/> repeatedly until the server closes or 200 MB are sent; returns bytes
    /// sent and the largest managed-heap growth seen (after a forced collection) while doing so.
    /// </summary>
    private static async Task<(long Sent, long Growth)> FloodAsync(SmtpLineClient client, byte[] chunk)
    {
        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        long sent = 0, growth = 0, nextSample = 0;
        try
        {
            while (sent < FloodBytes)
            {
                await client.SendRawAsync(chunk);
                sent += chunk.Length;
                if (sent >= nextSample)
                {
                    growth = Math.Max(growth, GC.GetTotalMemory(forceFullCollection: true) - baseline);
                    nextSample += 8 * 1024 * 1024;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            // Closed by the server: what we want.
        }
        growth = Math.Max(growth, GC.GetTotalMemory(forceFullCollection: true) - baseline);
        return (sent, growth);
    }
}
