using System.Threading.Channels;
using MailServer.Protocols.Imap;
using MailServer.Server.Configuration;
using MailServer.Server.Logging;
using MailServer.Server.Metrics;
using MailServer.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.ContentFiltering;

/// <summary>Messages a user moved or copied into (spam) or out of (ham) Junk E-mail, to teach rspamd.</summary>
/// <param name="OrganizationId">The mailbox owner's organization.</param>
/// <param name="Owner">The mailbox owner's address.</param>
/// <param name="FolderId">The folder the messages are in now.</param>
/// <param name="Uids">Their UIDs there.</param>
/// <param name="Spam">True: learn as spam; false: as ham.</param>
public sealed record JunkTrainingRequest(string OrganizationId, string Owner, string FolderId, IReadOnlyList<uint> Uids, bool Spam);

/// <summary>
/// The moves waiting to be learned: a bounded in-memory queue between the IMAP sessions (which only add to it, never
/// waiting) and <see cref="JunkTrainingService"/>. Full (10,000 moves waiting: rspamd down for long): a move is logged and
/// not learned. A restart loses what waits; the user's message itself is never touched.
/// </summary>
public sealed class JunkTrainingQueue
{
    /// <summary>Moves that may wait at once.</summary>
    public const int Capacity = 10_000;

    private readonly Channel<JunkTrainingRequest> _channel = Channel.CreateBounded<JunkTrainingRequest>(
        new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });

    /// <summary>Adds a move without waiting; false when the queue is full.</summary>
    public bool TryEnqueue(JunkTrainingRequest request) => _channel.Writer.TryWrite(request);

    /// <summary>The moves, in order.</summary>
    public ChannelReader<JunkTrainingRequest> Reader => _channel.Reader;
}

/// <summary>
/// Watches the users' IMAP MOVE and COPY (through the mailbox access observer): messages put into Junk E-mail from another
/// folder are spam, messages taken out of Junk E-mail into a folder other than Deleted Items are ham (deleting spam says
/// nothing about it). Only when rspamd's controller is configured and the mailbox owner's organization filters content.
/// </summary>
public sealed class JunkTrainingObserver(JunkTrainingQueue queue, Func<ServerConfig> config, ILogger<JunkTrainingObserver> logger) : IMailboxAccessObserver
{
    /// <inheritdoc />
    public void Observe(MailboxAccess access)
    {
        ArgumentNullException.ThrowIfNull(access);
        if (!access.Allowed || access.Action is not (MailboxAccessAction.MoveTo or MailboxAccessAction.CopyTo) || access.Uids.Count == 0
            || access.FolderId is null)
            return;
        var current = config();
        if (current.ContentFiltering.RspamdControllerUrl is null
            || current.Organizations.FirstOrDefault(o => o.Id == access.OrganizationId)?.ContentFiltering.Enabled == false)
            return;
        var toJunk = IsJunk(access.FolderPath);
        var fromJunk = IsJunk(access.SourceFolderPath);
        bool spam;
        if (toJunk && !fromJunk && access.SourceFolderPath is not null)
            spam = true;
        else if (fromJunk && !toJunk && access.FolderPath is not (null or WellKnownFolders.DeletedItems))
            spam = false;
        else
            return;
        if (!queue.TryEnqueue(new JunkTrainingRequest(access.OrganizationId, access.OwnerId, access.FolderId, access.Uids, spam)))
            ContentFilteringLog.QueueFull(logger, access.OwnerId, JunkTrainingQueue.Capacity);
    }

    private static bool IsJunk(string? folder) => string.Equals(folder, WellKnownFolders.JunkEmail, StringComparison.Ordinal);
}

