using MailServer.Server.Delivery;

namespace MailServer.Server.MailFlow.Stages;

/// <summary>
/// Stage 8: journaling (§14). Once the message is durable for its recipients, each organization it entered or left
/// gets exactly one journal record (<see cref="JournalWriter"/>), whatever the number of recipients or groups. Journal
/// records and DSNs do not take this stage (<see cref="MailFlowStages"/>), so a record is never journaled.
/// </summary>
public sealed class JournalingStage(JournalWriter journal) : IMailFlowStage
{
    /// <inheritdoc />
    public Task RunAsync(MailFlowContext context, CancellationToken cancellationToken)
    {
        var delivered = context.Recipients.Where(r => r.Outcome is RecipientOutcome.Accepted).Select(r => r.Recipient).ToList();
        return journal.JournalAsync(context.Message, delivered, cancellationToken);
    }
}
