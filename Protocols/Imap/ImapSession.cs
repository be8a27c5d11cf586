using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using MailServer.Protocols.Authentication;
using MailServer.Protocols.Imap.Commands;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Protocols.Net;
using MailServer.Protocols.Tls;
using MailServer.Storage;
using Microsoft.Extensions.Logging;

namespace MailServer.Protocols.Imap;

/// <summary>
/// One IMAP connection: read → frame → parse → check the state in <see cref="ImapCommandTable"/> → run → write.
/// Command errors become tagged replies in one place (<see cref="RunCommandAsync"/>); the session goes on after BAD
/// and NO. Reads wait at most the idle timeout (RFC 9051 §5.4: at least 30 minutes); IDLE re-arms it.
/// </summary>
internal sealed class ImapSession
{
    private static readonly TimeSpan WriteTimeout = TimeSpan.FromMinutes(2);
    private const int FlushThreshold = 256 * 1024;

    private readonly ImapListenerServices _services;
    private readonly ArrayBufferWriter<byte> _output = new(16 * 1024);
    private readonly byte[] _input = new byte[16 * 1024];
    private readonly CancellationToken _shutdown;
    private readonly CancellationToken _hardStop;
    private Stream _stream;
    private readonly System.Net.Sockets.Socket? _socket; // the TCP socket under any TLS layer, for TcpQuickAck
    private ImapCommandFramer _framer;
    private int _inputStart;
    private int _inputEnd;
    private bool _closeAfterReply;

    public ImapSession(ImapListenerServices services, Stream stream, IPEndPoint remote, ImapEndpointKind kind, bool isSecure,
        string id, CancellationToken shutdown, CancellationToken hardStop)
    {
        _services = services;
        _stream = stream;
        _socket = (stream as System.Net.Sockets.NetworkStream)?.Socket;
        Remote = remote;
        Kind = kind;
        IsSecure = isSecure;
        Id = id;
        _shutdown = shutdown;
        _hardStop = hardStop;
        _framer = new ImapCommandFramer(services.PreLoginSyntaxLimits);
        Writer = new ImapResponseWriter(_output);
    }

    public string Id { get; }
    public IPEndPoint Remote { get; }
    public ImapEndpointKind Kind { get; }
    public bool IsSecure { get; private set; }
    public ImapResponseWriter Writer { get; }
    public ImapSessionState State { get; set; } = new ImapSessionState.NotAuthenticated(0);
    public IImapStore Store => _services.Store;
    public ICredentialValidator Credentials => _services.Credentials;
    public ImapListenerOptions Options => _services.Options;
    public ILogger Logger => _services.Logger;
    public TimeProvider Time => _services.Time;
    /// <summary>The live directory (quota limits), or null when the listener was given none.</summary>
    public MailServer.Rules.Directory.IDirectorySource? Directory => _services.Directory;

    /// <summary>What the client asked to be told of without asking (NOTIFY SET, RFC 5465); null without NOTIFY or after
    /// NOTIFY NONE or an overflow.</summary>
    public MailboxNotifications? Notifications { get; set; }

    /// <summary>The client enabled CONDSTORE (ENABLE, SELECT (CONDSTORE), or a MODSEQ fetch; RFC 7162 §3.1).</summary>
    public bool CondStoreEnabled { get; set; }

    /// <summary>
    /// A command enabled CONDSTORE (FETCH or SEARCH with MODSEQ, STORE UNCHANGEDSINCE): the first time, with a mailbox
    /// selected, the client is told its HIGHESTMODSEQ in an untagged OK (RFC 7162 §3.1).
    /// </summary>
    public void EnableCondStore()
    {
        if (CondStoreEnabled)
            return;
        CondStoreEnabled = true;
        if (Selected is { } selected)
            Writer.Untagged(ImapStatus.Ok, new ResponseCode.HighestModSeq(selected.HighestModSeq), "Highest");
    }

