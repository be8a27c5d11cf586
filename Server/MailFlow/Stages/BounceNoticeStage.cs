using MailServer.Rules.FlowRules;
using MailServer.Rules.SenderAuthentication;
using MailServer.Rules.Sending;
using MailServer.Server.Delivery;
using MailServer.Server.Logging;
using MailServer.Storage;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.MailFlow.Stages;

/// <summary>
/// Stage 7: the sender is told of recipients a rule or hook bounced while others were accepted (when every recipient
/// was refused, the SMTP session said so and nothing is sent: docs/decisions.md, "Bounce without backscatter"). The notice is
/// an RFC 3464 DSN whose text is the rule's, or the hook's <c>bounceMessage</c> (§10.3):
/// <list type="bullet">
/// <item>mail a user sent: to that user (authenticated, so never backscatter), §9.3 "the administrator blocked";</item>
/// <item>mail from outside: only when the envelope sender passed SPF or DMARC (docs/decisions.md, "Bounce without backscatter"), else logged and dropped.</item>
/// </list>
/// Nothing is sent while the message itself was not taken (every delivery failed temporarily): the client retries.
/// </summary>
public sealed class BounceNoticeStage(DsnSender dsn, ILogger<BounceNoticeStage> logger, TimeProvider time) : IMailFlowStage
{
    /// <inheritdoc />
    public async Task RunAsync(MailFlowContext context, CancellationToken cancellationToken)
    {
        var bounced = context.Recipients.Where(r => r.Route is RecipientRoute.Bounced).ToList();
        // Every recipient refused: the SMTP session said so (a held message's session is long gone: it is told here).
        if (bounced.Count == 0 || (MailFlowPipeline.RefusedInSession(context) && context.Message.Origin != MessageOrigin.HeldHookRelease))
            return;
        var delivered = context.Recipients.Where(r => r.Outcome is not null).ToList();
        if (delivered.Count > 0 && delivered.All(r => r.Outcome is RecipientOutcome.TemporaryFailure))
            return;

        var message = context.Message;
        var outbound = message.IsSentByUser || message.Release is { Direction: FlowDirection.Outbound };
        if (!outbound && !SenderVerified(context))
        {
            MailFlowLog.BounceWithoutNotice(logger, message.LogId, bounced.Count);
            return;
        }
        var now = time.GetUtcNow();
        var report = bounced
            .Where(r => r.Recipient.WantsFailureNotice)
            .Select(r => new DsnRecipient(r.Recipient.Address, r.Recipient.OriginalRecipient, DsnAction.Failed, "5.7.1",
                ((RecipientRoute.Bounced)r.Route).Text, null, now))
            .ToList();
        var sender = outbound ? message.Submitter?.Email ?? message.ReversePath : message.ReversePath;
        var organizationId = message.Submitter?.OrganizationId ?? message.OrganizationId ?? bounced[0].Recipient.OrganizationId ?? "";
        var envelope = new OutboundEnvelope(organizationId, sender, message.Submitter?.Email, message.ReceivedAt, message.EnvelopeId,
            message.Return switch { DsnReturn.Full => "FULL", DsnReturn.Headers => "HDRS", _ => null }, []);
        if (await dsn.SendAsync(message.LogId, envelope, report, message.Content, cancellationToken).ConfigureAwait(false))
            MailFlowLog.BounceNoticeSent(logger, message.LogId, report.Count, sender);
    }

    /// <summary>True when the envelope sender passed SPF or the message passed DMARC (at acceptance, for a held message).</summary>
    private static bool SenderVerified(MailFlowContext context) =>
        context.Message.Release?.SenderVerified == true
        || context.Authentication is { Verdict: var v } && (v.Spf.Result == SpfResult.Pass || v.Dmarc.Result == DmarcResult.Pass);
}
