using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Protocols.Smtp;
using MailServer.Server.Events;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Delivery;

/// <summary>
/// Issue 19: the daily aggregate reports. The sending path runs in process on a clock the test moves past midnight (as
/// the queue tests move it past the delay warning); the reports travel through our own queue to the aiosmtpd receiver,
/// where the test reads them: TLS-RPT JSON (RFC 8460 §4) about DANE sessions, and DMARC aggregate XML (RFC 7489 §7.2,
/// appendix C) about MX mail, the XML read by Python's xml.etree, a parser that is not ours.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class AggregateReportTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    /// <summary>The system clock moved forward by <see cref="Offset"/>.</summary>
    private sealed class ShiftedClock : TimeProvider
    {
        public TimeSpan Offset { get; set; }
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Offset;
    }

    private static async Task<IReadOnlyList<ReceivedMessage>> ReportsAsync(SmtpReceiver receiver, string to, int count)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            var reports = receiver.Messages().Where(m => m.RcptTos.Contains(to)).ToList();
            if (reports.Count >= count)
                return reports;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{reports.Count} of {count} report(s) for {to} arrived");
            await Task.Delay(100);
        }
    }

    private static byte[] Gunzip(MimePart part)
    {
        using var content = new MemoryStream();
        part.Content!.DecodeTo(content);
        content.Position = 0;
        using var gzip = new GZipStream(content, CompressionMode.Decompress);
        using var plain = new MemoryStream();
        gzip.CopyTo(plain);
        return plain.ToArray();
    }

    [Test]
    public async Task TLS_reports_count_each_policy_domain_s_sessions_and_go_to_its_rua_after_the_day_ends()
    {
        using var ca = new TestCa("Not a public CA");
        using var other = new TestCa("Another key");
        using var certificate = ca.Issue("mx.dane.test");
        var clock = new ShiftedClock();
        await using var harness = await SendingHarness.StartAsync(tempFailures: 0, queueTime: clock, receiverCertificate: certificate, queueLifetimeHours: 100);
        var port = harness.Receiver.Port;
        var spki = System.Security.Cryptography.SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo());
        var wrong = System.Security.Cryptography.SHA256.HashData(other.Root.PublicKey.ExportSubjectPublicKeyInfo());
        harness.Dns.AddMx("dane.test", 10, "mx.dane.test").AddA("mx.dane.test", "127.0.0.1").Authenticated("dane.test")
            .AddTlsa($"_{port}._tcp.mx.dane.test", 3, 1, 1, spki).Authenticated($"_{port}._tcp.mx.dane.test")
            .AddTxt("_smtp._tls.dane.test", "v=TLSRPTv1; rua=mailto:tlsrpt@reports.test");
        harness.Dns.AddMx("wrongkey.test", 10, "mx2.dane.test").AddA("mx2.dane.test", "127.0.0.1").Authenticated("wrongkey.test")
            .AddTlsa($"_{port}._tcp.mx2.dane.test", 3, 1, 1, wrong).Authenticated($"_{port}._tcp.mx2.dane.test")
            .AddTxt("_smtp._tls.wrongkey.test", "v=TLSRPTv1; rua=mailto:tlsrpt@reports.test");
        harness.Dns.AddMx("reports.test", 10, "mx.reports.test").AddA("mx.reports.test", "127.0.0.1");

        using (var client = await harness.SubmitClientAsync("alice@example.test"))
        {
            await client.SendAsync(SendingHarness.Message("alice@example.test", "friend@dane.test"));
            await client.SendAsync(SendingHarness.Message("alice@example.test", "friend@wrongkey.test"));
        }
        await harness.Receiver.WaitForAsync(1, Wait);
        // The wrong key is refused (a temporary failure, retried): wait for two refused sessions.
        var deadline = DateTime.UtcNow + Wait;
        while (harness.Store.Store.ListQueue().SelectMany(m => m.Envelope.Recipients).FirstOrDefault(r => r.Address == "friend@wrongkey.test") is not { Attempts: >= 2 })
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "friend@wrongkey.test was not tried twice");
            await Task.Delay(100);
        }
        // Nothing is reported before the day is over.
        Assert.That(await harness.Reports.SendDueAsync(CancellationToken.None), Is.Zero);

        clock.Offset = TimeSpan.FromDays(1);
        Assert.That(await harness.Reports.SendDueAsync(CancellationToken.None), Is.EqualTo(2), "one report per policy domain");
        var reports = await ReportsAsync(harness.Receiver, "tlsrpt@reports.test", 2);

        var byDomain = new Dictionary<string, JsonElement>();
        foreach (var report in reports)
        {
            using var stream = new MemoryStream(report.Content);
            var message = await MimeMessage.LoadAsync(stream);
            // RFC 8460 §5.3: multipart/report; report-type=tlsrpt, the JSON gzipped as application/tlsrpt+gzip.
            Assert.That(message.Body!.ContentType.MimeType, Is.EqualTo("multipart/report"));
            Assert.That(message.Body.ContentType.Parameters["report-type"], Is.EqualTo("tlsrpt"));
            Assert.That(message.Subject, Does.Match(@"^Report Domain: (dane|wrongkey)\.test Submitter: example\.test Report-ID: <.+>$"));
            Assert.That(message.Headers["TLS-Report-Submitter"], Is.EqualTo("example.test"));
            Assert.That(message.From.Mailboxes.Single().Address, Is.EqualTo("postmaster@example.test"));
            var attachment = message.Attachments.OfType<MimePart>().Single(p => p.ContentType.MimeType == "application/tlsrpt+gzip");
            Assert.That(attachment.FileName, Does.Match(@"^example\.test!(dane|wrongkey)\.test!\d+!\d+\.json\.gz$"));
            var json = JsonDocument.Parse(Gunzip(attachment)).RootElement.Clone();
            byDomain[message.Headers["TLS-Report-Domain"] ?? ""] = json;
        }

        var day = DateOnly.FromDateTime(DateTime.UtcNow).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var good = byDomain["dane.test"];
        Assert.That(good.GetProperty("organization-name").GetString(), Is.EqualTo("mx.example.test"));
        Assert.That(good.GetProperty("date-range").GetProperty("start-datetime").GetString(), Is.EqualTo(day + "T00:00:00Z"));
        Assert.That(good.GetProperty("date-range").GetProperty("end-datetime").GetString(), Is.EqualTo(day + "T23:59:59Z"));
        var goodPolicy = good.GetProperty("policies").EnumerateArray().Single();
        Assert.That(goodPolicy.GetProperty("policy").GetProperty("policy-type").GetString(), Is.EqualTo("tlsa"));
        Assert.That(goodPolicy.GetProperty("policy").GetProperty("policy-domain").GetString(), Is.EqualTo("dane.test"));
        Assert.That(goodPolicy.GetProperty("policy").GetProperty("policy-string")[0].GetString(), Is.EqualTo("3 1 1 " + Convert.ToHexString(spki)));
        Assert.That(goodPolicy.GetProperty("summary").GetProperty("total-successful-session-count").GetInt64(), Is.EqualTo(1));
        Assert.That(goodPolicy.GetProperty("summary").GetProperty("total-failure-session-count").GetInt64(), Is.Zero);

        var bad = byDomain["wrongkey.test"].GetProperty("policies").EnumerateArray().Single();
        var failures = bad.GetProperty("summary").GetProperty("total-failure-session-count").GetInt64();
        Assert.That(failures, Is.GreaterThanOrEqualTo(2));
        Assert.That(bad.GetProperty("summary").GetProperty("total-successful-session-count").GetInt64(), Is.Zero);
        var detail = bad.GetProperty("failure-details").EnumerateArray().Single();
        Assert.That(detail.GetProperty("result-type").GetString(), Is.EqualTo("validation-failure"));
        Assert.That(detail.GetProperty("receiving-mx-hostname").GetString(), Is.EqualTo("mx2.dane.test"));
        Assert.That(detail.GetProperty("receiving-ip").GetString(), Is.EqualTo("127.0.0.1"));
        Assert.That(detail.GetProperty("failed-session-count").GetInt64(), Is.EqualTo(failures));

        // The counts were taken out: the next run has nothing to send.
        Assert.That(await harness.Reports.SendDueAsync(CancellationToken.None), Is.Zero);
    }

    [Test]
    public async Task A_TLS_report_for_an_https_destination_is_POSTed_gzipped_over_verified_TLS_and_one_behind_an_untrusted_certificate_is_not()
    {
        using var ca = new TestCa("Collector's CA");
        using var untrusted = new TestCa("Not trusted by the sender");
        using var certificate = ca.Issue("mx.dane.test");
        var clock = new ShiftedClock();
        await using var harness = await SendingHarness.StartAsync(tempFailures: 0, queueTime: clock, receiverCertificate: certificate, queueLifetimeHours: 100);
        // Two collectors on loopback under the name localhost (the report client resolves with the system's resolver):
        // one with a certificate from the CA the sender trusts, one from another CA.
        await using var collector = new PolicyHttpsServer(ca.Issue("localhost"));
        await using var impostor = new PolicyHttpsServer(untrusted.Issue("localhost"));
        var spki = System.Security.Cryptography.SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo());
        foreach (var (domain, host, rua) in new[] { ("dane.test", "mx.dane.test", collector.Port), ("other.test", "mx.other.test", impostor.Port) })
            harness.Dns.AddMx(domain, 10, host).AddA(host, "127.0.0.1").Authenticated(domain)
                .AddTlsa($"_{harness.Receiver.Port}._tcp.{host}", 3, 1, 1, spki).Authenticated($"_{harness.Receiver.Port}._tcp.{host}")
                .AddTxt("_smtp._tls." + domain, $"v=TLSRPTv1; rua=https://localhost:{rua}/v1/tlsrpt");

        using (var client = await harness.SubmitClientAsync("alice@example.test"))
        {
            await client.SendAsync(SendingHarness.Message("alice@example.test", "friend@dane.test"));
            await client.SendAsync(SendingHarness.Message("alice@example.test", "friend@other.test"));
        }
        await harness.Receiver.WaitForAsync(2, Wait);
        clock.Offset = TimeSpan.FromDays(1);

        // The sender as the server composes it, its HTTP client from ReportHttp trusting the collector's CA instead of the
        // system's (the seam the server does not use).
        using var http = MailServer.Server.Reports.ReportHttp.Create([ca.Root]);
        var flow = harness.Flow;
        var sender = new MailServer.Server.Reports.AggregateReportSender(flow.Get<MailServer.Server.Reports.TlsReportLedger>(),
            flow.Get<MailServer.Server.Reports.DmarcReportLedger>(), flow.Get<MailServer.Rules.Dns.IDnsResolver>(),
            flow.Get<Func<MailServer.Server.MailFlow.IMailFlowDoor>>(), flow, flow.Get<Func<MailServer.Server.Configuration.ServerConfig>>(), http, clock,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.That(await sender.SendDueAsync(CancellationToken.None), Is.EqualTo(1), "dane.test's report is POSTed; other.test's collector is not trusted");
        Assert.That(impostor.Posts, Is.Empty);

        // RFC 8460 §5.4: a POST of the gzipped JSON as application/tlsrpt+gzip.
        var post = collector.Posts.Single();
        Assert.That((post.Host, post.Path, post.ContentType), Is.EqualTo(("localhost", "/v1/tlsrpt", "application/tlsrpt+gzip")));
        using var gzip = new GZipStream(new MemoryStream(post.Body), CompressionMode.Decompress);
        using var json = await JsonDocument.ParseAsync(gzip);
        var policy = json.RootElement.GetProperty("policies").EnumerateArray().Single();
        Assert.That(policy.GetProperty("policy").GetProperty("policy-type").GetString(), Is.EqualTo("tlsa"));
        Assert.That(policy.GetProperty("policy").GetProperty("policy-domain").GetString(), Is.EqualTo("dane.test"));
        Assert.That(policy.GetProperty("summary").GetProperty("total-successful-session-count").GetInt64(), Is.EqualTo(1));
        Assert.That(json.RootElement.GetProperty("organization-name").GetString(), Is.EqualTo("mx.example.test"));
        // Nothing went by mail: an https: destination is not a mailbox.
        Assert.That(harness.Receiver.Messages().SelectMany(m => m.RcptTos), Is.EquivalentTo(new[] { "friend@dane.test", "friend@other.test" }));
    }

    [Test]
    public async Task An_MTA_STS_policy_that_cannot_be_fetched_is_reported_as_sts_policy_fetch_error_and_the_mail_still_goes()
    {
        var clock = new ShiftedClock();
        await using var harness = await SendingHarness.StartAsync(tempFailures: 0, queueTime: clock);
        // nopolicy.test announces a policy (its _mta-sts record) whose host mta-sts.nopolicy.test does not resolve:
        // RFC 8461 §5.1, no policy in force, delivery as usual; RFC 8460 §4.3.2.1, a failed session of the policy fetch.
        harness.Dns.AddMx("nopolicy.test", 10, "mx.nopolicy.test").AddA("mx.nopolicy.test", "127.0.0.1")
            .AddTxt("_mta-sts.nopolicy.test", "v=STSv1; id=20261207T000000")
            .AddTxt("_smtp._tls.nopolicy.test", "v=TLSRPTv1; rua=mailto:tlsrpt@reports.test");
        harness.Dns.AddMx("reports.test", 10, "mx.reports.test").AddA("mx.reports.test", "127.0.0.1");

        using (var client = await harness.SubmitClientAsync("alice@example.test"))
        {
            await client.SendAsync(SendingHarness.Message("alice@example.test", "one@nopolicy.test"));
            await client.SendAsync(SendingHarness.Message("alice@example.test", "two@nopolicy.test"));
        }
        await harness.Receiver.WaitForAsync(2, Wait);
        Assert.That(harness.Receiver.Messages().SelectMany(m => m.RcptTos), Is.SupersetOf(new[] { "one@nopolicy.test", "two@nopolicy.test" }));

        clock.Offset = TimeSpan.FromDays(1);
        Assert.That(await harness.Reports.SendDueAsync(CancellationToken.None), Is.EqualTo(1));
        var report = (await ReportsAsync(harness.Receiver, "tlsrpt@reports.test", 1)).Single();
        using var stream = new MemoryStream(report.Content);
        var message = await MimeMessage.LoadAsync(stream);
        Assert.That(message.Headers["TLS-Report-Domain"], Is.EqualTo("nopolicy.test"));
        var attachment = message.Attachments.OfType<MimePart>().Single(p => p.ContentType.MimeType == "application/tlsrpt+gzip");
        using var json = JsonDocument.Parse(Gunzip(attachment));
        var policy = json.RootElement.GetProperty("policies").EnumerateArray().Single();
        Assert.That(policy.GetProperty("policy").GetProperty("policy-type").GetString(), Is.EqualTo("sts"));
        Assert.That(policy.GetProperty("policy").GetProperty("policy-domain").GetString(), Is.EqualTo("nopolicy.test"));
        Assert.That(policy.GetProperty("policy").GetProperty("policy-string").GetArrayLength(), Is.Zero, "no policy text was had");
        Assert.That(policy.GetProperty("summary").GetProperty("total-successful-session-count").GetInt64(), Is.Zero);
        // Each delivery attempt looks the policy up again (nothing is cached) and counts one failed session.
        var failures = policy.GetProperty("summary").GetProperty("total-failure-session-count").GetInt64();
        Assert.That(failures, Is.GreaterThanOrEqualTo(1));
        var detail = policy.GetProperty("failure-details").EnumerateArray().Single();
        Assert.That(detail.GetProperty("result-type").GetString(), Is.EqualTo("sts-policy-fetch-error"));
        Assert.That(detail.GetProperty("failed-session-count").GetInt64(), Is.EqualTo(failures));
        Assert.That(detail.TryGetProperty("receiving-mx-hostname", out _), Is.False, "no MX host was tried under the policy");
        Assert.That(detail.GetProperty("failure-reason-code").GetString(), Does.Contain("mta-sts.nopolicy.test"));
    }

    [Test]
    public async Task DMARC_aggregate_reports_sum_a_day_of_mixed_results_per_sending_domain_match_the_event_log_and_respect_external_destination_verification()
    {
        var clock = new ShiftedClock();
        await using var harness = await SendingHarness.StartAsync(tempFailures: 0, queueTime: clock,
            organizationSettings: "\"Dmarc\": { \"Enforce\": true, \"AggregateReports\": true }, \"EmailEventLog\": { \"Enabled\": true }");
        var dns = harness.Dns;
        dns.AddTxt("sender.test", "v=spf1 ip4:127.0.0.1 -all").AddTxt("_dmarc.sender.test", "v=DMARC1; p=reject; rua=mailto:dmarc@sender.test");
        dns.AddTxt("spoof.test", "v=spf1 -all").AddTxt("_dmarc.spoof.test", "v=DMARC1; p=quarantine; adkim=s; rua=mailto:dmarc@spoof.test");
        // Fails and asks for reject: refused in the session (550), still counted, with disposition reject.
        dns.AddTxt("forged.test", "v=spf1 -all").AddTxt("_dmarc.forged.test", "v=DMARC1; p=reject; rua=mailto:dmarc@forged.test");
        // Reports to the policy domain's own organizational domain need no authorization; a destination outside it must
        // authorize it (RFC 7489 §7.1): authorized.test is, outsider.test is not.
        dns.AddTxt("authorized.test", "v=spf1 ip4:127.0.0.1 -all").AddTxt("_dmarc.authorized.test", "v=DMARC1; p=none; rua=mailto:agg@thirdparty.test");
        dns.AddTxt("authorized.test._report._dmarc.thirdparty.test", "v=DMARC1");
        dns.AddTxt("outsider.test", "v=spf1 ip4:127.0.0.1 -all").AddTxt("_dmarc.outsider.test", "v=DMARC1; p=none; rua=mailto:agg@thirdparty.test");
        // No DMARC record: nobody to report to, not counted.
        dns.AddTxt("plain.test", "v=spf1 ip4:127.0.0.1 -all");
        dns.AddMx("sender.test", 10, "mx.reports.test").AddMx("spoof.test", 10, "mx.reports.test").AddMx("thirdparty.test", 10, "mx.reports.test")
            .AddMx("forged.test", 10, "mx.reports.test").AddA("mx.reports.test", "127.0.0.1");

        var sent = new (string From, int Count)[]
        {
            ("news@sender.test", 3), ("ceo@spoof.test", 2), ("a@authorized.test", 1), ("b@outsider.test", 1), ("c@plain.test", 1), ("boss@forged.test", 2),
        };
        var refused = 0;
        using (var mx = new SmtpClient { Timeout = 30_000 })
        {
            await mx.ConnectAsync("127.0.0.1", harness.PortOf(SmtpListenerKind.Mx), SecureSocketOptions.None);
            foreach (var (from, count) in sent)
                for (var i = 0; i < count; i++)
                {
                    try
                    {
                        await mx.SendAsync(SendingHarness.Message(from, "bob@example.test"));
                    }
                    catch (SmtpCommandException e) when (from.EndsWith("@forged.test", StringComparison.Ordinal))
                    {
                        Assert.That((int)e.StatusCode, Is.EqualTo(550), e.Message);
                        refused++;
                    }
                }
            await mx.DisconnectAsync(true);
        }
        Assert.That(refused, Is.EqualTo(2), "forged.test's p=reject is enforced");
        await harness.WaitForInboxAsync("bob@example.test", 6, Wait); // the spoofed two went to Junk E-mail

        clock.Offset = TimeSpan.FromDays(1);
        Assert.That(await harness.Reports.SendDueAsync(CancellationToken.None), Is.EqualTo(4), "sender.test, spoof.test, forged.test, authorized.test");
        var ours = (await ReportsAsync(harness.Receiver, "dmarc@sender.test", 1)).Concat(await ReportsAsync(harness.Receiver, "dmarc@spoof.test", 1))
            .Concat(await ReportsAsync(harness.Receiver, "dmarc@forged.test", 1));
        var theirs = await ReportsAsync(harness.Receiver, "agg@thirdparty.test", 1);
        await Task.Delay(500);
        Assert.That(harness.Receiver.Messages().Count(m => m.RcptTos.Contains("agg@thirdparty.test")), Is.EqualTo(1), "outsider.test's report is not sent");

        var folder = Path.Combine(Path.GetTempPath(), "dmarc-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        var totals = new Dictionary<string, string>();
        var parsed = new Dictionary<string, JsonElement>();
        try
        {
            foreach (var report in ours.Concat(theirs))
            {
                using var stream = new MemoryStream(report.Content);
                var message = await MimeMessage.LoadAsync(stream);
                Assert.That(message.Subject, Does.Match(@"^Report Domain: [a-z]+\.test Submitter: example\.test Report-ID: <.+>$"));
                var attachment = message.Attachments.OfType<MimePart>().Single(p => p.ContentType.MimeType == "application/gzip");
                Assert.That(attachment.FileName, Does.Match(@"^example\.test![a-z]+\.test!\d+!\d+\.xml\.gz$"));
                var file = Path.Combine(folder, Guid.NewGuid().ToString("N") + ".xml");
                File.WriteAllBytes(file, Gunzip(attachment));
                var lines = RunPython(file).Split('\n');
                totals[lines[0].Split(' ')[0]] = lines[0];
                var summary = JsonDocument.Parse(lines[1]).RootElement.Clone();
                parsed[summary.GetProperty("domain").GetString()!] = summary;
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
        // domain, p, total count, then each row's source_ip/disposition/dkim/spf/header_from/spf result.
        Assert.That(totals["sender.test"], Is.EqualTo("sender.test reject 3 127.0.0.1/none/fail/pass/sender.test/pass*3"));
        Assert.That(totals["spoof.test"], Is.EqualTo("spoof.test quarantine 2 127.0.0.1/quarantine/fail/fail/spoof.test/fail*2"));
        Assert.That(totals["forged.test"], Is.EqualTo("forged.test reject 2 127.0.0.1/reject/fail/fail/forged.test/fail*2"));
        Assert.That(totals["authorized.test"], Is.EqualTo("authorized.test none 1 127.0.0.1/none/fail/pass/authorized.test/pass*1"));

        // The same day in the event log, read back as an admin would (mailserver events): every message a report counts
        // is there, either received (ORGANIZATION_EMAIL_RECEIVED with its DMARC verdict) or refused by the policy
        // (DMARC_POLICY_APPLIED REJECT); quarantines are DMARC_POLICY_APPLIED QUARANTINE.
        var log = (EmailEventLog)harness.Flow.Get<IEmailEventLog>();
        var events = EmailEventQuery.Run(log.Root, SendingHarness.OrgId, new EmailEventFilter(null, DateTimeOffset.UtcNow.AddDays(-1), null, null, null),
                EventLogCipher.KeysFrom(harness.Config))
            .Select(line => JsonNode.Parse(line)!["event"]!)
            .Select(e => (Name: (string)e["eventName"]!, Domain: ((string?)e["from"])?.Split('@')[1], Dmarc: (string?)e["dmarcVerdict"], Policy: (string?)e["policy"]))
            .ToList();
        var seen = string.Join(", ", events.Select(e => $"{e.Name} {e.Domain} {e.Dmarc ?? e.Policy}"));
        foreach (var (domain, report) in parsed)
        {
            var received = events.Where(e => e.Name == "ORGANIZATION_EMAIL_RECEIVED" && e.Domain == domain).ToList();
            var applied = events.Where(e => e.Name == "DMARC_POLICY_APPLIED" && e.Domain == domain).ToList();
            var rejected = applied.Count(e => e.Policy == "REJECT");
            Assert.That(report.GetProperty("total").GetInt32(), Is.EqualTo(received.Count + rejected), $"{domain}: messages counted; the log: {seen}");
            Assert.That(report.GetProperty("reject").GetInt32(), Is.EqualTo(rejected), $"{domain}: rejected");
            Assert.That(report.GetProperty("quarantine").GetInt32(), Is.EqualTo(applied.Count(e => e.Policy == "QUARANTINE")), $"{domain}: quarantined");
            Assert.That(report.GetProperty("pass").GetInt32(), Is.EqualTo(received.Count(e => e.Dmarc == "PASS")), $"{domain}: DMARC pass");
        }
        // outsider.test was counted in the log but not reported; plain.test publishes no DMARC and is in no report.
        Assert.That(events.Count(e => e.Name == "ORGANIZATION_EMAIL_RECEIVED" && e.Domain is "outsider.test" or "plain.test"), Is.EqualTo(2));
        Assert.That(parsed.Keys, Is.EquivalentTo(new[] { "sender.test", "spoof.test", "forged.test", "authorized.test" }));
    }

    /// <summary>Reads a report with Python's xml.etree and prints what the test compares.</summary>
    private static string RunPython(string file)
    {
        const string Script = """
            import json, sys, xml.etree.ElementTree as ET
            root = ET.parse(sys.argv[1]).getroot()
            assert root.tag == 'feedback'
            meta = root.find('report_metadata')
            for name in ('org_name', 'email', 'report_id'):
                assert meta.find(name).text
            assert int(meta.find('date_range/end').text) - int(meta.find('date_range/begin').text) == 86399
            policy = root.find('policy_published')
            rows = []
            total = 0
            for record in root.findall('record'):
                row = record.find('row')
                count = int(row.find('count').text)
                total += count
                ev = row.find('policy_evaluated')
                spf = record.find('auth_results/spf')
                rows.append('%s/%s/%s/%s/%s/%s*%d' % (row.find('source_ip').text, ev.find('disposition').text, ev.find('dkim').text,
                    ev.find('spf').text, record.find('identifiers/header_from').text, spf.find('result').text, count))
            print(policy.find('domain').text, policy.find('p').text, total, ' '.join(sorted(rows)))
            # The second line: the sums an event log can be held against (dispositions, DMARC pass: an aligned pass of either).
            sums = {'domain': policy.find('domain').text, 'total': total, 'none': 0, 'quarantine': 0, 'reject': 0, 'pass': 0}
            for record in root.findall('record'):
                row = record.find('row')
                count = int(row.find('count').text)
                ev = row.find('policy_evaluated')
                sums[ev.find('disposition').text] += count
                if 'pass' in (ev.find('dkim').text, ev.find('spf').text):
                    sums['pass'] += count
            print(json.dumps(sums))
            """;
        var info = new ProcessStartInfo(File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(Script);
        info.ArgumentList.Add(file);
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(30_000))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("python3 did not finish");
        }
        Assert.That(process.ExitCode, Is.Zero, error.Result);
        return output.Result.Trim();
    }
}