    /// <summary>The \Recent holder shared by the listener's sessions (RFC 3501 §2.3.2).</summary>
    public RecentTracker Recent => _services.Recent;

    /// <summary>The limits the framer applies now: the pre-login ones until the session is authenticated.</summary>
    /// <summary>A framer for the current state: after login every literal is admitted against the server-wide budget of
    /// message bytes in flight (shared with SMTP DATA); before login literals are capped at 8 KiB and not charged.</summary>
    private ImapCommandFramer NewFramer() =>
        State is ImapSessionState.NotAuthenticated || _services.BytesInFlight is null
            ? new ImapCommandFramer(CurrentLimits)
            : new ImapCommandFramer(CurrentLimits, AdmitLiteral);

    private long _admittedBytes; // literal octets of the current command charged to the budget

    private bool AdmitLiteral(long size)
    {
        var budget = _services.BytesInFlight!;
        if (!budget.TryAdmit(size))
        {
            Logger.LiteralRefusedOverBudget(size, budget.InFlight, budget.Budget);
            return false;
        }
        _admittedBytes += size;
        return true;
    }

    /// <summary>Gives the current command's literal octets back to the budget: it has been answered, or refused.</summary>
    private void ReleaseAdmitted()
    {
        if (_admittedBytes != 0)
            _services.BytesInFlight?.Release(_admittedBytes);
        _admittedBytes = 0;
    }

    private ImapSyntaxLimits CurrentLimits =>
        State is ImapSessionState.NotAuthenticated ? _services.PreLoginSyntaxLimits : _services.SyntaxLimits;

    /// <summary>
    /// The client enabled UTF8=ACCEPT (RFC 6855) or IMAP4rev2 (RFC 9051 §6.3.1): mailbox names travel as UTF-8 both
    /// ways, quoted strings may carry UTF-8, and APPEND takes the UTF8 data extension.
    /// </summary>
    public bool Utf8Enabled
    {
        get => Writer.Utf8Enabled;
        set => Writer.Utf8Enabled = value;
    }

    /// <summary>The client enabled QRESYNC (RFC 7162 §3.2.3): VANISHED replaces EXPUNGE; implies CONDSTORE.</summary>
    public bool QResyncEnabled { get; set; }

    /// <summary>The SEARCH / SORT results kept updated for the client (RFC 5267 §4), for the selected mailbox.</summary>
    public SearchUpdates SearchContexts { get; } = new();

    /// <summary>The client enabled UIDONLY (RFC 9586): no message sequence numbers either way.</summary>
    public bool UidOnlyEnabled { get; set; }

    /// <summary>The client enabled IMAP4rev2 (RFC 9051 Appendix E): ESEARCH replies, no RECENT.</summary>
    public bool Rev2Enabled { get; set; }

    /// <summary>LOGIN/AUTHENTICATE may run: over TLS, or when the admin allows plain text.</summary>
    public bool LoginAllowed => IsSecure || Options.AllowPlaintextAuth;

    /// <summary>Set by STARTTLS: the upgrade happens after its tagged OK has been written.</summary>
    public bool StartTlsRequested { get; set; }

    /// <summary>COMPRESS DEFLATE was accepted; the layer goes in after its tagged OK is flushed (RFC 4978 §3).</summary>
    public bool CompressRequested { get; set; }

    /// <summary>The connection is deflate-compressed (RFC 4978).</summary>
    public bool CompressionActive { get; private set; }

    /// <summary>Ask the session to close after the tagged reply (LOGOUT, too many failed logins).</summary>
    public void CloseAfterReply() => _closeAfterReply = true;

    public SelectedMailbox? Selected => State is ImapSessionState.Selected s ? s.Mailbox : null;

    /// <summary>The client's name/version from its ID command (RFC 2971), for the audit log; null until it sends one.</summary>
    public string? UserAgent { get; set; }

