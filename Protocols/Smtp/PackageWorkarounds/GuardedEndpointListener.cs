using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MailServer.Protocols.Tls;
using Microsoft.Extensions.Logging;
using SmtpServer;
using SmtpServer.IO;
using SmtpServer.Net;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// SmtpServer's endpoint listener extension point. Hands out <see cref="GuardedDuplexPipe"/>s instead of raw
/// sockets, enforces the per-IP connection cap and creates the per-session state. Sockets are bound by
/// <see cref="SmtpListener"/> before SmtpServer starts, so a port-0 endpoint's real port is known up front.
/// </summary>
internal sealed class GuardedEndpointListenerFactory : IEndpointListenerFactory
{
    private readonly Dictionary<IEndpointDefinition, (TcpListener Socket, SmtpListenerKind Kind)> _bound;
    private readonly ServerCertificateProvider _certificates;
    private readonly SmtpLimits _limits;
    private readonly string _spoolDirectory;
    private readonly ILogger _logger;
    private readonly Action<SmtpSessionState> _onSessionAccepted;
    private readonly ConcurrentDictionary<IPAddress, int> _perIp = new();
    private volatile bool _stopped;

    public GuardedEndpointListenerFactory(
        Dictionary<IEndpointDefinition, (TcpListener Socket, SmtpListenerKind Kind)> bound,
        ServerCertificateProvider certificates,
        SmtpLimits limits,
        string spoolDirectory,
        ILogger logger,
        Action<SmtpSessionState> onSessionAccepted)
    {
        _bound = bound;
        _certificates = certificates;
        _limits = limits;
        _spoolDirectory = spoolDirectory;
        _logger = logger;
        _onSessionAccepted = onSessionAccepted;
    }

    public IEndpointListener CreateListener(IEndpointDefinition endpointDefinition)
    {
        var (socket, kind) = _bound[endpointDefinition];
        return new Listener(this, socket, kind);
    }

    /// <summary>Stops accepting on every endpoint; open sessions are not touched.</summary>
    public void StopAccepting()
    {
        _stopped = true;
        foreach (var (socket, _) in _bound.Values)
            socket.Stop();
    }

    private bool TryAdmit(IPAddress address)
    {
        while (true)
        {
            var current = _perIp.GetValueOrDefault(address);
            if (current >= _limits.MaxConnectionsPerIp)
                return false;
            if (current == 0 ? _perIp.TryAdd(address, 1) : _perIp.TryUpdate(address, current + 1, current))
                return true;
        }
    }

    private void Release(IPAddress address)
    {
        while (true)
        {
            var current = _perIp.GetValueOrDefault(address);
            if (current <= 1)
            {
                if (_perIp.TryRemove(new KeyValuePair<IPAddress, int>(address, current)) || current == 0)
                    return;
            }
            else if (_perIp.TryUpdate(address, current - 1, current))
            {
                return;
            }
        }
    }

    private sealed class Listener(GuardedEndpointListenerFactory owner, TcpListener socket, SmtpListenerKind kind) : IEndpointListener
    {
        public async Task<ISecurableDuplexPipe> GetPipeAsync(ISessionContext context, CancellationToken cancellationToken)
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                TcpClient client;
                try
                {
                    client = await socket.AcceptTcpClientAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (owner._stopped && e is SocketException or ObjectDisposedException or InvalidOperationException)
                {
                    // Not accepting any more; SmtpServer's loop ends when the listener cancels it.
                    await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                    throw;
                }
                catch (SocketException e)
                {
                    owner._logger.AcceptFailed(e);
                    continue;
                }

                var remote = (IPEndPoint)client.Client.RemoteEndPoint!;
                var address = remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;
                if (!owner.TryAdmit(address))
                {
                    owner._logger.TooManyConnections(address.ToString());
                    _ = RefuseAsync(client, kind);
                    continue;
                }

                client.NoDelay = true;
                var network = client.GetStream();
                var guard = new ConnectionGuard(network, owner._limits, owner._spoolDirectory);
                var pipe = new GuardedDuplexPipe(network, guard, owner._certificates, () =>
                {
                    owner.Release(address);
                    client.Dispose();
                });
                var state = new SmtpSessionState(context.SessionId.ToString("N"), kind, new IPEndPoint(address, remote.Port), guard);
                state.AttachTo(context);
                guard.RcptParameterSink = state.RcptParameters;
                context.Properties[EndpointListener.LocalEndPointKey] = socket.LocalEndpoint;
                context.Properties[EndpointListener.RemoteEndPointKey] = remote;
                owner._onSessionAccepted(state);
                return pipe;
            }
        }

        /// <summary>Over the per-IP cap: one 421 line (plaintext ports only), then close.</summary>
        private static async Task RefuseAsync(TcpClient client, SmtpListenerKind kind)
        {
            using (client)
            {
                if (kind == SmtpListenerKind.Submissions)
                    return; // implicit TLS: a plaintext reply would be noise to the client
                try
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                    var line = Encoding.ASCII.GetBytes(SmtpReplies.TooManyConnectionsLine + "\r\n");
                    await client.GetStream().WriteAsync(line, timeout.Token).ConfigureAwait(false);
                    client.Client.Shutdown(SocketShutdown.Send);
                }
                catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
                {
                    // The client went away first.
                }
            }
        }

        public void Dispose() => socket.Stop();
    }
}
