using MailServer.Server.MailFlow.Stages;

namespace MailServer.Server.MailFlow;

/// <summary>One step of the mail flow. A stage reads and updates the <see cref="MailFlowContext"/>; it never speaks a protocol.</summary>
public interface IMailFlowStage
{
    /// <summary>Runs the stage for one message.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    Task RunAsync(MailFlowContext context, CancellationToken cancellationToken);
}

/// <summary>
/// The stages in their one order, and which of them each origin takes. Read the table top to bottom to follow a
/// message from the door to the store:
/// <code>
///  stage                     Mx  Submission  Forward/Redirect  HeldRelease  DSN  Journal  Report
///  1 SenderAuthentication     x
///  1 SendingRights                    x                                    (§5: From/Sender rights, Date, Message-ID)
///  2 ContentFilter            x       x             x
///  3 FlowRules                x       x             x              x           (a release applies the hook's decision)
///  4 FolderPrecedence         x       x             x              x         x      x        x
///  5 DkimSigning                      x             x              x                         x  (release: outbound only)
///  6 Delivery                 x       x             x              x         x      x        x
///  7 BounceNotices            x       x             x              x
///  8 Journaling               x       x             x              x
///  9 MailboxRuleActions       x       x             x              x           (forwards re-enter the door)
/// </code>
/// Decisions come first (1–4, pure per recipient), then the one content change that must precede every copy (5),
/// then the durable acts (6), then what follows from them (7–9).
/// </summary>
public sealed class MailFlowStages(
    SenderAuthenticationStage senderAuthentication,
    SendingRightsStage sendingRights,
    ContentFilterStage contentFilter,
    FlowRulesStage flowRules,
    FolderPrecedenceStage folders,
    DkimSigningStage signing,
    DeliveryStage delivery,
    BounceNoticeStage bounceNotices,
    JournalingStage journaling,
    MailboxRuleActionsStage mailboxRuleActions)
{
    private IReadOnlyList<IMailFlowStage> Mx => field ??=
        [senderAuthentication, contentFilter, flowRules, folders, delivery, bounceNotices, journaling, mailboxRuleActions];

    private IReadOnlyList<IMailFlowStage> Submission => field ??=
        [sendingRights, contentFilter, flowRules, folders, signing, delivery, bounceNotices, journaling, mailboxRuleActions];

    private IReadOnlyList<IMailFlowStage> SentByUser => field ??=
        [contentFilter, flowRules, folders, signing, delivery, bounceNotices, journaling, mailboxRuleActions];

    private IReadOnlyList<IMailFlowStage> HeldRelease => field ??=
        [flowRules, folders, signing, delivery, bounceNotices, journaling, mailboxRuleActions];

    private IReadOnlyList<IMailFlowStage> WrittenByServer => field ??= [folders, delivery];

    private IReadOnlyList<IMailFlowStage> Report => field ??= [folders, signing, delivery];

    /// <summary>The stages <paramref name="origin"/> takes, in order.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An origin this table does not know.</exception>
    public IReadOnlyList<IMailFlowStage> For(MessageOrigin origin) => origin switch
    {
        MessageOrigin.Mx => Mx,
        MessageOrigin.Submission => Submission,
        MessageOrigin.MailboxRuleForward or MessageOrigin.MailboxRuleRedirect => SentByUser,
        MessageOrigin.HeldHookRelease => HeldRelease,
        MessageOrigin.DeliveryStatusNotification or MessageOrigin.JournalReport => WrittenByServer,
        MessageOrigin.AggregateReport => Report,
        _ => throw new ArgumentOutOfRangeException(nameof(origin), origin, "No stages for this origin."),
    };
}
