using MailServer.Rules.Sending;
using System.Net;
using System.Text.Json;
using MailServer.Rules.Directory;
using MailServer.Rules.FlowRules;
using MailServer.Rules.Hooks;
using MailServer.Rules.SenderAuthentication;
using MailServer.Server.Delivery;
using MailServer.Server.Hooks;
using MailServer.Server.MailFlow;
using MailServer.Storage;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.MessageFlow;

/// <summary>
/// Accepting a message for a synchronous hook (docs/decisions.md, "Hooks are HTTP webhooks": the message is
/// accepted first and held while a synchronous hook decides): an updatable in-transit copy for the message flow API, then a
/// durable held record carrying the transaction, both on disk before the SMTP 250. <see cref="HeldHookWorker"/>
/// calls the hook. Thread-safe; one instance per process.
/// </summary>
public sealed class HookHolds(IHeldMessageStore store, IMessageFlowStore inTransit, ILogger<HookHolds> logger, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Wakes the worker when a message was held.</summary>
    public QueueSignal Signal { get; } = new();

    /// <summary>
    /// Holds <paramref name="transaction"/> for <paramref name="recipients"/>, whose winning rule is <paramref name="rule"/>
    /// (a synchronous hook). Returns once it is durable: the recipients count as accepted. What sender authentication
    /// found (<paramref name="authentication"/>: DMARC quarantine, SPF or DMARC pass) is kept for the release.
    /// </summary>
    /// <exception cref="IOException">The copy could not be written (the session answers 451).</exception>
    /// <exception cref="WriteOutcomeUnknownException">The commit or fsync failed.</exception>
    /// <exception cref="KeyNotFoundException">No master key for <paramref name="organizationId"/>.</exception>
    public async Task HoldAsync(MailFlowMessage transaction, string organizationId, FlowRule rule, IReadOnlyList<FlowRecipient> recipients,
        InboundAuthentication? authentication, bool spam, CancellationToken cancellationToken)
    {
        var message = transaction.Content;
        var hook = rule.Hook!;
        var direction = rule.Direction == FlowDirection.Inbound ? MessageFlowContext.Incoming : MessageFlowContext.Outgoing;
        // §11: the hook reads (and may replace) this copy by the event's messageId while the message is held.
        var flowId = await inTransit.StoreInTransitAsync(organizationId, direction, message, updatable: true, cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var client = transaction.Client;
        var verdict = authentication?.Verdict;
        var envelope = new HeldEnvelope(client?.SessionId ?? transaction.LogId,
            transaction.Origin == MessageOrigin.Mx ? HeldListener.Mx : HeldListener.Submission,
            client?.RemoteEndPoint.ToString() ?? "", client?.HeloName ?? "",
            transaction.ReversePath, client?.Secure ?? true, transaction.Submitter?.Email, transaction.ReceivedAt, transaction.TraceId,
            transaction.EnvelopeId, transaction.Return, hook.FallbackAction,
            recipients.Select(r => new HeldRecipient(r.Address, r.Notify, r.OriginalRecipient)).ToList())
        {
            Quarantined = authentication?.IsQuarantined(organizationId) == true,
            Spam = spam,
            SenderVerified = verdict is not null && (verdict.Spf.Result == SpfResult.Pass || verdict.Dmarc.Result == DmarcResult.Pass),
            RequireTls = transaction.RequireTls,
        };
        var held = new HeldMessage(Guid.NewGuid().ToString("N"), organizationId, direction, rule.Name, HookEventJson.NewInvocationId(), flowId,
            recipients.Select(r => r.Address).ToList(), now, now + TimeSpan.FromMinutes(hook.RuleTimeoutMinutes), 0, now, null,
            JsonSerializer.SerializeToUtf8Bytes(envelope, Json));
        await store.HoldAsync(held, message, cancellationToken).ConfigureAwait(false);
        HeldHookLog.Held(logger, transaction.LogId, held.HeldId, direction.ToString(), rule.Name, held.InvocationId, recipients.Count);
        Signal.Wake();
    }

    /// <summary>The rule's fallback action as it was when the message was held.</summary>
    /// <exception cref="JsonException">The envelope is not one this class wrote.</exception>
    internal static FlowAction FallbackOf(HeldMessage held) => Read(held).Fallback;

    /// <summary>
    /// The held message again, as a <see cref="MessageOrigin.HeldHookRelease"/> carrying <paramref name="decided"/>: the
    /// same trace id (so the events written when it is delivered join those of its acceptance), the recipients resolved
    /// in <paramref name="directory"/> (those that no longer reach a mailbox are left out and logged), added ones as
    /// §10.3 allows (inbound: only the organization's, delivered as BCC; outbound: any).
    /// </summary>
    /// <exception cref="JsonException">The envelope is not one this class wrote.</exception>
    internal MailFlowMessage Release(HeldMessage held, HookResponse.Decided decided, FlowDirection direction, MailDirectory directory,
        ReadOnlyMemory<byte> content)
    {
        var e = Read(held);
        var original = e.Recipients.ToDictionary(r => r.Address, StringComparer.OrdinalIgnoreCase);
        var actions = new List<ReleasedRecipient>();
        foreach (var d in decided.Recipients)
        {
            var resolution = directory.Resolve(d.Recipient);
            if (resolution is not (RecipientResolution.Local or RecipientResolution.NotLocal))
            {
                HeldHookLog.RecipientGone(logger, held.HeldId, d.Recipient);
                continue;
            }
            if (d.Added && direction == FlowDirection.Inbound
                && !(resolution is RecipientResolution.Local local && local.Organization.Id == held.OrganizationId))
                continue; // §10.3: "you can only add new recipients that are from your organization"
            if (!d.Added && !original.ContainsKey(d.Recipient))
                continue;
            var recipient = original.TryGetValue(d.Recipient, out var r)
                ? new FlowRecipient(r.Address, resolution, r.Notify, r.OriginalRecipient)
                : new FlowRecipient(d.Recipient, resolution);
            actions.Add(new ReleasedRecipient(recipient, d.Action, d.BounceMessage, d.Added));
        }
        var submitter = e.AuthenticatedUser is { } user ? directory.FindUser(user) : null;
        return new MailFlowMessage(MessageOrigin.HeldHookRelease, e.ReversePath, actions.Select(a => a.Recipient).ToList(), content, e.ReceivedAt)
        {
            TraceId = e.TraceId,
            Client = IPEndPoint.TryParse(e.RemoteEndPoint, out var ep) ? new SmtpClientInfo(e.SessionId, ep, e.HeloName, e.Secure) : null,
            Submitter = submitter,
            OrganizationId = held.OrganizationId,
            EnvelopeId = e.EnvelopeId,
            Return = e.Return,
            RequireTls = e.RequireTls,
            Release = new HookRelease(held.Rule, direction, actions) { Quarantined = e.Quarantined, Spam = e.Spam, SenderVerified = e.SenderVerified },
            // An MX message's reception was recorded when it was accepted and held.
            ReceptionRecorded = e.Listener == HeldListener.Mx,
        };
    }

    private static HeldEnvelope Read(HeldMessage held) =>
        JsonSerializer.Deserialize<HeldEnvelope>(held.Envelope, Json) ?? throw new JsonException($"Held message {held.HeldId} has no envelope.");

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General);

    private sealed record HeldRecipient(string Address, DsnNotify Notify, string? OriginalRecipient);

    /// <summary>Where a held message came in; numbered as the SMTP listener kinds were when held records were first written.</summary>
    private enum HeldListener { Mx = 0, Submission = 1, Submissions = 2 }

    /// <summary>The held record's envelope, as JSON in the store (field names and enum numbers are a stored format: keep them).</summary>
    private sealed record HeldEnvelope(string SessionId, HeldListener Listener, string RemoteEndPoint, string HeloName, string ReversePath,
        bool Secure, string? AuthenticatedUser, DateTimeOffset ReceivedAt, Guid TraceId, string? EnvelopeId, DsnReturn Return,
        FlowAction Fallback, IReadOnlyList<HeldRecipient> Recipients)
    {
        /// <summary>DMARC enforcement quarantined it for the hook's organization (absent in older records: false).</summary>
        public bool Quarantined { get; init; }

        /// <summary>The content engines called it spam for the hook's organization (absent in older records: false).</summary>
        public bool Spam { get; init; }

        /// <summary>The sender passed SPF or DMARC (absent in older records: false, so no bounce notice).</summary>
        public bool SenderVerified { get; init; }

        /// <summary>RFC 8689: MAIL FROM carried REQUIRETLS (absent in older records: false).</summary>
        public bool RequireTls { get; init; }
    }
}
