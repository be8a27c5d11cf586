using Microsoft.Extensions.Logging;
using MailServer.Rules.Directory;
using SmtpServer;
using SmtpServer.ComponentModel;
using SmtpServer.Mail;
using SmtpServer.Protocol;
using SmtpServer.Storage;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// MAIL FROM and RCPT TO decisions (SmtpServer's IMailboxFilter). A refusal is an
/// <see cref="SmtpResponseException"/> carrying a reply from <see cref="SmtpReplies"/>.
/// Stateless: one instance serves every session (it is not IDisposable, which SmtpServer would dispose).
/// </summary>
internal sealed class EnvelopeFilter(SmtpListenerOptions options, IDirectorySource directory, IMessageDelivery delivery, ILogger logger)
    : IMailboxFilter, IMailboxFilterFactory
{
    public IMailboxFilter CreateInstance(ISessionContext context) => this;

    public Task<bool> CanAcceptFromAsync(ISessionContext context, IMailbox from, int size, CancellationToken cancellationToken)
    {
        // MAIL starts a new transaction (RFC 5321 §4.1.1.2). The declared SIZE was checked while parsing
        // (ListenerCommandFactory); sender authentication verdicts are the pipeline's, after DATA.
        SmtpSessionState.Of(context).Recipients.Clear();
        return Task.FromResult(true);
    }

    public Task<bool> CanDeliverToAsync(ISessionContext context, IMailbox to, IMailbox from, CancellationToken cancellationToken)
    {
        var session = SmtpSessionState.Of(context);
        var address = to.AsAddress();

        // RFC 5321 §4.5.3.1.8: past our maximum, 452 so the client sends the remaining recipients later.
        if (session.Recipients.Count >= options.Limits.MaxRecipients)
            throw Refuse(address, "too many recipients", SmtpReplies.TooManyRecipients);

        // Submission listeners relay for authenticated users only; AUTH is not there yet, so every listener
        // accepts mail for local addresses only (RFC 5321 §3.6.2: no open relay).
        switch (directory.Current.Resolve(address))
        {
            case RecipientResolution.NotLocal:
                throw Refuse(address, "relaying denied", SmtpReplies.RelayDenied);
            case RecipientResolution.UnknownAddress:
                throw Refuse(address, "no such user", SmtpReplies.NoSuchUser(address));
            case RecipientResolution.Disabled:
                throw Refuse(address, "mailbox disabled", SmtpReplies.MailboxDisabled(address));
            case RecipientResolution.Local local:
                // A group is refused only when no member has room: members with room get the message, and the
                // pipeline reports the full ones (a group address cannot be half-refused at RCPT).
                if (!HasRoom(local, address))
                    throw Refuse(address, "mailbox full", SmtpReplies.MailboxFull(address));
                session.Recipients.Add(new AcceptedRecipient(address, local));
                return Task.FromResult(true);
            default:
                throw new InvalidOperationException("Unknown recipient resolution.");
        }
    }

    /// <summary>
    /// The quota check reads the store; a store fault there is temporary for the client (RFC 5321 §4.2.5:
    /// 451, try again later), logged with its stack here, instead of a dropped connection.
    /// </summary>
    private bool HasRoom(RecipientResolution.Local local, string address)
    {
        try
        {
            return local.Mailboxes.Any(delivery.HasRoom);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.RecipientCheckFailed(address, e);
            throw new SmtpResponseException(SmtpReplies.TemporaryServerError);
        }
    }

    private SmtpResponseException Refuse(string address, string reason, SmtpResponse reply)
    {
        logger.RecipientRefused(address, reason);
        return new SmtpResponseException(reply);
    }
}
