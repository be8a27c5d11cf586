using MailServer.Rules.Sending;
using MailServer.Rules.Directory;
using MailServer.Server.Configuration;
using MailServer.Server.Logging;
using MailServer.Server.MailFlow;
using MailServer.Storage;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Delivery;

/// <summary>
/// Sends a DSN to the sender of a message: it enters the mail flow as a message of its own
/// (<see cref="MessageOrigin.DeliveryStatusNotification"/>, null reverse-path): into the Inbox of a local sender, through
/// the outbound queue to a remote one, never to the null reverse-path (RFC 5321 §4.5.5, RFC 3464 §2).
/// </summary>
/// <param name="door">The mail flow's door (resolved late: the mail flow uses this class).</param>
/// <param name="directory">Resolves the sender to a local mailbox or a remote address.</param>
/// <param name="config">The configuration in force (server name, the organization's postmaster).</param>
/// <param name="logger">Receives one line per DSN sent or failed.</param>
/// <param name="time">The clock of the report's dates.</param>
public sealed class DsnSender(Func<IMailFlowDoor> door, IDirectorySource directory, Func<ServerConfig> config, ILogger logger, TimeProvider time)
{
    /// <summary>Builds and delivers the DSN; false when none is due (null sender) or it could not be stored (logged).</summary>
    public async Task<bool> SendAsync(string queueId, OutboundEnvelope envelope, IReadOnlyList<DsnRecipient> recipients, ReadOnlyMemory<byte> original,
        CancellationToken cancellationToken)
    {
        if (envelope.Sender.Length == 0 || recipients.Count == 0)
            return false;
        var current = config();
        // From postmaster@ the organization's default domain, an address that reaches its postmaster (RFC 5321 §4.5.1),
        // so a reply to the DSN arrives somewhere; the server name only when there is no organization at all.
        var snapshot = directory.Current;
        var organization = snapshot.Organizations.FirstOrDefault(o => o.Id == envelope.OrganizationId);
        var postmaster = snapshot.PostmasterAddress(organization) ?? "postmaster@" + current.ServerName;
        var now = time.GetUtcNow();
        // RFC 8689 §5: the report about a REQUIRETLS message never carries its body (the way back may be less protected
        // than the sender asked for the way out), and is itself sent with REQUIRETLS.
        var returnFull = string.Equals(envelope.DsnReturn, "FULL", StringComparison.OrdinalIgnoreCase) && !envelope.RequireTls;
        try
        {
            var bytes = Dsn.Build(current.ServerName, postmaster, envelope.Sender, envelope.DsnEnvelopeId, envelope.ReceivedAt, recipients, original, returnFull, now);
            var resolution = directory.Current.Resolve(envelope.Sender) as RecipientResolution.Local ?? (RecipientResolution)new RecipientResolution.NotLocal();
            var notice = new MailFlowMessage(MessageOrigin.DeliveryStatusNotification, "", [new FlowRecipient(envelope.Sender, resolution)], bytes, now)
            {
                OrganizationId = envelope.OrganizationId,
                RequireTls = envelope.RequireTls,
            };
            var result = await door().AcceptAsync(notice, cancellationToken).ConfigureAwait(false);
            if (result.Recipients[0].Outcome is not RecipientOutcome.Accepted)
                throw new IOException($"the DSN {notice.LogId} was not stored or queued: {result.Recipients[0].Outcome}");
            QueueLog.DsnSent(logger, queueId, recipients[0].Action.ToString().ToLowerInvariant(), envelope.Sender);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            QueueLog.DsnFailed(logger, e, queueId, envelope.Sender);
            return false;
        }
    }
}
