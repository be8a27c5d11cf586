using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// ContentFiltering.FailMode with the engines down: nothing listens on their ports (refused at once), the real rspamd
/// goes away while the server runs and comes back, or rspamd accepts the connection and never answers (the timeout
/// ends the wait). TempFail answers 451 4.7.1 and keeps nothing;
/// Open delivers unscanned. Never a session held past the timeout.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class ContentFilteringEngineDownTests
{
    [Test]
    public async Task TempFail_defers_the_message_with_451_while_the_engines_are_down()
    {
        var closed = ServerProcess.FreePorts(2);
        await using var server = ServerProcess.Create();
        ContentFilteringTests.Configure(server, null, $$"""
            { "RspamdUrl": "http://127.0.0.1:{{closed[0]}}", "ClamdAddress": "127.0.0.1:{{closed[1]}}", "TimeoutSeconds": 5, "FailMode": "TempFail" }
            """);
        await server.StartAsync(TimeSpan.FromSeconds(120)); // a loaded machine can take more than the default 30 s
        var subject = "down-" + Guid.NewGuid().ToString("N")[..8];
        var replies = await ContentFilteringTests.SendAsync(server, "carol@partner.test", "alice@example.test",
            ContentFilteringTests.Message("carol@partner.test", "alice@example.test", subject, "Are we still on for Friday?"));
        Assert.That(replies.Select(r => r.Code), Is.EqualTo(new[] { 250, 250, 250, 354, 451, 221 }));
        Assert.That(replies[4].Text, Is.EqualTo("4.7.1 Content filter unavailable; try again later"));
        Assert.That(await ContentFilteringTests.FindAsync(server, "alice@example.test", "INBOX", subject), Is.Empty);
        // The console logger writes on its own thread: wait for the lines rather than read the output at once.
        Assert.That(await server.WaitForOutputAsync("rspamd failed", TimeSpan.FromSeconds(10)), Is.True, server.Output);
        Assert.That(await server.WaitForOutputAsync("clamd failed", TimeSpan.FromSeconds(10)), Is.True, server.Output);

        using var http = new HttpClient();
        var health = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{server.ListenerPorts.Admin}/health"))!;
        Assert.That(((string?)health["status"], (string?)health["contentFiltering"]!["rspamd"], (string?)health["contentFiltering"]!["clamd"]),
            Is.EqualTo(("degraded", "down", "down")));
    }

    [Test]
    public async Task The_real_rspamd_going_away_mid_run_defers_with_TempFail_and_scanning_resumes_when_it_is_back()
    {
        // The server reaches the real rspamd through a loopback forwarder that the test stops and starts again: to the
        // server that is rspamd stopping and coming back (connections refused in between) while it keeps running.
        var engines = await ContentEngines.GetAsync();
        var rspamd = new Uri(engines.RspamdUrl);
        await using var forwarder = await LoopbackForwarder.StartAsync(new IPEndPoint(IPAddress.Loopback, rspamd.Port));
        await using var server = ServerProcess.Create();
        ContentFilteringTests.Configure(server, engines, $$"""
            { "RspamdUrl": "http://127.0.0.1:{{forwarder.Port}}", "TimeoutSeconds": 5, "FailMode": "TempFail" }
            """);
        await server.StartAsync(TimeSpan.FromSeconds(120));

        async Task<int> SendAsync(string subject) => (await ContentFilteringTests.SendAsync(server, "carol@partner.test", "alice@example.test",
            ContentFilteringTests.Message("carol@partner.test", "alice@example.test", subject, "Lunch on Thursday at noon?")))[4].Code;
        var before = "up-" + Guid.NewGuid().ToString("N")[..8];
        var during = "gone-" + Guid.NewGuid().ToString("N")[..8];
        var after = "back-" + Guid.NewGuid().ToString("N")[..8];

        Assert.That(await SendAsync(before), Is.EqualTo(250));
        await forwarder.StopAsync();
        Assert.That(await SendAsync(during), Is.EqualTo(451), "TempFail: the sender keeps the message and retries");
        await forwarder.StartAgainAsync();
        Assert.That(await SendAsync(after), Is.EqualTo(250), "scanning resumes without a restart");

        var scanned = await ContentFilteringTests.FindAsync(server, "alice@example.test", "INBOX", before);
        var resumed = await ContentFilteringTests.FindAsync(server, "alice@example.test", "INBOX", after);
        Assert.Multiple(async () =>
        {
            Assert.That(scanned.Single().Headers["X-Spam-Flag"], Is.EqualTo("NO"), "scanned by the real rspamd");
            Assert.That(resumed.Single().Headers["X-Spam-Flag"], Is.EqualTo("NO"));
            Assert.That(await ContentFilteringTests.FindAsync(server, "alice@example.test", "INBOX", during), Is.Empty, "nothing kept of the deferred one");
        });
    }

    /// <summary>A loopback TCP forwarder to one endpoint that can be stopped (its port then refuses) and started again on the same port.</summary>
    private sealed class LoopbackForwarder : IAsyncDisposable
    {
        private readonly IPEndPoint _target;
        private TcpListener? _listener;
        private CancellationTokenSource? _stop;
        private Task? _loop;

        private LoopbackForwarder(IPEndPoint target) => _target = target;

        public int Port { get; private set; }

        public static async Task<LoopbackForwarder> StartAsync(IPEndPoint target)
        {
            var forwarder = new LoopbackForwarder(target);
            await forwarder.StartAgainAsync();
            return forwarder;
        }

        public Task StartAgainAsync()
        {
            _listener = new TcpListener(IPAddress.Loopback, Port);
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _stop = new CancellationTokenSource();
            var listener = _listener;
            var stop = _stop.Token;
            _loop = Task.Run(async () =>
            {
                var pairs = new List<Task>();
                try
                {
                    while (true)
                    {
                        var client = await listener.AcceptTcpClientAsync(stop);
                        pairs.Add(Task.Run(async () =>
                        {
                            using var c = client;
                            using var upstream = new TcpClient();
                            await upstream.ConnectAsync(_target, stop);
                            var a = c.GetStream().CopyToAsync(upstream.GetStream(), stop);
                            var b = upstream.GetStream().CopyToAsync(c.GetStream(), stop);
                            await Task.WhenAny(a, b);
                        }, stop));
                    }
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                }
                try { await Task.WhenAll(pairs); } catch (Exception) { /* a pair cut by the stop */ }
            });
            return Task.CompletedTask;
        }

        public async Task StopAsync()
        {
            _stop?.Cancel();
            _listener?.Stop();
            if (_loop is not null)
                await _loop;
        }

        public async ValueTask DisposeAsync()
        {
            await StopAsync();
            _stop?.Dispose();
        }
    }

    [Test]
    public async Task Open_delivers_unscanned_when_rspamd_hangs_and_the_session_waits_no_longer_than_the_timeout()
    {
        // An "rspamd" that takes the connection and the request and never answers.
        using var hung = new TcpListener(IPAddress.Loopback, 0);
        hung.Start();
        var held = new List<TcpClient>();
        using var stop = new CancellationTokenSource();
        var accepting = Task.Run(async () =>
        {
            try
            {
                while (true)
                    held.Add(await hung.AcceptTcpClientAsync(stop.Token));
            }
            catch (OperationCanceledException)
            {
            }
        });
        await using var server = ServerProcess.Create();
        ContentFilteringTests.Configure(server, null, $$"""
            { "RspamdUrl": "http://127.0.0.1:{{((IPEndPoint)hung.LocalEndpoint).Port}}", "TimeoutSeconds": 2, "FailMode": "Open" }
            """);
        await server.StartAsync(TimeSpan.FromSeconds(120)); // a loaded machine can take more than the default 30 s
        var subject = "hung-" + Guid.NewGuid().ToString("N")[..8];
        var clock = Stopwatch.StartNew();
        var replies = await ContentFilteringTests.SendAsync(server, "carol@partner.test", "alice@example.test",
            ContentFilteringTests.Message("carol@partner.test", "alice@example.test", subject, "Are we still on for Friday?"));
        clock.Stop();
        Assert.That(replies[4].Code, Is.EqualTo(250), string.Join("\n", replies));
        Assert.That(clock.Elapsed, Is.GreaterThan(TimeSpan.FromSeconds(1.9)).And.LessThan(TimeSpan.FromSeconds(10)), "waited for the timeout, not longer");
        var stored = (await ContentFilteringTests.FindAsync(server, "alice@example.test", "INBOX", subject)).Single();
        Assert.That(stored.Headers.Contains("X-Spam-Flag"), Is.False, "unscanned: no verdict of ours");
        Assert.That(server.Output, Does.Contain("rspamd failed (no answer within 2 s); fail mode Open"));
        await stop.CancelAsync();
        await accepting;
        foreach (var c in held)
            c.Dispose();
    }
}
