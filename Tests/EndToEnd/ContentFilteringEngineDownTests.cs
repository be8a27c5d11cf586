using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// ContentFiltering.FailMode with the engines down: nothing listens on their ports (refused at once), or rspamd
/// accepts the connection and never answers (the timeout ends the wait). TempFail answers 451 4.7.1 and keeps nothing;
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
