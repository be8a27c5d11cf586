using MailServer.Protocols.Admission;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using MailServer.Protocols.Authentication;
using MailServer.Rules.Directory;
using Microsoft.Extensions.Logging;
using SmtpServer;
using SmtpServer.Protocol;
using SmtpServer.Storage;
using SmtpServer.Authentication;
using SmtpServer.Net;
using SmtpServer.ComponentModel;
using MailServer.Rules.Sending;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// The SMTP receiving side: SmtpServer 11.1.0 endpoints for every configured listener, with input caps
/// (<see cref="ConnectionGuard"/>), a per-IP connection cap, recipient checks at RCPT, content checks at the
/// end of DATA and a graceful stop. The MX listener takes mail for local addresses only and never relays; the
/// submission listeners (RFC 6409, RFC 8314) require AUTH and then accept local and remote recipients.
/// </summary>
/// <remarks>
/// Lifecycle: construct, <see cref="StartAsync"/> once, <see cref="StopAsync"/> once (or
/// <see cref="DisposeAsync"/>, which stops). Not restartable.
/// </remarks>
public sealed class SmtpListener : IAsyncDisposable
{
    /// <summary>Longest a single session may last in total, whatever it does (SmtpServer's session timeout).</summary>
    public static readonly TimeSpan MaxSessionDuration = TimeSpan.FromHours(1);

    /// <summary>Time the MIME structure scan of one message may take before the message is refused.</summary>
    public static readonly TimeSpan MimeParseBudget = TimeSpan.FromSeconds(10);

    /// <summary>Consecutive failed commands before SmtpServer drops the session (Postfix's smtpd_hard_error_limit).</summary>
    private const int MaxConsecutiveErrors = 20;

    private readonly SmtpListenerOptions _options;
    private readonly IDirectorySource _directory;
    private readonly IMessageDelivery _delivery;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ICredentialValidator? _credentials;
    private readonly ISubmissionObserver? _submissions;
    private readonly ConcurrentDictionary<string, SmtpSessionState> _sessions = new();
    private readonly List<(SmtpListenerKind Kind, IPEndPoint EndPoint)> _bound = [];
    private global::SmtpServer.SmtpServer? _server;
    private GuardedEndpointListenerFactory? _listeners;
    private Task? _serverTask;
    private int _state; // 0 new, 1 started, 2 stopping/stopped

    /// <summary>Creates a listener; nothing is bound until <see cref="StartAsync"/>.</summary>
    /// <param name="options">Endpoints, certificate and limits.</param>
    /// <param name="directory">Resolves recipients at RCPT.</param>
    /// <param name="delivery">Receives each accepted transaction; its quota check runs at RCPT.</param>
    /// <param name="logger">Log sink (event ids 2000–2099).</param>
    /// <param name="time">Clock for the Received header; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="credentials">Checks AUTH on the submission listeners; null: AUTH is not offered, so nothing can be submitted.</param>
    /// <param name="submissions">Told of each submission refused at MAIL FROM for the user's sending rights (the audit log);
    /// none when null. What the From and Sender fields may say is the mail flow's to check and record.</param>
    /// <param name="bytesInFlight">The server-wide budget of message bytes in flight, shared with the IMAP listener's
    /// APPEND; when null the listener makes its own from <see cref="SmtpLimits.MaxBytesInFlight"/>.</param>
    /// <exception cref="ArgumentException">The options are unusable (no endpoint, no server name, limits out of range).</exception>
    public SmtpListener(SmtpListenerOptions options, IDirectorySource directory, IMessageDelivery delivery, ILogger<SmtpListener> logger,
        TimeProvider? time = null, ICredentialValidator? credentials = null,
        ISubmissionObserver? submissions = null, BytesInFlight? bytesInFlight = null)
    {
        _credentials = credentials;
        _submissions = submissions;
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        _options = options;
        _directory = directory ?? throw new ArgumentNullException(nameof(directory));
        _delivery = delivery ?? throw new ArgumentNullException(nameof(delivery));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _time = time ?? TimeProvider.System;
        _bytesInFlight = bytesInFlight ?? new BytesInFlight(options.Limits.MaxBytesInFlight);
    }

    private readonly BytesInFlight _bytesInFlight;

