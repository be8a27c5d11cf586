using SmtpServer.Protocol;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// The one place where verdicts become SMTP replies. Every reply this listener chooses is named here by
/// meaning; the rest of the SMTP code refers to these names, never to bare numbers.
/// Enhanced status codes follow RFC 3463; reply codes RFC 5321 §4.2.
/// </summary>
internal static partial class SmtpReplies
{
    /// <summary>220 greeting line (written raw by SmtpServer, so a full line).</summary>
    public static string Greeting(string serverName) => $"220 {serverName} ESMTP";

    /// <summary>RFC 5321 §3.8: a server shutting down answers 421 and closes.</summary>
    public static readonly SmtpResponse ShuttingDown = new((SmtpReplyCode)421, "4.3.2 Service shutting down");

    /// <summary>Per-IP connection cap reached (written raw before any session exists).</summary>
    public const string TooManyConnectionsLine = "421 4.7.0 Too many connections from your address";

    /// <summary>The client sent nothing for longer than the idle timeout.</summary>
    public static readonly SmtpResponse IdleTimeout = new((SmtpReplyCode)421, "4.4.2 Idle timeout, closing connection");

    /// <summary>RFC 5321 §4.5.3.1.4: a command line longer than we accept.</summary>
    public static readonly SmtpResponse LineTooLong = new((SmtpReplyCode)500, "5.5.2 Line too long");

    /// <summary>RFC 1870 §6.1 / RFC 3463 X.3.4: declared or actual size over the limit.</summary>
    public static readonly SmtpResponse MessageTooBig = new((SmtpReplyCode)552, "5.3.4 Message size exceeds fixed maximum message size");

    /// <summary>The header section alone is over its cap (checked before MIME parsing).</summary>
    public static readonly SmtpResponse HeaderSectionTooBig = new((SmtpReplyCode)552, "5.3.4 Message header section too large");

    /// <summary>RFC 1870 §3: SIZE must be a decimal number.</summary>
    public static readonly SmtpResponse BadSizeParameter = new((SmtpReplyCode)501, "5.5.4 Syntax error in SIZE parameter");

    /// <summary>RFC 5321 §3.6.2: no open relaying.</summary>
    public static readonly SmtpResponse RelayDenied = new((SmtpReplyCode)550, "5.7.1 Relaying denied");

    /// <summary>The domain is ours but the address is not.</summary>
    public static SmtpResponse NoSuchUser(string address) => new((SmtpReplyCode)550, $"5.1.1 <{address}>: Recipient address rejected: no such user");

    /// <summary>The address exists but cannot receive mail.</summary>
    public static SmtpResponse MailboxDisabled(string address) => new((SmtpReplyCode)550, $"5.2.1 <{address}>: mailbox disabled");

    /// <summary>RFC 3463 X.2.2: mailbox over quota.</summary>
    public static SmtpResponse MailboxFull(string address) => new((SmtpReplyCode)552, $"5.2.2 <{address}>: Mailbox full");

    /// <summary>
    /// RFC 5321 §4.3.2 (452 is a reply DATA may give) and RFC 3463 §3.4 (4.3.1, system storage exhausted): the server-wide
    /// budget of message bytes in flight (Limits.MaxBytesInFlightMiB) is used up; the client retries later, as after any
    /// temporary failure.
    /// </summary>
    public static readonly SmtpResponse BytesInFlightExhausted = new((SmtpReplyCode)452, "4.3.1 Too much mail in progress; try again later");

    /// <summary>RFC 5321 §4.5.3.1.8: too many recipients is a temporary 452, so the client sends the rest later.</summary>
    public static readonly SmtpResponse TooManyRecipients = new((SmtpReplyCode)452, "4.5.3 Too many recipients");

    /// <summary>RFC 2920 §3.1: message text arrived before our 354 (DATA must end a pipelined group).</summary>
    public static readonly SmtpResponse DataBeforeGoAhead = new((SmtpReplyCode)554, "5.5.0 Message text sent before the 354 reply; wait for it");

