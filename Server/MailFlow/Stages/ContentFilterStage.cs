using MailServer.Rules.ContentFiltering;
using MailServer.Rules.FlowRules;
using MailServer.Server.Configuration;
using MailServer.Server.ContentFiltering;
using MailServer.Server.Events;
using MailServer.Server.Logging;
using MailServer.Server.Metrics;
using Microsoft.Extensions.Logging;
using SenderDmarc = MailServer.Rules.SenderAuthentication.DmarcDisposition;

namespace MailServer.Server.MailFlow.Stages;

/// <summary>
/// Stage 2: content filtering with rspamd (spam) and clamd (viruses), both asked at once (<see cref="ContentScanner"/>),
/// before the flow rules (§13: "Virus or explicit IP filtering blocks happen before rules; rules then don't apply").
/// <list type="bullet">
/// <item>MX mail, for the recipients of organizations with filtering on: a virus → refused <c>554 5.7.1</c>; rspamd's
/// <c>reject</c> → <c>550 5.7.1</c>; <c>soft reject</c> and <c>greylist</c> → <c>451 4.7.1</c> (every recipient: the
/// sender retries the whole message); <c>add header</c> and <c>rewrite subject</c> → spam (Junk E-mail under the Default
/// action, <see cref="FolderPrecedenceStage"/>); <c>no action</c> → not spam. Every incoming <c>X-Spam-*</c>,
/// <c>X-Virus-Scanned</c> and <c>X-Rspamd-*</c> field is removed, engines or not, and ours are added.</item>
/// <item>Submitted mail (rspamd is told the authenticated user): a virus → <c>554 5.7.1</c>; <c>reject</c> →
/// <c>550 5.7.1</c>; every spam-scored message counts towards the compromised-account throttle
/// (<see cref="OutboundSpamThrottle"/>).</item>
/// <item>A mailbox rule's forward or redirect is not scanned again: its original was scanned on the way in.</item>
/// </list>
/// With no engine configured, the classifier seam (<see cref="ISpamClassifier"/>) answers: spam only under DMARC
/// quarantine (the README's "Spam and virus filtering": with no engine, a message is spam only when DMARC quarantine says so).
/// </summary>
/// <remarks>
/// The spam verdict is per message; DMARC quarantine is per organization, so an organization that does not enforce
/// DMARC gets the verdict of its own disposition (<see cref="FolderPrecedenceStage"/> asks per recipient).
/// </remarks>
public sealed class ContentFilterStage(
    ISpamClassifier classifier,
    ContentScanner scanner,
    OutboundSpamThrottle throttle,
    Func<ServerConfig> config,
    ILogger<ContentFilterStage> logger,
    IEmailEventLog events,
    MailMetrics? metrics = null) : IMailFlowStage
{
    /// <summary>What a sender sees when greylisted or soft-rejected.</summary>
    public const string DeferredText = "Message deferred by the content filter; try again later";

    /// <summary>What a sender sees when an engine is down under FailMode TempFail.</summary>
    public const string EngineDownText = "Content filter unavailable; try again later";

    /// <summary>What a user sees when the compromised-account throttle holds their submissions.</summary>
    public const string ThrottledText = "Too many messages scored as spam from this account in the last hour; try again later";

    /// <inheritdoc />
    public async Task RunAsync(MailFlowContext context, CancellationToken cancellationToken)
    {
        context.Spam = classifier.Classify(new SpamCheckInput(DmarcDisposition.None));
        var current = config();
        switch (context.Message.Origin)
        {
            case MessageOrigin.Mx:
                await InboundAsync(context, current, cancellationToken).ConfigureAwait(false);
                break;
            case MessageOrigin.Submission:
                await OutboundAsync(context, current, cancellationToken).ConfigureAwait(false);
                break;
        }
    }

    /// <summary>The spam verdict for recipients of <paramref name="organizationId"/>: the engine's where it scanned for that organization, or spam where DMARC quarantine applies.</summary>
    public SpamVerdict VerdictFor(MailFlowContext context, string? organizationId)
    {
        if (context.Spam == SpamVerdict.Spam
            && (context.ContentScan is null || (organizationId is not null && context.ContentScan.Organizations.Contains(organizationId))))
            return SpamVerdict.Spam;
        // A released held message is not scanned again: the verdict of when it was held stands.
        if (context.Message.Release?.Spam == true)
            return SpamVerdict.Spam;
        var quarantined = context.Message.Release?.Quarantined == true
                          || (organizationId is not null && context.Authentication?.DispositionFor(organizationId) == SenderDmarc.Quarantine);
        return classifier.Classify(new SpamCheckInput(quarantined ? DmarcDisposition.Quarantine : DmarcDisposition.None));
    }

    private static bool Enabled(ServerConfig current, string organizationId) =>
        current.Organizations.FirstOrDefault(o => o.Id == organizationId)?.ContentFiltering.Enabled ?? true;

    private async Task InboundAsync(MailFlowContext context, ServerConfig current, CancellationToken cancellationToken)
    {
        var settings = current.ContentFiltering;
        var message = context.Message;
        var organizations = settings.AnyEngine
            ? context.Going.Select(r => r.Recipient.OrganizationId).OfType<string>().Where(o => Enabled(current, o)).ToHashSet(StringComparer.Ordinal)
            : [];
        if (organizations.Count == 0)
        {
            // No engine for these recipients: still, a verdict field only we may write is not left for a client to believe.
            if (VerdictHeaders.HasVerdictField(message.Content.Span))
                context.Message = message with { Content = VerdictHeaders.Rewrite(message.Content.Span, "", out _) };
            return;
        }

        var scan = await scanner.ScanAsync(message, settings, ScanDirection.Inbound, organizations, cancellationToken).ConfigureAwait(false);
        context.ContentScan = scan;
        var scoped = context.Going.Where(r => r.Recipient.OrganizationId is { } o && organizations.Contains(o)).ToList();
        switch (scan.Decision)
        {
            case ContentDecision.RefuseVirus virus:
                ContentFilteringLog.VirusFound(logger, message.LogId, message.ReversePath, message.Client?.RemoteEndPoint.Address.ToString() ?? "-", virus.Signature);
                Refuse(context, scoped, Refusal.VirusFound, scan);
                break;
            case ContentDecision.RefuseSpam:
                Refuse(context, scoped, Refusal.SpamRejected, scan);
                break;
            case ContentDecision.Defer defer:
                // The whole message, whatever each recipient's organization: one reply to DATA, and the sender's retry
                // brings it back for everyone (nothing is lost, nothing is delivered twice).
                context.RouteAll(new RecipientRoute.Deferred(Deferral.ContentCheck, defer.EngineDown ? EngineDownText : DeferredText));
                break;
            case ContentDecision.Deliver deliver:
                context.Spam = deliver.Spam ? SpamVerdict.Spam : SpamVerdict.NotSpam;
                break;
        }
        if (!context.Going.Any())
            return;
        var fields = ContentVerdicts.HeaderFields(current.ServerName, scan.Spam, scan.Virus is VirusScan.Clean, scan.IsSpam);
        if (fields.Length > 0 || VerdictHeaders.HasVerdictField(message.Content.Span))
            context.Message = context.Message with { Content = VerdictHeaders.Rewrite(context.Message.Content.Span, fields, out _) };
    }

    /// <summary>Refuses <paramref name="recipients"/> and records the reception with the verdicts (§13: the event log shows why).</summary>
    private void Refuse(MailFlowContext context, IReadOnlyList<RecipientState> recipients, Refusal refusal, ContentScanResult scan)
    {
        var reason = refusal == Refusal.VirusFound ? "virus" : "spam";
        foreach (var r in recipients)
            r.Route = new RecipientRoute.Refused(refusal, reason);
        if (recipients.Count > 0)
            events.InboundReceived(context.Message with { Recipients = recipients.Select(r => r.Recipient).ToList() }, context.Authentication, scan: scan);
    }

    private async Task OutboundAsync(MailFlowContext context, ServerConfig current, CancellationToken cancellationToken)
    {
        var settings = current.ContentFiltering;
        var message = context.Message;
        if (!settings.AnyEngine || message.Submitter is not { } user || !Enabled(current, user.OrganizationId))
            return;
        if (settings.RspamdUrl is not null && throttle.Count(user.Email) is var count && count >= settings.OutboundSpamPerHour)
        {
            ContentFilteringLog.OutboundThrottled(logger, user.Email, count, settings.OutboundSpamPerHour);
            metrics?.ContentFilterVerdict("throttled");
            context.RouteAll(new RecipientRoute.Deferred(Deferral.ContentCheck, ThrottledText));
            return;
        }

        var scan = await scanner.ScanAsync(message, settings, ScanDirection.Outbound,
            new HashSet<string>(StringComparer.Ordinal) { user.OrganizationId }, cancellationToken).ConfigureAwait(false);
        context.ContentScan = scan;
        if (ContentVerdicts.IsSpammy(scan.Spam))
            ContentFilteringLog.OutboundSpam(logger, user.Email, message.LogId, scan.Spam!.Score, scan.Spam.ActionName,
                throttle.Record(user.Email), settings.OutboundSpamPerHour);
        switch (scan.Decision)
        {
            case ContentDecision.RefuseVirus virus:
                ContentFilteringLog.VirusFound(logger, message.LogId, message.ReversePath, message.Client?.RemoteEndPoint.Address.ToString() ?? "-", virus.Signature);
                context.RouteAll(new RecipientRoute.Refused(Refusal.VirusFound, "virus"));
                break;
            case ContentDecision.RefuseSpam:
                context.RouteAll(new RecipientRoute.Refused(Refusal.SpamRejected, "spam"));
                break;
            case ContentDecision.Defer defer:
                context.RouteAll(new RecipientRoute.Deferred(Deferral.ContentCheck, defer.EngineDown ? EngineDownText : DeferredText));
                break;
        }
    }
}
