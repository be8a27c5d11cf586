using MailServer.Protocols.Smtp;
using MailServer.Rules.Directory;
using MailServer.Server.Configuration;
using MailServer.Server.Dkim;
using MailServer.Server.Logging;
using MailServer.Storage;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Delivery;

/// <summary>
/// The delivery pipeline behind every SMTP listener: local recipients go to their mailboxes through
/// <see cref="LocalDelivery"/>, remote ones (authenticated submission only) to the durable outbound queue with
/// their routing decision. Every outcome it reports as Delivered is on disk (fsync'd) before it returns.
/// </summary>
/// <remarks>
/// Order: local first, then the queue. If the local store fails nothing was stored and every recipient is told
/// to retry (451). If the queue fails after the local copies were stored, the local recipients have the message,
/// the session answers 250 for them, and the sender gets a failure DSN for the remote ones (RFC 5321 §3.3 gives
/// one reply per DATA, so the pipeline owns that report) rather than a duplicate to the local ones on a retry.
/// </remarks>
public sealed class DeliveryPipeline(
    LocalDelivery local,
    IMailStore store,
    IDirectorySource directory,
    Func<ServerConfig> config,
    IOutboundRouter router,
    QueueSignal signal,
    DsnSender dsn,
    ILogger<DeliveryPipeline> logger,
    TimeProvider? time = null,
    DkimMessageSigner? signer = null,
    JournalWriter? journal = null,
    MailServer.Server.Events.IEmailEventLog? events = null) : IMessageDelivery
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <inheritdoc />
    public bool HasRoom(DirectoryUser user) => local.HasRoom(user);

    /// <inheritdoc />
    public long ExternalRecipientsToday(DirectoryUser user) =>
        store.ExternalRecipientsOn(user.OrganizationId, user.Email, DateOnly.FromDateTime(_time.GetUtcNow().UtcDateTime));

    /// <inheritdoc />
    public Task RecordRefusalAsync(SmtpTransaction refused, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        local.RecordRefusal(refused, message);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task<TransactionOutcome> DeliverAsync(SmtpTransaction transaction, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        if (transaction.AuthenticatedUser is not null && signer is { HasAnyKeys: true })
            message = await SignAsync(transaction, message, cancellationToken).ConfigureAwait(false);
        var outcome = await CarryOutAsync(transaction, message, cancellationToken).ConfigureAwait(false);
        if (journal is not null)
        {
            // After the message is durable for its recipients: one journal record per organization it crossed (§14).
            var delivered = outcome.Recipients.Where(r => r.Outcome is DeliveryOutcome.Delivered).Select(r => r.Recipient).ToList();
            await journal.JournalAsync(transaction, message, delivered, cancellationToken).ConfigureAwait(false);
        }
        return outcome;
    }

    private async Task<TransactionOutcome> CarryOutAsync(SmtpTransaction transaction, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var localRecipients = transaction.Recipients.Where(r => !r.IsRemote).ToList();
        var remoteRecipients = transaction.Recipients.Where(r => r.IsRemote).ToList();
        var outcomes = new Dictionary<AcceptedRecipient, DeliveryOutcome>(ReferenceEqualityComparer.Instance);

        if (localRecipients.Count > 0)
        {
            var localOutcome = await local.DeliverAsync(transaction with { Recipients = localRecipients }, message, cancellationToken).ConfigureAwait(false);
            foreach (var (recipient, outcome) in localOutcome.Recipients)
                outcomes[recipient] = outcome;
            if (localOutcome.Recipients.All(r => r.Outcome is DeliveryOutcome.TemporaryFailure) && remoteRecipients.Count > 0)
            {
                // Nothing was stored: let the client retry the whole transaction rather than queue half of it.
                var retry = localOutcome.Recipients[0].Outcome;
                foreach (var recipient in remoteRecipients)
                    outcomes[recipient] = retry;
                return Ordered(transaction, outcomes);
            }
        }

        if (remoteRecipients.Count > 0)
        {
            var queued = await EnqueueAsync(transaction, remoteRecipients, message, cancellationToken).ConfigureAwait(false);
            var anyLocalDelivered = outcomes.Values.Any(o => o is DeliveryOutcome.Delivered);
            foreach (var recipient in remoteRecipients)
                outcomes[recipient] = queued;
            if (queued is DeliveryOutcome.TemporaryFailure failure && anyLocalDelivered)
                await ReportUnqueuedAsync(transaction, remoteRecipients, message, failure.Reason, cancellationToken).ConfigureAwait(false);
        }
        return Ordered(transaction, outcomes);
    }

    /// <summary>
    /// DKIM-signs a submitted message for its From domain (decisions.md §12) once, before any copy is stored or
    /// queued, so local and remote recipients get the same signed bytes. A domain without keys, or a message
    /// MimeKit cannot take apart, goes unsigned (logged): signing never costs the sender the message.
    /// </summary>
    private async Task<ReadOnlyMemory<byte>> SignAsync(SmtpTransaction transaction, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        try
        {
            using var input = new MemoryStream(message.ToArray(), writable: false);
            var parsed = await MimeKit.MimeMessage.LoadAsync(input, cancellationToken).ConfigureAwait(false);
            if (signer!.Sign(parsed) == 0)
                return message;
            var format = MimeKit.FormatOptions.Default.Clone();
            format.NewLineFormat = MimeKit.NewLineFormat.Dos;
            using var output = new MemoryStream(message.Length + 1024);
            await parsed.WriteToAsync(format, output, cancellationToken).ConfigureAwait(false);
            return output.ToArray();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or FormatException)
        {
            QueueLog.SigningFailed(logger, e, transaction.SessionId);
            return message;
        }
    }

    private async Task<DeliveryOutcome> EnqueueAsync(SmtpTransaction transaction, List<AcceptedRecipient> recipients, ReadOnlyMemory<byte> message,
        CancellationToken cancellationToken)
    {
        var current = config();
        var snapshot = directory.Current;
        var submitter = transaction.AuthenticatedUser is { } name ? snapshot.FindUser(name) : null;
        var organizationId = submitter?.OrganizationId ?? snapshot.OrganizationOf(transaction.ReversePath)?.Id ?? current.Organizations[0].Id;
        var organization = current.Organizations.First(o => o.Id == organizationId);
        var now = _time.GetUtcNow();
        var envelope = new OutboundEnvelope(
            organizationId,
            transaction.ReversePath,
            submitter?.Email,
            transaction.ReceivedAt,
            transaction.EnvelopeId,
            transaction.Return switch { DsnReturn.Full => "FULL", DsnReturn.Headers => "HDRS", _ => null },
            recipients.Select(r => new QueuedRecipient(
                r.Address, QueuedRecipientState.Pending, 0, now,
                Gateway: router.GatewayFor(transaction, organization, r),
                DsnNotify: NotifyText(r.Notify),
                OriginalRecipient: r.OriginalRecipient)).ToList())
        {
            TraceId = transaction.TraceId,
        };
        try
        {
            var queued = await store.EnqueueAsync(envelope, message, submitter?.Email, cancellationToken).ConfigureAwait(false);
            QueueLog.Queued(logger, queued.QueueId, recipients.Count, queued.Size);
            if (events is not null && submitter is not null)
            {
                // §18: OUTGOING_EMAIL_SUBMITTED once per message; SENT/BOUNCED per recipient share the message's trace id.
                var headers = MailServer.Server.Events.InboundEvents.ReadHeaders(message);
                events.Write(new MailServer.Server.Events.OutgoingEmailSubmitted(organizationId, transaction.TraceId,
                    recipients.Select(r => r.Address).ToList(), headers.Sender, headers.From, headers.Subject));
            }
            signal.Wake();
            return new DeliveryOutcome.Delivered();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            QueueLog.EnqueueFailed(logger, e, transaction.SessionId);
            return new DeliveryOutcome.TemporaryFailure("The outbound queue could not take the message; try again later.");
        }
    }

    private async Task ReportUnqueuedAsync(SmtpTransaction transaction, List<AcceptedRecipient> recipients, ReadOnlyMemory<byte> message, string reason,
        CancellationToken cancellationToken)
    {
        var snapshot = directory.Current;
        var organizationId = snapshot.FindUser(transaction.AuthenticatedUser ?? transaction.ReversePath)?.OrganizationId ?? config().Organizations[0].Id;
        var now = _time.GetUtcNow();
        var envelope = new OutboundEnvelope(organizationId, transaction.ReversePath, transaction.AuthenticatedUser, transaction.ReceivedAt,
            transaction.EnvelopeId, transaction.Return == DsnReturn.Full ? "FULL" : null, []);
        var report = recipients
            .Where(r => r.Notify == DsnNotify.NotGiven || r.Notify.HasFlag(DsnNotify.Failure))
            .Select(r => new DsnRecipient(r.Address, r.OriginalRecipient, DsnAction.Failed, "4.3.0", reason, null, now))
            .ToList();
        await dsn.SendAsync(transaction.SessionId, envelope, report, message, cancellationToken).ConfigureAwait(false);
    }

    private static TransactionOutcome Ordered(SmtpTransaction transaction, Dictionary<AcceptedRecipient, DeliveryOutcome> outcomes) =>
        new(transaction.Recipients.Select(r => (r, outcomes[r])).ToList());

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