    /// <summary>RFC 5322 §2.3: CR and LF only occur together as CRLF; NUL is not allowed either. (Replies are ASCII, hence "section".)</summary>
    public static readonly SmtpResponse BareLineEnding = new((SmtpReplyCode)550, "5.6.0 Message contains bare CR or LF (RFC 5322 section 2.3)");

    /// <summary>MIME structure over a cap (depth, parts or attachments) or too costly to parse.</summary>
    public static SmtpResponse MimeStructureRefused(string why) => new((SmtpReplyCode)554, $"5.6.0 Message structure refused: {why}");

    /// <summary>
    /// RFC 7489 §6.6.4 / §12: the From domain's DMARC policy is reject and this organization enforces it. Refused in the
    /// session (no bounce, so no backscatter: docs/decisions.md, "Bounce without backscatter").
    /// </summary>
    public static SmtpResponse DmarcRejected(string fromDomain) =>
        new((SmtpReplyCode)550, $"5.7.1 Message rejected: DMARC policy of {Sanitize(fromDomain)} says reject");

    /// <summary>Something failed on our side; the client should retry.</summary>
    public static readonly SmtpResponse TemporaryServerError = new((SmtpReplyCode)451, "4.3.0 Temporary server error");

    /// <summary>Every recipient failed temporarily.</summary>
    public static SmtpResponse TemporaryFailure(string reason) => new((SmtpReplyCode)451, $"4.3.0 {Sanitize(reason)}");

    /// <summary>The content check defers the message (greylisting, rspamd's soft reject, an engine down under TempFail; RFC 3463 X.7.1).</summary>
    public static SmtpResponse ContentCheckDeferred(string reason) => new((SmtpReplyCode)451, $"4.7.1 {Sanitize(reason)}");

    /// <summary>§13: a virus was found. The reply names nothing of the signature (that is in our log only).</summary>
    public static readonly SmtpResponse VirusFound = new((SmtpReplyCode)554, "5.7.1 Message refused: it contains a virus");

    /// <summary>§13: the spam engine's verdict is reject.</summary>
    public static readonly SmtpResponse SpamRejected = new((SmtpReplyCode)550, "5.7.1 Message refused as spam");

    /// <summary>RFC 4954 §6: MAIL on a submission listener before AUTH.</summary>
    public static readonly SmtpResponse AuthenticationRequired = new((SmtpReplyCode)530, "5.7.0 Authentication required");

    /// <summary>RFC 4954 §6: too many recent failures; try again later (no password was checked).</summary>
    public static readonly SmtpResponse AuthThrottled = new((SmtpReplyCode)454, "4.7.0 Too many failed logins, try again later");

    /// <summary>Good credentials, but an access control rule (§6) refuses the login.</summary>
    public static readonly SmtpResponse AuthDenied = new((SmtpReplyCode)535, "5.7.8 Authentication refused by access policy");

    /// <summary>§5: the user holds no right to send with this address (WorkMail-style 5.7.60 refusal).</summary>
    public static SmtpResponse SendAsDenied(string reason) => new((SmtpReplyCode)550, $"5.7.60 SMTP; {Sanitize(reason)}");

    /// <summary>The message headers cannot be checked (From/Sender missing, repeated or unparsable).</summary>
    public static SmtpResponse BadSenderHeaders(string problem) => new((SmtpReplyCode)550, $"5.6.0 {Sanitize(problem)}");

    /// <summary>§17: this transaction would take the user past the daily external recipient limit.</summary>
    public static SmtpResponse ExternalRecipientsTransactionFull(int limit) =>
        new((SmtpReplyCode)452, $"4.5.3 Daily limit of {limit} external recipients reached with this message; send the rest later");

    /// <summary>§17: the user has already addressed the daily number of external recipients.</summary>
    public static SmtpResponse ExternalRecipientsDailyLimit(int limit) =>
        new((SmtpReplyCode)550, $"5.5.3 Daily limit of {limit} external recipients per user reached; try again tomorrow (UTC)");

    /// <summary>RFC 3461 §4: a NOTIFY, ORCPT, RET or ENVID parameter that does not parse.</summary>
    public static readonly SmtpResponse BadDsnParameter = new((SmtpReplyCode)501, "5.5.4 Invalid DSN parameter");