    /// <summary>The server-wide budget of message bytes being received and processed (for tests and metrics).</summary>
    public BytesInFlight BytesInFlight => _bytesInFlight;

    /// <summary>
    /// The endpoints actually bound, in configuration order, available after <see cref="StartAsync"/>
    /// returns (a configured port 0 shows the port the system chose).
    /// </summary>
    public IReadOnlyList<(SmtpListenerKind Kind, IPEndPoint EndPoint)> BoundEndpoints => _bound;

    /// <summary>Binds every endpoint and starts accepting. Returns once all sockets listen.</summary>
    /// <exception cref="SocketException">An endpoint could not be bound (port in use, address not local).</exception>
    /// <exception cref="InvalidOperationException">Already started.</exception>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
            throw new InvalidOperationException("The SMTP listener was already started.");
        cancellationToken.ThrowIfCancellationRequested();

        var serverOptions = new SmtpServerOptionsBuilder()
            .ServerName(_options.ServerName)
            // Strict: SmtpServer drops a buffered DATA section over this length. It is the limit plus the
            // guard's slack, so a message of exactly MaxMessageBytes (plus dot-stuffing and CRLF.CRLF) still
            // reaches DataReceiver, which refuses anything over the limit with a reply and keeps the session.
            // SIZE is advertised and checked by ListenerEhloCommand/ListenerCommandFactory with the real limit.
            .MaxMessageSize((int)(_options.Limits.MaxMessageBytes + ConnectionGuard.DataSlackBytes), MaxMessageSizeHandling.Strict)
            .MaxRetryCount(MaxConsecutiveErrors)
            // The guard closes idle connections after SessionTimeout with our own 421; this is a backstop.
            .CommandWaitTimeout(_options.Limits.SessionTimeout + TimeSpan.FromSeconds(30))
            .CustomSmtpGreeting(_ => SmtpReplies.Greeting(_options.ServerName));

        var bound = new Dictionary<IEndpointDefinition, (TcpListener, SmtpListenerKind)>();
        try
        {
            foreach (var endpoint in _options.Endpoints)
            {
                var socket = new TcpListener(endpoint.Address, endpoint.Port);
                socket.Start();
                var local = (IPEndPoint)socket.LocalEndpoint;
                var definition = new EndpointDefinitionBuilder()
                    .Endpoint(local)
                    .IsSecure(endpoint.Kind == SmtpListenerKind.Submissions) // RFC 8314 implicit TLS
                    .AuthenticationRequired(false) // EnvelopeFilter answers MAIL with 530 itself (RFC 4954 §6)
                    .AllowUnsecureAuthentication(endpoint.Kind == SmtpListenerKind.Submission && _options.AllowPlaintextAuth)
                    .SessionTimeout(MaxSessionDuration)
                    .Certificate(_options.Certificates.Certificate) // SmtpServer wants one; GuardedDuplexPipe asks the provider instead
                    .SupportedSslProtocols(SslProtocols.Tls12 | SslProtocols.Tls13)
                    .Build();
                bound.Add(definition, (socket, endpoint.Kind));
                serverOptions.Endpoint(definition);
                _bound.Add((endpoint.Kind, local));
            }
        }
        catch
        {
            foreach (var (socket, _) in bound.Values)
                socket.Stop();
            _bound.Clear();
            Volatile.Write(ref _state, 2); // nothing to stop; not restartable either
            throw;
        }