    /// <summary>
    /// Tells the access observer (if any) of one audited command on a folder of <paramref name="ownerAddress"/>'s mailbox
    /// (null: the user's own). Observer failures are logged, never surfaced to the client.
    /// </summary>
    public void RecordAccess(MailboxAccessAction action, MailboxObjectType objectType, string? ownerAddress, string? folderPath,
        string? folderId, IReadOnlyList<uint>? uids = null, bool allowed = true, string? attachmentPath = null, string? sourceFolderPath = null,
        string? grantee = null, string? rights = null)
    {
        if (_services.AccessObserver is not { } observer || State is not (ImapSessionState.Authenticated or ImapSessionState.Selected))
            return;
        var user = Account.User;
        var address = Remote.Address.IsIPv4MappedToIPv6 ? Remote.Address.MapToIPv4() : Remote.Address;
        try
        {
            observer.Observe(new MailboxAccess(user.OrganizationId, user.Email, ownerAddress ?? user.Email, action, objectType,
                folderPath, folderId, uids ?? [], allowed, address, UserAgent, attachmentPath, sourceFolderPath, grantee, rights));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            ImapLog.AccessObserverFailed(Logger, e, Id);
        }
    }

    /// <summary>Records one audited command on messages of the selected folder.</summary>
    public void RecordSelectedAccess(MailboxAccessAction action, IReadOnlyList<uint> uids, bool allowed = true, string? attachmentPath = null)
    {
        if (Selected is { } selected)
            RecordAccess(action, action == MailboxAccessAction.ReadAttachment ? MailboxObjectType.Attachment : MailboxObjectType.Message,
                selected.SharedOwner, selected.Folder.Name, selected.FolderId, uids, allowed, attachmentPath);
    }

    public ImapAccount Account => State switch
    {
        ImapSessionState.Authenticated a => a.Account,
        ImapSessionState.Selected s => s.Account,
        _ => throw new InvalidOperationException("Not logged in."),
    };

    /// <summary>Runs the session to its end; never throws.</summary>
    public async Task RunAsync()
    {
        using var scope = Logger.BeginScope("ImapSession:{ImapSessionId}", Id);
        Logger.SessionStarted(Remote.ToString(), Kind);
        var reason = "client closed";
        try
        {
            if (Kind == ImapEndpointKind.Imaps && !await UpgradeToTlsAsync())
            {
                reason = "TLS handshake failed";
                return;
            }
            Writer.Untagged(ImapStatus.Ok, new ResponseCode.Capabilities(ValueList.Of([.. CapabilityHandler.Capabilities(this)])),
                $"{Options.ServerName} IMAP4rev2 server ready");
            await FlushAsync(_shutdown);
            reason = await CommandLoopAsync();
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
            reason = "server shutting down";
            await SayByeAsync("Server shutting down");
        }
        catch (ImapIdleTimeoutException)
        {
            reason = "idle timeout";
            Logger.IdleTimeout(Options.Limits.EffectiveIdleTimeout);
            await SayByeAsync("Autologout; idle for too long");
        }
        catch (Exception e) when (e is ImapConnectionLostException or IOException or ObjectDisposedException or AuthenticationException or OperationCanceledException)
        {
            reason = "connection lost";
        }
        catch (Exception e)
        {
            reason = "fault";
            Logger.SessionFaulted(e);
        }
        finally
        {
            ReleaseAdmitted(); // a literal cut off by the connection's end
            Selected?.Dispose();
            Notifications?.Dispose();
            State = new ImapSessionState.Logout();
            await _stream.DisposeAsync();
            Logger.SessionEnded(reason);
        }
    }

