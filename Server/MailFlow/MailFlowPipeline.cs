using MailServer.Server.Logging;
using MailServer.Server.MailFlow.Stages;
using MailServer.Storage;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.MailFlow;

/// <summary>The one door into the mail flow: SMTP and every message the server writes itself enter here.</summary>
public interface IMailFlowDoor
{
    /// <summary>
    /// Runs <paramref name="message"/> through the stages of its origin and returns each recipient's outcome. Every
    /// <see cref="RecipientOutcome.Accepted"/> recipient is durable (stored, queued or held) before this returns: the
    /// SMTP door answers 250 on that promise.
    /// </summary>
    Task<MailFlowResult> AcceptAsync(MailFlowMessage message, CancellationToken cancellationToken);
}

/// <summary>
/// The mail-flow core: one ordered list of stages (<see cref="MailFlowStages"/>), the ones an origin takes chosen
/// from one table. A stage decides per recipient (<see cref="RecipientRoute"/>) or acts (store, queue, journal);
/// none speaks SMTP. A fault of a stage that decides nothing durable (sender authentication, content filtering) is
/// the stage's own business; a fault anywhere else fails every recipient not yet accepted temporarily, so the
/// client retries and nothing is lost.
/// </summary>
public sealed class MailFlowPipeline(MailFlowStages stages, ILogger<MailFlowPipeline> logger) : IMailFlowDoor
{
    /// <inheritdoc />
    public async Task<MailFlowResult> AcceptAsync(MailFlowMessage message, CancellationToken cancellationToken)
    {
        var context = new MailFlowContext(message, this);
        try
        {
            foreach (var stage in stages.For(message.Origin))
                await stage.RunAsync(context, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The store's error taxonomy in SMTP's terms: a full mailbox is permanent (552), everything else temporary
            // (451): the message is not on disk, the client keeps it and retries.
            MailFlowLog.StageFailed(logger, e, context.Message.LogId, message.Origin.ToString());
            RecipientOutcome failure = StoreErrors.Classify(e) == StoreError.OverQuota
                ? new RecipientOutcome.PermanentFailure(Refusal.MailboxFull, "The mailbox is full")
                : new RecipientOutcome.TemporaryFailure("The server could not take the message; try again later.");
            foreach (var r in context.Recipients.Where(r => r.Outcome is null && r.IsGoing))
                r.Outcome = failure;
        }
        return Result(context, message);
    }

    /// <summary>True when no recipient is left but bounced or refused ones: the SMTP session refuses the message.</summary>
    internal static bool RefusedInSession(MailFlowContext context) =>
        context.Recipients.All(x => x.Route is RecipientRoute.Bounced or RecipientRoute.Refused);

    /// <summary>Each recipient's outcome: its delivery's, else what its route says.</summary>
    private static MailFlowResult Result(MailFlowContext context, MailFlowMessage message) => new(context.Message, context.Recipients
        .Select(r => (r.Recipient, r.Outcome ?? r.Route switch
        {
            RecipientRoute.Refused refused => new RecipientOutcome.PermanentFailure(refused.Refusal, refused.Reason),
            RecipientRoute.Deferred deferred => new RecipientOutcome.TemporaryFailure(deferred.Reason, deferred.Deferral),
            RecipientRoute.Bounced bounced when RefusedInSession(context) && message.Origin != MessageOrigin.HeldHookRelease =>
                // Every recipient refused: refused in the session, never a bounce message (docs/decisions.md, "Bounce without backscatter").
                new RecipientOutcome.PermanentFailure(Refusal.PolicyRefused, bounced.Text),
            RecipientRoute.Continue => new RecipientOutcome.TemporaryFailure("The message was not delivered; try again later."),
            _ => (RecipientOutcome)new RecipientOutcome.Accepted(),
        }))
        .ToList());
}
