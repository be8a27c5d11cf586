using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using MailServer.Protocols.Admission;
using MailServer.Protocols.Authentication;
using MailServer.Rules.Directory;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;
using Microsoft.Extensions.Logging;

namespace MailServer.Protocols.Imap;

/// <summary>What every session of one listener shares.</summary>
internal sealed record ImapListenerServices(
    ImapListenerOptions Options,
    IImapStore Store,
    ICredentialValidator Credentials,
    ImapSyntaxLimits SyntaxLimits,
    ILogger Logger,
    TimeProvider Time,
    IDirectorySource? Directory,
    IMailboxAccessObserver? AccessObserver = null,
    BytesInFlight? BytesInFlight = null)
{
    /// <summary>Bounds before login: lines as after login (an ID of 30 fields of 1,024 octets fits, RFC 2971 §3.3), but
    /// no literal above 8 KiB and LITERAL- non-synchronizing literals of at most 4,096 octets (RFC 7888 §4), so an
    /// unauthenticated client cannot make the server buffer or discard much.</summary>
    public ImapSyntaxLimits PreLoginSyntaxLimits { get; } = SyntaxLimits with
    {
        MaxLiteralSize = 8 * 1024,
        MaxNonSynchronizingLiteralSize = 4096,
        MaxCommandSize = 256 * 1024,
    };

    /// <summary>Which session holds \Recent for which message (RFC 3501 §2.3.2), shared by every session.</summary>
    public RecentTracker Recent { get; } = new(Time.GetUtcNow(), Store, Logger);
}

/// <summary>
/// The IMAP listener: one accept loop per endpoint (plain with STARTTLS, or implicit TLS), a per-address
/// connection cap, and a graceful stop that tells every open session <c>* BYE Server shutting down</c>.
/// </summary>
/// <remarks>Lifecycle: construct, <see cref="StartAsync"/> once, <see cref="StopAsync"/> once (or
/// <see cref="DisposeAsync"/>). Not restartable.</remarks>
public sealed class ImapListener : IAsyncDisposable
{
    private readonly ImapListenerServices _services;
    private readonly List<(ImapEndpointKind Kind, TcpListener Socket)> _sockets = [];
    private readonly List<(ImapEndpointKind Kind, IPEndPoint EndPoint)> _bound = [];
    private readonly ConcurrentDictionary<string, Task> _sessions = new();
    private readonly ConcurrentDictionary<IPAddress, int> _perAddress = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly CancellationTokenSource _hardStop = new();
    private readonly List<Task> _acceptLoops = [];
    private int _state; // 0 new, 1 started, 2 stopped

    /// <summary>Creates a listener; nothing is bound until <see cref="StartAsync"/>.</summary>
    /// <param name="options">Endpoints, certificate, plain-text policy and limits.</param>
    /// <param name="store">The mail store.</param>
    /// <param name="credentials">Checks LOGIN / AUTHENTICATE credentials (with failure throttling).</param>
    /// <param name="logger">Log sink (event ids 5000–5099).</param>
    /// <param name="time">Clock for APPEND's internal date; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="directory">The live directory, read per command for the quota limit (RFC 9208); when null the
    /// quota is the one the user had at login.</param>
    /// <param name="accessObserver">Told of every audited mailbox operation (WorkMail Administrator Guide, "Mailbox access logs"); null records nothing.</param>
    /// <param name="bytesInFlight">The server-wide budget of message bytes in flight, shared with SMTP DATA: every
    /// literal after login (an APPEND's message) is admitted against it, and refused with <c>NO [LIMIT]</c> while it is
    /// used up. Null admits every literal the syntax limits allow.</param>
    /// <exception cref="ArgumentException">The options are unusable.</exception>
    public ImapListener(ImapListenerOptions options, IImapStore store, ICredentialValidator credentials, ILogger<ImapListener> logger, TimeProvider? time = null,
        IDirectorySource? directory = null, IMailboxAccessObserver? accessObserver = null, BytesInFlight? bytesInFlight = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        // LITERAL+ is advertised: after login a non-synchronizing literal is bounded by APPENDLIMIT alone (RFC 7888
        // §3); 64 KiB lines leave room for long UID sets and ID fields (RFC 7162 §4 asks for at least 8,192 octets).
        var syntax = new ImapSyntaxLimits
        {
            MaxLineLength = 64 * 1024,
            MaxNonSynchronizingLiteralSize = null,
            MaxLiteralSize = options.Limits.MaxMessageBytes,
            MaxCommandSize = options.Limits.MaxMessageBytes + 128 * 1024,
        };
        _services = new ImapListenerServices(options, store ?? throw new ArgumentNullException(nameof(store)),
            credentials ?? throw new ArgumentNullException(nameof(credentials)), syntax,
            logger ?? throw new ArgumentNullException(nameof(logger)), time ?? TimeProvider.System, directory, accessObserver, bytesInFlight);
    }