        _listeners = new GuardedEndpointListenerFactory(bound, _options.Certificates, _options.Limits, _options.SpoolDirectory, _logger, OnSessionAccepted);
        var services = new ListenerServices(
            _listeners,
            new ListenerCommandFactory(_options, _credentials is not null, _bytesInFlight, _logger),
            new EnvelopeFilter(_options, _directory, _delivery, _logger, _submissions),
            new DataReceiver(_options, _delivery, _time, MimeParseBudget, _bytesInFlight, _logger),
            _credentials is null ? null : new UserAuthenticator(_credentials, _logger));
        _server = new global::SmtpServer.SmtpServer(serverOptions.Build(), services);
        _server.SessionCreated += OnSessionCreated;
        _server.SessionCompleted += (_, e) => OnSessionEnded(e.Context, "completed", null);
        _server.SessionCancelled += (_, e) => OnSessionEnded(e.Context, "cancelled", null);
        _server.SessionFaulted += (_, e) => OnSessionEnded(e.Context, "faulted", e.Exception);
        _serverTask = _server.StartAsync(CancellationToken.None);
        foreach (var (kind, endPoint) in _bound)
            _logger.ListenerStarted(kind, endPoint.ToString());
        return Task.CompletedTask;
    }

    /// <summary>
    /// Graceful stop (RFC 5321 §3.8): stops accepting, lets a DATA whose delivery call has started finish and
    /// answer, then tells every open session <c>421 4.3.2 Service shutting down</c> and closes it.
    /// When <paramref name="cancellationToken"/> fires first, the remaining sessions are cancelled outright.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _state, 2) != 1)
            return;
        _listeners!.StopAccepting();
        var open = _sessions.Values.ToList();
        _logger.ListenerStopping(open.Count);
        await Task.WhenAll(open.Select(s => s.RequestShutdownAsync())).ConfigureAwait(false);
        try
        {
            await Task.WhenAll(open.Select(s => s.Ended.Task)).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Ends SmtpServer's accept loops (and cancels any session still running when we were cancelled).
            _server!.Shutdown();
            await _serverTask!.ConfigureAwait(false);
            _logger.ListenerStopped();
        }
    }

    /// <summary>Stops the listener (see <see cref="StopAsync"/>), waiting at most 30 seconds for sessions.</summary>
    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await StopAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Sessions were cancelled instead of waited for.
        }
    }

    private void OnSessionAccepted(SmtpSessionState session)
    {
        _sessions[session.SessionId] = session;
        if (Volatile.Read(ref _state) == 2)
            _ = session.RequestShutdownAsync(); // accepted while stopping began
    }

    private void OnSessionCreated(object? sender, SessionEventArgs e)
    {
        // Raised on the session's own async flow, so the scope covers everything the session logs.
        var session = SmtpSessionState.Of(e.Context);
        session.LogScope = _logger.BeginScope("SmtpSession:{SmtpSessionId}", session.SessionId);
        _logger.SessionStarted(session.SessionId, session.Kind, session.RemoteEndPoint.ToString());

        var context = e.Context;
        session.Guard.Tripped += verdict => _logger.GuardTripped(verdict);
        context.CommandExecuting += (_, args) =>
        {
            switch (args.Command)
            {
                case EhloCommand ehlo:
                    session.Guard.BeginVerbatimCommand();
                    session.HeloName = ehlo.DomainOrAddress;
                    session.UsedEhlo = true;
                    session.Recipients.Clear();
                    break;
                case HeloCommand helo:
                    session.Guard.BeginVerbatimCommand();
                    session.HeloName = helo.DomainOrAddress;
                    session.UsedEhlo = false;
                    session.Recipients.Clear();
                    break;
                case RsetCommand:
                    session.Recipients.Clear();
                    break;
                case StartTlsCommand:
                    // RFC 3207 §4.2: forget everything learnt before the handshake.
                    session.Recipients.Clear();
                    session.User = null;
                    break;
                case DataCommand:
                    session.DataStarted = session.Recipients.Count > 0;
                    session.DataHandled = false;
                    session.Guard.EnterDataMode();
                    break;
            }
        };
        context.CommandExecuted += (_, args) =>
        {
            session.Guard.EndCommand();
            if (args.Command is not DataCommand)
                return;
            session.Guard.EnterCommandMode();
            if (session.DataStarted && !session.DataHandled)
            {
                // SmtpServer's Strict size check aborts the DATA section without a reply and leaves its
                // reader mid-message; the only safe continuation is our 552 and closing the connection.
                _logger.MessageRefused("message too large (over the limit while receiving)");
                // Waited for here (one short write) so the reply is out before SmtpServer reads again.
                session.Guard.CloseWithReplyAsync(SmtpReplies.MessageTooBig, GuardVerdict.MessageTooLong).GetAwaiter().GetResult();
                return;
            }
            if (session.EndDelivery())
                session.CloseAfterDeliveryAsync().GetAwaiter().GetResult();
        };
    }

    private void OnSessionEnded(ISessionContext context, string how, Exception? exception)
    {
        if (!context.Properties.ContainsKey(EndpointListener.RemoteEndPointKey))
            return; // no connection was ever accepted for this context
        var session = SmtpSessionState.Of(context);
        if (exception is not null && DisconnectReason(exception) is { } reason)
        {
            // A client hanging up (after a refusal, mid-command) is an expected event: one line, no stack.
            _logger.ClientDisconnected(session.SessionId, reason);
            how = "disconnected";
        }
        else if (exception is not null)
        {
            _logger.SessionFaulted(session.SessionId, exception);
        }
        _logger.SessionEnded(session.SessionId, how);
        session.LogScope?.Dispose();
        _sessions.TryRemove(session.SessionId, out _);
        session.Ended.TrySetResult();
    }

    /// <summary>
    /// The reason when <paramref name="exception"/> only says the peer went away (reset, broken pipe, aborted, or a
    /// TLS stream cut short); null for a fault of ours, which is logged with its stack.
    /// </summary>
    internal static string? DisconnectReason(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is System.Net.Sockets.SocketException socket && socket.SocketErrorCode is System.Net.Sockets.SocketError.ConnectionReset
                    or System.Net.Sockets.SocketError.ConnectionAborted or System.Net.Sockets.SocketError.Shutdown
                    or System.Net.Sockets.SocketError.NotConnected or System.Net.Sockets.SocketError.TimedOut)
                return socket.SocketErrorCode switch
                {
                    System.Net.Sockets.SocketError.ConnectionReset => "connection reset",
                    System.Net.Sockets.SocketError.ConnectionAborted => "connection aborted",
                    System.Net.Sockets.SocketError.TimedOut => "connection timed out",
                    _ => "connection closed",
                };
            if (e is System.Security.Authentication.AuthenticationException && e.InnerException is null or IOException)
                return "TLS connection closed during the handshake";
        }
        return exception is IOException or ObjectDisposedException { ObjectName: "System.Net.Sockets.Socket" or "System.Net.Sockets.NetworkStream" }
            ? "connection closed"
            : null;
    }

    private static void Validate(SmtpListenerOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.ServerName))
            throw new ArgumentException("ServerName is required.", nameof(options));
        if (options.Endpoints is null || options.Endpoints.Count == 0)
            throw new ArgumentException("At least one SMTP endpoint is required.", nameof(options));
        if (options.Certificates is null)
            throw new ArgumentException("A TLS certificate is required.", nameof(options));
        var limits = options.Limits ?? throw new ArgumentException("Limits are required.", nameof(options));
        if (limits.MaxMessageBytes <= 0 || limits.MaxMessageBytes > int.MaxValue - ConnectionGuard.DataSlackBytes)
            throw new ArgumentException("Limits.MaxMessageBytes must be between 1 and about 2 GiB.", nameof(options));
        if (limits.MaxRecipients < 1 || limits.MaxCommandLineBytes < 512 || limits.MaxHeaderSectionBytes < 1
            || limits.MaxMimeDepth < 1 || limits.MaxMimeParts < 1 || limits.MaxAttachments < 0
            || limits.MaxConnectionsPerIp < 1 || limits.SessionTimeout <= TimeSpan.Zero || limits.BytesInFlightWait < TimeSpan.Zero)
            throw new ArgumentException("SMTP limits out of range (command lines need at least 512 bytes, RFC 5321 §4.5.3.1.4).", nameof(options));
    }

    /// <summary>
    /// SmtpServer's service lookup. The user authenticator is ours or null (then AUTH is refused by the command
    /// factory; SmtpServer's default authenticator would accept any credentials).
    /// </summary>
    private sealed class ListenerServices(
        IEndpointListenerFactory listeners,
        ISmtpCommandFactory commands,
        IMailboxFilterFactory filter,
        IMessageStoreFactory store,
        UserAuthenticator? authenticator) : IServiceProvider
    {
        public object? GetService(Type serviceType) =>
            serviceType == typeof(IEndpointListenerFactory) ? listeners
            : serviceType == typeof(ISmtpCommandFactory) ? commands
            : serviceType == typeof(IMailboxFilterFactory) ? filter
            : serviceType == typeof(IMessageStoreFactory) ? store
            : serviceType == typeof(IUserAuthenticatorFactory) ? authenticator
            : serviceType == typeof(IUserAuthenticator) ? authenticator
            : null;
    }
}
