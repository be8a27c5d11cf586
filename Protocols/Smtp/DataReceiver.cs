using System.Buffers;
using Microsoft.Extensions.Logging;
using MailServer.Protocols.Admission;
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
/// End of DATA (SmtpServer's IMessageStore): checks the content's syntax in order (size, bare CR/LF/NUL, header
/// section, MIME structure), prepends our Received field (RFC 5321 §4.4), hands the transaction to
/// <see cref="IMessageDelivery"/> (the mail flow: sending rights or sender authentication, rules, delivery) and turns
/// its outcome into the one reply. The transaction's trace id is the id
/// the client sees ("queued as"), the Received field's id and the event log's trace id. Never throws: every path
/// returns a reply, so nothing else of the session is lost.
/// </summary>
internal sealed class DataReceiver(
    SmtpListenerOptions options,
    IMessageDelivery delivery,
    TimeProvider time,
    TimeSpan mimeParseBudget,
    BytesInFlight budget,
    ILogger logger) : IMessageStore, IMessageStoreFactory
{
    /// <summary>Messages up to this size are checked on the session's own thread (no hand-off to the pool).</summary>
    private const int InlineCheckBytes = 64 * 1024;

    /// <summary>
    /// Copies of the whole message the mail flow may hold at once, charged to the budget of bytes in flight: the array
    /// read from the spool (our Received field and the message), and the one copy a stage writes when it edits the
    /// header section (sender authentication's Authentication-Results on MX, the DKIM signature on submission), while
    /// the first stays referenced until the reply. Nothing else copies a whole message: the checks, DKIM and the store
    /// read the array in place.
    /// </summary>
    private const int FlowCopies = 2;

    /// <summary>Room charged per copy for the fields the server adds (Received, Authentication-Results): a few hundred bytes each.</summary>
    private const int TraceFieldsAllowance = 4096;

    /// <summary>Arrays from this size on go to the runtime's large object heap, reclaimed only by full collections.</summary>
    private const int LargeObjectBytes = 85_000;

    public IMessageStore CreateInstance(ISessionContext context) => this;

    public async Task<SmtpResponse> SaveAsync(ISessionContext context, IMessageTransaction transaction, ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
    {
        var session = SmtpSessionState.Of(context);
        session.DataHandled = true;
        var recipients = session.Recipients.ToList();
        session.Recipients.Clear();

        // The DATA section the guard read from the connection (PackageWorkarounds/ConnectionGuard.cs); the package's own
        // buffer holds only a fixed stand-in. Removed (its file, if any) when the transaction is decided.
        using var spooled = session.Guard.TakeSpooled();
        if (spooled is null || buffer.Length != SpooledData.PackageBody.Length || !buffer.ToArray().AsSpan().SequenceEqual(SpooledData.PackageBody))
        {
            // RFC 2920 §3.1: DATA ends a pipelined group; the message must wait for the 354. Message text that reached
            // the package before it (so the guard could not take the section) is refused, never taken in part.
            logger.MessageRefused("message text sent before the 354 reply");
            return SmtpReplies.DataBeforeGoAhead;
        }
        if (spooled.TooLarge)
        {
            logger.MessageRefused("message too large");
            return SmtpReplies.MessageTooBig;
        }
        if (spooled.SpoolError is { } spoolError)
        {
            logger.SpoolFailed(spoolError);
            return SmtpReplies.TemporaryServerError;
        }

        var traceId = Guid.CreateVersion7();
        var transactionId = traceId.ToString("N");

        // Admission by bytes where the memory is: a message on its way cost a spool segment; from here on the flow holds
        // it in memory, so it waits (first come, first served) until it fits the budget, or is alone. The client waits
        // 10 minutes for this reply (RFC 5321 §4.5.3.2.6); past the configured wait it is told to retry with 452 4.3.1
        // (RFC 5321 §4.3.2 lists 452 after the DATA section; RFC 3463 4.3.1, system storage exhausted).
        var charge = FlowCopies * (spooled.Spool.Length + TraceFieldsAllowance);
        if (!await AdmitAsync(transactionId, charge, cancellationToken).ConfigureAwait(false))
            return SmtpReplies.BytesInFlightExhausted;
        if (!session.TryBeginDelivery())
        {
            budget.Release(charge);
            return SmtpReplies.ShuttingDown; // the connection is already closing; nothing was accepted
        }
        var large = spooled.Spool.Length >= LargeObjectBytes;
        if (large)
            budget.CollectBeyondBudget(charge); // the arrays of messages already answered count until they are collected

        try
        {
            var parameters = transaction.Parameters;
            // RFC 8689 §4.1, again: EnvelopeFilter refuses it at MAIL; should the package stop showing it the parameters,
            // the message is still never taken without TLS.
            if (RequireTls.Requested(parameters) && !context.Pipe.IsSecure)
                return SmtpReplies.RequireTlsNeedsTls;
            var reversePath = transaction.From is { } from && !string.IsNullOrEmpty(from.User) ? from.AsAddress() : ""; // "" is the null reverse-path <>
            var receivedAt = time.GetUtcNow();
            var smtpTransaction = new SmtpTransaction(
                SessionId: session.SessionId,
                Listener: session.Kind,
                RemoteEndPoint: session.RemoteEndPoint,
                HeloName: session.HeloName,
                ReversePath: reversePath,
                Recipients: recipients,
                Secure: context.Pipe.IsSecure,
                AuthenticatedUser: session.User?.Email,
                ReceivedAt: receivedAt)
            {
                TraceId = traceId,
                // RFC 3461 §4.3, §4.4 (validated by ListenerCommandFactory).
                Return = parameters.TryGetValue("RET", out var ret) ? DsnParameters.ParseReturn(ret) ?? DsnReturn.NotGiven : DsnReturn.NotGiven,
                EnvelopeId = parameters.TryGetValue("ENVID", out var envid) ? RcptParameterParser.DecodeXtext(envid) : null,
                // RFC 8689 §4.1: the message is tagged for REQUIRETLS handling (accepted only under TLS, EnvelopeFilter).
                RequireTls = RequireTls.Requested(parameters),
            };

            // RFC 5321 §4.4: our Received field first; the mail flow puts its Authentication-Results right below it.
            // The spooled message is copied once, into the array that will be stored, behind room for that field: a big
            // message is not copied again to be checked or to get its trace field.
            var trace = System.Text.Encoding.ASCII.GetBytes(ReceivedHeader.Build(smtpTransaction, options.ServerName, session.UsedEhlo, transactionId));
            var stored = GC.AllocateUninitializedArray<byte>(checked(trace.Length + (int)spooled.Spool.Length));
            trace.CopyTo(stored, 0);
            spooled.Spool.CopyTo(stored.AsSpan(trace.Length));
            var message = stored.AsMemory(trace.Length);
            ContentVerdict verdict;
            using (var deadline = new CancellationTokenSource(mimeParseBudget))
                // A small message is checked in microseconds on this thread; a big one on the pool, so a slow MIME
                // structure (bounded by the budget) does not hold the connection's I/O thread.
                verdict = message.Length <= InlineCheckBytes
                    ? MessageChecks.Check(message, options.Limits, deadline.Token)
                    : await Task.Run(() => MessageChecks.Check(message, options.Limits, deadline.Token), cancellationToken).ConfigureAwait(false);
            if (Refusal(verdict) is { } refusal)
            {
                logger.MessageRefused(refusal.Reason);
                return refusal.Reply;
            }

            try
            {
                var outcome = await delivery.DeliverAsync(smtpTransaction, stored, cancellationToken).ConfigureAwait(false);
                var reply = SmtpReplies.ForOutcome(outcome, transactionId);
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
        finally
        {
            // The transaction is decided: its bytes leave the budget before the reply goes out, so a client (or an IMAP
            // APPEND) that acts on the reply finds them released. The DATA section is dropped with the reply.
            budget.Release(charge);
            if (large)
                budget.NoteLargeGarbage(charge);
        }
    }

    /// <summary>Charges <paramref name="charge"/> bytes to the budget, waiting up to the configured time.</summary>
    /// <returns>False when the wait ran out.</returns>
    private async Task<bool> AdmitAsync(string transactionId, long charge, CancellationToken cancellationToken)
    {
        var wait = options.Limits.BytesInFlightWait;
        // A reading for the log only: the budget decides atomically below.
        var inFlight = budget.InFlight;
        var waiting = budget.Waiting;
        if (waiting > 0 || (inFlight > 0 && inFlight + charge > budget.Budget))
            logger.WaitingForBudget(transactionId, charge, inFlight, budget.Budget, waiting);
        if (await budget.AdmitAsync(charge, wait, cancellationToken).ConfigureAwait(false))
            return true;
        logger.BudgetWaitTimedOut(transactionId, charge, (int)wait.TotalSeconds);
        return false;
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