    private async Task<string> CommandLoopAsync()
    {
        while (true)
        {
            var evt = await ReadEventAsync(_shutdown, pushNotifications: true);
            switch (evt)
            {
                case null:
                    return "client closed";
                case FramerEvent.Failed failed:
                    ReleaseAdmitted();
                    Logger.FramingFailed(failed.Error.Message);
                    WriteFramingError(failed.Error);
                    if (State is ImapSessionState.NotAuthenticated && failed.Error.Kind is FramingErrorKind.LineTooLong
                            or FramingErrorKind.NonSynchronizingLiteralTooLarge or FramingErrorKind.CommandTooLarge)
                    {
                        // Before login nothing needs that much: stop reading rather than discard an endless line.
                        Writer.Untagged(ImapStatus.Bye, null, "Input too long before login");
                        await FlushAsync(_shutdown);
                        return "input too long before login";
                    }
                    await FlushAsync(_shutdown);
                    if (failed.Error.ConnectionUnusable)
                        return "unusable input";
                    continue;
                case FramerEvent.CommandReady ready:
                    var before = State is ImapSessionState.NotAuthenticated;
                    try
                    {
                        await RunCommandAsync(ImapCommandParser.Parse(ready.Command, _services.SyntaxLimits));
                    }
                    finally
                    {
                        ReleaseAdmitted();
                    }
                    await FlushAsync(_shutdown);
                    if (before && State is not ImapSessionState.NotAuthenticated)
                        _framer = NewFramer(); // logged in: the full limits (the framer is idle)
                    if (StartTlsRequested)
                    {
                        StartTlsRequested = false;
                        if (!await UpgradeToTlsAsync())
                            return "TLS handshake failed";
                    }
                    if (CompressRequested)
                    {
                        CompressRequested = false;
                        // RFC 4978 §3: the client sends nothing more until it has the OK, so no uncompressed input
                        // can be pending; any that is would be a client error and is dropped.
                        _inputStart = _inputEnd = 0;
                        _framer = NewFramer();
                        _stream = new ImapDeflateStream(_stream);
                        CompressionActive = true;
                    }
                    if (_closeAfterReply)
                        return State is ImapSessionState.Logout ? "logout" : "closed by server";
                    continue;
            }
        }
    }

    private void WriteFramingError(ImapFramingError error)
    {
        var tooBig = error.Kind is FramingErrorKind.LiteralTooLarge or FramingErrorKind.CommandTooLarge
            or FramingErrorKind.NonSynchronizingLiteralTooLarge;
        if (error.Kind is FramingErrorKind.OverBudget)
        {
            // RFC 5530 §3 LIMIT: the server-wide budget of message bytes in flight is used up; a refusal, not a syntax
            // error, so NO (the client may retry later, as after SMTP's 452 4.3.1).
            if (error.Tag is null)
                Writer.Untagged(ImapStatus.No, ResponseCode.LimitReached, error.Message);
            else
                Writer.Tagged(error.Tag, ImapStatus.No, ResponseCode.LimitReached, error.Message);
            return;
        }
        if (error.Tag is null)
            Writer.Untagged(ImapStatus.Bad, tooBig ? ResponseCode.TooBig : null, error.Message);
        else if (tooBig)
            Writer.Tagged(error.Tag, ImapStatus.No, ResponseCode.TooBig, error.Message); // RFC 7889 §3 / RFC 9051 §7.1
        else
            Writer.Tagged(error.Tag, ImapStatus.Bad, null, error.Message);
    }

