using System.Runtime.CompilerServices;
using MailServer.Protocols.Smtp;
using MailServer.Rules.FlowRules;
using MailServer.Rules.Hooks;
using MailServer.Server.Configuration;
using MailServer.Server.Delivery;
using MailServer.Server.Events;
using MailServer.Server.Hooks;
using MailServer.Storage;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace MailServer.Server.MessageFlow;

/// <summary>
/// Outbound email flow rules (§9.3, decisions.md "Email flow rules") at the end of DATA of an authenticated
/// submission, in front of the delivery pipeline. Every recipient of the submission is decided, local ones
/// included (WorkMail evaluates outbound rules for all mail its users send); a rule needs the recipient and the
/// Sender or From address to match. Then:
/// <list type="bullet">
/// <item>Default: the normal flow (the organization's DefaultSmtpGateway or MX; local recipients to their mailbox).</item>
/// <item>Drop: accepted, not sent, the sender not told.</item>
/// <item>Bounce: the sender told that the administrator blocked it: refused in the session (550 5.7.1) when every
/// recipient of the transaction is refused, otherwise a DSN to the submitting user for those recipients.</item>
/// <item>RouteToSmtpGateway: a remote recipient goes through the rule's gateway (<see cref="FlowRuleRouter"/>).</item>
/// <item>A synchronous hook that wins: its recipients are held durably (<see cref="HookHolds"/>) and count as accepted;
/// <see cref="HeldHookWorker"/> calls the hook and hands its decision (BOUNCE, DROP, DEFAULT) to <see cref="ApplyHookDecisionAsync"/>.</item>
/// <item>Asynchronous hooks: fired, never awaited.</item>
/// </list>
/// Everything else (MX traffic, unauthenticated relays) passes through untouched.
/// </summary>
public sealed class OutboundFlowDelivery(
    IMessageDelivery inner,
    FlowRuleSetCache rules,
    FlowRuleRouter router,
    Func<ServerConfig> config,
    DsnSender dsn,
    HookClient? hooks,
    IMessageFlowStore? inTransit,
    ILogger<OutboundFlowDelivery> logger,
    IEmailEventLog? events = null,
    TimeProvider? time = null,
    HookHolds? holds = null) : IMessageDelivery
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <inheritdoc />
    public bool HasRoom(MailServer.Rules.Directory.DirectoryUser user) => inner.HasRoom(user);

    /// <inheritdoc />
    public long ExternalRecipientsToday(MailServer.Rules.Directory.DirectoryUser user) => inner.ExternalRecipientsToday(user);

    /// <inheritdoc />
    public Task RecordRefusalAsync(SmtpTransaction refused, ReadOnlyMemory<byte> message, CancellationToken cancellationToken) =>
        inner.RecordRefusalAsync(refused, message, cancellationToken);

    /// <inheritdoc />
    public async Task<TransactionOutcome> DeliverAsync(SmtpTransaction transaction, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        if (transaction.AuthenticatedUser is null || transaction.Listener == SmtpListenerKind.Mx || transaction.Recipients.Count == 0)
            return await inner.DeliverAsync(transaction, message, cancellationToken).ConfigureAwait(false);

        var current = config();
        var submitter = current.Organizations
            .Select(o => (Organization: o, User: o.Users.FirstOrDefault(u => string.Equals(u.Email, transaction.AuthenticatedUser, StringComparison.OrdinalIgnoreCase))))
            .FirstOrDefault(x => x.User is not null);
        if (submitter.Organization is null)
            return await inner.DeliverAsync(transaction, message, cancellationToken).ConfigureAwait(false);
        var organizationId = submitter.Organization.Id;
        var set = rules.For(organizationId);
        if (set.Outbound.Count == 0)
            return await inner.DeliverAsync(transaction, message, cancellationToken).ConfigureAwait(false);

        HeaderList headers;
        using (var stream = new MemoryStream(message.ToArray(), writable: false))
            headers = await HeaderList.LoadAsync(stream, cancellationToken).ConfigureAwait(false);
        var recipients = transaction.Recipients;
        var evaluation = set.Evaluate(FlowDirection.Outbound,
            FlowHeaders.ToFlowMessage(headers, transaction.ReversePath, recipients.Select(r => r.Address).ToList()));

        var send = new List<AcceptedRecipient>();
        var bounced = new List<(AcceptedRecipient Recipient, string Rule)>();
        var applied = new List<(string Rule, FlowAction Action, string Recipient)>();
        var held = new Dictionary<FlowRule, List<AcceptedRecipient>>();
        for (var i = 0; i < recipients.Count; i++)
        {
            var decision = evaluation.Recipients[i];
            var action = decision.Action;
            if (decision.Rule is { Hook.Synchronous: true } && holds is null)
            {
                // Without a held store (a test harness) the fallback decides at once.
                action = decision.Rule.Hook.FallbackAction;
            }
            if (decision.Rule is not null)
            {
                RulesLog.RuleApplied(logger, transaction.SessionId, decision.Rule.Name, action.ToString(), decision.Recipient);
                applied.Add((decision.Rule.Name, action, decision.Recipient));
            }
            if (action == FlowAction.RunHook && decision.Rule is { Hook.Synchronous: true } syncRule)
            {
                if (!held.TryGetValue(syncRule, out var list))
                    held[syncRule] = list = [];
                list.Add(recipients[i]);
                continue;
            }
            switch (action)
            {
                case FlowAction.Drop:
                    RulesLog.Dropped(logger, transaction.SessionId, recipients[i].Address, decision.Rule?.Name ?? "-");
                    break;
                case FlowAction.Bounce:
                    bounced.Add((recipients[i], decision.Rule?.Name ?? "-"));
                    break;
                case FlowAction.RouteToSmtpGateway when decision.Rule?.Definition.SmtpGateway is { } gateway && recipients[i].IsRemote:
                    router.Route(recipients[i], gateway);
                    send.Add(recipients[i]);
                    break;
                default:
                    // Default, RunHook (an async hook never changes delivery), and a gateway route for a local recipient.
                    send.Add(recipients[i]);
                    break;
            }
        }

        if (events is not null && applied.Count > 0)
            events.RulesApplied(organizationId, transaction.TraceId, RuleApplied.OutboundRule, applied);
        if (evaluation.AsyncHooks.Count > 0 && hooks is not null)
            await FireAsyncHooksAsync(transaction, organizationId, evaluation, headers, message, cancellationToken).ConfigureAwait(false);
        // §10.5: accepted first, held durably while the hook decides; before anything is sent, so a failure here is a clean 451.
        foreach (var (rule, heldRecipients) in held)
            await holds!.HoldAsync(transaction, organizationId, rule, heldRecipients, message, cancellationToken).ConfigureAwait(false);

        // Bounce without backscatter (decisions.md): every recipient refused → refused in the session.
        if (bounced.Count == recipients.Count)
        {
            return new TransactionOutcome(bounced.Select(b => (b.Recipient,
                (DeliveryOutcome)new DeliveryOutcome.PermanentFailure(SmtpRefusal.PolicyRefused, BlockedText(b.Rule)))).ToList());
        }

        var (byRecipient, tookNothing) = await SendAsync(transaction, organizationId, send, bounced, message, cancellationToken).ConfigureAwait(false);
        if (tookNothing)
        {
            // Nothing was taken: the client retries the whole transaction, so no DSN for the bounced ones yet.
            var retry = byRecipient.Values.First();
            return new TransactionOutcome(recipients.Select(r => (r, byRecipient.GetValueOrDefault(r) ?? retry)).ToList());
        }
        // Dropped, (partially) bounced and held recipients were accepted by this transaction: the session answers 250 for them.
        return new TransactionOutcome(recipients.Select(r => (r, byRecipient.GetValueOrDefault(r) ?? new DeliveryOutcome.Delivered())).ToList());
    }

    /// <summary>
    /// A held message's hook decided (§10.3, or the fallback after the rule timeout, §10.5): BOUNCE → an RFC 3464 DSN
    /// to the submitting user ("blocked by your organization's administrator"), DROP → nothing, DEFAULT → the normal
    /// flow (queue, gateway, local mailboxes), each for <paramref name="content"/> as it stands after any PUT.
    /// </summary>
    /// <returns>The outcome per recipient (dropped and bounced ones count as delivered).</returns>
    public async Task<TransactionOutcome> ApplyHookDecisionAsync(SmtpTransaction transaction, string organizationId, string rule,
        HookResponse.Decided decided, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var byAddress = transaction.Recipients.ToDictionary(r => r.Address, StringComparer.OrdinalIgnoreCase);
        var send = new List<AcceptedRecipient>();
        var bounced = new List<(AcceptedRecipient Recipient, string Rule)>();
        foreach (var d in decided.Recipients)
        {
            if (!byAddress.TryGetValue(d.Recipient, out var recipient))
                continue; // §10.3: outbound hooks cannot add recipients
            switch (d.Action)
            {
                case FlowAction.Drop:
                    RulesLog.Dropped(logger, transaction.SessionId, recipient.Address, rule);
                    break;
                case FlowAction.Bounce:
                    bounced.Add((recipient, rule));
                    break;
                default:
                    send.Add(recipient);
                    break;
            }
        }
        var (byRecipient, _) = await SendAsync(transaction, organizationId, send, bounced, content, cancellationToken).ConfigureAwait(false);
        return new TransactionOutcome(send.Concat(bounced.Select(b => b.Recipient))
            .Select(r => (r, byRecipient.GetValueOrDefault(r) ?? new DeliveryOutcome.Delivered())).ToList());
    }

    /// <summary>
    /// Hands <paramref name="send"/> to the pipeline and reports <paramref name="bounced"/> by DSN; TookNothing when
    /// every recipient sent failed temporarily, and then no DSN goes out yet.
    /// </summary>
    private async Task<(Dictionary<AcceptedRecipient, DeliveryOutcome> Outcomes, bool TookNothing)> SendAsync(SmtpTransaction transaction, string organizationId,
        List<AcceptedRecipient> send, List<(AcceptedRecipient Recipient, string Rule)> bounced, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var byRecipient = new Dictionary<AcceptedRecipient, DeliveryOutcome>(ReferenceEqualityComparer.Instance);
        if (send.Count > 0)
        {
            var outcome = await inner.DeliverAsync(transaction with { Recipients = send }, message, cancellationToken).ConfigureAwait(false);
            foreach (var (recipient, result) in outcome.Recipients)
                byRecipient[recipient] = result;
            if (outcome.Recipients.All(r => r.Outcome is DeliveryOutcome.TemporaryFailure))
                return (byRecipient, true);
        }
        if (bounced.Count > 0)
            await ReportBouncedAsync(transaction, organizationId, bounced, message, cancellationToken).ConfigureAwait(false);
        return (byRecipient, false);
    }

    private static string BlockedText(string rule) => $"blocked by your organization's administrator (email flow rule {rule})";

    /// <summary>A partial refusal: an RFC 3464 DSN to the submitting user (an authenticated sender, so no backscatter).</summary>
    private async Task ReportBouncedAsync(SmtpTransaction transaction, string organizationId, List<(AcceptedRecipient Recipient, string Rule)> bounced,
        ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var report = bounced
            .Where(b => b.Recipient.Notify == DsnNotify.NotGiven || b.Recipient.Notify.HasFlag(DsnNotify.Failure))
            .Select(b => new DsnRecipient(b.Recipient.Address, b.Recipient.OriginalRecipient, DsnAction.Failed, "5.7.1", BlockedText(b.Rule), null, now))
            .ToList();
        var envelope = new OutboundEnvelope(organizationId, transaction.AuthenticatedUser!, transaction.AuthenticatedUser, transaction.ReceivedAt,
            transaction.EnvelopeId, transaction.Return switch { DsnReturn.Full => "FULL", DsnReturn.Headers => "HDRS", _ => null }, []);
        await dsn.SendAsync(transaction.SessionId, envelope, report, message, cancellationToken).ConfigureAwait(false);
    }

    private async Task FireAsyncHooksAsync(SmtpTransaction transaction, string organizationId, FlowEvaluation evaluation, HeaderList headers,
        ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var messageId = Guid.NewGuid();
        if (inTransit is not null)
        {
            try
            {
                // The hook's messageId opens the outgoing in-transit copy through the message flow API (§10.6, §11).
                messageId = await inTransit.StoreInTransitAsync(organizationId, MessageFlowContext.Outgoing, message, false, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or WriteOutcomeUnknownException or KeyNotFoundException)
            {
                RulesLog.InTransitCopyFailed(logger, e, transaction.SessionId);
            }
        }
        var from = FlowHeaders.FromAddress(headers) ?? "";
        var sender = FlowHeaders.SenderAddress(headers);
        var subject = headers[HeaderId.Subject];
        var all = transaction.Recipients.Select(r => r.Address).ToList();
        foreach (var firing in evaluation.AsyncHooks)
        {
            var hookEvent = new HookEvent(from, all, sender is not null && sender != from ? sender : null, subject, messageId,
                HookEventJson.NewInvocationId(), FlowDirection.Outbound);
            // §10.1: asynchronous hooks do not affect delivery; the call runs on its own, bounded by its 15 s timeout.
            _ = Task.Run(() => hooks!.FireAsync(firing.Rule.Name, firing.Rule.Hook!, hookEvent, CancellationToken.None), CancellationToken.None);
        }
    }
}

/// <summary>
/// The <see cref="IOutboundRouter"/> that carries outbound RouteToSmtpGateway decisions to the queue: a recipient
/// routed by a rule gets the rule's gateway, every other one the organization's DefaultSmtpGateway (or MX).
/// Decisions are keyed by the recipient object of the transaction and vanish with it.
/// </summary>
public sealed class FlowRuleRouter : IOutboundRouter
{
    private readonly ConditionalWeakTable<AcceptedRecipient, string> _routes = new();

    /// <summary>Routes <paramref name="recipient"/> (this very object) through the gateway named <paramref name="gateway"/>.</summary>
    public void Route(AcceptedRecipient recipient, string gateway) => _routes.AddOrUpdate(recipient, gateway);

    /// <inheritdoc />
    public string? GatewayFor(SmtpTransaction transaction, OrganizationConfig organization, AcceptedRecipient recipient) =>
        _routes.TryGetValue(recipient, out var gateway) ? gateway : organization.DefaultSmtpGateway;
}
