using MailServer.Protocols.Smtp;
using MailServer.Rules.Directory;
using MailServer.Rules.FlowRules;
using MailServer.Rules.Hooks;
using MailServer.Server.Configuration;
using MailServer.Server.Events;
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
/// <item>A synchronous hook that wins: its recipients are held durably (<see cref="HookHolds"/>) and count as accepted;
/// <see cref="HeldHookWorker"/> calls the hook and hands its decision to <see cref="ApplyHookDecisionAsync"/>
/// (per recipient, added organization recipients as BCC; the fallback when the rule timeout passes).</item>
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
    ILogger<InboundFlowDelivery> logger,
    HookHolds holds,
    FlowRuleSetCache? rules = null,
    MailServer.Server.Events.IEmailEventLog? events = null) : IMessageDelivery
{
    // Shared with the outbound path when given, so each configuration generation is compiled once.
    private readonly FlowRuleSetCache _rules = rules ?? new FlowRuleSetCache(() => monitor.Config);

    /// <inheritdoc />
    public bool HasRoom(DirectoryUser user) => inner.HasRoom(user);

    /// <inheritdoc />
    public long ExternalRecipientsToday(DirectoryUser user) => inner.ExternalRecipientsToday(user);

    /// <inheritdoc />
    public Task RecordRefusalAsync(SmtpTransaction refused, ReadOnlyMemory<byte> message, CancellationToken cancellationToken) =>
        inner.RecordRefusalAsync(refused, message, cancellationToken);

    /// <summary>The compiled rule sets of the configuration in force, compiled once per configuration generation.</summary>
    public IReadOnlyDictionary<string, FlowRuleSet> RuleSets => _rules.RuleSets;

    private sealed record Planned(AcceptedRecipient Recipient, InboundDisposition Disposition, string Rule, ReadOnlyMemory<byte> Content, bool Added);

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
        var plan = new List<Planned>();
        var anyHeld = false;
        foreach (var group in transaction.Recipients.GroupBy(r => r.OrganizationId ?? ""))
        {
            var recipients = group.ToList();
            var set = sets.GetValueOrDefault(group.Key) ?? FlowRuleSet.Empty;
            var evaluation = set.Evaluate(FlowDirection.Inbound,
                FlowHeaders.ToFlowMessage(headers, transaction.ReversePath, recipients.Select(r => r.Address).ToList()));
            var held = new Dictionary<FlowRule, List<AcceptedRecipient>>();
            var applied = new List<(string Rule, FlowAction Action, string Recipient)>();
            for (var i = 0; i < recipients.Count; i++)
            {
                var decision = evaluation.Recipients[i];
                if (decision.Rule is not null)
                {
                    RulesLog.RuleApplied(logger, transaction.SessionId, decision.Rule.Name, decision.Action.ToString(), decision.Recipient);
                    applied.Add((decision.Rule.Name, decision.Action, decision.Recipient));
                }
                var disposition = InboundDisposition.For(decision, verdict);
                if (disposition is InboundDisposition.HoldForHook hold)
                {
                    if (!held.TryGetValue(hold.Rule, out var list))
                        held[hold.Rule] = list = [];
                    list.Add(recipients[i]);
                    continue;
                }
                plan.Add(new Planned(recipients[i], disposition, decision.Rule?.Name ?? "-", message, false));
            }
            if (events is not null && applied.Count > 0)
                MailServer.Server.Events.FlowRuleEvents.RulesApplied(events, group.Key, transaction.TraceId,
                    MailServer.Server.Events.RuleApplied.InboundRule, applied);
            // §10.5: accepted first, held durably while the hook decides.
            foreach (var (rule, heldRecipients) in held)
                await holds.HoldAsync(transaction, group.Key, rule, heldRecipients, message, cancellationToken).ConfigureAwait(false);
            anyHeld |= held.Count > 0;
            if (evaluation.AsyncHooks.Count > 0)
            {
                // The hook's messageId opens the in-transit copy through the message flow API (§10.6, §11).
                var messageId = await StoreInTransitAsync(group.Key, message, updatable: false, transaction.SessionId, cancellationToken).ConfigureAwait(false);
                FireAsyncHooks(evaluation, headers, recipients.Select(r => r.Address).ToList(), messageId);
            }
        }

        // Bounce without backscatter: every recipient refused → refuse in the session.
        var originals = plan.Where(p => !p.Added).ToDictionary(p => p.Recipient);
        if (!anyHeld && plan.All(p => p.Disposition is InboundDisposition.Bounce))
        {
            return new TransactionOutcome(transaction.Recipients.Select(r => (r, (DeliveryOutcome)new DeliveryOutcome.PermanentFailure(
                SmtpRefusal.PolicyRefused,
                ((InboundDisposition.Bounce)originals[r].Disposition).Message ?? "the recipient's organization does not accept this message"))).ToList());
        }

        // §18.3: received once per message, for every recipient the client gave, before rules split them into
        // batches (some dropped, some bounced, a hook's replaced content stored apart).
        events?.InboundReceived(transaction, message);
        transaction = transaction with { ReceptionRecorded = true };

        var byAddress = await StorePlannedAsync(transaction, plan, cancellationToken).ConfigureAwait(false);
        // A dropped, (partially) bounced or held recipient was accepted by this transaction: the session answers for it as delivered.
        return new TransactionOutcome(transaction.Recipients
            .Select(r => (r, byAddress.TryGetValue(r.Address, out var o) ? o : new DeliveryOutcome.Delivered()))
            .ToList());
    }

    /// <summary>
    /// A held message's hook decided (§10.3, or the fallback after the rule timeout, §10.5): each recipient's action
    /// applies to <paramref name="content"/> (the message as it stands after any PUT); an added organization
    /// recipient is delivered as BCC. A bounce is logged without a DSN (the sender's authentication is not known,
    /// decisions.md "Bounce without backscatter"); the session that could have refused it ended long ago.
    /// </summary>
    /// <returns>The outcome per recipient delivered to (dropped and bounced ones count as delivered).</returns>
    public async Task<TransactionOutcome> ApplyHookDecisionAsync(SmtpTransaction transaction, string organizationId, string rule,
        HookResponse.Decided decided, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var directory = monitor.Current;
        var verdict = spam.Classify(new SpamCheckInput(DmarcDisposition.None));
        var byAddress = transaction.Recipients.ToDictionary(r => r.Address, StringComparer.OrdinalIgnoreCase);
        var plan = new List<Planned>();
        foreach (var d in decided.Recipients)
        {
            var disposition = InboundDisposition.For(d.Action, verdict, d.BounceMessage);
            if (!d.Added && byAddress.TryGetValue(d.Recipient, out var original))
                plan.Add(new Planned(original, disposition, rule, content, false));
            else if (d.Added && directory.Resolve(d.Recipient) is RecipientResolution.Local local && local.Organization.Id == organizationId)
                // §10.3: an added inbound recipient is delivered as BCC: the headers stay as they are.
                plan.Add(new Planned(new AcceptedRecipient(d.Recipient, local), disposition, rule, content, true));
        }
        var stored = await StorePlannedAsync(transaction, plan, cancellationToken).ConfigureAwait(false);
        return new TransactionOutcome(plan.Select(p => (p.Recipient,
            stored.TryGetValue(p.Recipient.Address, out var o) ? o : (DeliveryOutcome)new DeliveryOutcome.Delivered())).ToList());
    }

    /// <summary>Carries out a plan: one delivery per distinct content, drops and bounces logged. Returns the stored recipients' outcomes.</summary>
    private async Task<Dictionary<string, DeliveryOutcome>> StorePlannedAsync(SmtpTransaction transaction, List<Planned> plan, CancellationToken cancellationToken)
    {
        var toStore = new List<(AcceptedRecipient Recipient, ReadOnlyMemory<byte> Content)>();
        foreach (var p in plan)
        {
            switch (p.Disposition)
            {
                case InboundDisposition.Deliver d:
                    toStore.Add((p.Recipient with { TargetFolder = d.Folder == InboundFolder.Junk ? WellKnownFolders.JunkEmail : WellKnownFolders.Inbox }, p.Content));
                    break;
                case InboundDisposition.Drop:
                    RulesLog.Dropped(logger, transaction.SessionId, p.Recipient.Address, p.Rule);
                    break;
                case InboundDisposition.Bounce:
                    // RFC 3464 DSNs go only to senders that passed SPF or DMARC (decisions.md); that verdict is not available yet.
                    RulesLog.BounceWithoutDsn(logger, transaction.SessionId, p.Recipient.Address, p.Rule);
                    break;
            }
        }

        // One delivery per distinct content (a synchronous hook may have replaced it through the message flow API).
        var byAddress = new Dictionary<string, DeliveryOutcome>(StringComparer.OrdinalIgnoreCase);
        foreach (var batch in toStore.GroupBy(x => x.Content))
        {
            var stored = await inner.DeliverAsync(transaction with { Recipients = batch.Select(x => x.Recipient).ToList() }, batch.Key, cancellationToken).ConfigureAwait(false);
            foreach (var (recipient, outcome) in stored.Recipients)
                byAddress.TryAdd(recipient.Address, outcome);
        }
        return byAddress;
    }

    private async Task<Guid> StoreInTransitAsync(string organizationId, ReadOnlyMemory<byte> message, bool updatable, string sessionId, CancellationToken cancellationToken)
    {
        try
        {
            return await inTransit.StoreInTransitAsync(organizationId, MessageFlowContext.Incoming, message, updatable, cancellationToken).ConfigureAwait(false);
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
