using System.Buffers;
using MailServer.Rules.SenderAuthentication;
using Microsoft.Extensions.Logging;
using MailServer.Rules.Directory;
using MailServer.Rules.Sending;
using MimeKit;
using SmtpServer;
using SmtpServer.ComponentModel;
using SmtpServer.Mail;
using SmtpServer.Protocol;
using SmtpServer.Storage;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// End of DATA (SmtpServer's IMessageStore): checks the content in order (size, bare CR/LF/NUL, header
/// section, MIME structure), on submission the From/Sender rights (§5, setting or removing Sender), on the MX
/// listener authenticates the sender and applies DMARC enforcement, prepends the trace headers (Received,
/// Authentication-Results), hands the transaction to
/// <see cref="IMessageDelivery"/> and turns its outcome into the one reply. Never throws: every path
/// returns a reply, so nothing else of the session is lost.
/// </summary>
internal sealed class DataReceiver(
    SmtpListenerOptions options,
    IDirectorySource directory,
    IMessageDelivery delivery,
    TimeProvider time,
    TimeSpan mimeParseBudget,
    ILogger logger,
    InboundAuthenticationOptions? authentication = null,
    ISubmissionObserver? submissions = null) : IMessageStore, IMessageStoreFactory
{
    public IMessageStore CreateInstance(ISessionContext context) => this;

    public async Task<SmtpResponse> SaveAsync(ISessionContext context, IMessageTransaction transaction, ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
    {
        var session = SmtpSessionState.Of(context);
        session.DataHandled = true;
        var recipients = session.Recipients.ToList();
        session.Recipients.Clear();
        var transactionId = session.NextTransactionId();

        if (!session.TryBeginDelivery())
            return SmtpReplies.ShuttingDown; // the connection is already closing; nothing was accepted

        try
        {
            var message = MessageChecks.Assemble(buffer);
            ContentVerdict verdict;
            using (var deadline = new CancellationTokenSource(mimeParseBudget))
                verdict = await Task.Run(() => MessageChecks.Check(message, options.Limits, deadline.Token), cancellationToken).ConfigureAwait(false);
            if (Refusal(verdict) is { } refusal)
            {
                logger.MessageRefused(refusal.Reason);
                return refusal.Reply;
            }

            string? submittedAs = null;
            if (session.User is { } user)
            {
                // §5: who may appear in From and Sender. Checked on the exact bytes that will be stored.
                if (SubmittedHeaders.TryParse(MessageChecks.HeaderSection(message), out var problem) is not { } headers)
                {
                    logger.SubmissionRefused(user.Email, problem);
                    return SmtpReplies.BadSenderHeaders(problem);
                }
                var snapshot = directory.Current;
                var decision = SendPermission.ForHeaders(snapshot, user, headers);
                if (decision.Decision is SendDecision.Refused refused)
                {
                    logger.SubmissionRefused(user.Email, refused.Reason);
                    ObserveSubmission(session, user, SubmissionOwner.Of(snapshot, user, refused), null, allowed: false);
                    return SmtpReplies.SendAsDenied(refused.Reason);
                }
                message = SenderHeaderRewriter.Apply(message, decision.Change);
                message = SubmissionHeaders.AddMissing(message, options.ServerName, time.GetUtcNow());
                submittedAs = SubmissionOwner.Of(snapshot, user, decision.Decision);
            }

            var parameters = transaction.Parameters;
            var reversePath = transaction.From is { } from && !string.IsNullOrEmpty(from.User) ? from.AsAddress() : ""; // "" is the null reverse-path <>
            var receivedAt = time.GetUtcNow();
            SmtpTransaction Transaction(IReadOnlyList<AcceptedRecipient> to) => new(
                SessionId: session.SessionId,
                Listener: session.Kind,
                RemoteEndPoint: session.RemoteEndPoint,
                HeloName: session.HeloName,
                ReversePath: reversePath,
                Recipients: to,
                Secure: context.Pipe.IsSecure,
                AuthenticatedUser: session.User?.Email,
                ReceivedAt: receivedAt)
            {
                // RFC 3461 §4.3, §4.4 (validated by ListenerCommandFactory).
                Return = parameters.TryGetValue("RET", out var ret) ? DsnParameters.ParseReturn(ret) ?? DsnReturn.NotGiven : DsnReturn.NotGiven,
                EnvelopeId = parameters.TryGetValue("ENVID", out var envid) ? RcptParameterParser.DecodeXtext(envid) : null,
            };

            // Sender authentication on the MX listener (decisions.md §12): verdicts on the message exactly as
            // received, then DMARC enforcement per organization of the recipients.
            InboundAuthentication? inbound = null;
            var rejected = new List<AcceptedRecipient>();
            string? authenticationResults = null;
            if (authentication is not null && session.Kind == SmtpListenerKind.Mx)
            {
                inbound = await AuthenticateAsync(authentication, session, reversePath, recipients, message, transactionId, cancellationToken).ConfigureAwait(false);
                // RFC 8601 §5: an Authentication-Results field claiming our authserv-id can only be forged; it goes
                // even when our own verdicts could not be computed.
                message = AuthenticationResultsHeader.RemoveClaims(message, options.ServerName);
                if (inbound is not null)
                {
                    rejected = recipients.Where(r => inbound.DispositionFor(r.OrganizationId ?? "") == DmarcDisposition.Reject).ToList();
                    if (rejected.Count > 0)
                        await RecordRefusalAsync(Transaction(rejected) with { Authentication = inbound }, message, cancellationToken).ConfigureAwait(false);
                    if (rejected.Count == recipients.Count)
                    {
                        // Every recipient refused: refuse in the session, never a bounce (no backscatter, decisions.md).
                        logger.MessageRefused($"DMARC policy reject of {inbound.Verdict.Dmarc.FromDomain}");
                        return SmtpReplies.DmarcRejected(inbound.Verdict.Dmarc.FromDomain ?? "the From domain");
                    }
                    recipients = recipients.Except(rejected).ToList();
                    authenticationResults = AuthenticationResultsHeader.Build(options.ServerName, inbound.Verdict);
                }
            }

            var smtpTransaction = Transaction(recipients) with { Authentication = inbound };

            // Our Received first, then Authentication-Results right below it (RFC 8601 §5 asks for it near the top,
            // with the trace fields; this is the order large receivers use), then the message as sent.
            var trace = ReceivedHeader.Build(smtpTransaction, options.ServerName, session.UsedEhlo, transactionId) + (authenticationResults ?? "");
            var stored = new byte[System.Text.Encoding.ASCII.GetByteCount(trace) + message.Length];
            var headerLength = System.Text.Encoding.ASCII.GetBytes(trace, stored);
            message.CopyTo(stored.AsSpan(headerLength));

            try
            {
                var outcome = await delivery.DeliverAsync(smtpTransaction, stored, cancellationToken).ConfigureAwait(false);
                if (rejected.Count > 0)
                {
                    // Recipients of an organization that rejected by DMARC, next to those delivered: one 250 for the
                    // transaction (RFC 5321 §3.3); the refused ones are accounted for here.
                    var dmarcRefusal = new DeliveryOutcome.PermanentFailure(SmtpRefusal.PolicyRefused, "DMARC policy reject");
                    outcome = new TransactionOutcome([.. outcome.Recipients, .. rejected.Select(r => (r, (DeliveryOutcome)dmarcRefusal))]);
                }
                var reply = SmtpReplies.ForOutcome(outcome, transactionId);
                if (submittedAs is not null && session.User is { } submitter && (int)reply.ReplyCode is >= 200 and < 300)
                    ObserveSubmission(session, submitter, submittedAs, SubmissionHeaders.MessageIdOf(stored), allowed: true);
                logger.DeliveryCompleted(transactionId, outcome, (int)reply.ReplyCode);
                return reply;
            }
            catch (Exception e)
            {
                logger.DeliveryFailed(transactionId, e);
                return SmtpReplies.TemporaryServerError;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.DeliveryFailed(transactionId, e);
            return SmtpReplies.TemporaryServerError;
        }
    }

    private void ObserveSubmission(SmtpSessionState session, DirectoryUser user, string ownerId, string? messageId, bool allowed) =>
        submissions?.Observe(new SubmissionAttempt(user.OrganizationId, user.Email, ownerId, messageId, allowed, session.RemoteEndPoint.Address));

    /// <summary>Tells the delivery side of recipients refused before delivery; a failure there never changes the reply.</summary>
    private async Task RecordRefusalAsync(SmtpTransaction refused, byte[] message, CancellationToken cancellationToken)
    {
        try
        {
            await delivery.RecordRefusalAsync(refused, message, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.DeliveryFailed(refused.SessionId, e);
        }
    }

    /// <summary>
    /// Computes the verdicts and each recipient organization's disposition. A failure of our own (not the
    /// sender's records, which end as verdicts) is logged and the message delivered without verdicts.
    /// </summary>
    private async Task<InboundAuthentication?> AuthenticateAsync(
        InboundAuthenticationOptions checks, SmtpSessionState session, string reversePath, List<AcceptedRecipient> recipients,
        byte[] message, string transactionId, CancellationToken cancellationToken)
    {
        try
        {
            MimeMessage parsed;
            using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                deadline.CancelAfter(mimeParseBudget);
                using var stream = new MemoryStream(message, writable: false);
                parsed = await MimeMessage.LoadAsync(stream, deadline.Token).ConfigureAwait(false);
            }
            var verdict = await checks.Authenticator.AuthenticateAsync(session.RemoteEndPoint.Address, session.HeloName, reversePath, parsed, cancellationToken).ConfigureAwait(false);
            var fromDomain = verdict.Dmarc.FromDomain ?? "(none)";
            logger.Verdict(transactionId, verdict.SpfVerdictName, verdict.Spf.Domain, verdict.DkimVerdictName, verdict.DmarcVerdictName,
                verdict.DmarcPolicyName ?? "-", verdict.Arc.ToString().ToUpperInvariant(), fromDomain);
            foreach (var signature in verdict.Dkim.Where(d => d.Result != DkimResult.Pass))
                logger.DkimSignature(transactionId, signature.Result.ToString().ToUpperInvariant(), signature.Domain, signature.Selector, signature.Algorithm, signature.Problem ?? "");

            var byOrganization = new Dictionary<string, DmarcDisposition>(StringComparer.Ordinal);
            foreach (var group in recipients.GroupBy(r => r.OrganizationId ?? ""))
            {
                var enforced = checks.Enforcement.IsEnforced(group.Key);
                var disposition = verdict.DispositionFor(enforced);
                byOrganization[group.Key] = disposition;
                if (disposition != DmarcDisposition.Deliver)
                    logger.PolicyApplied(transactionId, verdict.Dmarc.AppliedPolicy.ToString()!.ToUpperInvariant(), fromDomain, group.Key, disposition.ToString(), group.Count());
                else if (!enforced && verdict.Dmarc.Result == DmarcResult.Fail)
                    logger.NotEnforced(transactionId, fromDomain, group.Key);
            }
            return new InboundAuthentication(verdict, byOrganization);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.AuthenticationFailed(transactionId, e);
            return null;
        }
    }

    private static (SmtpResponse Reply, string Reason)? Refusal(ContentVerdict verdict) => verdict switch
    {
        ContentVerdict.Acceptable => null,
        ContentVerdict.TooLarge => (SmtpReplies.MessageTooBig, "message too large"),
        ContentVerdict.BareLineEnding => (SmtpReplies.BareLineEnding, "bare CR, LF or NUL in message"),
        ContentVerdict.HeaderSectionTooLarge => (SmtpReplies.HeaderSectionTooBig, "header section too large"),
        ContentVerdict.MimeRefused m => (SmtpReplies.MimeStructureRefused(m.Why), m.Why),
        _ => throw new InvalidOperationException("Unknown content verdict."),
    };
}