    /// <summary>The one error boundary: every command's outcome becomes its tagged reply here.</summary>
    private async Task RunCommandAsync(ParseResult parsed)
    {
        if (parsed is ParseResult.Bad bad)
        {
            if (bad.Tag is null)
                Writer.Untagged(ImapStatus.Bad, null, bad.Reason);
            else
                Writer.Tagged(bad.Tag, ImapStatus.Bad, null, bad.Reason);
            return;
        }
        var command = ((ParseResult.Ok)parsed).Command;
        var entry = ImapCommandTable.Find(command);
        if (entry is null)
        {
            Writer.Tagged(command.Tag, ImapStatus.Bad, null, "Command not supported");
            return;
        }
        if (!entry.States.HasFlag(CurrentStates))
        {
            Writer.Tagged(command.Tag, ImapStatus.Bad, null, $"{entry.Name} is not valid in the {StateName} state");
            return;
        }

        // RFC 9586 §3: after ENABLE UIDONLY a message sequence number is a protocol error.
        if (UidOnlyEnabled && UidOnly.UsesSequenceNumbers(command))
        {
            Writer.Tagged(command.Tag, ImapStatus.Bad, ResponseCode.UidRequired, "Message sequence numbers cannot be used after ENABLE UIDONLY");
            return;
        }

        ImapStatus status;
        ResponseCode? code;
        string text;
        try
        {
            // The selected folder may have been deleted by another session since the last command (RFC 9051 §6.3.4).
            // SELECT, EXAMINE and LOGOUT leave the folder anyway and go on.
            if (Selected is { } current && command is not (SelectCommand or LogoutCommand))
            {
                if (!current.StillExists())
                    throw new ImapSelectionLostException("The selected mailbox was deleted");
                // Another user's folder stays open only while the user may still read it: Full Access in the (live)
                // configuration or the owner's sharing entry. Rights lost while it is selected: BYE before the next
                // command (RFC 9051 §7.1.5); RFC 4314 §4 leaves open how a server tells, and a session that stayed
                // selected could neither read nor deselect in IMAP4rev1. Lesser rights lost: that command gets NO [NOPERM].
                if (current.SharedOwner is not null)
                {
                    var rights = FolderRights.OfSelected(this);
                    if (!rights.Contains('r', StringComparison.Ordinal))
                        throw new ImapSelectionLostException("Access to the mailbox was withdrawn");
                    // RFC 4314 §5.1.1: a server that checks rights at each command SHOULD send FLAGS and PERMANENTFLAGS
                    // when they changed.
                    var flagsChanged = FolderRights.FlagRights(rights) != FolderRights.FlagRights(current.Rights);
                    current.Rights = rights;
                    if (flagsChanged)
                        current.WriteFlags(Writer);
                }
            }
            var completion = await entry.Run(command, this, _hardStop);
            (status, code, text) = (ImapStatus.Ok, completion.Code, completion.Text);
        }
        catch (ImapSelectionLostException e)
        {
            // No tagged reply: BYE, then the connection closes (RFC 9051 §7.1.5). Staying selected on a folder that
            // is gone would leave every later command failing; there is no response that deselects in rev1.
            Logger.SelectionLost(e.Message);
            Writer.Untagged(ImapStatus.Bye, null, e.Message);
            CloseAfterReply();
            return;
        }
        catch (ImapSyntaxException e)
        {
            (status, code, text) = (ImapStatus.Bad, e.Code, e.Message);
        }
        catch (ImapRefusedException e)
        {
            (status, code, text) = (ImapStatus.No, e.Code, e.Message);
        }
        catch (ImapTemporaryException e)
        {
            Logger.CommandTemporaryFailure(entry.Name, e);
            (status, code, text) = (ImapStatus.No, ResponseCode.Unavailable, e.Message);
        }
        catch (Exception e) when (e is ImapIdleTimeoutException or ImapConnectionLostException)
        {
            throw;
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested || _hardStop.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (StoreErrors.Classify(e) is { } error)
        {
            // The store's error taxonomy, in IMAP's words (RFC 5530 response codes). Client I/O never gets here: it
            // surfaces as ImapConnectionLostException.
            if (error == StoreError.Unavailable)
                Logger.CommandTemporaryFailure(entry.Name, e);
            else if (error == StoreError.Corrupt)
                Logger.CommandFault(entry.Name, e);
            (status, code, text) = error switch
            {
                StoreError.NotFound => (ImapStatus.No, ResponseCode.NonExistent, e is FolderOperationException ? e.Message : "The mailbox or message no longer exists"),
                StoreError.Conflict => (ImapStatus.No, ResponseCode.AlreadyExists, e.Message),
                StoreError.NotAllowed => (ImapStatus.No, ResponseCode.Cannot, e.Message),
                StoreError.OverQuota => (ImapStatus.No, ResponseCode.OverQuota, "The mailbox is full"),
                StoreError.Corrupt => (ImapStatus.No, ResponseCode.Corruption, "A stored message is damaged"),
                _ => (ImapStatus.No, ResponseCode.Unavailable, "The store is busy; try again"),
            };
        }
        catch (Exception e)
        {
            Logger.CommandFault(entry.Name, e);
            (status, code, text) = (ImapStatus.No, ResponseCode.ServerBug, "Internal error; the session goes on");
        }

        // Pending mailbox changes go out before the tagged reply, when the command allows (RFC 9051 §7.5.1).
        if (Selected is { } selected && State is ImapSessionState.Selected)
        {
            selected.WriteUpdates(Writer, entry.AllowsExpunge(command), CondStoreEnabled, QResyncEnabled, UidOnlyEnabled);
            await SearchUpdates.WriteAsync(this, _hardStop); // RFC 5267 §4: ADDTO / REMOVEFROM of the contexts kept updated
        }
        Writer.Tagged(command.Tag, status, code, text);
    }

    private ImapStates CurrentStates => State switch
    {
        ImapSessionState.NotAuthenticated => ImapStates.NotAuthenticated,
        ImapSessionState.Authenticated => ImapStates.Authenticated,
        ImapSessionState.Selected => ImapStates.Selected,
        _ => 0,
    };

    private string StateName => State switch
    {
        ImapSessionState.NotAuthenticated => "not authenticated",
        ImapSessionState.Authenticated => "authenticated",
        ImapSessionState.Selected => "selected",
        _ => "logout",
    };

    /// <summary>
    /// Reads the next framed unit (a command, or a continuation line such as a SASL response or DONE), answering
    /// synchronising literals with a continuation request. Null at end of stream.
    /// </summary>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <param name="pushNotifications">Between commands: while waiting for the client, write what NOTIFY asked for as
    /// it happens (RFC 5465 §3).</param>
    /// <exception cref="ImapIdleTimeoutException">Nothing arrived within the idle timeout.</exception>
    public async Task<FramerEvent?> ReadEventAsync(CancellationToken cancellationToken, bool pushNotifications = false)
    {
        while (true)
        {
            while (_inputStart < _inputEnd)
            {
                var evt = _framer.Push(_input.AsSpan(_inputStart, _inputEnd - _inputStart), out var consumed);
                _inputStart += consumed;
                // Before login the framer refuses literals above 8 KiB itself (PreLoginSyntaxLimits) with NO [TOOBIG],
                // before any continuation request, so the client never sends them.
                if (evt is FramerEvent.ContinuationNeeded)
                {
                    Writer.Continuation("Ready for literal data"); // RFC 9051 §7.5
                    await FlushAsync(cancellationToken);
                    continue;
                }
                if (evt is not null)
                    return evt;
            }
            if (!_framer.IsIdle)
                TcpQuickAck.Request(_socket); // mid-command (say APPEND's literal): a Nagle client waits for our ACK
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Options.Limits.EffectiveIdleTimeout);
            int read;
            try
            {
                var reading = _stream.ReadAsync(_input, timeout.Token).AsTask();
                if (pushNotifications && _framer.IsIdle)
                    await PushNotificationsUntilAsync(reading, cancellationToken);
                read = await reading;
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new ImapIdleTimeoutException();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                throw new ImapConnectionLostException(e);
            }
            if (read == 0)
                return null;
            _inputStart = 0;
            _inputEnd = read;
        }
    }

