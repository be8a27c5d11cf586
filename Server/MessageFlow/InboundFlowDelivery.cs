using MailServer.Protocols.Smtp;
using MailServer.Rules.Directory;
using MailServer.Rules.FlowRules;
using MailServer.Rules.Hooks;
using MailServer.Server.Configuration;
using MailServer.Server.Hooks;
using MailServer.Storage;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace MailServer.Server.MessageFlow;

/// <summary>
/// Inbound email flow rules at the end of DATA on the MX listener (§9.2, decisions.md "Email flow rules"): decides
/// every recipient with the organization's compiled rules, then acts before handing the rest to local delivery:
/// <list type="bullet">
/// <item>Drop: accepted, not stored, the sender not told.</item>
/// <item>Bounce: when every recipient of the transaction is refused, refused in the session (550 5.7.1); a
/// partial refusal would get a DSN only when the sender passed SPF or DMARC, which is not known yet, so it
/// is logged and dropped (no backscatter).</item>
/// <item>MoveToJunk → Junk E-mail; Default → the spam classifier decides; BypassSpamCheck → Inbox.</item>
/// <item>A synchronous hook that wins: its fallback action (held delivery through the queue is not built yet).</item>
/// <item>Asynchronous hooks: fired, never awaited on the delivery path.</item>
/// </list>
/// Submission traffic passes through untouched (outbound rules belong to the sending pipeline).
/// </summary>
public sealed class InboundFlowDelivery(
    IMessageDelivery inner,
    ConfigMonitor monitor,
    ISpamClassifier spam,
    HookClient hooks,
    IMessageFlowStore inTransit,
    ILogger<InboundFlowDelivery> logger) : IMessageDelivery
{
    private (ServerConfig Config, IReadOnlyDictionary<string, FlowRuleSet> Sets)? _compiled;

    /// <inheritdoc />
    public bool HasRoom(DirectoryUser user) => inner.HasRoom(user);

    /// <summary>The compiled rule sets of the configuration in force, compiled once per configuration generation.</summary>
    public IReadOnlyDictionary<string, FlowRuleSet> RuleSets
    {
        get
        {
            var config = monitor.Config;
            var cached = _compiled;
            if (cached is { } c && ReferenceEquals(c.Config, config))
                return c.Sets;
            var sets = config.ToFlowRuleSets();
            _compiled = (config, sets);
            return sets;
        }
    }

    /// <inheritdoc />
    public async Task<TransactionOutcome> DeliverAsync(SmtpTransaction transaction, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        if (transaction.Listener != SmtpListenerKind.Mx || transaction.Recipients.Count == 0)
            return await inner.DeliverAsync(transaction, message, cancellationToken).ConfigureAwait(false);

        HeaderList headers;
        using (var stream = new MemoryStream(message.ToArray(), writable: false))
            headers = await HeaderList.LoadAsync(stream, cancellationToken).ConfigureAwait(false);

        var sets = RuleSets;
        // Until sender authentication reports a DMARC disposition, nothing is quarantined.
        var verdict = spam.Classify(new SpamCheckInput(DmarcDisposition.None));
        var dispositions = new Dictionary<AcceptedRecipient, (InboundDisposition Disposition, RecipientFlowDecision Decision)>();
        foreach (var group in transaction.Recipients.GroupBy(r => r.Resolution.Organization.Id))
        {
            var recipients = group.ToList();
            var set = sets.GetValueOrDefault(group.Key) ?? FlowRuleSet.Empty;
            var evaluation = set.Evaluate(FlowDirection.Inbound,
                FlowHeaders.ToFlowMessage(headers, transaction.ReversePath, recipients.Select(r => r.Address).ToList()));
            for (var i = 0; i < recipients.Count; i++)
            {
                var decision = evaluation.Recipients[i];
                var disposition = InboundDisposition.For(decision, verdict);
                if (disposition is InboundDisposition.HoldForHook hold)
                {
                    // Held delivery (§10.5: accepted first, the hook retried up to 240 minutes) needs the durable queue.
                    RulesLog.SyncHookFallbackInline(logger, transaction.SessionId, hold.Rule.Name, decision.Recipient, hold.Rule.Hook!.FallbackAction.ToString());
                    disposition = InboundDisposition.For(hold.Rule.Hook.FallbackAction, verdict);
                }
                if (decision.Rule is not null)
                    RulesLog.RuleApplied(logger, transaction.SessionId, decision.Rule.Name, decision.Action.ToString(), decision.Recipient);
                dispositions[recipients[i]] = (disposition, decision);
            }
            if (evaluation.AsyncHooks.Count > 0)
            {
                // The hook's messageId opens the in-transit copy through the message flow API (§10.6, §11).
                var messageId = await StoreInTransitAsync(group.Key, message, transaction.SessionId, cancellationToken).ConfigureAwait(false);
                FireAsyncHooks(evaluation, headers, recipients.Select(r => r.Address).ToList(), messageId);
            }
        }

        // Bounce without backscatter: every recipient refused → refuse in the session.
        if (dispositions.Values.All(d => d.Disposition is InboundDisposition.Bounce))
        {
            return new TransactionOutcome(transaction.Recipients.Select(r => (r, (DeliveryOutcome)new DeliveryOutcome.PermanentFailure(
                SmtpRefusal.PolicyRefused,
                ((InboundDisposition.Bounce)dispositions[r].Disposition).Message ?? "the recipient's organization does not accept this message"))).ToList());
        }

        var toStore = new List<AcceptedRecipient>();
        foreach (var r in transaction.Recipients)
        {
            var (disposition, decision) = dispositions[r];
            switch (disposition)
            {
                case InboundDisposition.Deliver d:
                    toStore.Add(r with { TargetFolder = d.Folder == InboundFolder.Junk ? WellKnownFolders.JunkEmail : WellKnownFolders.Inbox });
                    break;
                case InboundDisposition.Drop:
                    RulesLog.Dropped(logger, transaction.SessionId, r.Address, decision.Rule?.Name ?? "-");
                    break;
                case InboundDisposition.Bounce:
                    // RFC 3464 DSNs go only to senders that passed SPF or DMARC (decisions.md); that verdict is not available yet.
                    RulesLog.BounceWithoutDsn(logger, transaction.SessionId, r.Address, decision.Rule?.Name ?? "-");
                    break;
            }
        }

        var stored = toStore.Count == 0
            ? new TransactionOutcome([])
            : await inner.DeliverAsync(transaction with { Recipients = toStore }, message, cancellationToken).ConfigureAwait(false);
        var byAddress = stored.Recipients.ToDictionary(x => x.Recipient.Address, x => x.Outcome, StringComparer.OrdinalIgnoreCase);
        // A dropped or (partially) bounced recipient was accepted by this transaction: the session answers for it as delivered.
        return new TransactionOutcome(transaction.Recipients
            .Select(r => (r, byAddress.TryGetValue(r.Address, out var o) ? o : new DeliveryOutcome.Delivered()))
            .ToList());
    }

    private async Task<Guid> StoreInTransitAsync(string organizationId, ReadOnlyMemory<byte> message, string sessionId, CancellationToken cancellationToken)
    {
        try
        {
            return await inTransit.StoreInTransitAsync(organizationId, MessageFlowContext.Incoming, message, updatable: false, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or WriteOutcomeUnknownException or KeyNotFoundException)
        {
            // Async hooks never affect delivery: without the copy the hook still runs, it just cannot fetch the content.
            RulesLog.InTransitCopyFailed(logger, e, sessionId);
            return Guid.NewGuid();
        }
    }

    private void FireAsyncHooks(FlowEvaluation evaluation, HeaderList headers, IReadOnlyList<string> recipients, Guid messageId)
    {
        var from = FlowHeaders.FromAddress(headers) ?? "";
        var sender = FlowHeaders.SenderAddress(headers);
        var subject = headers[HeaderId.Subject];
        foreach (var firing in evaluation.AsyncHooks)
        {
            var hookEvent = new HookEvent(from, recipients, sender is not null && sender != from ? sender : null, subject, messageId,
                HookEventJson.NewInvocationId(), FlowDirection.Inbound);
            // §10.1: asynchronous hooks do not affect delivery; the call runs on its own, bounded by its 15 s timeout.
            _ = Task.Run(() => hooks.FireAsync(firing.Rule.Name, firing.Rule.Hook!, hookEvent, CancellationToken.None), CancellationToken.None);
        }
    }
}
