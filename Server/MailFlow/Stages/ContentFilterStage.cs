using MailServer.Rules.FlowRules;
using SenderDmarc = MailServer.Rules.SenderAuthentication.DmarcDisposition;

namespace MailServer.Server.MailFlow.Stages;

/// <summary>
/// Stage 2: content filtering. Until a spam or virus engine is configured this asks the classifier seam
/// (<see cref="ISpamClassifier"/>) with what sender authentication found, and the classifier of decisions.md
/// ("a message is spam only when DMARC quarantine says so") answers. An engine (rspamd, ClamAV) plugs in here: its
/// verdict becomes <see cref="MailFlowContext.Spam"/>, a virus refuses the message before any rule applies (§9.2:
/// "If Amazon SES blocks an incoming email message, then rule actions won't apply").
/// </summary>
/// <remarks>
/// The spam verdict is per message; DMARC quarantine is per organization, so an organization that does not enforce
/// DMARC gets the verdict of its own disposition (<see cref="FolderPrecedenceStage"/> asks per recipient).
/// </remarks>
public sealed class ContentFilterStage(ISpamClassifier classifier) : IMailFlowStage
{
    /// <inheritdoc />
    public Task RunAsync(MailFlowContext context, CancellationToken cancellationToken)
    {
        context.Spam = classifier.Classify(new SpamCheckInput(DmarcDisposition.None));
        return Task.CompletedTask;
    }

    /// <summary>The spam verdict for recipients of <paramref name="organizationId"/>: the message's, or spam where DMARC quarantine applies.</summary>
    public SpamVerdict VerdictFor(MailFlowContext context, string? organizationId)
    {
        if (context.Spam == SpamVerdict.Spam)
            return SpamVerdict.Spam;
        var quarantined = context.Message.Release?.Quarantined == true
                          || (organizationId is not null && context.Authentication?.DispositionFor(organizationId) == SenderDmarc.Quarantine);
        return classifier.Classify(new SpamCheckInput(quarantined ? DmarcDisposition.Quarantine : DmarcDisposition.None));
    }
}
