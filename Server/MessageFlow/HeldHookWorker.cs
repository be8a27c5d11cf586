using System.Collections.Concurrent;
using MailServer.Rules.Directory;
using MailServer.Rules.FlowRules;
using MailServer.Rules.Hooks;
using MailServer.Server.Configuration;
using MailServer.Server.Hooks;
using MailServer.Server.MailFlow;
using MailServer.Storage;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace MailServer.Server.MessageFlow;

/// <summary>
/// Decides held messages (§10.5): each due one gets one hook call with its fixed invocation id; a valid answer
/// decides per recipient, a failure is recorded with the next attempt (Delivery.HookRetryMinimumSeconds doubling to
/// HookRetryMaximumSeconds, never past the rule timeout), and once the rule timeout has passed the fallback applies
/// to every recipient. The decision applies to the content as it stands after any PUT through the message flow API.
/// State lives in the store only, so a restart resumes where it stopped. Driven by <c>HeldHookService</c>.
/// </summary>
public sealed class HeldHookWorker(
    IHeldMessageStore store,
    IMessageFlowStore inTransit,
    HookHolds holds,
    HookClient hooks,
    FlowRuleSetCache rules,
    IDirectorySource directory,
    Func<ServerConfig> config,
    Func<IMailFlowDoor> door,
    ILogger<HeldHookWorker> logger,
    TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, byte> _running = new(StringComparer.Ordinal);

    /// <summary>Wakes the loop when a message is held.</summary>
    public Delivery.QueueSignal Signal => holds.Signal;

    /// <summary>How long a claim on a held message lives: far longer than one hook call (a rule's timeout bounds it),
    /// and the time after which another node takes over the held messages of a node that died.</summary>
    internal static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    /// <summary>Claims due held messages (<see cref="IHeldMessageStore.ClaimDueHeldAsync"/>: never one that another
    /// claimer, here or on another node, holds) and starts them; each task completes when its attempt is done.</summary>
    /// <exception cref="IOException">The store failed the claim (nothing was claimed).</exception>
    public async Task<IReadOnlyList<Task>> StartDueAsync(CancellationToken cancellationToken)
    {
        var started = new List<Task>();
        foreach (var held in await store.ClaimDueHeldAsync(_time.GetUtcNow(), 100, Lease, cancellationToken).ConfigureAwait(false))
        {
            if (_running.TryAdd(held.HeldId, 0))
                started.Add(Task.Run(() => RunOneAsync(held, cancellationToken), CancellationToken.None));
        }
        return started;
    }

    private async Task RunOneAsync(HeldMessage held, CancellationToken cancellationToken)
    {
        try
        {
            await ProcessAsync(held, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: the message stays held on disk and is resumed after the restart.
        }
        catch (Exception e)
        {
            HeldHookLog.ProcessingFailed(logger, e, held.HeldId);
            try
            {
                // Not in a tight loop: the next try waits like a failed call would.
                var attempts = held.Attempts + 1;
                await store.RecordHeldAttemptAsync(held.HeldId, attempts, _time.GetUtcNow() + config().Delivery.HookRetryDelay(attempts),
                    "processing failed: " + e.GetType().Name, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception again) when (again is KeyNotFoundException or IOException or WriteOutcomeUnknownException or LeaseHeldElsewhereException)
            {
                HeldHookLog.ProcessingFailed(logger, again, held.HeldId);
            }
        }
        finally
        {
            _running.TryRemove(held.HeldId, out _);
        }
    }

    /// <summary>One attempt for <paramref name="held"/>: call the hook, then apply the decision (or the fallback) or record the failure.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired; nothing changed.</exception>
    public async Task ProcessAsync(HeldMessage held, CancellationToken cancellationToken)
    {
        var flowDirection = held.Direction == MessageFlowContext.Incoming ? FlowDirection.Inbound : FlowDirection.Outbound;
        var set = rules.For(held.OrganizationId);
        var rule = (flowDirection == FlowDirection.Inbound ? set.Inbound : set.Outbound)
            .FirstOrDefault(r => r.Name == held.Rule && r.Hook is { Synchronous: true });
        var snapshot = directory.Current;
        var context = new HookResponseContext(flowDirection, held.Recipients, rule?.Hook?.FallbackAction ?? HookHolds.FallbackOf(held),
            a => snapshot.Resolve(a) is RecipientResolution.Local l && l.Organization.Id == held.OrganizationId);
        byte[] body;
        try
        {
            body = await store.ReadHeldMessageAsync(held.HeldId, cancellationToken).ConfigureAwait(false);
        }
        catch (KeyNotFoundException)
        {
            return; // released by an attempt that finished after this one was listed as due
        }

        var attempt = held.Attempts + 1;
        HookResponse.Decided decided;
        if (rule is null)
        {
            decided = HookResponseParser.Fallback(context);
            HeldHookLog.FallbackApplied(logger, held.HeldId, held.Rule, held.InvocationId, held.Attempts, "the rule is no longer configured", context.FallbackAction.ToString());
        }
        else
        {
            var hookEvent = await EventAsync(held, flowDirection, body, cancellationToken).ConfigureAwait(false);
            var answer = await hooks.AttemptAsync(rule.Name, rule.Hook!, HookEventJson.Serialize(hookEvent), held.InvocationId, attempt, context, cancellationToken)
                .ConfigureAwait(false);
            if (answer is HookResponse.Decided d)
            {
                decided = d;
                HeldHookLog.Decided(logger, held.HeldId, held.Rule, held.InvocationId, attempt);
            }
            else
            {
                var reason = answer is HookResponse.Invalid invalid ? invalid.Reason : "unusable response";
                var now = _time.GetUtcNow();
                if (now < held.Deadline)
                {
                    // §10.5: exponential backoff until the rule timeout; the last attempt falls on the deadline.
                    var next = now + config().Delivery.HookRetryDelay(attempt);
                    next = next < held.Deadline ? next : held.Deadline;
                    await store.RecordHeldAttemptAsync(held.HeldId, attempt, next, reason, cancellationToken).ConfigureAwait(false);
                    HeldHookLog.AttemptFailed(logger, held.HeldId, held.Rule, held.InvocationId, attempt, reason, next);
                    return;
                }
                // §10.5: "Then, the Fallback action is applied to all recipients of the email message."
                decided = HookResponseParser.Fallback(context);
                HeldHookLog.FallbackApplied(logger, held.HeldId, held.Rule, held.InvocationId, attempt, reason, context.FallbackAction.ToString());
            }
        }

        // The decision applies to the content as it stands after any PUT; the update window closes with it (§11).
        var content = await inTransit.ReadInTransitAsync(held.MessageFlowId, cancellationToken).ConfigureAwait(false) ?? body;
        await inTransit.SealInTransitAsync(held.MessageFlowId, cancellationToken).ConfigureAwait(false);
        // The release enters the mail flow's door like any message; the hook's decision takes the place of the rules.
        var release = holds.Release(held, decided, flowDirection, snapshot, content);
        var outcome = await door().AcceptAsync(release, cancellationToken).ConfigureAwait(false);
        foreach (var (recipient, result) in outcome.Recipients)
        {
            var reason = result switch
            {
                RecipientOutcome.TemporaryFailure t => t.Reason,
                RecipientOutcome.PermanentFailure p => p.Reason,
                _ => null,
            };
            if (reason is not null)
                HeldHookLog.RecipientNotDelivered(logger, held.HeldId, recipient.Address, reason);
        }
        await store.ReleaseHeldAsync(held.HeldId, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>The §10.2 event: the same bytes on every attempt (headers of the message as accepted, the fixed ids).</summary>
    private static async Task<HookEvent> EventAsync(HeldMessage held, FlowDirection direction, byte[] body, CancellationToken cancellationToken)
    {
        HeaderList headers;
        using (var stream = new MemoryStream(body, writable: false))
            headers = await HeaderList.LoadAsync(stream, cancellationToken).ConfigureAwait(false);
        var from = FlowHeaders.FromAddress(headers) ?? "";
        var sender = FlowHeaders.SenderAddress(headers);
        return new HookEvent(from, held.Recipients, sender is not null && sender != from ? sender : null, headers[HeaderId.Subject],
            held.MessageFlowId, held.InvocationId, direction);
    }
}
