using System.Buffers;
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
/// End of DATA (SmtpServer's IMessageStore): checks the content in order (size, bare CR/LF/NUL, header
/// section, MIME structure), on submission the From/Sender rights (§5, setting or removing Sender),
/// prepends the Received header, hands the transaction to
/// <see cref="IMessageDelivery"/> and turns its outcome into the one reply. Never throws: every path
/// returns a reply, so nothing else of the session is lost.
/// </summary>
internal sealed class DataReceiver(
    SmtpListenerOptions options,
    IDirectorySource directory,
    IMessageDelivery delivery,
    TimeProvider time,
    TimeSpan mimeParseBudget,
    ILogger logger) : IMessageStore, IMessageStoreFactory
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

            if (session.User is { } user)
            {
                // §5: who may appear in From and Sender. Checked on the exact bytes that will be stored.
                if (SubmittedHeaders.TryParse(MessageChecks.HeaderSection(message), out var problem) is not { } headers)
                {
                    logger.SubmissionRefused(user.Email, problem);
                    return SmtpReplies.BadSenderHeaders(problem);
                }
                var decision = SendPermission.ForHeaders(directory.Current, user, headers);
                if (decision.Decision is SendDecision.Refused refused)
                {
                    logger.SubmissionRefused(user.Email, refused.Reason);
                    return SmtpReplies.SendAsDenied(refused.Reason);
                }
                message = SenderHeaderRewriter.Apply(message, decision.Change);
            }

            var parameters = transaction.Parameters;
            var smtpTransaction = new SmtpTransaction(
                SessionId: session.SessionId,
                Listener: session.Kind,
                RemoteEndPoint: session.RemoteEndPoint,
                HeloName: session.HeloName,
                ReversePath: transaction.From is { } from && !string.IsNullOrEmpty(from.User) ? from.AsAddress() : "", // "" is the null reverse-path <>
                Recipients: recipients,
                Secure: context.Pipe.IsSecure,
                AuthenticatedUser: session.User?.Email,
                ReceivedAt: time.GetUtcNow())
            {
                // RFC 3461 §4.3, §4.4 (validated by ListenerCommandFactory).
                Return = parameters.TryGetValue("RET", out var ret) ? DsnParameters.ParseReturn(ret) ?? DsnReturn.NotGiven : DsnReturn.NotGiven,
                EnvelopeId = parameters.TryGetValue("ENVID", out var envid) ? RcptParameterParser.DecodeXtext(envid) : null,
            };

            var received = ReceivedHeader.Build(smtpTransaction, options.ServerName, session.UsedEhlo, transactionId);
            var stored = new byte[System.Text.Encoding.ASCII.GetByteCount(received) + message.Length];
            var headerLength = System.Text.Encoding.ASCII.GetBytes(received, stored);
            message.CopyTo(stored.AsSpan(headerLength));

            try
            {
                var outcome = await delivery.DeliverAsync(smtpTransaction, stored, cancellationToken).ConfigureAwait(false);
                var reply = SmtpReplies.ForOutcome(outcome, transactionId);
                logger.DeliveryCompleted(
                    transactionId,
                    outcome.Recipients.Count(r => r.Outcome is DeliveryOutcome.Delivered),
                    outcome.Recipients.Count(r => r.Outcome is DeliveryOutcome.TemporaryFailure),
                    outcome.Recipients.Count(r => r.Outcome is DeliveryOutcome.PermanentFailure),
                    (int)reply.ReplyCode);
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
