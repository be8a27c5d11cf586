using System.Runtime.InteropServices;
using MailServer.Rules.Directory;
using MailServer.Rules.Sending;
using MailServer.Server.Configuration;
using MailServer.Server.Logging;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.MailFlow.Stages;

/// <summary>
/// Stage 1 for submission (what sender authentication is for MX): may the signed-in user send as the From and Sender
/// fields say (§5, Send As and Send On Behalf, also through a group)? Rules/Sending decides
/// (<see cref="SendPermission.ForHeaders"/>); this stage acts on the decision:
/// <list type="bullet">
/// <item>refused, or From/Sender missing, repeated or unparsable: every recipient is refused
/// (<see cref="Refusal.SendAsDenied"/>, <see cref="Refusal.BadSenderHeaders"/>; 550 5.7.60 and 550 5.6.0 on SMTP)
/// and the attempt is recorded (§19.1 MailboxAccess, <c>submit_email_for_sending</c>);</item>
/// <item>allowed: the Sender field is set or removed as the decision says, a missing Date or Message-ID is added
/// (RFC 6409 §8), and the message goes on; the accepted submission is recorded once it is durable
/// (<see cref="DeliveryStage"/> tells the same observer, with the Message-ID as stored).</item>
/// </list>
/// Only a submission takes this stage: a mailbox rule's forward or redirect is the server's act for the mailbox owner,
/// checked when the rule was written, and a released held message was checked when it was first submitted.
/// </summary>
public sealed class SendingRightsStage(
    IDirectorySource directory,
    Func<ServerConfig> config,
    TimeProvider time,
    ISubmissionObserver observer,
    ILogger<SendingRightsStage> logger) : IMailFlowStage
{
    /// <inheritdoc />
    public Task RunAsync(MailFlowContext context, CancellationToken cancellationToken)
    {
        var message = context.Message;
        if (message.Origin != MessageOrigin.Submission)
            return Task.CompletedTask;
        if (message.Submitter is not { } user)
        {
            // Signed in, then removed from the directory before DATA ended: nobody's rights to check, so nothing goes.
            Refuse(context, Refusal.SendAsDenied, "the signed-in user no longer exists");
            return Task.CompletedTask;
        }

        // The SMTP door hands over a whole array: read it in place and copy only when an edit below changes it (a big
        // submission is not copied just to be checked).
        var original = MemoryMarshal.TryGetArray(message.Content, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : message.Content.ToArray();
        var content = original;
        var snapshot = directory.Current;
        if (SubmittedHeaders.TryParse(content.AsSpan(0, SubmissionEdits.HeaderSectionLength(content)), out var problem) is not { } headers)
        {
            MailFlowLog.SubmissionRefused(logger, message.LogId, user.Email, problem);
            Refuse(context, Refusal.BadSenderHeaders, problem);
            return Task.CompletedTask;
        }
        var decision = SendPermission.ForHeaders(snapshot, user, headers);
        if (decision.Decision is SendDecision.Refused refused)
        {
            MailFlowLog.SubmissionRefused(logger, message.LogId, user.Email, refused.Reason);
            Observe(context, user, SubmissionOwner.Of(snapshot, user, refused), null, allowed: false);
            Refuse(context, Refusal.SendAsDenied, refused.Reason);
            return Task.CompletedTask;
        }

        content = SubmissionEdits.ApplySenderChange(content, decision.Change);
        content = SubmissionEdits.AddMissing(content, config().ServerName, time.GetUtcNow());
        if (!ReferenceEquals(content, original))
            context.Message = message with { Content = content };
        context.SubmittedAs = SubmissionOwner.Of(snapshot, user, decision.Decision);
        return Task.CompletedTask;
    }

    private void Observe(MailFlowContext context, DirectoryUser user, string ownerId, string? messageId, bool allowed)
    {
        if (context.Message.Client is { } client)
            observer.Observe(new SubmissionAttempt(user.OrganizationId, user.Email, ownerId, messageId, allowed, client.RemoteEndPoint.Address));
    }

    private static void Refuse(MailFlowContext context, Refusal refusal, string reason)
    {
        foreach (var r in context.Going)
            r.Route = new RecipientRoute.Refused(refusal, reason);
    }
}