/// <summary>
/// Sends the queued moves to rspamd's controller (<c>/learnspam</c>, <c>/learnham</c>), one message at a time, off the
/// IMAP sessions: a MOVE answers as fast with rspamd down as with it up. A message rspamd does not take is retried twice
/// (after 2 and 10 seconds), then logged and counted as failed (metric JunkTraining, result failed); a message the user
/// expunged meanwhile is skipped.
/// </summary>
public sealed class JunkTrainingService(
    JunkTrainingQueue queue,
    IImapSessionReads store,
    RspamdClient rspamd,
    Func<ServerConfig> config,
    ILogger<JunkTrainingService> logger,
    TimeProvider time,
    MailMetrics? metrics = null) : BackgroundService
{
    private static readonly TimeSpan[] RetryDelays = [TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10)];

    /// <inheritdoc />
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Said once at start: what filters the mail (or that nothing does).
        var settings = config().ContentFiltering;
        if (settings.AnyEngine)
            ContentFilteringLog.Configured(logger, settings.RspamdUrl?.ToString() ?? "not configured", settings.ClamdAddress?.ToString() ?? "not configured",
                settings.TimeoutSeconds, settings.FailMode.ToString(), settings.RspamdControllerUrl is { } c ? $"from Junk E-mail moves via {c}" : "off (no RspamdControllerUrl)");
        else
            ContentFilteringLog.Off(logger);
        return base.StartAsync(cancellationToken);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var request in queue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await TrainAsync(request, stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    ContentFilteringLog.TrainingFault(logger, e, request.Owner);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // shutting down: what waits is not learned (documented)
        }
    }

    private async Task TrainAsync(JunkTrainingRequest request, CancellationToken cancellationToken)
    {
        var settings = config().ContentFiltering;
        if (settings.RspamdControllerUrl is not { } controller || store.FindMailbox(request.OrganizationId, request.Owner) is not { } mailbox)
            return;
        var wanted = request.Uids.ToHashSet();
        var messages = store.ListMessages(request.FolderId, request.Uids.Min()).Where(m => wanted.Contains(m.Uid)).ToList();
        var kind = request.Spam ? "spam" : "ham";
        var learned = 0;
        foreach (var meta in messages)
        {
            byte[] content;
            try
            {
                content = await store.ReadMessageAsync(mailbox.MailboxId, meta.EntryId, cancellationToken).ConfigureAwait(false);
            }
            catch (KeyNotFoundException)
            {
                continue; // expunged meanwhile
            }
            for (var attempt = 1; ; attempt++)
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                deadline.CancelAfter(settings.Timeout);
                try
                {
                    await using var body = new MemoryStream(content, writable: false);
                    await rspamd.LearnAsync(controller, request.Spam, body, deadline.Token).ConfigureAwait(false);
                    metrics?.JunkTraining(kind, failed: false);
                    learned++;
                    break;
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is HttpRequestException or OperationCanceledException or IOException)
                {
                    ContentFilteringLog.LearnFailed(logger, request.Owner, meta.Uid, kind, attempt, e is OperationCanceledException ? "timed out" : e.Message);
                    if (attempt > RetryDelays.Length)
                    {
                        metrics?.JunkTraining(kind, failed: true);
                        break;
                    }
                    await Task.Delay(RetryDelays[attempt - 1], time, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        if (learned > 0)
            ContentFilteringLog.Learned(logger, request.Owner, learned, kind);
    }
}

/// <summary>Tells several observers of every audited mailbox operation, in order; one that throws does not stop the others.</summary>
public sealed class MailboxAccessObservers(IReadOnlyList<IMailboxAccessObserver> observers, ILogger<MailboxAccessObservers> logger) : IMailboxAccessObserver
{
    /// <inheritdoc />
    public void Observe(MailboxAccess access)
    {
        foreach (var observer in observers)
        {
            try
            {
                observer.Observe(access);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                ContentFilteringLog.ObserverFailed(logger, e, observer.GetType().Name);
            }
        }
    }
}

/// <summary>The engines' state for <c>GET /health</c>: each configured engine pinged (rspamd <c>/ping</c>, clamd <c>PING</c>) within 2 seconds.</summary>
public sealed class ContentEngineHealth(RspamdClient rspamd, ClamdClient clamd, Func<ServerConfig> config)
{
    /// <summary>One engine's state: <c>up</c>, <c>down</c> or <c>not configured</c>.</summary>
    public sealed record State(string Rspamd, string Clamd)
    {
        /// <summary>True when a configured engine does not answer.</summary>
        public bool Degraded => Rspamd == "down" || Clamd == "down";
    }

    /// <summary>Pings the configured engines at once.</summary>
    public async Task<State> CheckAsync(CancellationToken cancellationToken)
    {
        var settings = config().ContentFiltering;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(2));
        var r = settings.RspamdUrl is { } url ? rspamd.PingAsync(url, deadline.Token) : null;
        var c = settings.ClamdAddress is { } address ? clamd.PingAsync(address, deadline.Token) : null;
        static async Task<string> Name(Task<bool>? ping) => ping is null ? "not configured" : await ping.ConfigureAwait(false) ? "up" : "down";
        return new State(await Name(r).ConfigureAwait(false), await Name(c).ConfigureAwait(false));
    }
}