    /// <summary>The endpoints actually bound (a configured port 0 shows the chosen port), after <see cref="StartAsync"/>.</summary>
    public IReadOnlyList<(ImapEndpointKind Kind, IPEndPoint EndPoint)> BoundEndpoints => _bound;

    /// <summary>Number of open sessions.</summary>
    public int SessionCount => _sessions.Count;

    /// <summary>Binds every endpoint and starts accepting.</summary>
    /// <exception cref="SocketException">An endpoint could not be bound.</exception>
    /// <exception cref="InvalidOperationException">Already started.</exception>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
            throw new InvalidOperationException("The IMAP listener was already started.");
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            foreach (var endpoint in _services.Options.Endpoints)
            {
                var socket = new TcpListener(endpoint.Address, endpoint.Port);
                socket.Start();
                _sockets.Add((endpoint.Kind, socket));
                _bound.Add((endpoint.Kind, (IPEndPoint)socket.LocalEndpoint));
            }
        }
        catch
        {
            foreach (var (_, socket) in _sockets)
                socket.Stop();
            _sockets.Clear();
            _bound.Clear();
            Volatile.Write(ref _state, 2);
            throw;
        }
        foreach (var (kind, socket) in _sockets)
        {
            _services.Logger.ListenerStarted(kind, socket.LocalEndpoint.ToString() ?? "");
            _acceptLoops.Add(AcceptLoopAsync(kind, socket));
        }
        return Task.CompletedTask;
    }

    private async Task AcceptLoopAsync(ImapEndpointKind kind, TcpListener socket)
    {
        while (!_shutdown.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await socket.AcceptTcpClientAsync(_shutdown.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_shutdown.IsCancellationRequested)
                    return;
                continue;
            }
            client.NoDelay = true; // small interactive responses (IDLE's EXISTS) go out at once
            var remote = (IPEndPoint)client.Client.RemoteEndPoint!;
            var address = remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;
            var count = _perAddress.AddOrUpdate(address, 1, (_, n) => n + 1);
            if (count > _services.Options.Limits.MaxConnectionsPerAddress)
            {
                Release(address);
                _services.Logger.TooManyConnections(address.ToString(), count - 1);
                _ = RefuseAsync(client, kind);
                continue;
            }
            var id = Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();
            var session = new ImapSession(_services, client.GetStream(), new IPEndPoint(address, remote.Port), kind,
                isSecure: false, id, _shutdown.Token, _hardStop.Token);
            _sessions[id] = Task.Run(async () =>
            {
                try
                {
                    await session.RunAsync();
                }
                finally
                {
                    client.Dispose();
                    Release(address);
                    _sessions.TryRemove(id, out _);
                }
            });
        }
    }

    private static async Task RefuseAsync(TcpClient client, ImapEndpointKind kind)
    {
        using (client)
        {
            if (kind != ImapEndpointKind.Imap)
                return; // no TLS handshake spent on a refused connection
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await client.GetStream().WriteAsync("* BYE Too many connections from your address\r\n"u8.ToArray(), timeout.Token);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }
    }

    private void Release(IPAddress address)
    {
        while (true)
        {
            var n = _perAddress.GetValueOrDefault(address);
            if (n <= 1)
            {
                if (_perAddress.TryRemove(new KeyValuePair<IPAddress, int>(address, n)) || n == 0)
                    return;
            }
            else if (_perAddress.TryUpdate(address, n - 1, n))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Graceful stop: stops accepting, then every session finishes the command it is running and says
    /// <c>* BYE Server shutting down</c> (RFC 9051 §7.1.5). When <paramref name="cancellationToken"/> fires first,
    /// running commands are cancelled too.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _state, 2) != 1)
            return;
        var open = _sessions.Count;
        await _shutdown.CancelAsync();
        foreach (var (_, socket) in _sockets)
            socket.Stop();
        try
        {
            await Task.WhenAll(_acceptLoops).WaitAsync(cancellationToken);
            await Task.WhenAll(_sessions.Values).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await _hardStop.CancelAsync();
            await Task.WhenAll(_sessions.Values).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        _services.Logger.ListenerStopped(open);
    }

    /// <summary>Stops (allowing sessions 10 seconds) and releases the sockets.</summary>
    public async ValueTask DisposeAsync()
    {
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
            await StopAsync(grace.Token);
        _shutdown.Dispose();
        _hardStop.Dispose();
    }
}
