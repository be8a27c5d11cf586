using MailServer.Server.Delivery;

namespace MailServer.Server.MailFlow.Stages;

/// <summary>
/// Stage 9: after the copies are durable, what the users' mailbox rules (§9.8) do beyond filing: RULE_APPLIED events,
/// then each Forward and Redirect, which enter the door again as messages of their own
/// (<see cref="MessageOrigin.MailboxRuleForward"/>, <see cref="MessageOrigin.MailboxRuleRedirect"/>) sent by the
/// mailbox owner, before the original's reply. A forward that fails is logged; the original stays delivered.
/// </summary>
public sealed class MailboxRuleActionsStage(MailboxRuleActions rules) : IMailFlowStage
{
    /// <inheritdoc />
    public async Task RunAsync(MailFlowContext context, CancellationToken cancellationToken)
    {
        foreach (var plan in context.MailboxRulePlans)
            await rules.CarryOutAsync(context.Message, plan, context.Door, cancellationToken).ConfigureAwait(false);
    }
}
