using System.Net;
using MailServer.Rules.Directory;
using SmtpServer;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// What this server keeps per SMTP session, next to SmtpServer's own context (stored in its Properties).
/// Mutated only from the session's own flow, except the shutdown handshake which is under <see cref="_gate"/>.
/// </summary>
internal sealed class SmtpSessionState
{
    private const string PropertyKey = "MailServer:SmtpSession";

    private readonly object _gate = new();
    private bool _deliveryInFlight;
    private bool _closeAfterDelivery;
    private bool _closed;

    public SmtpSessionState(string sessionId, SmtpListenerKind kind, IPEndPoint remote, ConnectionGuard guard)
    {
        SessionId = sessionId;
        Kind = kind;
        RemoteEndPoint = remote;
        Guard = guard;
    }

    public string SessionId { get; }
    public SmtpListenerKind Kind { get; }
    public IPEndPoint RemoteEndPoint { get; }
    public ConnectionGuard Guard { get; }

    /// <summary>The name the client gave in HELO/EHLO ("" before it did).</summary>
    public string HeloName { get; set; } = "";

    /// <summary>True after EHLO (ESMTP), false after HELO.</summary>
    public bool UsedEhlo { get; set; }

    /// <summary>The user who authenticated with AUTH (submission listeners only), or null.</summary>
    public DirectoryUser? User { get; set; }

    /// <summary>RFC 3461 NOTIFY/ORCPT parameters taken off RCPT lines by the connection guard, in line order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<RcptParameters> RcptParameters { get; } = new();

    /// <summary>Recipients accepted at RCPT in the current transaction, in envelope order.</summary>
    public List<AcceptedRecipient> Recipients { get; } = [];

    /// <summary>A DATA command with recipients is running (SmtpServer has sent or will send 354).</summary>
    public bool DataStarted { get; set; }

    /// <summary>The current DATA section reached <see cref="DataReceiver"/> (false when SmtpServer dropped it).</summary>
    public bool DataHandled { get; set; }

    /// <summary>Completes when SmtpServer has finished the session.</summary>
    public TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Logging scope of the session, disposed when it ends.</summary>
    public IDisposable? LogScope { get; set; }

    public static SmtpSessionState Of(ISessionContext context) => (SmtpSessionState)context.Properties[PropertyKey];

    public void AttachTo(ISessionContext context) => context.Properties[PropertyKey] = this;


    /// <summary>Marks a delivery as started; false when the session is already closing (do not deliver).</summary>
    public bool TryBeginDelivery()
    {
        lock (_gate)
        {
            if (_closed)
                return false;
            _deliveryInFlight = true;
            return true;
        }
    }

    /// <summary>The delivery's reply has been handed to SmtpServer; true when shutdown waited for it.</summary>
    public bool EndDelivery()
    {
        lock (_gate)
        {
            _deliveryInFlight = false;
            return _closeAfterDelivery;
        }
    }

    /// <summary>
    /// Shutdown: closes now, or, when a delivery call is in flight, lets it finish and closes after its reply
    /// (the caller of <see cref="EndDelivery"/> then does it).
    /// </summary>
    public Task RequestShutdownAsync()
    {
        lock (_gate)
        {
            if (_closed)
                return Task.CompletedTask;
            if (_deliveryInFlight)
            {
                _closeAfterDelivery = true;
                return Task.CompletedTask;
            }
            _closed = true;
        }
        return Guard.CloseWithReplyAsync(SmtpReplies.ShuttingDown, GuardVerdict.ShuttingDown);
    }

    /// <summary>Called after the delivery reply was written, when shutdown is waiting.</summary>
    public Task CloseAfterDeliveryAsync()
    {
        lock (_gate)
            _closed = true;
        return Guard.CloseWithReplyAsync(SmtpReplies.ShuttingDown, GuardVerdict.ShuttingDown);
    }
}
