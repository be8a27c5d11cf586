using System.Net;
using System.Net.Sockets;
using System.Text;
using MailServer.Tests.Support;
using NUnit.Framework;
using SmtpServer;
using SmtpServer.ComponentModel;

namespace MailServer.Tests.Protocols.Smtp;

/// <summary>
/// What the SmtpServer package does on its own, with none of our code in front of it: each test pins one behaviour
/// that a file in <c>Protocols/Smtp/PackageWorkarounds/</c> makes up for. When an upgrade changes the behaviour the
/// test fails, and the workaround must be looked at again (it may be obsolete, or now wrong).
/// </summary>
[TestFixture, NonParallelizable]
public sealed class SmtpServerPackageTests
{
    private CancellationTokenSource _stop = null!;
    private Task _server = null!;
    private IPEndPoint _endPoint = null!;

    [OneTimeSetUp]
    public async Task StartBarePackage()
    {
        var port = ServerProcess.FreePort();
        _endPoint = new IPEndPoint(IPAddress.Loopback, port);
        var options = new SmtpServerOptionsBuilder()
            .ServerName("bare.test")
            .Endpoint(b => b.Endpoint(_endPoint))
            .MaxMessageSize(1_000_000)
            .Build();
        _stop = new CancellationTokenSource();
        _server = new SmtpServer.SmtpServer(options, ServiceProvider.Default).StartAsync(_stop.Token);
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(_endPoint);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
    }

    [OneTimeTearDown]
    public async Task StopBarePackage()
    {
        await _stop.CancelAsync();
        try { await _server.WaitAsync(TimeSpan.FromSeconds(5)); } catch (OperationCanceledException) { }
        _stop.Dispose();
    }

    [Test]
    public async Task The_package_drops_RCPT_parameters()
    {
        // RcptParameters.cs lifts RFC 3461 NOTIFY and ORCPT off the line because of this: the package takes a RCPT
        // with parameters, but its command has nowhere to keep them.
        var (client, _) = await SmtpLineClient.OpenAsync(_endPoint);
        await using var _client = client;
        await client.CommandAsync("EHLO client.test");
        await client.CommandAsync("MAIL FROM:<a@example.test>");
        var plain = await client.CommandAsync("RCPT TO:<bob@example.test>");
        var notify = await client.CommandAsync("RCPT TO:<carol@example.test> NOTIFY=NEVER");
        Assert.Multiple(() =>
        {
            Assert.That(plain.Code, Is.EqualTo(250), "a plain RCPT is taken");
            Assert.That(notify.Code, Is.EqualTo(250), "so is one with a parameter");
            Assert.That(typeof(SmtpServer.Protocol.RcptCommand).GetProperties().Select(p => p.Name), Does.Not.Contain("Parameters"),
                "but the parsed command keeps no parameters");
        });
    }

    [Test]
    public async Task The_package_appends_a_retry_counter_and_no_enhanced_code()
    {
        // ReplyRewriting.cs adds RFC 3463 codes (RFC 2034 §3) and cuts the counter because of this.
        var (client, greeting) = await SmtpLineClient.OpenAsync(_endPoint);
        await using var _ = client;
        await client.CommandAsync("EHLO client.test");
        var reply = await client.CommandAsync("FROBNICATE");
        Assert.Multiple(() =>
        {
            Assert.That(greeting.Code, Is.EqualTo(220));
            Assert.That(reply.Code, Is.EqualTo(502));
            Assert.That(reply.Text, Does.Match(@"retry\(ies\) remaining\.$"), "its error counter is in the reply");
            Assert.That(reply.Text, Does.Not.Match(@"^[245]\.\d{1,3}\.\d{1,3} "), "no enhanced status code");
        });
    }

    [Test]
    public async Task The_package_reads_SIZE_as_a_32_bit_number()
    {
        // SmtpCommandFactory.cs checks SIZE as a 64-bit number because a value past 2^31 passes the package's check.
        var (client, _) = await SmtpLineClient.OpenAsync(_endPoint);
        await using var _client = client;
        await client.CommandAsync("EHLO client.test");
        var reply = await client.CommandAsync("MAIL FROM:<a@example.test> SIZE=99999999999");
        Assert.That(reply.Code, Is.EqualTo(250), "a size of 100 GB passes a 1 MB limit");
    }

    [Test]
    public async Task The_package_has_no_line_limit_of_its_own()
    {
        // ConnectionGuard.cs ends a connection past Limits.MaxCommandLineBytes because the package keeps buffering.
        var (client, _) = await SmtpLineClient.OpenAsync(_endPoint);
        await using var _client = client;
        await client.CommandAsync("EHLO client.test");
        var line = new byte[256 * 1024];
        Array.Fill(line, (byte)'A');
        await client.SendRawAsync(line);
        await client.SendRawAsync("\r\n"u8.ToArray());
        var reply = await client.ReadReplyAsync();
        Assert.That(reply.Code, Is.EqualTo(502), "a 256 KiB command line is read to its end and answered, not cut off");
    }

    [Test]
    public async Task The_package_buffers_the_whole_DATA_section_and_hands_the_store_one_sequence_of_it()
    {
        // ConnectionGuard.cs reads DATA from the connection itself into a spool (SpooledData.cs) because of this: the
        // package holds the section in memory until CRLF.CRLF and hands its message store all of it at once.
        var store = new RecordingStore();
        var endPoint = new IPEndPoint(IPAddress.Loopback, ServerProcess.FreePort());
        var options = new SmtpServerOptionsBuilder().ServerName("bare-data.test").Endpoint(b => b.Endpoint(endPoint)).Build();
        var services = new ServiceProvider();
        services.Add((SmtpServer.Storage.IMessageStore)store);
        using var stop = new CancellationTokenSource();
        var server = new SmtpServer.SmtpServer(options, services).StartAsync(stop.Token);
        try
        {
            SmtpLineClient? client = null;
            for (var i = 0; client is null; i++)
            {
                try { (client, _) = await SmtpLineClient.OpenAsync(endPoint); }
                catch (SocketException) when (i < 100) { await Task.Delay(50); }
            }
            await using var _client = client;
            var body = Encoding.ASCII.GetBytes("Subject: whole\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('q', 98) + "\r\n", 10_000)));
            await client.CommandAsync("EHLO client.test");
            await client.CommandAsync("MAIL FROM:<a@example.test>");
            await client.CommandAsync("RCPT TO:<b@example.test>");
            Assert.That((await client.CommandAsync("DATA")).Code, Is.EqualTo(354));
            await client.SendRawAsync(body);
            var reply = await client.CommandAsync(".");

            Assert.That(reply.Code, Is.EqualTo(250));
            Assert.That(store.Received, Has.Count.EqualTo(1));
            Assert.That(store.Received[0], Is.EqualTo(body.AsSpan(0, body.Length - 2).ToArray()),
                "one in-memory sequence of the whole section (less its final CRLF), 1 MB here");
        }
        finally
        {
            await stop.CancelAsync();
            try { await server.WaitAsync(TimeSpan.FromSeconds(5)); } catch (OperationCanceledException) { }
        }
    }

    private sealed class RecordingStore : SmtpServer.Storage.MessageStore
    {
        public List<byte[]> Received { get; } = [];

        public override Task<SmtpServer.Protocol.SmtpResponse> SaveAsync(ISessionContext context, SmtpServer.IMessageTransaction transaction,
            System.Buffers.ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
        {
            lock (Received)
                Received.Add(System.Buffers.BuffersExtensions.ToArray(buffer));
            return Task.FromResult(SmtpServer.Protocol.SmtpResponse.Ok);
        }
    }
}
