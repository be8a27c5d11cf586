using MailServer.Rules.Directory;
using MailServer.Rules.Journaling;
using MailServer.Server.Configuration;
using MailServer.Server.Events;
using MailServer.Server.Logging;
using MailServer.Server.MailFlow;
using MailServer.Storage;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace MailServer.Server.Delivery;

/// <summary>
/// Journaling (WorkMail Administrator Guide, "Journaling"; docs/decisions.md, "Journaling"): after a transaction is carried out, each organization it entered or left gets
/// exactly one journal record (an envelope journal report, <see cref="JournalReport"/>), whatever the number of
/// recipients or groups. The record enters the mail flow as a message of its own (<see cref="MessageOrigin.JournalReport"/>:
/// into the journaling mailbox when it is local, else through the outbound queue; never through flow rules, never
/// journaled itself); its envelope sender is the organization's report address, so a remote refusal of the record
/// comes back there as a DSN. A record that cannot be stored or queued is reported to the report address at once.
/// Settings are read from the live configuration, so a change applies to the next message.
/// </summary>
/// <param name="door">The mail flow's door (resolved late: the mail flow contains this class).</param>
/// <param name="directory">Resolves the journaling address.</param>
/// <param name="config">The configuration in force (each organization's Journaling).</param>
/// <param name="dsn">Reports a record that could not be made to the report address.</param>
/// <param name="logger">Receives one line per record.</param>
/// <param name="time">The clock of the records' dates.</param>
/// <param name="events">The email event log (JOURNALING_INITIATED).</param>
public sealed class JournalWriter(
    Func<IMailFlowDoor> door,
    IDirectorySource directory,
    Func<ServerConfig> config,
    DsnSender dsn,
    ILogger logger,
    TimeProvider time,
    IEmailEventLog events)
{
    /// <summary>Writes the records <paramref name="transaction"/> calls for; delivered recipients only. Never throws for a journaling fault.</summary>
    public async Task JournalAsync(MailFlowMessage transaction, IReadOnlyList<FlowRecipient> delivered, CancellationToken cancellationToken)
    {
        var message = transaction.Content;
        if (delivered.Count == 0 || JournalReport.IsReservedSender(transaction.ReversePath))
            return;
        var current = config();
        var snapshot = directory.Current;
        var senderOrganization = transaction.Submitter?.OrganizationId;
        var organizations = delivered.Select(r => r.OrganizationId).OfType<string>().Append(senderOrganization).OfType<string>()
            .Distinct(StringComparer.Ordinal).ToList();
        MimeMessage? parsed = null;
        foreach (var organizationId in organizations)
        {
            if (current.Organizations.FirstOrDefault(o => o.Id == organizationId) is not { } organization)
                continue;
            var settings = new JournalingSettings(organization.Journaling.Enabled, organization.Journaling.JournalingAddress,
                organization.Journaling.ReportAddress, JournalReport.ReservedLocalPart + "@" + organization.DefaultDomain);
            var decision = JournalReport.Decide(settings, isJournalRecord: false,
                senderInOrganization: senderOrganization == organizationId,
                anyRecipientInOrganization: delivered.Any(r => r.OrganizationId == organizationId));
            if (decision is not JournalDecision.Journal journal)
                continue;
            try
            {
                parsed ??= await ParseAsync(message, cancellationToken).ConfigureAwait(false);
                var recipients = delivered.SelectMany(r => Listed(r, parsed)).DistinctBy(r => r.Address, StringComparer.OrdinalIgnoreCase).ToList();
                var report = JournalReport.Build(journal, parsed, transaction.ReversePath, recipients, time.GetUtcNow());
                var bytes = Serialize(report);
                await DeliverAsync(organization, journal, bytes, snapshot, transaction.LogId, cancellationToken).ConfigureAwait(false);
                events.Write(new JournalingInitiated(organizationId, transaction.TraceId, journal.To));
                DeliveryLog.Journaled(logger, transaction.LogId, organization.Alias, journal.To);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                DeliveryLog.JournalFailed(logger, e, transaction.LogId, organization.Alias);
                await ReportFailureAsync(organization, journal, transaction, message, e.Message, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Each mailbox a recipient reached (groups expanded, "Expanded: group"), or the remote address itself.</summary>
    private static IEnumerable<JournalRecipient> Listed(FlowRecipient recipient, MimeMessage original)
    {
        var field = JournalReport.FieldOf(original, recipient.Address);
        if (recipient.Resolution is RecipientResolution.Local { IsGroup: true } group)
            return group.Mailboxes.Select(u => new JournalRecipient(u.Email, field, recipient.Address));
        return [new JournalRecipient(recipient.Address, field)];
    }

    /// <exception cref="IOException">The record was not stored or queued (the report address is told).</exception>
    private async Task DeliverAsync(OrganizationConfig organization, JournalDecision.Journal journal, byte[] bytes, MailDirectory snapshot,
        string logId, CancellationToken cancellationToken)
    {
        var resolution = snapshot.Resolve(journal.To) as RecipientResolution.Local ?? (RecipientResolution)new RecipientResolution.NotLocal();
        var record = new MailFlowMessage(MessageOrigin.JournalReport, journal.ReportAddress ?? "", [new FlowRecipient(journal.To, resolution)],
            bytes, time.GetUtcNow()) { OrganizationId = organization.Id };
        var result = await door().AcceptAsync(record, cancellationToken).ConfigureAwait(false);
        if (result.Recipients[0].Outcome is not RecipientOutcome.Accepted)
            throw new IOException($"the journal record {record.LogId} for message {logId} was not stored or queued: {result.Recipients[0].Outcome}");
    }

    /// <summary>"Email that fails to generate a journal record generates an error notification" to the report address (§14).</summary>
    private async Task ReportFailureAsync(OrganizationConfig organization, JournalDecision.Journal journal, MailFlowMessage transaction,
        ReadOnlyMemory<byte> message, string reason, CancellationToken cancellationToken)
    {
        if (journal.ReportAddress is null)
            return;
        var now = time.GetUtcNow();
        var envelope = new OutboundEnvelope(organization.Id, journal.ReportAddress, null, transaction.ReceivedAt, null, null, []);
        await dsn.SendAsync(transaction.LogId, envelope,
            [new DsnRecipient(journal.To, null, DsnAction.Failed, "4.3.0", "journal record not generated: " + reason, null, now)],
            message, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<MimeMessage> ParseAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        using var stream = new MemoryStream(message.ToArray(), writable: false);
        return await MimeMessage.LoadAsync(stream, cancellationToken).ConfigureAwait(false);
    }

    private static byte[] Serialize(MimeMessage report)
    {
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        using var output = new MemoryStream();
        report.WriteTo(format, output);
        return output.ToArray();
    }
}
