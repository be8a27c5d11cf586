using System.Net;
using System.Text.Json;
using MailServer.Protocols.Smtp;
using MailServer.Rules.Directory;
using MailServer.Rules.FlowRules;
using MailServer.Rules.Hooks;
using MailServer.Server.Delivery;
using MailServer.Server.Hooks;
using MailServer.Storage;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.MessageFlow;

/// <summary>
/// Accepting a message for a synchronous hook (§10.5, decisions.md "Email flow rules": "the message is accepted
/// first and held while a synchronous hook decides"): an updatable in-transit copy for the message flow API, then a
/// durable held record carrying the transaction, both on disk before the SMTP 250. <see cref="HeldHookWorker"/>
/// calls the hook. Thread-safe; one instance per process.
/// </summary>
public sealed class HookHolds(IHeldMessageStore store, IMessageFlowStore inTransit, ILogger<HookHolds> logger, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Wakes the worker when a message was held.</summary>
    public QueueSignal Signal { get; } = new();

    /// <summary>
    /// Holds <paramref name="message"/> for <paramref name="recipients"/>, whose winning rule is <paramref name="rule"/>
    /// (a synchronous hook). Returns once it is durable: the recipients count as accepted.
    /// </summary>
    /// <exception cref="IOException">The copy could not be written (the session answers 451).</exception>
    /// <exception cref="WriteOutcomeUnknownException">The commit or fsync failed.</exception>
    /// <exception cref="KeyNotFoundException">No master key for <paramref name="organizationId"/>.</exception>
    public async Task HoldAsync(SmtpTransaction transaction, string organizationId, FlowRule rule, IReadOnlyList<AcceptedRecipient> recipients,
        ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var hook = rule.Hook!;
        var direction = rule.Direction == FlowDirection.Inbound ? MessageFlowContext.Incoming : MessageFlowContext.Outgoing;
        // §11: the hook reads (and may replace) this copy by the event's messageId while the message is held.
        var flowId = await inTransit.StoreInTransitAsync(organizationId, direction, message, updatable: true, cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var envelope = new HeldEnvelope(transaction.SessionId, transaction.Listener, transaction.RemoteEndPoint.ToString(), transaction.HeloName,
            transaction.ReversePath, transaction.Secure, transaction.AuthenticatedUser, transaction.ReceivedAt, transaction.TraceId,
            transaction.EnvelopeId, transaction.Return, hook.FallbackAction,
            recipients.Select(r => new HeldRecipient(r.Address, r.Notify, r.OriginalRecipient)).ToList());
        var held = new HeldMessage(Guid.NewGuid().ToString("N"), organizationId, direction, rule.Name, HookEventJson.NewInvocationId(), flowId,
            recipients.Select(r => r.Address).ToList(), now, now + TimeSpan.FromMinutes(hook.RuleTimeoutMinutes), 0, now, null,
            JsonSerializer.SerializeToUtf8Bytes(envelope, Json));
        await store.HoldAsync(held, message, cancellationToken).ConfigureAwait(false);
        HeldHookLog.Held(logger, transaction.SessionId, held.HeldId, direction.ToString(), rule.Name, held.InvocationId, recipients.Count);
        Signal.Wake();
    }

    /// <summary>The rule's fallback action as it was when the message was held.</summary>
    /// <exception cref="JsonException">The envelope is not one this class wrote.</exception>
    internal static FlowAction FallbackOf(HeldMessage held) => Read(held).Fallback;

    /// <summary>
    /// The transaction of <paramref name="held"/> again, its recipients resolved in <paramref name="directory"/> (the
    /// same trace id, so the events written when it is delivered join those of its acceptance). Recipients that no
    /// longer reach a mailbox are left out and logged.
    /// </summary>
    /// <exception cref="JsonException">The envelope is not one this class wrote.</exception>
    internal SmtpTransaction Rebuild(HeldMessage held, MailDirectory directory)
    {
        var e = Read(held);
        var recipients = new List<AcceptedRecipient>();
        foreach (var r in e.Recipients)
        {
            var resolution = directory.Resolve(r.Address);
            if (resolution is RecipientResolution.Local or RecipientResolution.NotLocal)
                recipients.Add(new AcceptedRecipient(r.Address, resolution, r.Notify, r.OriginalRecipient));
            else
                HeldHookLog.RecipientGone(logger, held.HeldId, r.Address);
        }
        return new SmtpTransaction(e.SessionId, e.Listener, IPEndPoint.TryParse(e.RemoteEndPoint, out var ep) ? ep : new IPEndPoint(IPAddress.None, 0),
            e.HeloName, e.ReversePath, recipients, e.Secure, e.AuthenticatedUser, e.ReceivedAt)
        {
            TraceId = e.TraceId,
            EnvelopeId = e.EnvelopeId,
            Return = e.Return,
            // An MX message's reception was recorded when it was accepted and held (InboundFlowDelivery).
            ReceptionRecorded = e.Listener == SmtpListenerKind.Mx,
        };
    }

    private static HeldEnvelope Read(HeldMessage held) =>
        JsonSerializer.Deserialize<HeldEnvelope>(held.Envelope, Json) ?? throw new JsonException($"Held message {held.HeldId} has no envelope.");

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General);

    private sealed record HeldRecipient(string Address, DsnNotify Notify, string? OriginalRecipient);

    private sealed record HeldEnvelope(string SessionId, SmtpListenerKind Listener, string RemoteEndPoint, string HeloName, string ReversePath,
        bool Secure, string? AuthenticatedUser, DateTimeOffset ReceivedAt, Guid TraceId, string? EnvelopeId, DsnReturn Return,
        FlowAction Fallback, IReadOnlyList<HeldRecipient> Recipients);
}
