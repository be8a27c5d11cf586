using MailServer.Rules.Directory;
using MailServer.Server.Events;
using MailServer.Server.Logging;
using MailServer.Server.MailFlow;
using MailServer.Storage;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Delivery;

/// <summary>
/// Carries local recipients into their mailboxes for the delivery stage: every distinct user reached by the envelope
/// (directly, through an alias, or through a group) gets exactly one copy, in the folder the mail flow decided
/// (<see cref="RecipientState.Folder"/>) unless the user's mailbox rules (§9.8) file it elsewhere. The message is
/// encrypted and written once; each mailbox holds its own wrapped key. Mailbox rules run for mail from outside and
/// from users, not for what the server writes itself (DSNs, journal records).
/// </summary>
public sealed class LocalDelivery(IDeliveryStore store, ILogger<LocalDelivery> logger, MailboxRuleActions rules, IEmailEventLog events)
{
    /// <summary>False when the user's mailbox is at or over quota (checked at RCPT).</summary>
    public bool HasRoom(DirectoryUser user)
    {
        var mailbox = store.FindMailbox(user.OrganizationId, user.Email);
        return mailbox is null || mailbox.UsedBytes < user.MailboxQuotaBytes;
    }

    /// <summary>
    /// Stores the message for <paramref name="recipients"/> (all local) and sets each one's outcome; returns when every
    /// stored copy is durable. The mailbox rules' plans are kept in <paramref name="context"/> for the forwards that
    /// follow (<see cref="MailFlow.Stages.MailboxRuleActionsStage"/>).
    /// </summary>
    public async Task DeliverAsync(MailFlowContext context, IReadOnlyList<RecipientState> recipients, CancellationToken cancellationToken)
    {
        var message = context.Message;
        var content = message.Content;
        var runRules = message.Origin is not (MessageOrigin.DeliveryStatusNotification or MessageOrigin.JournalReport or MessageOrigin.AggregateReport);
        // One copy per distinct mailbox, whatever number of envelope recipients reach it; the folder is the one decided
        // for the first recipient reaching it.
        var users = recipients
            .SelectMany(r => r.Recipient.Mailboxes.Select(u => (User: u, Folder: r.Folder ?? WellKnownFolders.Inbox, Recipient: r.Recipient.Address)))
            .DistinctBy(x => x.User.Email, StringComparer.OrdinalIgnoreCase)
            .ToList();

        var targets = new List<DeliveryTarget>(users.Count);
        var full = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var filed = new List<(DirectoryUser User, string Folder)>(users.Count);
        var plans = new List<MailboxRulePlan>(users.Count);
        try
        {
            foreach (var (user, folder, recipient) in users)
            {
                var mailbox = store.FindMailbox(user.OrganizationId, user.Email)
                              ?? await store.EnsureMailboxAsync(user.OrganizationId, user.Email, cancellationToken);
                // The quota is checked against the stored size before this message (§4.1: "at 100%, inbound delivery
                // bounces"); concurrent deliveries may overshoot by one message each.
                if (mailbox.UsedBytes + content.Length > user.MailboxQuotaBytes)
                {
                    full.Add(user.Email);
                    DeliveryLog.MailboxFull(logger, user.Email, mailbox.UsedBytes, user.MailboxQuotaBytes);
                    continue;
                }
                var plan = runRules
                    ? await rules.PlanAsync(message, user, mailbox.MailboxId, folder, recipient, context.Headers, cancellationToken)
                    : new MailboxRulePlan(user, folder, [new DeliveryTarget(mailbox.MailboxId, folder)], null);
                if (plan.Targets.Count > 1 && mailbox.UsedBytes + (long)content.Length * plan.Targets.Count > user.MailboxQuotaBytes)
                {
                    // Each copy counts against the quota: the delivered copy is what the sender was promised.
                    MailboxRulesLog.CopiesOverQuota(logger, message.LogId, user.Email, plan.Targets.Count - 1);
                    plan = plan with { Targets = [plan.Targets[0]] };
                }
                targets.AddRange(plan.Targets);
                filed.Add((user, plan.Folder));
                plans.Add(plan);
            }

            if (targets.Count > 0)
                await store.DeliverAsync(content, message.ReceivedAt, targets, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            DeliveryLog.StoreFailed(logger, e, message.LogId);
            var failure = new RecipientOutcome.TemporaryFailure("The mail store could not take the message; try again later.");
            foreach (var r in recipients)
                r.Outcome = failure;
            return;
        }

        DeliveryLog.Delivered(logger, message.LogId, targets.Count, content.Length);
        if (runRules)
        {
            events.InboundDelivered(message, context.Authentication, filed,
                users.Select(u => u.User).Where(u => full.Contains(u.Email)).ToList(), context.ContentScan);
            if (!message.ReceptionRecorded)
                context.Message = message with { ReceptionRecorded = true };
        }
        context.MailboxRulePlans.AddRange(plans);
        foreach (var r in recipients)
        {
            // A group is delivered when any member received it; members whose mailbox was full are logged.
            var reached = r.Recipient.Mailboxes.Any(u => !full.Contains(u.Email));
            r.Outcome = reached
                ? new RecipientOutcome.Accepted()
                : new RecipientOutcome.PermanentFailure(Refusal.MailboxFull, $"Mailbox full: {r.Recipient.Address}");
        }
    }
}
