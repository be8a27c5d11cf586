using MailServer.Rules.Directory;
using MailServer.Rules.Sending;
using MailServer.Server.Configuration;
using MailServer.Server.Delivery;
using MailServer.Server.Events;
using MailServer.Server.Logging;
using MailServer.Storage;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.MailFlow.Stages;

/// <summary>
/// Stage 6: the durable acts. Local recipients go to their mailboxes (<see cref="LocalDelivery"/>, the user's mailbox
/// rules included), remote ones to the durable outbound queue with their gateway (a RouteToSmtpGateway rule's, else the
/// organization's DefaultSmtpGateway, else MX). Every recipient it marks accepted is on disk (fsync'd) when it returns.
/// </summary>
/// <remarks>
/// Order: local first, then the queue. If the local store fails nothing was stored and every recipient is told to
/// retry (451). If the queue fails after local copies were stored, the local recipients have the message, the session
/// answers 250 for them, and the sender gets a DSN for the remote ones (RFC 5321 §3.3 gives one reply per DATA) rather
/// than a duplicate to the local ones on a retry.
/// </remarks>
public sealed class DeliveryStage(
    LocalDelivery local,
    IQueueStore store,
    Func<ServerConfig> config,
    QueueSignal signal,
    DsnSender dsn,
    ILogger<DeliveryStage> logger,
    TimeProvider time,
    IEmailEventLog events,
    ISubmissionObserver submissions) : IMailFlowStage
{
    /// <inheritdoc />
    public async Task RunAsync(MailFlowContext context, CancellationToken cancellationToken)
    {
        var going = context.Going.ToList();
        var localRecipients = going.Where(r => !r.Recipient.IsRemote).ToList();
        var remoteRecipients = going.Where(r => r.Recipient.IsRemote).ToList();

        if (localRecipients.Count > 0)
        {
            await local.DeliverAsync(context, localRecipients, cancellationToken).ConfigureAwait(false);
            if (localRecipients.All(r => r.Outcome is RecipientOutcome.TemporaryFailure) && remoteRecipients.Count > 0)
            {
                // Nothing was stored: let the client retry the whole transaction rather than queue half of it.
                foreach (var r in remoteRecipients)
                    r.Outcome = localRecipients[0].Outcome;
                return;
            }
        }

        if (remoteRecipients.Count > 0)
        {
            var queued = await EnqueueAsync(context, remoteRecipients, cancellationToken).ConfigureAwait(false);
            foreach (var r in remoteRecipients)
                r.Outcome = queued;
            if (queued is RecipientOutcome.TemporaryFailure failure && localRecipients.Any(r => r.Outcome is RecipientOutcome.Accepted))
                await ReportUnqueuedAsync(context, remoteRecipients, failure.Reason, cancellationToken).ConfigureAwait(false);
        }

        // §18.3 OUTGOING_EMAIL_SUBMITTED: once for every message a user sends that the server took, naming every
        // envelope recipient (To, Cc and Bcc alike), local and remote.
        var message = context.Message;
        if (message.IsSentByUser && message.Submitter is { } submitter
            && context.Recipients.Any(r => r.Outcome is RecipientOutcome.Accepted || r.Route is not (RecipientRoute.Continue or RecipientRoute.Refused or RecipientRoute.Deferred)))
        {
            var headers = InboundEvents.ReadHeaders(message.Content);
            events.Write(new OutgoingEmailSubmitted(submitter.OrganizationId, message.TraceId,
                message.Recipients.Select(r => r.Address).ToList(), headers.Sender, headers.From, headers.Subject));
            // §19.1 MailboxAccess submit_email_for_sending, for what SendingRightsStage allowed.
            if (context.SubmittedAs is { } owner && message.Client is { } client)
                submissions.Observe(new SubmissionAttempt(submitter.OrganizationId, submitter.Email, owner,
                    SubmissionEdits.MessageIdOf(message.Content.Span), Allowed: true, client.RemoteEndPoint.Address));
        }
    }

    /// <summary>The organization a queued message belongs to: the sender's, the one the server wrote it for, or the first.</summary>
    private static OrganizationConfig OrganizationOf(MailFlowMessage message, ServerConfig current) =>
        current.Organizations.FirstOrDefault(o => o.Id == (message.Submitter?.OrganizationId ?? message.OrganizationId))
        ?? current.Organizations.FirstOrDefault(o => o.Domains.Any(d => message.ReversePath.EndsWith("@" + d.Name, StringComparison.OrdinalIgnoreCase)))
        ?? current.Organizations[0];

    private async Task<RecipientOutcome> EnqueueAsync(MailFlowContext context, List<RecipientState> recipients, CancellationToken cancellationToken)
    {
        var message = context.Message;
        var organization = OrganizationOf(message, config());
        var now = time.GetUtcNow();
        var envelope = new OutboundEnvelope(
            organization.Id,
            message.ReversePath,
            message.Submitter?.Email,
            message.ReceivedAt,
            message.EnvelopeId,
            message.Return switch { DsnReturn.Full => "FULL", DsnReturn.Headers => "HDRS", _ => null },
            recipients.Select(r => new QueuedRecipient(
                r.Recipient.Address, QueuedRecipientState.Pending, 0, now,
                Gateway: r.Gateway ?? organization.DefaultSmtpGateway,
                DsnNotify: NotifyText(r.Recipient.Notify),
                OriginalRecipient: r.Recipient.OriginalRecipient)).ToList())
        {
            TraceId = message.TraceId,
            RequireTls = message.RequireTls,
            // RFC 8689 §3: honoured from our own users only (a submission, or one released by its hook); REQUIRETLS on MAIL
            // overrides the field (§4.2.2).
            TlsPoliciesWaived = !message.RequireTls && message.Submitter is not null
                                && message.Origin is MessageOrigin.Submission or MessageOrigin.HeldHookRelease
                                && MailServer.Rules.TransportSecurity.TlsRequiredHeader.SaysNo(message.Content.Span),
        };
        try
        {
            // Mail a user sends counts against the daily external recipient limit (§17) in the same commit.
            var countAgainst = message.IsSentByUser ? message.Submitter?.Email : null;
            var queued = await store.EnqueueAsync(envelope, message.Content, countAgainst, cancellationToken).ConfigureAwait(false);
            QueueLog.Queued(logger, queued.QueueId, recipients.Count, queued.Size);
            signal.Wake();
            return new RecipientOutcome.Accepted();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            QueueLog.EnqueueFailed(logger, e, message.LogId);
            return new RecipientOutcome.TemporaryFailure("The outbound queue could not take the message; try again later.");
        }
    }

    private async Task ReportUnqueuedAsync(MailFlowContext context, List<RecipientState> recipients, string reason, CancellationToken cancellationToken)
    {
        var message = context.Message;
        var organization = OrganizationOf(message, config());
        var now = time.GetUtcNow();
        var envelope = new OutboundEnvelope(organization.Id, message.ReversePath, message.Submitter?.Email, message.ReceivedAt,
            message.EnvelopeId, message.Return == DsnReturn.Full ? "FULL" : null, []);
        var report = recipients
            .Where(r => r.Recipient.WantsFailureNotice)
            .Select(r => new DsnRecipient(r.Recipient.Address, r.Recipient.OriginalRecipient, DsnAction.Failed, "4.3.0", reason, null, now))
            .ToList();
        await dsn.SendAsync(message.LogId, envelope, report, message.Content, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>RFC 3461 §4.1 NOTIFY as the queue keeps it ("FAILURE,DELAY"), or null when not given.</summary>
    internal static string? NotifyText(DsnNotify notify)
    {
        if (notify == DsnNotify.NotGiven)
            return null;
        if (notify.HasFlag(DsnNotify.Never))
            return "NEVER";
        var items = new List<string>(3);
        if (notify.HasFlag(DsnNotify.Success)) items.Add("SUCCESS");
        if (notify.HasFlag(DsnNotify.Failure)) items.Add("FAILURE");
        if (notify.HasFlag(DsnNotify.Delay)) items.Add("DELAY");
        return string.Join(',', items);
    }
}
