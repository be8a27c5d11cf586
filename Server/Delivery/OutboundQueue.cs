using MailServer.Rules.Sending;
using System.Collections.Concurrent;
using MailServer.Server.Configuration;
using MailServer.Server.Logging;
using MailServer.Storage;
using Microsoft.Extensions.Logging;
using MimeKit;
using MailServer.Rules.Addressing;

namespace MailServer.Server.Delivery;

/// <summary>
/// The outbound queue worker's logic: takes due messages, groups each message's due recipients by destination
/// (gateway or domain), makes one connection per destination carrying all its recipients (at most
/// Delivery.MaxConnectionsPerDomain at once per destination), and records each recipient's outcome durably:
/// delivered; failed (5xx, or 4xx past Delivery.QueueLifetimeHours) with a failure DSN; or deferred with
/// exponential backoff, and a delay DSN once after Delivery.DelayWarningHours when the sender did not opt out
/// (RFC 3461 §4.1: NOTIFY absent means FAILURE and DELAY may be reported).
/// </summary>
public sealed class OutboundQueue(
    IQueueStore store,
    RemoteDelivery remote,
    DsnSender dsn,
    Func<ServerConfig> config,
    QueueSignal signal,
    ILogger logger,
    TimeProvider time,
    MailServer.Server.Events.IEmailEventLog events)
{
    private readonly TimeProvider _time = time;
    private readonly ConcurrentDictionary<string, byte> _inFlight = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _perDestination = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _messages = new(MaxMessagesInFlight, MaxMessagesInFlight);

    /// <summary>Messages delivered at once (each is read into memory while it waits for a connection).</summary>
    internal const int MaxMessagesInFlight = 32;

    /// <summary>Wakes the worker (after a retry request or a new message).</summary>
    public void Wake() => signal.Wake();

    /// <summary>The signal the worker waits on between runs.</summary>
    public QueueSignal Signal => signal;

    /// <summary>Messages being delivered right now.</summary>
    public int InFlight => _inFlight.Count;

    /// <summary>
    /// How long a claim on a queued message lives without renewal (<c>Storage.LeaseSeconds</c>). A run renews it every
    /// third of this while it delivers; a node that dies stops renewing, and another node takes its messages over once
    /// the lease ran out.
    /// </summary>
    private TimeSpan Lease => config().Storage.Lease;

    /// <summary>
    /// Claims due messages (<see cref="IQueueStore.ClaimDueQueueAsync"/>: never one another claimer holds, in this
    /// process or on another node sharing the store) and starts their delivery, up to <see cref="MaxMessagesInFlight"/>
    /// at once; returns the tasks started. When half of them have finished, the worker is woken to start more (so a
    /// long queue does not wait for the poll interval between rounds).
    /// </summary>
    /// <exception cref="IOException">The store failed the claim (nothing was claimed; the next round tries again).</exception>
    public async Task<IReadOnlyList<Task>> StartDueAsync(CancellationToken cancellationToken)
    {
        var free = MaxMessagesInFlight - _inFlight.Count;
        if (free <= 0)
            return [];
        var claimed = await store.ClaimDueQueueAsync(_time.GetUtcNow(), free, Lease, cancellationToken).ConfigureAwait(false);
        var started = new List<Task>(claimed.Count);
        foreach (var queueId in claimed)
        {
            // An administrator's retry of this message is writing it right now; its write ends the lease, and the
            // next round claims the message again.
            if (!_inFlight.TryAdd(queueId, 0))
                continue;
            started.Add(RunAsync(queueId, cancellationToken));
        }
        return started;
    }

    /// <summary>Closes the connections to remote hosts that have waited too long for another message.</summary>
    public void CloseIdleConnections() => remote.CloseIdle();

    /// <summary>Makes every pending recipient of one message (or of all when null) due now and wakes the worker.</summary>
    /// <returns>How many messages were affected.</returns>
    /// <remarks>
    /// A message the worker is delivering right now is being tried already and counts as retried; any other is
    /// claimed (so the worker cannot start on it meanwhile), re-read and updated. Without the claim, a retry racing
    /// a delivery could write back a recipient the worker had just delivered as pending, and send it twice.
    /// </remarks>
    public async Task<int> RetryNowAsync(string? queueId, CancellationToken cancellationToken)
    {
        var ids = queueId is null ? store.ListQueue().Select(m => m.QueueId).ToList() : [queueId];
        var count = 0;
        // Many at once, so the store's writer commits them in shared batches (one fsync per batch, not per message).
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = MaxMessagesInFlight, CancellationToken = cancellationToken },
            async (id, token) =>
            {
                if (!_inFlight.TryAdd(id, 0))
                {
                    Interlocked.Increment(ref count);
                    return;
                }
                try
                {
                    Interlocked.Add(ref count, await QueueAdministration.RetryAsync(store, id, _time.GetUtcNow(), token).ConfigureAwait(false));
                }
                finally
                {
                    _inFlight.TryRemove(id, out _);
                }
            }).ConfigureAwait(false);
        signal.Wake();
        return count;
    }

    private async Task RunAsync(string queueId, CancellationToken cancellationToken)
    {
        await _messages.WaitAsync(cancellationToken).ConfigureAwait(false);
        using var run = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var renewal = RenewLeaseAsync(queueId, run);
        try
        {
            await ProcessAsync(queueId, run.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: the recipients stay pending on disk and are tried after the restart.
        }
        catch (OperationCanceledException) when (run.IsCancellationRequested)
        {
            // The lease was lost (this node stalled past it and another took the message over): write nothing back.
            QueueLog.LeaseLost(logger, queueId);
        }
        catch (LeaseHeldElsewhereException)
        {
            QueueLog.LeaseLost(logger, queueId);
        }
        catch (Exception e)
        {
            QueueLog.RunFailed(logger, e, queueId);
            await DeferAfterFaultAsync(queueId, e).ConfigureAwait(false);
        }
        finally
        {
            _messages.Release();
            await run.CancelAsync().ConfigureAwait(false);
            await renewal.ConfigureAwait(false);
            _inFlight.TryRemove(queueId, out _);
            if (_inFlight.Count <= MaxMessagesInFlight / 2)
                signal.Wake();
        }
    }

    /// <summary>
    /// Renews the run's lease every third of <see cref="Lease"/> until the run ends (<paramref name="run"/> cancelled);
    /// when the store says the lease is gone, cancels the run. A failed renewal (the store unreachable) is tried again
    /// at the next tick while the lease would still live by then; otherwise the run is cancelled too, since another
    /// node may take the message over once the lease has run out.
    /// </summary>
    private async Task RenewLeaseAsync(string queueId, CancellationTokenSource run)
    {
        var renewed = _time.GetUtcNow();
        var lease = Lease;
        try
        {
            while (true)
            {
                await Task.Delay(lease / 3, _time, run.Token).ConfigureAwait(false);
                var now = _time.GetUtcNow();
                try
                {
                    if (!await store.RenewQueueLeaseAsync(queueId, now, lease, run.Token).ConfigureAwait(false))
                    {
                        await run.CancelAsync().ConfigureAwait(false);
                        return;
                    }
                    renewed = now;
                }
                catch (IOException e)
                {
                    QueueLog.RunFailed(logger, e, queueId);
                    if (now - renewed + lease / 3 >= lease)
                    {
                        await run.CancelAsync().ConfigureAwait(false);
                        return;
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The run ended.
        }
    }

    /// <summary>
    /// A run that threw (a bug or a store fault) must not make the message due again at once: its pending
    /// recipients are deferred like a temporary failure, so a poisoned message cannot spin the worker.
    /// </summary>
    private async Task DeferAfterFaultAsync(string queueId, Exception fault)
    {
        try
        {
            if (store.FindQueued(queueId) is not { } queued)
                return;
            var now = _time.GetUtcNow();
            var delivery = config().Delivery;
            await store.UpdateQueuedAsync(queueId, queued.Envelope.Recipients.Select(r => r.State != QueuedRecipientState.Pending || r.NextAttemptAt > now ? r
                : r with { Attempts = r.Attempts + 1, NextAttemptAt = now + Backoff(r.Attempts + 1, delivery), LastError = "internal error: " + fault.GetType().Name, Status = "4.3.0" }).ToList(),
                CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            QueueLog.RunFailed(logger, e, queueId);
        }
    }

    /// <summary>One delivery run over one message's due recipients.</summary>
    internal async Task ProcessAsync(string queueId, CancellationToken cancellationToken)
    {
        if (store.FindQueued(queueId) is not { } queued)
            return; // deleted meanwhile
        var now = _time.GetUtcNow();
        var envelope = queued.Envelope;
        var current = config();
        var delivery = current.Delivery;
        var bytes = await store.ReadQueuedMessageAsync(queueId, cancellationToken).ConfigureAwait(false);
        MimeMessage message;
        using (var stream = new MemoryStream(bytes, writable: false))
            message = await MimeMessage.LoadAsync(stream, cancellationToken).ConfigureAwait(false);

        var due = envelope.Recipients
            .Select((r, i) => (Recipient: r, Index: i))
            .Where(x => x.Recipient.State == QueuedRecipientState.Pending && x.Recipient.NextAttemptAt <= now)
            .ToList();
        var organization = current.Organizations.FirstOrDefault(o => o.Id == envelope.OrganizationId);
        var groups = due.GroupBy(x => DestinationOf(queueId, x.Recipient, organization).Key)
            .Select(g => (Destination: DestinationOf(queueId, g.First().Recipient, organization), Members: g.ToList()))
            .ToList();

        var results = new RemoteOutcome[envelope.Recipients.Count];
        await Task.WhenAll(groups.Select(async group =>
        {
            var gate = _perDestination.GetOrAdd(group.Destination.Key, _ => new SemaphoreSlim(delivery.MaxConnectionsPerDomain, delivery.MaxConnectionsPerDomain));
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var recipients = group.Members.Select(m => new RemoteRecipient(m.Recipient.Address, m.Recipient.DsnNotify, m.Recipient.OriginalRecipient)).ToList();
                var demand = envelope.RequireTls ? TransportDemand.RequireTls
                    : envelope.TlsPoliciesWaived ? TransportDemand.PoliciesWaived : TransportDemand.Default;
                var outcomes = await remote.DeliverAsync(group.Destination, message, envelope.Sender, recipients, envelope.DsnEnvelopeId, demand,
                    cancellationToken).ConfigureAwait(false);
                for (var i = 0; i < group.Members.Count; i++)
                    results[group.Members[i].Index] = outcomes[i];
            }
            finally
            {
                gate.Release();
            }
        })).ConfigureAwait(false);

        var finished = _time.GetUtcNow();
        // Read once per run, and only if an event is written.
        var headers = new Lazy<MailServer.Server.Events.InboundEvents.HeaderFields>(() => MailServer.Server.Events.InboundEvents.ReadHeaders(bytes));
        var expiry = envelope.ReceivedAt + TimeSpan.FromHours(delivery.QueueLifetimeHours);
        var updated = envelope.Recipients.ToList();
        var failed = new List<DsnRecipient>();
        var delayed = new List<DsnRecipient>();
        var relayed = new List<DsnRecipient>();
        foreach (var (recipient, index) in due)
        {
            var attempts = recipient.Attempts + 1;
            switch (results[index])
            {
                case RemoteOutcome.Delivered delivered:
                    updated[index] = recipient with { State = QueuedRecipientState.Delivered, Attempts = attempts, Status = "2.0.0", RemoteMta = delivered.RemoteMta, LastError = null };
                    QueueLog.RecipientDelivered(logger, queueId, recipient.Address, delivered.RemoteMta);
                    Report(envelope, headers, h => new MailServer.Server.Events.OutgoingEmailSent(envelope.OrganizationId, TraceOf(queueId, envelope),
                        recipient.Address, h.Sender, h.From, h.MessageId));
                    if (Wants(recipient.DsnNotify, "SUCCESS"))
                        relayed.Add(new DsnRecipient(recipient.Address, recipient.OriginalRecipient, DsnAction.Relayed, "2.0.0", delivered.Reply, delivered.RemoteMta, finished));
                    break;
                case RemoteOutcome.PermanentFailure permanent:
                    updated[index] = recipient with { State = QueuedRecipientState.Failed, Attempts = attempts, Status = permanent.Status, RemoteMta = permanent.RemoteMta, LastError = permanent.Reason };
                    QueueLog.RecipientBounced(logger, queueId, recipient.Address, permanent.Status, permanent.Reason);
                    Report(envelope, headers, _ => new MailServer.Server.Events.OutgoingEmailBounced(envelope.OrganizationId, TraceOf(queueId, envelope),
                        new MailServer.Server.Events.BouncedRecipient(recipient.Address, permanent.Reason, permanent.Status), permanent.RemoteMta, permanent.Reason));
                    if (WantsFailure(recipient.DsnNotify))
                        failed.Add(new DsnRecipient(recipient.Address, recipient.OriginalRecipient, DsnAction.Failed, permanent.Status, permanent.Reason, permanent.RemoteMta, finished));
                    break;
                case RemoteOutcome.TemporaryFailure temporary when finished >= expiry:
                    // RFC 5321 §4.5.4.1: give up after the queue lifetime; the last temporary reason is reported.
                    var reason = $"delivery time expired after {delivery.QueueLifetimeHours} hours; last error: {temporary.Reason}";
                    updated[index] = recipient with { State = QueuedRecipientState.Failed, Attempts = attempts, Status = "4.4.7", RemoteMta = temporary.RemoteMta, LastError = reason };
                    QueueLog.RecipientBounced(logger, queueId, recipient.Address, "4.4.7", reason);
                    Report(envelope, headers, _ => new MailServer.Server.Events.OutgoingEmailBounced(envelope.OrganizationId, TraceOf(queueId, envelope),
                        new MailServer.Server.Events.BouncedRecipient(recipient.Address, reason, "4.4.7"), temporary.RemoteMta, reason));
                    if (WantsFailure(recipient.DsnNotify))
                        failed.Add(new DsnRecipient(recipient.Address, recipient.OriginalRecipient, DsnAction.Failed, "4.4.7", reason, temporary.RemoteMta, finished));
                    break;
                case RemoteOutcome.TemporaryFailure temporary:
                    var next = finished + Backoff(attempts, delivery);
                    if (next > expiry)
                        next = expiry;
                    var delay = !recipient.DelayReported && finished - envelope.ReceivedAt >= TimeSpan.FromHours(delivery.DelayWarningHours)
                                && (recipient.DsnNotify is null || Wants(recipient.DsnNotify, "DELAY"));
                    updated[index] = recipient with
                    {
                        Attempts = attempts, NextAttemptAt = next, Status = temporary.Status, RemoteMta = temporary.RemoteMta,
                        LastError = temporary.Reason, DelayReported = recipient.DelayReported || delay,
                    };
                    QueueLog.RecipientDeferred(logger, queueId, recipient.Address, attempts, next, temporary.Reason);
                    if (delay)
                        delayed.Add(new DsnRecipient(recipient.Address, recipient.OriginalRecipient, DsnAction.Delayed, temporary.Status, temporary.Reason,
                            temporary.RemoteMta, finished, expiry));
                    break;
            }
        }

        // DSNs first: once the recipients are settled the message (and its bytes) may leave the queue.
        foreach (var report in new[] { failed, delayed, relayed })
            if (report.Count > 0)
                await dsn.SendAsync(queueId, envelope, report, bytes, cancellationToken).ConfigureAwait(false);
        await store.UpdateQueuedAsync(queueId, updated, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Exponential backoff: RetryMinimumSeconds doubled per attempt, at most RetryMaximumSeconds.</summary>
    internal static TimeSpan Backoff(int attempts, DeliveryConfig delivery)
    {
        var seconds = delivery.RetryMinimumSeconds * Math.Pow(2, Math.Min(attempts - 1, 20));
        return TimeSpan.FromSeconds(Math.Min(seconds, delivery.RetryMaximumSeconds));
    }

    private Destination DestinationOf(string queueId, QueuedRecipient recipient, OrganizationConfig? organization)
    {
        if (recipient.Gateway is { } name)
        {
            if (organization?.SmtpGateways.FirstOrDefault(g => g.Name == name) is { } gateway)
                return new Destination.Gateway(gateway);
            QueueLog.GatewayMissing(logger, queueId, name);
        }
        return new Destination.Domain(AddressSyntax.DomainOf(recipient.Address));
    }

    private static bool WantsFailure(string? notify) => notify is null || Wants(notify, "FAILURE");

    private static bool Wants(string? notify, string item) =>
        notify is not null && notify.Split(',').Contains(item, StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The event-log trace id of a queued message: the one its transaction carried (shared with OUTGOING_EMAIL_SUBMITTED
    /// and the message's other events); for a message queued before envelopes kept it, its queue id.
    /// </summary>
    internal static Guid TraceOf(string queueId, OutboundEnvelope envelope) =>
        envelope.TraceId ?? (Guid.TryParseExact(queueId, "N", out var id) ? id : Guid.Empty);

    /// <summary>OUTGOING_EMAIL_SENT / _BOUNCED (§18) for users' mail; DSNs and journal records are the server's own.</summary>
    private void Report(OutboundEnvelope envelope, Lazy<MailServer.Server.Events.InboundEvents.HeaderFields> headers,
        Func<MailServer.Server.Events.InboundEvents.HeaderFields, MailServer.Server.Events.EmailEvent> build)
    {
        if (envelope.SubmittedBy is null)
            return;
        events.Write(build(headers.Value));
    }
}
