using MailServer.Rules.Directory;
using MailServer.Server.Configuration;
using MailServer.Server.Logging;
using MailServer.Storage;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Delivery;

/// <summary>
/// Sends a DSN to the sender of a message: straight into the Inbox of a local sender, through the outbound queue
/// (null reverse-path) to a remote one, never to the null reverse-path (RFC 5321 §4.5.5, RFC 3464 §2).
/// </summary>
public sealed class DsnSender(IMailStore store, IDirectorySource directory, Func<ServerConfig> config, QueueSignal signal, ILogger logger, TimeProvider time)
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
        var returnFull = string.Equals(envelope.DsnReturn, "FULL", StringComparison.OrdinalIgnoreCase);
        try
        {
            var bytes = Dsn.Build(current.ServerName, postmaster, envelope.Sender, envelope.DsnEnvelopeId, envelope.ReceivedAt, recipients, original, returnFull, now);
            if (directory.Current.FindUser(envelope.Sender) is { } user)
            {
                var mailbox = store.FindMailbox(user.OrganizationId, user.Email)
                              ?? await store.EnsureMailboxAsync(user.OrganizationId, user.Email, cancellationToken).ConfigureAwait(false);
                await store.DeliverAsync(bytes, now, [new DeliveryTarget(mailbox.MailboxId, WellKnownFolders.Inbox)], cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var bounce = new OutboundEnvelope(envelope.OrganizationId, "", null, now, null, null,
                    [new QueuedRecipient(envelope.Sender, QueuedRecipientState.Pending, 0, now)]);
                await store.EnqueueAsync(bounce, bytes, null, cancellationToken).ConfigureAwait(false);
                signal.Wake();
            }
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
