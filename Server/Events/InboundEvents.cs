using MailServer.Rules.Directory;
using MailServer.Rules.SenderAuthentication;
using MailServer.Server.ContentFiltering;
using MailServer.Server.MailFlow;
using MimeKit;
using MimeKit.Utils;

namespace MailServer.Server.Events;

/// <summary>The sender authentication verdicts of a received message, as the event log spells them (§18.3).</summary>
/// <param name="Spam">PASS (not spam) or FAIL (spam).</param>
/// <param name="Dkim">The DKIM verdict: PASS, FAIL or NONE.</param>
/// <param name="Dmarc">The DMARC verdict: PASS, FAIL or NONE.</param>
/// <param name="Spf">The SPF verdict: PASS, FAIL or NONE.</param>
/// <param name="DmarcPolicy">NONE, QUARANTINE or REJECT; reported only when <paramref name="Dmarc"/> is FAIL.</param>
public sealed record MessageVerdicts(string Spam, string Dkim, string Dmarc, string? DmarcPolicy, string Spf)
{
    /// <summary>No verdicts known: every check NONE, not spam.</summary>
    public static MessageVerdicts Unknown { get; } = new(Verdicts.Pass, Verdicts.None, Verdicts.None, null, Verdicts.None);
}

/// <summary>
/// The events of an inbound delivery, for the delivery pipeline to report in one call: per organization
/// reached, one ORGANIZATION_EMAIL_RECEIVED (§18.3: once per message, naming the envelope recipients in that
/// organization), one MAILBOX_EMAIL_DELIVERED per mailbox that got a copy, one INCOMING_EMAIL_BOUNCED per
/// mailbox that was full. All share one trace id, returned for the events that follow (rules, journaling).
/// </summary>
public static class InboundEvents
{
    /// <summary>The size of header section read for From, Sender, Subject and Message-ID.</summary>
    private const int MaxHeaderBytes = 256 * 1024;

