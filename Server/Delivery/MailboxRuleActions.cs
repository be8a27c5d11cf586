using MailServer.Rules.Directory;
using MailServer.Rules.MailboxRules;
using MailServer.Server.Configuration;
using MailServer.Server.Events;
using MailServer.Server.Logging;
using MailServer.Server.MailFlow;
using MailServer.Server.MessageFlow;
using MailServer.Storage;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace MailServer.Server.Delivery;

/// <summary>
/// What delivery does for one mailbox: the copies to store (the delivered one first) and the folder it lands in,
/// and the mailbox rules' outcome when they ran (null: no rules, or exempt).
/// </summary>
public sealed record MailboxRulePlan(DirectoryUser User, string Folder, IReadOnlyList<DeliveryTarget> Targets, MailboxRuleOutcome? Outcome);

/// <summary>
/// Applies a user's mailbox rules (§9.8, rule type MAILBOX_RULE) when <see cref="LocalDelivery"/> files a message
/// in the user's mailbox. <see cref="PlanAsync"/> runs before the message is stored: Move, Copy, Delete and
/// MarkRead become the delivery's targets and flags (a missing folder is created, parents first; one that cannot
/// be created leaves the message in the Inbox, logged). <see cref="CarryOutAsync"/> runs once the message is
/// durable and before the SMTP reply: RULE_APPLIED events, then Forward and Redirect, each a message of its own sent
/// by the mailbox owner through the mail flow's door (<see cref="MessageOrigin.MailboxRuleForward"/>: outbound flow
/// rules, local delivery or the durable outbound queue, DKIM signing, events, journaling), so it counts against the
/// owner's daily external recipient limit (§17; "auto-forwarded or redirected messages count toward sending
/// quotas", §9.8). A forward that is refused or fails is logged; the original stays delivered.
/// </summary>
/// <param name="rules">The compiled mailbox rules of every user.</param>
/// <param name="folders">The mailboxes' folders (those the rules file into are created there).</param>
/// <param name="counters">The daily counters of external recipients (the forwarding limit).</param>
/// <param name="directory">The directory in force.</param>
/// <param name="config">The configuration in force.</param>
/// <param name="logger">Receives rule failures.</param>
/// <param name="time">The clock; the system's when null.</param>
/// <param name="events">The email event log (RULE_APPLIED).</param>
public sealed class MailboxRuleActions(
    MailboxRuleSetCache rules,
    IImapSessionStore folders,
    IQueueStore counters,
    IDirectorySource directory,
    Func<ServerConfig> config,
    ILogger logger,
    TimeProvider time,
    IEmailEventLog events)
{
    private readonly TimeProvider _time = time;

    /// <summary>
    /// Decides where the message goes in <paramref name="user"/>'s mailbox, starting from <paramref name="folder"/>
    /// (the flow rules' or DMARC's choice), and creates the folders the rules file into.
    /// </summary>
    /// <param name="transaction">The transaction being delivered.</param>
    /// <param name="user">The mailbox owner whose rules run.</param>
    /// <param name="mailboxId">The owner's mailbox.</param>
    /// <param name="folder">The folder chosen before the mailbox rules.</param>
    /// <param name="envelopeRecipient">The envelope recipient that reached this mailbox.</param>
    /// <param name="headers">The message's header section, parsed on first use.</param>
    /// <param name="cancellationToken">Cancels the folder creation.</param>
    /// <exception cref="InvalidOperationException">The user's rules do not compile (validated at load, so not expected).</exception>
    public async Task<MailboxRulePlan> PlanAsync(MailFlowMessage transaction, DirectoryUser user, string mailboxId, string folder,
        string envelopeRecipient, Func<HeaderList> headers, CancellationToken cancellationToken)
    {
        var plain = new MailboxRulePlan(user, folder, [new DeliveryTarget(mailboxId, folder)], null);
        var set = rules.For(user.Email);
        if (set.Rules.Count == 0)
            return plain;
        HeaderList header;
        try
        {
            header = headers();
        }
        catch (FormatException e)
        {
            // A header section MimeKit cannot read is stored as it came; rules cannot judge it.
            MailboxRulesLog.Exempt(logger, transaction.LogId, user.Email, "unreadable header section: " + e.Message);
            return plain;
        }
        var exemption = MailboxRuleMessages.Exemption(folder, transaction.ReversePath, header);
        if (exemption != MailboxRuleExemption.None)
        {
            MailboxRulesLog.Exempt(logger, transaction.LogId, user.Email, exemption.ToString());
            return plain;
        }

        var outcome = set.Evaluate(MailboxRuleMessages.View(header, user.Email, envelopeRecipient), folder);
        var target = outcome.Folder == folder
            ? folder
            : await EnsureFolderAsync(transaction, mailboxId, user.Email, outcome.Folder, WellKnownFolders.Inbox, cancellationToken).ConfigureAwait(false)
              ?? WellKnownFolders.Inbox;
        var targets = new List<DeliveryTarget> { new(mailboxId, target, outcome.MarkRead ? MessageFlags.Seen : MessageFlags.None) };
        foreach (var copy in outcome.CopyFolders)
        {
            // A Copy that cannot be made is skipped: the delivered copy is there.
            if (await EnsureFolderAsync(transaction, mailboxId, user.Email, copy, "no copy", cancellationToken).ConfigureAwait(false) is { } name
                && !targets.Any(t => SameFolder(t.FolderName, name)))
                targets.Add(new DeliveryTarget(mailboxId, name));
        }
        return new MailboxRulePlan(user, target, targets, outcome);
    }

    /// <summary>
    /// After <paramref name="plan"/>'s copies are durable: RULE_APPLIED for every rule that applied (§18.3), then
    /// the Forwards and Redirects, each handed off durably (stored or queued) before this returns. Never throws
    /// for a forward that fails: the original is delivered whatever happens to it.
    /// </summary>
    /// <param name="transaction">The delivered message.</param>
    /// <param name="plan">What the rules decided for one mailbox.</param>
    /// <param name="door">The mail flow's door, for the forwards.</param>
    /// <param name="cancellationToken">Cancels the forwards not yet handed off.</param>
    public async Task CarryOutAsync(MailFlowMessage transaction, MailboxRulePlan plan, IMailFlowDoor door, CancellationToken cancellationToken)
    {
        var message = transaction.Content;
        if (plan.Outcome is not { } outcome)
            return;
        var user = plan.User;
        foreach (var applied in outcome.Applied)
        {
            MailboxRulesLog.Applied(logger, transaction.LogId, user.Email, applied.RuleName,
                string.Join(", ", applied.Actions.Select(MailboxRuleMessages.ActionName)));
            events.Write(new RuleApplied(user.OrganizationId, transaction.TraceId, applied.RuleName, RuleApplied.MailboxRule,
                applied.Actions.GroupBy(MailboxRuleMessages.ActionName).Select(a => new RuleAction(a.Key, [user.Email])).ToList(),
                TargetFolder: applied.Actions.Select(a => a switch
                {
                    MailboxRuleAction.Move m => m.Folder,
                    MailboxRuleAction.Copy c => c.Folder,
                    MailboxRuleAction.Delete => MailboxRuleSet.DeletedItems,
                    _ => null,
                }).FirstOrDefault(f => f is not null),
                TargetRecipient: applied.Actions.Select(a => a switch
                {
                    MailboxRuleAction.Forward f => f.To,
                    MailboxRuleAction.Redirect r => r.To,
                    _ => null,
                }).FirstOrDefault(t => t is not null)));
        }
        if (outcome.LoopSuppressed)
            MailboxRulesLog.LoopSuppressed(logger, transaction.LogId, user.Email);

        MimeMessage? original = null;
        foreach (var (action, to) in outcome.ForwardTo.Select(t => (nameof(MailboxRuleAction.Forward), t)).Concat(outcome.RedirectTo.Select(t => (nameof(MailboxRuleAction.Redirect), t))))
        {
            try
            {
                if (Recipient(transaction, user, action, to) is not { } recipient)
                    continue;
                var now = _time.GetUtcNow();
                byte[] bytes;
                if (action == nameof(MailboxRuleAction.Forward))
                {
                    using (var input = new MemoryStream(message.ToArray(), writable: false))
                        original ??= await MimeMessage.LoadAsync(input, cancellationToken).ConfigureAwait(false);
                    bytes = Serialize(MailboxRuleMessages.Forward(original, user.Email, user.DisplayName, to, now));
                }
                else
                {
                    bytes = MailboxRuleMessages.Redirect(message.Span, user.Email, to, now);
                }
                // Sent by the mailbox owner: the envelope sender is the owner, so a bounce of the forward goes back to the
                // mailbox that sent it, not to the original sender.
                var origin = action == nameof(MailboxRuleAction.Forward) ? MessageOrigin.MailboxRuleForward : MessageOrigin.MailboxRuleRedirect;
                // RFC 8689 §4.2: a message received with REQUIRETLS keeps that requirement wherever it is relayed; a forward
                // carries the original inside it, so it is held to the same requirement as a redirect.
                var forward = new MailFlowMessage(origin, user.Email, [recipient], bytes, now) { Submitter = user, RequireTls = transaction.RequireTls };
                var result = await door.AcceptAsync(forward, cancellationToken).ConfigureAwait(false);
                switch (result.Recipients[0].Outcome)
                {
                    case RecipientOutcome.Accepted:
                        MailboxRulesLog.Sent(logger, transaction.LogId, action, user.Email, to);
                        break;
                    case RecipientOutcome.TemporaryFailure t:
                        MailboxRulesLog.NotSent(logger, transaction.LogId, action, user.Email, to, t.Reason);
                        break;
                    case RecipientOutcome.PermanentFailure p:
                        MailboxRulesLog.NotSent(logger, transaction.LogId, action, user.Email, to, p.Reason);
                        break;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                MailboxRulesLog.SendFailed(logger, e, transaction.LogId, action, user.Email);
            }
        }
    }

    /// <summary>
    /// The forward's envelope recipient, or null (logged) when it cannot be sent: an unknown or disabled local
    /// address, or a remote one past the owner's daily external recipient limit (§17, as checked at RCPT).
    /// </summary>
    private FlowRecipient? Recipient(MailFlowMessage transaction, DirectoryUser user, string action, string to)
    {
        switch (directory.Current.Resolve(to))
        {
            case RecipientResolution.Local { IsGroup: false } local when local.Mailboxes.Any(m => string.Equals(m.Email, user.Email, StringComparison.OrdinalIgnoreCase)):
                // An alias of the mailbox itself: never back to the mailbox (the rule set only knows its primary address).
                MailboxRulesLog.NotSent(logger, transaction.LogId, action, user.Email, to, "that is an address of the mailbox itself");
                return null;
            case RecipientResolution.Local local:
                return new FlowRecipient(to, local);
            case RecipientResolution.NotLocal remote:
                var limit = config().Limits.ExternalRecipientsPerUserPerDay;
                if (counters.ExternalRecipientsOn(user.OrganizationId, user.Email, DateOnly.FromDateTime(_time.GetUtcNow().UtcDateTime)) >= limit)
                {
                    MailboxRulesLog.LimitReached(logger, transaction.LogId, action, user.Email, to, limit);
                    return null;
                }
                return new FlowRecipient(to, remote);
            default:
                MailboxRulesLog.NotSent(logger, transaction.LogId, action, user.Email, to, "no such mailbox, or disabled");
                return null;
        }
    }

    /// <summary>
    /// Creates <paramref name="folder"/> and its parents when missing (IMAP CREATE does not create parents here);
    /// returns the name to deliver to, or null (logged) when it cannot be created.
    /// </summary>
    private async Task<string?> EnsureFolderAsync(MailFlowMessage transaction, string mailboxId, string mailbox, string folder, string fallback,
        CancellationToken cancellationToken)
    {
        if (MailboxRuleMessages.FolderChain(folder) is not { } chain)
        {
            MailboxRulesLog.FolderNotCreated(logger, transaction.LogId, mailbox, folder, "not a valid folder name", fallback);
            return null;
        }
        try
        {
            foreach (var name in chain)
            {
                if (folders.FindFolder(mailboxId, name) is not null)
                    continue;
                try
                {
                    await folders.CreateFolderAsync(mailboxId, name, cancellationToken).ConfigureAwait(false);
                }
                catch (FolderOperationException e) when (e.Refusal == FolderRefusal.AlreadyExists)
                {
                    // Created meanwhile by another delivery or an IMAP CREATE: there it is.
                }
            }
            return folder;
        }
        catch (Exception e) when (e is FolderOperationException or IOException or WriteOutcomeUnknownException or KeyNotFoundException)
        {
            MailboxRulesLog.FolderNotCreated(logger, transaction.LogId, mailbox, folder, e.Message, fallback);
            return null;
        }
    }

    private static bool SameFolder(string a, string b) =>
        string.Equals(a, b, StringComparison.Ordinal) || (string.Equals(a, WellKnownFolders.Inbox, StringComparison.OrdinalIgnoreCase) && string.Equals(b, WellKnownFolders.Inbox, StringComparison.OrdinalIgnoreCase));

    private static byte[] Serialize(MimeMessage message)
    {
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        using var output = new MemoryStream();
        message.WriteTo(format, output);
        return output.ToArray();
    }
}
