using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace MailServer.Tests.Rules.Hooks;

/// <summary>A real HTTP hook receiver on 127.0.0.1 (HttpListener): records every request, answers through a script.</summary>
internal sealed class LoopbackHookReceiver : IDisposable
{
    public sealed record Received(byte[] Body, string? Signature, string? InvocationId, string? ContentType, DateTimeOffset At);

    public sealed record Reply(int Status, string Body, TimeSpan Delay = default);

    private readonly HttpListener _listener = new();
    private readonly Func<int, Received, Reply> _script;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _count;

    /// <summary>Starts listening. <paramref name="script"/> gets the 1-based request number and the request.</summary>
    public LoopbackHookReceiver(Func<int, Received, Reply> script)
    {
        _script = script;
        var port = FreePort();
        Url = new Uri($"http://127.0.0.1:{port}/hook/");
        _listener.Prefixes.Add(Url.ToString());
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public Uri Url { get; }

    public ConcurrentQueue<Received> Requests { get; } = new();

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }
            _ = Task.Run(async () =>
            {
                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                var received = new Received(body.ToArray(), context.Request.Headers["X-MailServer-Signature"],
                    context.Request.Headers["X-MailServer-Invocation-Id"], context.Request.ContentType, DateTimeOffset.UtcNow);
                Requests.Enqueue(received);
                var reply = _script(Interlocked.Increment(ref _count), received);
                try
                {
                    if (reply.Delay > TimeSpan.Zero)
                        await Task.Delay(reply.Delay, _stop.Token);
                    context.Response.StatusCode = reply.Status;
                    context.Response.ContentType = "application/json";
                    var bytes = System.Text.Encoding.UTF8.GetBytes(reply.Body);
                    await context.Response.OutputStream.WriteAsync(bytes);
                    context.Response.Close();
                }
                catch (Exception e) when (e is OperationCanceledException or HttpListenerException or ObjectDisposedException or IOException)
                {
                    // The client gave up or the test ended.
                }
            });
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); }
        catch (AggregateException) { }
        _stop.Dispose();
    }
}
