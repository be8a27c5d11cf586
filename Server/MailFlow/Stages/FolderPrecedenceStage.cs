using MailServer.Rules.FlowRules;
using MailServer.Storage;

namespace MailServer.Server.MailFlow.Stages;

/// <summary>
/// Stage 4: the one place that decides the folder a local recipient's copy is filed in. The precedence, highest first:
/// <list type="number">
/// <item>A flow rule's (or hook's) <c>MoveToJunk</c> → Junk E-mail, "even if it is not originally identified as spam" (§9.2).</item>
/// <item><c>BypassSpamCheck</c> → Inbox, "always delivered to users' inboxes, even if it is identified as spam" (§9.2).
/// This includes a DMARC quarantine: §12 says enforcement marks such mail as spam, and §13 lets
/// BYPASS_SPAM_CHECK override spam verdicts. An administrator who bypasses the check for a sender domain accepts that
/// risk (§9.2 warns of it); a DMARC <c>reject</c> is not a spam verdict and is refused before the rules (stage 1).</item>
/// <item><c>Default</c> (or no rule) → Junk E-mail when the message is spam for that organization (the content filter's
/// verdict, or DMARC quarantine where the organization enforces it), else Inbox.</item>
/// </list>
/// The user's own mailbox rules (§9.8) may then move the copy further at delivery; they leave Junk-filed mail alone.
/// Messages the server writes itself (DSNs, journal records) and mail users send within the organization go to the Inbox.
/// </summary>
public sealed class FolderPrecedenceStage(ContentFilterStage contentFilter) : IMailFlowStage
{
    /// <summary>The folder for <paramref name="action"/> given the spam verdict (the precedence above, as a pure function).</summary>
    public static string For(FlowAction action, SpamVerdict spam) => action switch
    {
        FlowAction.MoveToJunk => WellKnownFolders.JunkEmail,
        FlowAction.BypassSpamCheck => WellKnownFolders.Inbox,
        _ => spam == SpamVerdict.Spam ? WellKnownFolders.JunkEmail : WellKnownFolders.Inbox,
    };

    /// <inheritdoc />
    public Task RunAsync(MailFlowContext context, CancellationToken cancellationToken)
    {
        var inbound = context.Message.Origin == MessageOrigin.Mx
                      || context.Message.Release is { Direction: FlowDirection.Inbound };
        foreach (var r in context.Going.Where(r => !r.Recipient.IsRemote))
            r.Folder = inbound ? For(r.FlowAction, contentFilter.VerdictFor(context, r.Recipient.OrganizationId)) : WellKnownFolders.Inbox;
        return Task.CompletedTask;
    }
}
