using System.Globalization;
using System.IO.Compression;
using System.Net.Http.Headers;
using MailServer.Rules.Directory;
using MailServer.Rules.Dns;
using MailServer.Rules.SenderAuthentication;
using MailServer.Rules.TransportSecurity;
using MailServer.Server.Configuration;
using MailServer.Server.Logging;
using MailServer.Server.MailFlow;
using Microsoft.Extensions.Logging;
using MimeKit;
using MailServer.Rules.Addressing;

namespace MailServer.Server.Reports;

/// <summary>
/// Sends the aggregate reports of every finished UTC day: TLS-RPT (RFC 8460) to each recipient domain whose
/// <c>_smtp._tls</c> record asks for them, and DMARC aggregate reports (RFC 7489 §7.2) to each sending domain's
/// <c>rua</c> for the organizations that opted in. A <c>mailto:</c> report is a message of its own from the postmaster,
/// DKIM-signed and delivered through our own queue (<see cref="MessageOrigin.AggregateReport"/>); an <c>https:</c> TLS
/// report is POSTed (RFC 8460 §5.4). A day is reported once: what cannot be sent is logged, not kept (reports are a
/// courtesy, RFC 8460 §5.1 and RFC 7489 §7.2 ask no retries beyond the transport's own).
/// </summary>
public sealed class AggregateReportSender(
    TlsReportLedger tls,
    DmarcReportLedger dmarc,
    IDnsResolver dns,
    Func<IMailFlowDoor> door,
    IDirectorySource directory,
    Func<ServerConfig> config,
    HttpClient http,
    TimeProvider time,
    ILogger logger)
{
    /// <summary>Sends the reports of the days before today (UTC, by the server's clock) and forgets their counts.</summary>
    /// <returns>How many reports were handed on (queued, delivered or POSTed).</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public async Task<int> SendDueAsync(CancellationToken cancellationToken)
    {
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        var sent = 0;
        foreach (var (day, domain, policies) in tls.TakeBefore(today))
            sent += await SendTlsReportAsync(day, domain, policies, cancellationToken).ConfigureAwait(false);
        foreach (var group in dmarc.TakeBefore(today).GroupBy(d => (d.OrganizationId, d.Day)))
        {
            // Rows are kept by From domain; a report is per policy domain (where the record was found, RFC 7489 §6.6.3),
            // so From domains under one organizational domain's record share one report.
            var byPolicy = new Dictionary<string, (PublishedDmarcPolicy Policy, List<DmarcReportRow> Rows)>(StringComparer.OrdinalIgnoreCase);
            foreach (var entry in group)
            {
                var record = await DmarcReporting.DiscoverAsync(dns, entry.FromDomain, cancellationToken).ConfigureAwait(false);
                if (record is null)
                {
                    ReportLog.NotSent(logger, "DMARC", entry.FromDomain, entry.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), "no DMARC record with rua");
                    continue;
                }
                if (!byPolicy.TryGetValue(record.Domain, out var collected))
                    byPolicy[record.Domain] = collected = (record, []);
                collected.Rows.AddRange(entry.Rows);
            }
            foreach (var (policy, rows) in byPolicy.Values)
                sent += await SendDmarcReportAsync(group.Key.OrganizationId, group.Key.Day, policy, rows, cancellationToken).ConfigureAwait(false);
        }
        return sent;
    }

    private async Task<int> SendTlsReportAsync(DateOnly day, string domain, IReadOnlyList<TlsPolicyCounts> policies, CancellationToken cancellationToken)
    {
        var dayText = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        // RFC 8460 §3: the policy domain's _smtp._tls record says where reports go.
        var txt = await dns.LookupTxtAsync("_smtp._tls." + domain, cancellationToken).ConfigureAwait(false);
        var destinations = TlsRptRecord.ReportUris(txt.Records);
        if (destinations.Count == 0)
        {
            ReportLog.NotSent(logger, "TLS", domain, dayText, txt.IsTemporaryFailure ? "the _smtp._tls lookup failed" : "no TLS-RPT record");
            return 0;
        }
        var sender = Sender();
        if (sender is null)
        {
            ReportLog.NotSent(logger, "TLS", domain, dayText, "no organization has a postmaster to send it from");
            return 0;
        }
        var (postmaster, organizationId) = sender.Value;
        var submitter = AddressSyntax.DomainOf(postmaster);
        var start = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        var end = start.AddDays(1).AddSeconds(-1);
        var reportId = $"{day:yyyyMMdd}.{Guid.NewGuid():N}@{submitter}";
        var json = TlsReportDocument.Build(config().ServerName, postmaster, reportId, start, end, policies);
        var gzip = Gzip(json);
        // RFC 8460 §5.3: sender!policy-domain!begin!end.json.gz
        var fileName = $"{submitter}!{domain}!{start.ToUnixTimeSeconds()}!{end.ToUnixTimeSeconds()}.json.gz";
        var count = 0;
        foreach (var destination in destinations)
        {
            try
            {
                if (destination.Scheme == Uri.UriSchemeHttps)
                {
                    await PostAsync(destination, gzip, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    var to = Uri.UnescapeDataString(destination.UserInfo) + "@" + destination.Host;
                    var message = TlsReportMessage(postmaster, to, domain, submitter, reportId, gzip, fileName);
                    await SubmitAsync(message, postmaster, to, organizationId, cancellationToken).ConfigureAwait(false);
                }
                ReportLog.Sent(logger, "TLS", reportId, domain, dayText, destination.ToString());
                count++;
            }
            catch (Exception e) when ((e is HttpRequestException or IOException or FormatException or ParseException or TaskCanceledException)
                                       && !cancellationToken.IsCancellationRequested)
            {
                ReportLog.SendFailed(logger, "TLS", reportId, domain, destination.ToString(), e.Message);
            }
        }
        return count;
    }

    private async Task<int> SendDmarcReportAsync(string organizationId, DateOnly day, PublishedDmarcPolicy record, IReadOnlyList<DmarcReportRow> rows,
        CancellationToken cancellationToken)
    {
        var dayText = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var snapshot = directory.Current;
        var organization = snapshot.Organizations.FirstOrDefault(o => o.Id == organizationId);
        if (organization is null || snapshot.PostmasterAddress(organization) is not { } postmaster)
        {
            ReportLog.NotSent(logger, "DMARC", record.Domain, dayText, "the organization is gone or has no postmaster");
            return 0;
        }
        var submitter = organization.DefaultDomain;
        var start = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        var end = start.AddDays(1).AddSeconds(-1);
        var reportId = $"{day:yyyyMMdd}.{Guid.NewGuid():N}";
        var xml = DmarcAggregateDocument.Build(submitter, postmaster, reportId, start, end, record, rows);
        var gzip = Gzip(xml);
        // RFC 7489 §7.2.1.1: receiver "!" policy-domain "!" begin "!" end ".xml.gz"
        var fileName = $"{submitter}!{record.Domain}!{start.ToUnixTimeSeconds()}!{end.ToUnixTimeSeconds()}.xml.gz";
        var count = 0;
        foreach (var to in record.ReportAddresses)
        {
            // RFC 7489 §7.1: a destination outside the policy domain's organizational domain must agree to take its reports.
            if (!await DmarcReporting.AcceptsReportsForAsync(dns, record.Domain, to, cancellationToken).ConfigureAwait(false))
            {
                ReportLog.NotSent(logger, "DMARC", record.Domain, dayText, $"{to} did not authorize reports for {record.Domain} (RFC 7489 §7.1)");
                continue;
            }
            try
            {
                var message = DmarcReportMessage(postmaster, to, record.Domain, submitter, reportId, gzip, fileName);
                await SubmitAsync(message, postmaster, to, organization.Id, cancellationToken).ConfigureAwait(false);
                ReportLog.Sent(logger, "DMARC", reportId, record.Domain, dayText, "mailto:" + to);
                count++;
            }
            catch (Exception e) when (e is IOException or FormatException or ParseException)
            {
                ReportLog.SendFailed(logger, "DMARC", reportId, record.Domain, "mailto:" + to, e.Message);
            }
        }
        return count;
    }

    /// <summary>The postmaster of the organization that answers for the server (the bare postmaster's), and its id.</summary>
    private (string Address, string OrganizationId)? Sender()
    {
        var snapshot = directory.Current;
        return snapshot.DefaultOrganization is { } organization && snapshot.PostmasterAddress(organization) is { } address
            ? (address, organization.Id)
            : null;
    }

    private async Task PostAsync(Uri destination, byte[] gzip, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(gzip);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/tlsrpt+gzip");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        using var response = await http.PostAsync(destination, content, timeout.Token).ConfigureAwait(false);
        // RFC 8460 §5.4: any 2xx is success.
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
    }

    private async Task SubmitAsync(MimeMessage message, string postmaster, string to, string organizationId, CancellationToken cancellationToken)
    {
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        using var output = new MemoryStream();
        await message.WriteToAsync(format, output, cancellationToken).ConfigureAwait(false);
        var resolution = directory.Current.Resolve(to) as RecipientResolution.Local ?? (RecipientResolution)new RecipientResolution.NotLocal();
        var report = new MailFlowMessage(MessageOrigin.AggregateReport, postmaster, [new FlowRecipient(to, resolution, MailServer.Rules.Sending.DsnNotify.Never)],
            output.ToArray(), time.GetUtcNow())
        {
            OrganizationId = organizationId,
        };
        var result = await door().AcceptAsync(report, cancellationToken).ConfigureAwait(false);
        if (result.Recipients[0].Outcome is not RecipientOutcome.Accepted)
            throw new IOException($"the report was not stored or queued: {result.Recipients[0].Outcome}");
    }

    /// <summary>RFC 8460 §5.3: multipart/report; report-type="tlsrpt", a human-readable part, the gzipped JSON.</summary>
    private MimeMessage TlsReportMessage(string from, string to, string domain, string submitter, string reportId, byte[] gzip, string fileName)
    {
        var message = Envelope(from, to, $"Report Domain: {domain} Submitter: {submitter} Report-ID: <{reportId}>");
        message.Headers.Add("TLS-Report-Domain", domain);
        message.Headers.Add("TLS-Report-Submitter", submitter);
        var report = new MultipartReport("tlsrpt")
        {
            new TextPart("plain") { Text = $"This is an aggregate TLS report (RFC 8460) from {submitter} about the SMTP sessions it made to the mail hosts of {domain}.\r\n" },
            Attachment("application", "tlsrpt+gzip", gzip, fileName),
        };
        message.Body = report;
        return message;
    }

    /// <summary>RFC 7489 §7.2.1.1: a short text and the gzipped XML report.</summary>
    private MimeMessage DmarcReportMessage(string from, string to, string domain, string submitter, string reportId, byte[] gzip, string fileName)
    {
        var message = Envelope(from, to, $"Report Domain: {domain} Submitter: {submitter} Report-ID: <{reportId}>");
        message.Body = new Multipart("mixed")
        {
            new TextPart("plain") { Text = $"This is a DMARC aggregate report (RFC 7489) from {submitter} about mail it received from {domain}.\r\n" },
            Attachment("application", "gzip", gzip, fileName),
        };
        return message;
    }

    private MimeMessage Envelope(string from, string to, string subject)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(config().ServerName, from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Date = time.GetUtcNow();
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(AddressSyntax.DomainOf(from));
        return message;
    }

    private static MimePart Attachment(string mediaType, string subtype, byte[] content, string fileName) => new(mediaType, subtype)
    {
        Content = new MimeContent(new MemoryStream(content, writable: false)),
        ContentDisposition = new ContentDisposition(ContentDisposition.Attachment),
        ContentTransferEncoding = ContentEncoding.Base64,
        FileName = fileName,
    };

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
            gzip.Write(data);
        return output.ToArray();
    }
}
