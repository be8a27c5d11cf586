using System.Buffers;
using Microsoft.Extensions.Logging;
using SmtpServer;
using SmtpServer.ComponentModel;
using SmtpServer.Mail;
using SmtpServer.Protocol;
using SmtpServer.Storage;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// End of DATA (SmtpServer's IMessageStore): checks the content in order (size, bare CR/LF/NUL, header
/// section, MIME structure), prepends the Received header, hands the transaction to
/// <see cref="IMessageDelivery"/> and turns its outcome into the one reply. Never throws: every path
/// returns a reply, so nothing else of the session is lost.
/// </summary>
internal sealed class DataReceiver(
    SmtpListenerOptions options,
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

            var smtpTransaction = new SmtpTransaction(
                SessionId: session.SessionId,
                Listener: session.Kind,
                RemoteEndPoint: session.RemoteEndPoint,
                HeloName: session.HeloName,
                ReversePath: transaction.From is { } from && !string.IsNullOrEmpty(from.User) ? from.AsAddress() : "", // "" is the null reverse-path <>
                Recipients: recipients,
                Secure: context.Pipe.IsSecure,
                AuthenticatedUser: null, // AUTH is not offered yet (see ListenerCommandFactory)
                ReceivedAt: time.GetUtcNow());

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
