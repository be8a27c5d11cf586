namespace MailServer.Server.MailFlow;

/// <summary>
/// What became of one envelope recipient once the mail flow is done with the message. A closed set; the SMTP door
/// turns it into the one reply to DATA (RFC 5321 §3.3), the internal origins log it.
/// </summary>
public abstract record RecipientOutcome
{
    private RecipientOutcome() { }

    /// <summary>
    /// The server answers for it: stored in a mailbox, durably queued, held for a hook, or deliberately not delivered
    /// (a Drop rule; a Bounce whose notice goes out as a DSN). Everything that makes it so is on disk.
    /// </summary>
    public sealed record Accepted : RecipientOutcome;

    /// <summary>Nothing durable was done for it; the sender may retry later (4xx). <see cref="Deferral"/> says why.</summary>
    public sealed record TemporaryFailure(string Reason, Deferral Deferral = Deferral.ServerError) : RecipientOutcome;

    /// <summary>Refused; retrying will not help (5xx). <see cref="Reason"/> is safe to show the sender.</summary>
    public sealed record PermanentFailure(Refusal Refusal, string Reason) : RecipientOutcome;
}

/// <summary>Why a recipient was refused for good. Mapped once to SMTP replies (<c>SmtpReplies</c>).</summary>
public enum Refusal
{
    /// <summary>The mailbox is at its quota (RFC 3463 X.2.2).</summary>
    MailboxFull,

    /// <summary>The mailbox cannot take mail (RFC 3463 X.2.0).</summary>
    MailboxUnavailable,

    /// <summary>An email flow rule (or a hook) bounced it (RFC 3463 X.7.1).</summary>
    PolicyRefused,

    /// <summary>The From domain's DMARC policy is reject and the recipient's organization enforces it (§12). The reason is the domain.</summary>
    DmarcReject,

    /// <summary>The signed-in user may not send as the From or Sender field says (§5, RFC 3463 X.7.60 as WorkMail answers).</summary>
    SendAsDenied,

    /// <summary>A submitted message's From or Sender field is missing, repeated or unparsable, so its rights cannot be checked (X.6.0).</summary>
    BadSenderHeaders,

    /// <summary>The virus scanner found a virus (§13: blocked before rules). The reason never names the signature.</summary>
    VirusFound,

    /// <summary>The spam engine's verdict is reject (§13).</summary>
    SpamRejected,
}

/// <summary>Why a recipient failed for now. Mapped once to SMTP replies (<c>SmtpReplies</c>).</summary>
public enum Deferral
{
    /// <summary>Something failed on our side (RFC 3463 X.3.0).</summary>
    ServerError,

    /// <summary>The content filter asks the sender to retry: greylisting, rspamd's soft reject, an engine down under TempFail (RFC 3463 X.7.1).</summary>
    ContentCheck,
}

/// <summary>The mail flow's answer for a message: one outcome per envelope recipient, in envelope order.</summary>
/// <param name="Message">The message as it went through (its trace id names it).</param>
/// <param name="Recipients">Each recipient's outcome.</param>
public sealed record MailFlowResult(MailFlowMessage Message, IReadOnlyList<(FlowRecipient Recipient, RecipientOutcome Outcome)> Recipients)
{
    /// <summary>True when at least one recipient was accepted (the SMTP reply is 250).</summary>
    public bool AnyAccepted => Recipients.Any(r => r.Outcome is RecipientOutcome.Accepted);
}
