namespace MailServer.Rules.MailboxRules;

/// <summary>What a mailbox rule looks at. A closed set; every text test is a case-insensitive "contains".</summary>
public abstract record MailboxRuleCondition
{
    private MailboxRuleCondition() { }

    /// <summary>The From (and Sender) header addresses or display names contain <see cref="Text"/>.</summary>
    public sealed record SenderContains(string Text) : MailboxRuleCondition;

    /// <summary>A To or Cc header address, or the envelope recipient, contains <see cref="Text"/>.</summary>
    public sealed record RecipientContains(string Text) : MailboxRuleCondition;

    /// <summary>The decoded subject contains <see cref="Text"/>.</summary>
    public sealed record SubjectContains(string Text) : MailboxRuleCondition;

    /// <summary>Some header field named <see cref="Header"/> has a value containing <see cref="Text"/>.</summary>
    public sealed record HeaderContains(string Header, string Text) : MailboxRuleCondition;
}

/// <summary>What a mailbox rule does (WorkMail's MAILBOX_RULE type; docs/decisions.md, "Mailbox rules"). A closed set.</summary>
public abstract record MailboxRuleAction
{
    private MailboxRuleAction() { }

    /// <summary>File the message in <see cref="Folder"/> instead of the folder flow rules chose.</summary>
    public sealed record Move(string Folder) : MailboxRuleAction;

    /// <summary>Also put a copy in <see cref="Folder"/>.</summary>
    public sealed record Copy(string Folder) : MailboxRuleAction;

    /// <summary>Send a new message from the mailbox owner to <see cref="To"/> with the original attached.</summary>
    public sealed record Forward(string To) : MailboxRuleAction;

    /// <summary>Resend the message unchanged to <see cref="To"/> (the original sender stays the sender).</summary>
    public sealed record Redirect(string To) : MailboxRuleAction;

    /// <summary>File the message in Deleted Items (docs/decisions.md, "Retention": Delete moves to Deleted Items).</summary>
    public sealed record Delete : MailboxRuleAction;

    /// <summary>Deliver it with the \Seen flag.</summary>
    public sealed record MarkRead : MailboxRuleAction;

    /// <summary>The RULE_APPLIED action name (§18.3).</summary>
    public string Name => GetType().Name;
}

/// <summary>One per-user rule: every condition must hold (AND); then every action applies.</summary>
/// <param name="Name">Unique among the user's rules.</param>
/// <param name="Conditions">At least one.</param>
/// <param name="Actions">At least one.</param>
/// <param name="StopProcessingRules">When this rule applies, later rules are not evaluated.</param>
public sealed record MailboxRuleDefinition(
    string Name,
    IReadOnlyList<MailboxRuleCondition> Conditions,
    IReadOnlyList<MailboxRuleAction> Actions,
    bool StopProcessingRules = false);

/// <summary>What a mailbox rule can see of a delivered message (header values already decoded).</summary>
/// <param name="Mailbox">The mailbox owner's primary address.</param>
/// <param name="EnvelopeRecipient">The RCPT TO address that reached the mailbox.</param>
/// <param name="Senders">From and Sender addresses and display names.</param>
/// <param name="Recipients">To and Cc addresses.</param>
/// <param name="Subject">The decoded subject, or null.</param>
/// <param name="Headers">Every header field as (name, decoded value), in message order.</param>
public sealed record MailboxRuleMessage(
    string Mailbox,
    string EnvelopeRecipient,
    IReadOnlyList<string> Senders,
    IReadOnlyList<string> Recipients,
    string? Subject,
    IReadOnlyList<KeyValuePair<string, string>> Headers);

/// <summary>A rule that applied and the actions it contributed (for the RULE_APPLIED event, §18.3).</summary>
public sealed record AppliedMailboxRule(string RuleName, IReadOnlyList<MailboxRuleAction> Actions);

/// <summary>
/// What delivery does for one mailbox after its rules ran: the folder to file in, extra copies, where to
/// forward or redirect, whether to mark it read. Forward/Redirect targets are already loop-checked.
/// </summary>
public sealed record MailboxRuleOutcome(
    string Folder,
    IReadOnlyList<string> CopyFolders,
    IReadOnlyList<string> ForwardTo,
    IReadOnlyList<string> RedirectTo,
    bool MarkRead,
    IReadOnlyList<AppliedMailboxRule> Applied,
    bool LoopSuppressed);