    /// <summary>RFC 8689 §4.1: MAIL FROM with REQUIRETLS outside TLS (RFC 5248 X.7.10, encryption needed).</summary>
    public static readonly SmtpResponse RequireTlsNeedsTls = new((SmtpReplyCode)530, "5.7.10 REQUIRETLS needs a TLS session; STARTTLS first");

    /// <summary>RFC 8689 §2: REQUIRETLS is a keyword without a value.</summary>
    public static readonly SmtpResponse BadRequireTlsParameter = new((SmtpReplyCode)501, "5.5.4 REQUIRETLS takes no value");

    /// <summary>RFC 4954 is not offered on this listener; PROXY is never accepted from clients.</summary>
    public static readonly SmtpResponse CommandNotAvailable = new((SmtpReplyCode)502, "5.5.1 Command not implemented");

    /// <summary>The message is durably stored (see <see cref="IMessageDelivery"/>).</summary>
    public static SmtpResponse Queued(string queueId) => new(SmtpReplyCode.Ok, $"2.0.0 Ok: queued as {queueId}");

    /// <summary>A permanent refusal from delivery, by its <see cref="SmtpRefusal"/>.</summary>
    public static SmtpResponse PermanentFailure(SmtpRefusal refusal, string reason) => refusal switch
    {
        SmtpRefusal.MailboxFull => new((SmtpReplyCode)552, $"5.2.2 Mailbox full: {Sanitize(reason)}"),
        SmtpRefusal.MailboxUnavailable => new((SmtpReplyCode)550, $"5.2.0 Mailbox unavailable: {Sanitize(reason)}"),
        SmtpRefusal.PolicyRefused => new((SmtpReplyCode)550, $"5.7.1 Message refused: {Sanitize(reason)}"),
        SmtpRefusal.DmarcReject => DmarcRejected(reason),
        SmtpRefusal.VirusFound => VirusFound,
        SmtpRefusal.SpamRejected => SpamRejected,
        SmtpRefusal.SendAsDenied => SendAsDenied(reason),
        SmtpRefusal.BadSenderHeaders => BadSenderHeaders(reason),
        _ => new((SmtpReplyCode)554, $"5.0.0 {Sanitize(reason)}"),
    };

    /// <summary>
    /// Turns one transaction's per-recipient outcomes into the single reply to DATA:
    /// all delivered → 250; all permanent → the first permanent refusal; all temporary → 451;
    /// a mix with at least one delivered → 250 (the pipeline owns DSNs for the failed ones,
    /// RFC 5321 §3.3 gives one reply per DATA); a mix of temporary and permanent failures only → 451,
    /// so that the recipients that might still succeed are retried.
    /// </summary>
    public static SmtpResponse ForOutcome(TransactionOutcome outcome, string queueId)
    {
        var delivered = 0;
        var temporary = 0;
        DeliveryOutcome.PermanentFailure? firstPermanent = null;
        DeliveryOutcome.TemporaryFailure? firstTemporary = null;
        foreach (var (_, result) in outcome.Recipients)
        {
            switch (result)
            {
                case DeliveryOutcome.Delivered:
                    delivered++;
                    break;
                case DeliveryOutcome.TemporaryFailure t:
                    temporary++;
                    firstTemporary ??= t;
                    break;
                case DeliveryOutcome.PermanentFailure p:
                    firstPermanent ??= p;
                    break;
            }
        }
        if (delivered > 0)
            return Queued(queueId);
        if (temporary > 0)
            return firstTemporary!.Deferral == SmtpDeferral.ContentCheck ? ContentCheckDeferred(firstTemporary.Reason) : TemporaryFailure(firstTemporary.Reason);
        if (firstPermanent is not null)
            return PermanentFailure(firstPermanent.Refusal, firstPermanent.Reason);
        // An empty outcome means the pipeline did not account for any recipient: never claim success.
        return TemporaryServerError;
    }

    /// <summary>Keeps pipeline-provided text to one printable ASCII line.</summary>
    internal static string Sanitize(string text)
    {
        var chars = text.Where(c => c >= ' ' && c < 127).Take(200).ToArray();
        return chars.Length == 0 ? "failed" : new string(chars);
    }
}
