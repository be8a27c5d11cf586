using MailServer.Protocols.Smtp;
using MailServer.Rules.Directory;
using MailServer.Server.Events;
using MailServer.Server.Logging;
using MailServer.Storage;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace MailServer.Server.Delivery;

/// <summary>
/// Carries the local recipients of a transaction into their mailboxes: every distinct user reached by the
/// envelope (directly, through an alias, or through a group) gets exactly one copy in its Inbox. The message
/// is encrypted and written once; each mailbox holds its own wrapped key (layout.md, write path).
/// <see cref="DeliveryPipeline"/> calls it with the local recipients only. With <paramref name="rules"/>, each
/// mailbox's rules (§9.8) decide its folders and flags before the copy is stored, and their forwards go out after
/// it is durable, before this returns (<see cref="MailboxRuleActions"/>).
/// </summary>
public sealed class LocalDelivery(IMailStore store, ILogger<LocalDelivery> logger, IEmailEventLog? events = null, MailboxRuleActions? rules = null)
{
    /// <summary>False when the user's mailbox is at or over quota (checked at RCPT).</summary>
    public bool HasRoom(DirectoryUser user)
    {
        var mailbox = store.FindMailbox(user.OrganizationId, user.Email);
        return mailbox is null || mailbox.UsedBytes < user.MailboxQuotaBytes;
    }

    /// <summary>Writes the event log's record of recipients refused before delivery (DMARC reject).</summary>
    public void RecordRefusal(SmtpTransaction refused, ReadOnlyMemory<byte> message) => events?.InboundRefusedByDmarc(refused, message);

    /// <summary>Stores the message for every local recipient of <paramref name="transaction"/>; returns when durable.</summary>
    public async Task<TransactionOutcome> DeliverAsync(SmtpTransaction transaction, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        // One copy per distinct mailbox, whatever number of envelope recipients reach it; the folder is the
        // one the flow rules chose for the first recipient reaching it (null: the Inbox).
        var users = transaction.Recipients
            .Where(r => !r.IsRemote)
            .SelectMany(r => r.Mailboxes.Select(u => (User: u, Folder: r.TargetFolder ?? WellKnownFolders.Inbox, Recipient: r.Address)))
            .DistinctBy(x => x.User.Email, StringComparer.OrdinalIgnoreCase)
            .ToList();

        var targets = new List<DeliveryTarget>(users.Count);
        var full = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var filed = new List<(DirectoryUser User, string Folder)>(users.Count);
        var plans = new List<MailboxRulePlan>(users.Count);
        HeaderList? headers = null;
        HeaderList Headers()
        {
            if (headers is null)
            {
                // Only the header section is copied for MimeKit, not the whole message.
                var end = message.Span.IndexOf("\r\n\r\n"u8);
                using var input = new MemoryStream(message[..(end < 0 ? message.Length : end + 4)].ToArray(), writable: false);
                headers = HeaderList.Load(input);
            }
            return headers;
        }
        try
        {
            foreach (var (user, ruleFolder, recipient) in users)
            {
                var mailbox = store.FindMailbox(user.OrganizationId, user.Email)
                              ?? await store.EnsureMailboxAsync(user.OrganizationId, user.Email, cancellationToken);
                // The quota is checked against the stored size before this message (§4.1: "at 100%,
                // inbound delivery bounces"); concurrent deliveries may overshoot by one message each.
                if (mailbox.UsedBytes + message.Length > user.MailboxQuotaBytes)
                {
                    full.Add(user.Email);
                    DeliveryLog.MailboxFull(logger, user.Email, mailbox.UsedBytes, user.MailboxQuotaBytes);
                    continue;
                }
                // DMARC quarantine with enforcement on (§12) overrides the flow rules' folder: Junk E-mail.
                var folder = transaction.Authentication?.IsQuarantined(user.OrganizationId) == true ? WellKnownFolders.JunkEmail : ruleFolder;
                var plan = rules is null
                    ? new MailboxRulePlan(user, folder, [new DeliveryTarget(mailbox.MailboxId, folder)], null)
                    : await rules.PlanAsync(transaction, user, mailbox.MailboxId, folder, recipient, Headers, cancellationToken);
                if (plan.Targets.Count > 1 && mailbox.UsedBytes + (long)message.Length * plan.Targets.Count > user.MailboxQuotaBytes)
                {
                    // Each copy counts against the quota: the delivered copy is what the sender was promised.
                    MailboxRulesLog.CopiesOverQuota(logger, transaction.SessionId, user.Email, plan.Targets.Count - 1);
                    plan = plan with { Targets = [plan.Targets[0]] };
                }
                targets.AddRange(plan.Targets);
                filed.Add((user, plan.Folder));
                plans.Add(plan);
            }

            if (targets.Count > 0)
                await store.DeliverAsync(message, transaction.ReceivedAt, targets, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            DeliveryLog.StoreFailed(logger, e, transaction.SessionId);
            var failure = new DeliveryOutcome.TemporaryFailure("The mail store could not take the message; try again later.");
            return new TransactionOutcome(transaction.Recipients.Select(r => (r, (DeliveryOutcome)failure)).ToList());
        }

        DeliveryLog.Delivered(logger, transaction.SessionId, targets.Count, message.Length);
        events?.InboundDelivered(transaction, message, filed, users.Select(u => u.User).Where(u => full.Contains(u.Email)).ToList());
        if (rules is not null)
            foreach (var plan in plans)
                await rules.CarryOutAsync(transaction, plan, message, cancellationToken);
        return new TransactionOutcome(transaction.Recipients.Select(r => (r, OutcomeFor(r, full))).ToList());
    }

    private static DeliveryOutcome OutcomeFor(AcceptedRecipient recipient, HashSet<string> full)
    {
        // A group is delivered when any member received it; members whose mailbox was full are logged.
        // RFC 3461 DSNs for partial refusals come with sender authentication (decisions.md, bounces).
        var reached = recipient.Mailboxes.Any(u => !full.Contains(u.Email));
        return reached
            ? new DeliveryOutcome.Delivered()
            : new DeliveryOutcome.PermanentFailure(SmtpRefusal.MailboxFull, $"Mailbox full: {recipient.Address}");
    }
}