    /// <summary>
    /// While the client is silent between commands, writes what NOTIFY asked for each time the change feed has news
    /// (the feed wakes the session; nothing is polled) until <paramref name="reading"/> completes. A store error ends the
    /// notifications the way an overflow does.
    /// </summary>
    private async Task PushNotificationsUntilAsync(Task<int> reading, CancellationToken cancellationToken)
    {
        while (!reading.IsCompleted && Notifications is { } notifications)
        {
            using var round = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var fed = notifications.WaitAsync(round.Token).AsTask();
            var selectedFed = notifications.PushesSelected && Selected is { } selected ? selected.WaitForChangeAsync(round.Token).AsTask() : null;
            var first = selectedFed is null ? await Task.WhenAny(reading, fed) : await Task.WhenAny(reading, fed, selectedFed);
            await round.CancelAsync();
            if (first == reading || first is not Task<bool> { IsCompletedSuccessfully: true, Result: true })
                return; // the client spoke, the store is closing, or the session is stopping
            try
            {
                await notifications.WriteAsync(this, selectedToo: true, _hardStop);
            }
            catch (Exception e) when (e is not (ImapConnectionLostException or OperationCanceledException))
            {
                Logger.NotificationsFailed(e);
                Writer.Untagged(ImapStatus.Ok, ResponseCode.NotificationOverflow, "Notifications stopped");
                Notifications = null;
                notifications.Dispose();
            }
            await FlushAsync(cancellationToken);
        }
    }

