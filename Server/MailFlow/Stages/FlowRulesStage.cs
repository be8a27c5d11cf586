using MailServer.Rules.FlowRules;
using MailServer.Rules.Hooks;
using MailServer.Server.Events;
using MailServer.Server.Hooks;
using MailServer.Server.MessageFlow;
using MailServer.Storage;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace MailServer.Server.MailFlow.Stages;

/// <summary>
/// Stage 3: email flow rules (WorkMail Administrator Guide, "Email flow rules"; docs/decisions.md, "Email flow rules"). The organization's compiled rules decide each
/// recipient (the rule engine is pure; this stage acts on its answer):
/// <list type="bullet">
/// <item>MX mail: the inbound rules of each recipient's organization. Drop → <see cref="RecipientRoute.Dropped"/>;
/// Bounce → <see cref="RecipientRoute.Bounced"/>; MoveToJunk, Default, BypassSpamCheck → kept in
/// <see cref="RecipientState.FlowAction"/> for the folder decision.</item>
/// <item>Mail a user sends (submission, a mailbox rule's forward or redirect): the outbound rules of the sender's
/// organization, for every recipient, local ones included; a rule needs the recipient and the Sender or From address
/// to match. RouteToSmtpGateway sets the recipient's gateway.</item>
/// <item>A synchronous hook that wins holds its recipients durably (<see cref="HookHolds"/>, accepted: §10.5) until
/// the hook decides; the release comes back through the door as <see cref="MessageOrigin.HeldHookRelease"/> and its
/// decision takes the place of the rules here (§10.3; a BOUNCE's <c>bounceMessage</c> is the bounce text).</item>
/// <item>Asynchronous hooks: fired, never awaited (§10.1).</item>
/// </list>
/// RULE_APPLIED events are written here; for MX mail also ORGANIZATION_EMAIL_RECEIVED, once per message for every
/// recipient the client gave, before the rules split them (§18.3).
/// </summary>
public sealed class FlowRulesStage(
    FlowRuleSetCache rules,
    HookHolds holds,
    HookClient hooks,
    IMessageFlowStore inTransit,
    ILogger<FlowRulesStage> logger,
    IEmailEventLog events) : IMailFlowStage
{
    /// <summary>The bounce text of an inbound Bounce rule (§9.2) when the rule or hook gives none.</summary>
    public const string InboundBounceText = "the recipient's organization does not accept this message";

    /// <summary>§9.3: "the sender is notified with a message that the administrator blocked the email message".</summary>
    public static string OutboundBounceText(string rule) => $"blocked by your organization's administrator (email flow rule {rule})";

    /// <inheritdoc />
    public async Task RunAsync(MailFlowContext context, CancellationToken cancellationToken)
    {
        var message = context.Message;
        if (message.Release is { } release)
            ApplyRelease(context, release);
        else if (message.Origin == MessageOrigin.Mx)
            await InboundAsync(context, cancellationToken).ConfigureAwait(false);
        else if (message.IsSentByUser && message.Submitter is not null)
            await OutboundAsync(context, cancellationToken).ConfigureAwait(false);
    }

    private async Task InboundAsync(MailFlowContext context, CancellationToken cancellationToken)
    {
        var message = context.Message;
        var sets = rules.RuleSets;
        foreach (var group in context.Going.GroupBy(r => r.Recipient.OrganizationId ?? "").ToList())
        {
            var set = sets.GetValueOrDefault(group.Key) ?? FlowRuleSet.Empty;
            if (set.Inbound.Count == 0)
                continue;
            var recipients = group.ToList();
            var evaluation = set.Evaluate(FlowDirection.Inbound,
                FlowHeaders.ToFlowMessage(context.Headers(), message.ReversePath, recipients.Select(r => r.Recipient.Address).ToList()));
            var held = Decide(context, recipients, evaluation, FlowDirection.Inbound, group.Key);
            foreach (var (rule, heldRecipients) in held)
                await holds.HoldAsync(message, group.Key, rule, heldRecipients.Select(r => r.Recipient).ToList(), context.Authentication, context.EnginesCalledSpam(group.Key), cancellationToken).ConfigureAwait(false);
            if (evaluation.AsyncHooks.Count > 0)
            {
                // The hook's messageId opens the in-transit copy through the message flow API (§10.6, §11).
                var flowId = await StoreInTransitAsync(group.Key, MessageFlowContext.Incoming, message, cancellationToken).ConfigureAwait(false);
                FireAsyncHooks(evaluation, context.Headers(), recipients.Select(r => r.Recipient.Address).ToList(), flowId, FlowDirection.Inbound);
            }
        }

        // §18.3: received once per message, for every recipient the client gave (less those DMARC refused), before the
        // rules split them; unless every recipient is refused in the session.
        var received = context.Recipients.Where(r => r.Route is not (RecipientRoute.Refused or RecipientRoute.Deferred)).ToList();
        if (received.Any(r => r.Route is not RecipientRoute.Bounced) && !message.ReceptionRecorded)
        {
            events.InboundReceived(message with { Recipients = received.Select(r => r.Recipient).ToList() }, context.Authentication, scan: context.ContentScan);
            context.Message = message with { ReceptionRecorded = true };
        }
    }

    private async Task OutboundAsync(MailFlowContext context, CancellationToken cancellationToken)
    {
        var message = context.Message;
        var organizationId = message.Submitter!.OrganizationId;
        var set = rules.For(organizationId);
        if (set.Outbound.Count == 0)
            return;
        var recipients = context.Going.ToList();
        var evaluation = set.Evaluate(FlowDirection.Outbound,
            FlowHeaders.ToFlowMessage(context.Headers(), message.ReversePath, recipients.Select(r => r.Recipient.Address).ToList()));
        var held = Decide(context, recipients, evaluation, FlowDirection.Outbound, organizationId);
        if (evaluation.AsyncHooks.Count > 0)
        {
            var flowId = await StoreInTransitAsync(organizationId, MessageFlowContext.Outgoing, message, cancellationToken).ConfigureAwait(false);
            FireAsyncHooks(evaluation, context.Headers(), message.Recipients.Select(r => r.Address).ToList(), flowId, FlowDirection.Outbound);
        }
        // §10.5: accepted first, held durably while the hook decides; before anything is sent, so a failure here is a clean 451.
        foreach (var (rule, heldRecipients) in held)
            await holds.HoldAsync(message, organizationId, rule, heldRecipients.Select(r => r.Recipient).ToList(), context.Authentication, context.EnginesCalledSpam(organizationId), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Applies <paramref name="evaluation"/> to <paramref name="recipients"/>; returns the recipients a synchronous hook holds, by rule.</summary>
    private Dictionary<FlowRule, List<RecipientState>> Decide(MailFlowContext context, List<RecipientState> recipients, FlowEvaluation evaluation,
        FlowDirection direction, string organizationId)
    {
        var held = new Dictionary<FlowRule, List<RecipientState>>();
        var applied = new List<(string Rule, FlowAction Action, string Recipient)>();
        for (var i = 0; i < recipients.Count; i++)
        {
            var decision = evaluation.Recipients[i];
            var state = recipients[i];
            if (decision.Rule is null)
                continue;
            RulesLog.RuleApplied(logger, context.Message.LogId, decision.Rule.Name, decision.Action.ToString(), decision.Recipient);
            applied.Add((decision.Rule.Name, decision.Action, decision.Recipient));
            if (decision.Action == FlowAction.RunHook && decision.Rule.Hook is { Synchronous: true })
            {
                if (!held.TryGetValue(decision.Rule, out var list))
                    held[decision.Rule] = list = [];
                list.Add(state);
                state.Route = new RecipientRoute.Held(decision.Rule.Name);
                continue;
            }
            Apply(context.Message.LogId, state, decision.Action, decision.Rule.Name, null, direction, decision.Rule.Definition.SmtpGateway);
        }
        if (applied.Count > 0)
            events.RulesApplied(organizationId, context.Message.TraceId,
                direction == FlowDirection.Inbound ? RuleApplied.InboundRule : RuleApplied.OutboundRule, applied);
        return held;
    }

    /// <summary>A held message's hook decided (§10.3), or its rule timed out and the fallback applies (§10.5).</summary>
    private void ApplyRelease(MailFlowContext context, HookRelease release)
    {
        for (var i = 0; i < release.Actions.Count; i++)
        {
            var action = release.Actions[i];
            Apply(context.Message.LogId, context.Recipients[i], action.Action, release.Rule, action.BounceMessage, release.Direction, gateway: null);
        }
    }

    private void Apply(string logId, RecipientState state, FlowAction action, string rule, string? bounceMessage, FlowDirection direction, string? gateway)
    {
        state.FlowAction = action;
        switch (action)
        {
            case FlowAction.Drop:
                RulesLog.Dropped(logger, logId, state.Recipient.Address, rule);
                state.Route = new RecipientRoute.Dropped(rule);
                break;
            case FlowAction.Bounce:
                // §10.3: a hook's bounceMessage "is used to create the bounce email message".
                state.Route = new RecipientRoute.Bounced(rule, bounceMessage
                    ?? (direction == FlowDirection.Inbound ? InboundBounceText : OutboundBounceText(rule)));
                break;
            case FlowAction.RouteToSmtpGateway when gateway is not null && state.Recipient.IsRemote:
                state.Gateway = gateway;
                break;
        }
    }

    private async Task<Guid> StoreInTransitAsync(string organizationId, MessageFlowContext direction, MailFlowMessage message, CancellationToken cancellationToken)
    {
        try
        {
            return await inTransit.StoreInTransitAsync(organizationId, direction, message.Content, updatable: false, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or WriteOutcomeUnknownException or KeyNotFoundException)
        {
            // Async hooks never affect delivery: without the copy the hook still runs, it just cannot fetch the content.
            RulesLog.InTransitCopyFailed(logger, e, message.LogId);
            return Guid.NewGuid();
        }
    }

    private void FireAsyncHooks(FlowEvaluation evaluation, HeaderList headers, IReadOnlyList<string> recipients, Guid messageId, FlowDirection direction)
    {
        var from = FlowHeaders.FromAddress(headers) ?? "";
        var sender = FlowHeaders.SenderAddress(headers);
        var subject = headers[HeaderId.Subject];
        foreach (var firing in evaluation.AsyncHooks)
        {
            var hookEvent = new HookEvent(from, recipients, sender is not null && sender != from ? sender : null, subject, messageId,
                HookEventJson.NewInvocationId(), direction);
            // §10.1: asynchronous hooks do not affect delivery; the call runs on its own, bounded by its 15 s timeout.
            _ = Task.Run(() => hooks.FireAsync(firing.Rule.Name, firing.Rule.Hook!, hookEvent, CancellationToken.None), CancellationToken.None);
        }
    }
}