    /// <summary>
    /// Writes the events of one delivered transaction and returns its trace id: its reception (unless
    /// <see cref="MailFlowMessage.ReceptionRecorded"/>, see <see cref="InboundReceived"/>), then per organization one
    /// MAILBOX_EMAIL_DELIVERED per mailbox that got a copy and one INCOMING_EMAIL_BOUNCED per full mailbox.
    /// </summary>
    /// <param name="log">The event log.</param>
    /// <param name="transaction">The message (envelope recipients, time received, the stored bytes).</param>
    /// <param name="authentication">Sender authentication's verdicts (MX mail), or null.</param>
    /// <param name="delivered">Each mailbox that got a copy, with the folder it went to.</param>
    /// <param name="mailboxFull">Each mailbox refused because it was full.</param>
    /// <param name="scan">What the content filter's engines found, or null.</param>
    public static Guid InboundDelivered(this IEmailEventLog log, MailFlowMessage transaction, InboundAuthentication? authentication,
        IReadOnlyCollection<(DirectoryUser User, string Folder)> delivered, IReadOnlyCollection<DirectoryUser> mailboxFull,
        ContentScanResult? scan = null)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(transaction);
        var traceId = transaction.TraceId;
        var reached = delivered.Select(d => d.User.OrganizationId).Concat(mailboxFull.Select(u => u.OrganizationId)).Distinct(StringComparer.Ordinal).ToList();
        if (!transaction.ReceptionRecorded)
            log.InboundReceived(transaction, authentication, reached, scan);
        foreach (var org in reached)
        {
            foreach (var (user, folder) in delivered.Where(d => d.User.OrganizationId == org))
                log.Write(new MailboxEmailDelivered(org, traceId, user.Email, folder));
            foreach (var user in mailboxFull.Where(u => u.OrganizationId == org))
                log.Write(new IncomingEmailBounced(org, traceId, new BouncedRecipient(user.Email, "Mailbox full", "5.2.2")));
        }
        return traceId;
    }

    /// <summary>
    /// Writes a message's reception, per organization among its envelope recipients (and <paramref name="alsoReached"/>,
    /// organizations a group led to): one ORGANIZATION_EMAIL_RECEIVED naming that organization's envelope recipients
    /// (§18.3: once per message, whatever happened to each recipient afterwards — delivered, dropped or bounced by a
    /// rule), and DMARC_POLICY_APPLIED when enforcement quarantined it there (§12).
    /// </summary>
    /// <param name="log">The event log.</param>
    /// <param name="transaction">The message with every recipient the client gave (headers are read from its content).</param>
    /// <param name="authentication">Sender authentication's verdicts (MX mail), or null: unknown.</param>
    /// <param name="alsoReached">Organizations reached through another organization's address; none when null.</param>
    /// <param name="scan">What the content filter's engines found (spam and virus verdicts, score, symbols), or null.</param>
    public static void InboundReceived(this IEmailEventLog log, MailFlowMessage transaction, InboundAuthentication? authentication,
        IEnumerable<string>? alsoReached = null, ContentScanResult? scan = null)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(transaction);
        var traceId = transaction.TraceId;
        var headers = ReadHeaders(transaction.Content);
        var v = VerdictsOf(authentication);
        // Remote recipients of a submission belong to no organization here; the outbound events cover them.
        static string? OrgOf(FlowRecipient r) => r.Resolution is RecipientResolution.Local local ? local.Organization.Id : null;
        var organizations = transaction.Recipients.Select(OrgOf).OfType<string>()
            .Concat(alsoReached ?? [])
            .Distinct(StringComparer.Ordinal);
        foreach (var org in organizations)
        {
            var scanned = scan is not null && scan.Organizations.Contains(org);
            log.Write(new OrganizationEmailReceived(org, traceId,
                transaction.Recipients.Where(r => OrgOf(r) == org).Select(r => r.Address).ToList(),
                headers.Sender, headers.From, headers.Subject, headers.MessageId,
                scanned && scan!.IsSpam ? Verdicts.Fail : v.Spam, v.Dkim, v.Dmarc, v.Dmarc == Verdicts.Fail ? v.DmarcPolicy : null, v.Spf,
                transaction.ReceivedAt)
            {
                VirusVerdict = scanned ? scan!.VirusVerdict : null,
                SpamScore = scanned ? scan!.Spam?.Score : null,
                SpamAction = scanned ? scan!.Spam?.ActionName : null,
                SpamSymbols = scanned ? scan!.Spam?.SymbolNames : null,
            });
            // §12: enforcement took an action for this organization (quarantine → Junk E-mail).
            if (authentication?.IsQuarantined(org) == true)
                log.Write(new DmarcPolicyApplied(org, traceId, headers.From,
                    transaction.Recipients.Where(r => OrgOf(r) == org).Select(r => r.Address).ToList(), "QUARANTINE"));
        }
    }

    /// <summary>
    /// DMARC_POLICY_APPLIED for recipients refused in the SMTP session because their organization enforces the
    /// sender domain's reject policy (§12); nothing was stored, so this is the message's only event.
    /// </summary>
    public static void InboundRefusedByDmarc(this IEmailEventLog log, MailFlowMessage transaction, IReadOnlyList<FlowRecipient> refused)
    {
        ArgumentNullException.ThrowIfNull(log);
        var traceId = transaction.TraceId;
        var from = ReadHeaders(transaction.Content).From;
        foreach (var group in refused.Where(r => r.OrganizationId is not null).GroupBy(r => r.OrganizationId!))
            log.Write(new DmarcPolicyApplied(group.Key, traceId, from, group.Select(r => r.Address).ToList(), "REJECT"));
    }

    /// <summary>The verdicts sender authentication put on an MX transaction, as the event log spells them.</summary>
    private static MessageVerdicts VerdictsOf(InboundAuthentication? authentication)
    {
        if (authentication is not { Verdict: var verdict })
            return MessageVerdicts.Unknown;
        var spam = authentication.ByOrganization.Values.Any(d => d == DmarcDisposition.Quarantine)
            ? Verdicts.Fail : Verdicts.Pass;
        return new MessageVerdicts(spam, verdict.DkimVerdictName, verdict.DmarcVerdictName, verdict.DmarcPolicyName, verdict.SpfVerdictName);
    }

    internal sealed record HeaderFields(string? From, string? Sender, string? Subject, string? MessageId);

    /// <summary>From, Sender (only when it differs from From: mail sent on behalf), Subject and Message-ID.</summary>
    internal static HeaderFields ReadHeaders(ReadOnlyMemory<byte> message)
    {
        var span = message.Span;
        var end = span.IndexOf("\r\n\r\n"u8);
        var length = Math.Min(end < 0 ? span.Length : end + 4, MaxHeaderBytes);
        try
        {
            using var stream = new MemoryStream(message[..length].ToArray(), writable: false);
            var headers = new MimeParser(stream, MimeFormat.Entity).ParseHeaders();
            var from = FirstAddress(headers[HeaderId.From]);
            var sender = FirstAddress(headers[HeaderId.Sender]);
            if (sender is not null && string.Equals(sender, from, StringComparison.OrdinalIgnoreCase))
                sender = null;
            var messageId = headers[HeaderId.MessageId] is { } id ? MimeUtils.ParseMessageId(id) ?? id.Trim() : null;
            return new HeaderFields(from, sender, headers[HeaderId.Subject], messageId);
        }
        catch (FormatException)
        {
            return new HeaderFields(null, null, null, null);
        }
    }

    private static string? FirstAddress(string? value) =>
        value is not null && InternetAddressList.TryParse(ParserOptions.Default, value, out var list)
            ? list.Mailboxes.FirstOrDefault()?.Address?.ToLowerInvariant()
            : null;
}
