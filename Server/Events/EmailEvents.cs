using System.Text.Json.Serialization;

namespace MailServer.Server.Events;

/// <summary>
/// One email event of §18.3. <see cref="OrganizationId"/> and <see cref="TraceId"/> go to the top level of the
/// record (<c>{"timestamp","traceId","organizationId","event":{...}}</c>, §18.2); the other properties are the
/// event's fields with WorkMail's exact names. Null fields are left out (e.g. <c>sender</c> is only present for
/// mail sent on behalf of someone).
/// </summary>
/// <param name="OrganizationId">The organization whose log gets the event.</param>
/// <param name="TraceId">Correlates every event of one message (one per accepted SMTP transaction).</param>
public abstract record EmailEvent(
    [property: JsonIgnore] string OrganizationId,
    [property: JsonIgnore] Guid TraceId)
{
    /// <summary>The event's name, e.g. ORGANIZATION_EMAIL_RECEIVED.</summary>
    public abstract string EventName { get; }

    /// <summary>Every <see cref="EventName"/> the server writes (§18.3), for checking a name a user typed.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        "ORGANIZATION_EMAIL_RECEIVED", "MAILBOX_EMAIL_DELIVERED", "RULE_APPLIED", "JOURNALING_INITIATED",
        "INCOMING_EMAIL_BOUNCED", "OUTGOING_EMAIL_SUBMITTED", "OUTGOING_EMAIL_SENT", "OUTGOING_EMAIL_BOUNCED",
        "DMARC_POLICY_APPLIED",
    ];
}

/// <summary>Sender authentication verdicts as the event log spells them (§18.3).</summary>
public static class Verdicts
{
    /// <summary>The check passed.</summary>
    public const string Pass = "PASS";
    /// <summary>The check failed.</summary>
    public const string Fail = "FAIL";
    /// <summary>The check could not be made or did not apply (no record, not evaluated yet).</summary>
    public const string None = "NONE";
}

/// <summary>The organization received an email: once per email, whatever the number of its recipients.</summary>
public sealed record OrganizationEmailReceived(
    string OrganizationId, Guid TraceId,
    IReadOnlyList<string> Recipients,
    string? Sender,
    string? From,
    string? Subject,
    string? MessageId,
    string SpamVerdict,
    string DkimVerdict,
    string DmarcVerdict,
    string? DmarcPolicy,
    string SpfVerdict,
    DateTimeOffset MessageTimestamp) : EmailEvent(OrganizationId, TraceId)
{
    /// <inheritdoc />
    public override string EventName => "ORGANIZATION_EMAIL_RECEIVED";

    /// <summary><c>virusVerdict</c>: PASS or FAIL from the virus scanner (§13); absent when no scanner looked at the message.</summary>
    public string? VirusVerdict { get; init; }

    /// <summary><c>spamScore</c>: rspamd's score; absent when rspamd did not scan the message.</summary>
    public double? SpamScore { get; init; }

    /// <summary><c>spamAction</c>: rspamd's action (<c>no action</c>, <c>add header</c>, ...); absent when rspamd did not scan the message.</summary>
    public string? SpamAction { get; init; }

    /// <summary><c>spamSymbols</c>: the rspamd symbols that matched, highest score first; absent when rspamd did not scan the message.</summary>
    public IReadOnlyList<string>? SpamSymbols { get; init; }
}

/// <summary>An email was placed in one mailbox: once per mailbox.</summary>
public sealed record MailboxEmailDelivered(string OrganizationId, Guid TraceId, string Recipient, string Folder)
    : EmailEvent(OrganizationId, TraceId)
{
    /// <inheritdoc />
    public override string EventName => "MAILBOX_EMAIL_DELIVERED";
}

/// <summary>The action a rule took for some of the recipients.</summary>
public sealed record RuleAction(string Action, IReadOnlyList<string> Recipients);

/// <summary>A flow rule (INBOUND_RULE, OUTBOUND_RULE) or mailbox rule (MAILBOX_RULE) applied to an email.</summary>
public sealed record RuleApplied(
    string OrganizationId, Guid TraceId,
    string RuleName,
    string RuleType,
    IReadOnlyList<RuleAction> RuleActions,
    string? TargetFolder = null,
    string? TargetRecipient = null) : EmailEvent(OrganizationId, TraceId)
{
    /// <summary>An inbound email flow rule.</summary>
    public const string InboundRule = "INBOUND_RULE";
    /// <summary>An outbound email flow rule.</summary>
    public const string OutboundRule = "OUTBOUND_RULE";
    /// <summary>A per-mailbox rule.</summary>
    public const string MailboxRule = "MAILBOX_RULE";

    /// <inheritdoc />
    public override string EventName => "RULE_APPLIED";
}

/// <summary>A journal record was sent to the journaling address.</summary>
public sealed record JournalingInitiated(string OrganizationId, Guid TraceId, string JournalingAddress)
    : EmailEvent(OrganizationId, TraceId)
{
    /// <inheritdoc />
    public override string EventName => "JOURNALING_INITIATED";
}

/// <summary>A recipient an email bounced for, with why (<c>bouncedRecipient.emailAddress/.reason/.status</c>).</summary>
/// <param name="EmailAddress">The intended recipient.</param>
/// <param name="Reason">The reason, as the reply text or DSN diagnostic says it.</param>
/// <param name="Status">The RFC 3463 enhanced status code, e.g. 5.2.2.</param>
public sealed record BouncedRecipient(string EmailAddress, string Reason, string Status);

/// <summary>An incoming email could not be delivered to one recipient (e.g. a full mailbox): once per recipient.</summary>
public sealed record IncomingEmailBounced(string OrganizationId, Guid TraceId, BouncedRecipient BouncedRecipient)
    : EmailEvent(OrganizationId, TraceId)
{
    /// <inheritdoc />
    public override string EventName => "INCOMING_EMAIL_BOUNCED";
}

/// <summary>A user submitted an email for sending (logged before it leaves; To, Cc and Bcc recipients).</summary>
public sealed record OutgoingEmailSubmitted(
    string OrganizationId, Guid TraceId,
    IReadOnlyList<string> Recipients,
    string? Sender,
    string? From,
    string? Subject) : EmailEvent(OrganizationId, TraceId)
{
    /// <inheritdoc />
    public override string EventName => "OUTGOING_EMAIL_SUBMITTED";
}

/// <summary>An outgoing email was accepted for one recipient by the destination: once per recipient.</summary>
public sealed record OutgoingEmailSent(
    string OrganizationId, Guid TraceId,
    string Recipient,
    string? Sender,
    string? From,
    string? MessageId) : EmailEvent(OrganizationId, TraceId)
{
    /// <inheritdoc />
    public override string EventName => "OUTGOING_EMAIL_SENT";
}

/// <summary>The destination refused an outgoing email for one recipient: once per recipient.</summary>
public sealed record OutgoingEmailBounced(
    string OrganizationId, Guid TraceId,
    BouncedRecipient BouncedRecipient,
    string? Destination,
    string? Reason) : EmailEvent(OrganizationId, TraceId)
{
    /// <inheritdoc />
    public override string EventName => "OUTGOING_EMAIL_BOUNCED";
}

/// <summary>A DMARC policy was applied to an email sent to the organization.</summary>
public sealed record DmarcPolicyApplied(
    string OrganizationId, Guid TraceId,
    string? From,
    IReadOnlyList<string> Recipients,
    string Policy) : EmailEvent(OrganizationId, TraceId)
{
    /// <inheritdoc />
    public override string EventName => "DMARC_POLICY_APPLIED";
}
