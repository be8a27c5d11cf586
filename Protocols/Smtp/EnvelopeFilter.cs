using Microsoft.Extensions.Logging;
using MailServer.Rules.Directory;
using MailServer.Rules.Sending;
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
internal sealed class EnvelopeFilter(SmtpListenerOptions options, IDirectorySource directory, IMessageDelivery delivery, ILogger logger,
    ISubmissionObserver? submissions = null)
    : IMailboxFilter, IMailboxFilterFactory
{
    public IMailboxFilter CreateInstance(ISessionContext context) => this;

    public Task<bool> CanAcceptFromAsync(ISessionContext context, IMailbox from, int size, CancellationToken cancellationToken)
    {
        // MAIL starts a new transaction (RFC 5321 §4.1.1.2). The declared SIZE was checked while parsing
        // (ListenerCommandFactory); sender authentication verdicts are the pipeline's, after DATA.
        var session = SmtpSessionState.Of(context);
        session.Recipients.Clear();
        // RFC 8689 §4.1: REQUIRETLS only over TLS (it is offered only there); SmtpServer sets the transaction's
        // parameters before it asks this filter (read through TransactionParameters, a package workaround).
        if (!context.Pipe.IsSecure && TransactionParameters.Of(context) is { } parameters && RequireTls.Requested(parameters))
        {
            logger.SenderRefused("REQUIRETLS outside TLS");
            throw new SmtpResponseException(SmtpReplies.RequireTlsNeedsTls);
        }
        if (session.Kind == SmtpListenerKind.Mx)
            return Task.FromResult(true);

        // RFC 6409 §4.3 / RFC 4954 §6: submission needs AUTH first.
        if (session.User is not { } user)
        {
            logger.SenderRefused("authentication required on submission");
            throw new SmtpResponseException(SmtpReplies.AuthenticationRequired);
        }
        // §5: the envelope sender must be the user's own address or one it may send as or on behalf of.
        var reversePath = from is { } f && !string.IsNullOrEmpty(f.User) ? f.AsAddress() : "";
        var snapshot = directory.Current;
        if (SendPermission.ForEnvelope(snapshot, user, reversePath) is SendDecision.Refused refused)
        {
            logger.SubmissionRefused(user.Email, refused.Reason);
            submissions?.Observe(new SubmissionAttempt(user.OrganizationId, user.Email, SubmissionOwner.Of(snapshot, user, refused), null,
                Allowed: false, session.RemoteEndPoint.Address));
            throw new SmtpResponseException(SmtpReplies.SendAsDenied(refused.Reason));
        }
        return Task.FromResult(true);
    }

    public Task<bool> CanDeliverToAsync(ISessionContext context, IMailbox to, IMailbox from, CancellationToken cancellationToken)
    {
        var session = SmtpSessionState.Of(context);
        var snapshot = directory.Current;
        var parameters = TakeParameters(session, to.AsAddress());
        // RFC 5321 §4.5.1: a bare <Postmaster> arrives rewritten by the connection guard; the directory qualifies it.
        var address = parameters?.BarePostmaster == true ? snapshot.Qualify(MailDirectory.BarePostmaster) : to.AsAddress();
        if (parameters?.Invalid == true)
            throw Refuse(address, "invalid DSN parameter", SmtpReplies.BadDsnParameter);

        // RFC 5321 §4.5.3.1.8: past our maximum, 452 so the client sends the remaining recipients later.
        if (session.Recipients.Count >= options.Limits.MaxRecipients)
            throw Refuse(address, "too many recipients", SmtpReplies.TooManyRecipients);

        var resolution = snapshot.Resolve(address);
        switch (resolution)
        {
            case RecipientResolution.NotLocal when session.Kind != SmtpListenerKind.Mx && session.User is { } user:
                // Authenticated submission relays (RFC 6409 §4.3); §17's daily external recipient limit applies.
                CheckExternalLimit(session, user, address);
                break;
            case RecipientResolution.NotLocal:
                // RFC 5321 §3.6.2: no open relay. The MX listener never relays, authenticated or not.
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
                break;
            default:
                throw new InvalidOperationException("Unknown recipient resolution.");
        }
        session.Recipients.Add(new AcceptedRecipient(address, resolution, parameters?.Notify ?? DsnNotify.NotGiven, parameters?.OriginalRecipient));
        return Task.FromResult(true);
    }

    /// <summary>
    /// The RFC 3461 parameters the guard took off this RCPT line. Entries of RCPT lines SmtpServer refused
    /// before asking us (syntax, sequence) are skipped by address.
    /// </summary>
    private static RcptParameters? TakeParameters(SmtpSessionState session, string address)
    {
        while (session.RcptParameters.TryDequeue(out var parameters))
            if (string.Equals(parameters.Address, address, StringComparison.OrdinalIgnoreCase))
                return parameters;
        return null;
    }

    private void CheckExternalLimit(SmtpSessionState session, DirectoryUser user, string address)
    {
        var limit = options.Limits.ExternalRecipientsPerUserPerDay;
        long today;
        try
        {
            today = delivery.ExternalRecipientsToday(user);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.RecipientCheckFailed(address, e);
            throw new SmtpResponseException(SmtpReplies.TemporaryServerError);
        }
        if (today >= limit)
            throw Refuse(address, "daily external recipient limit reached", SmtpReplies.ExternalRecipientsDailyLimit(limit));
        if (today + session.Recipients.Count(r => r.IsRemote) >= limit)
            throw Refuse(address, "daily external recipient limit reached with this message", SmtpReplies.ExternalRecipientsTransactionFull(limit));
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