    /// <summary>Reads one continuation line (AUTHENTICATE response, DONE). Null at end of stream.</summary>
    /// <exception cref="ImapSyntaxException">The client sent something that is not a plain line.</exception>
    public async Task<ReadOnlyMemory<byte>?> ReadLineAsync(CancellationToken cancellationToken)
    {
        var evt = await ReadEventAsync(cancellationToken);
        return evt switch
        {
            null => null,
            FramerEvent.CommandReady ready => ready.Command,
            FramerEvent.Failed failed => throw new ImapSyntaxException(failed.Error.Message),
            _ => throw new ImapSyntaxException("Unexpected input"),
        };
    }

    /// <summary>The shutdown token: IDLE and other waits for the client end with it.</summary>
    public CancellationToken Shutdown => _shutdown;

    /// <summary>Writes what has been buffered to the client.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_output.WrittenCount == 0)
            return;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(WriteTimeout);
        try
        {
            await _stream.WriteAsync(_output.WrittenMemory, timeout.Token);
            await _stream.FlushAsync(timeout.Token);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException
                                  || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new ImapConnectionLostException(e); // gone, or not reading for WriteTimeout
        }
        _output.ResetWrittenCount();
    }

    /// <summary>Appends octets already formatted as response lines (a FETCH response built in a scratch buffer).</summary>
    public void WriteRaw(ReadOnlySpan<byte> octets) => _output.Write(octets);

    /// <summary>Flushes when a long response (FETCH of many messages) has buffered a lot.</summary>
    public Task FlushIfLargeAsync(CancellationToken cancellationToken) =>
        _output.WrittenCount >= FlushThreshold ? FlushAsync(cancellationToken) : Task.CompletedTask;

    private async Task<bool> UpgradeToTlsAsync()
    {
        // RFC 9051 §6.2.1 / RFC 3501 §11.1: anything the client pipelined after STARTTLS was sent in plain text
        // and must not be read through the TLS layer.
        _inputStart = _inputEnd = 0;
        _framer = NewFramer();
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown);
        timeout.CancelAfter(Options.Limits.EffectiveTlsHandshakeTimeout);
        try
        {
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = Options.Certificates.Context, // asked per handshake: a renewed certificate needs no restart
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificateRequired = false,
            }, timeout.Token);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException)
        {
            Logger.TlsFailed(e);
            await ssl.DisposeAsync();
            return false;
        }
        _stream = ssl;
        IsSecure = true;
        return true;
    }

    private async Task SayByeAsync(string text)
    {
        try
        {
            _output.ResetWrittenCount();
            Writer.Untagged(ImapStatus.Bye, null, text);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _stream.WriteAsync(_output.WrittenMemory, timeout.Token);
            await _stream.FlushAsync(timeout.Token);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // The client is gone already.
        }
    }
}

/// <summary>The client connection failed (read or write): the session ends; never turned into a reply.</summary>
internal sealed class ImapConnectionLostException(Exception inner) : Exception("The client connection was lost.", inner);

/// <summary>No input arrived within the idle timeout.</summary>
internal sealed class ImapIdleTimeoutException() : Exception("The client was idle for too long.");
