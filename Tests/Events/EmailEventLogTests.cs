using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MailServer.Protocols.Smtp;
using MailServer.Rules.Directory;
using MailServer.Server.Configuration;
using MailServer.Server.Events;
using MailServer.Server.MailFlow;
using MailServer.Server.Metrics;
using MailServer.Tests.Configuration;
using MailServer.Tests.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Events;

/// <summary>The email event log (§18): record shape, one file per organization and day, live on/off, retention, query.</summary>
[TestFixture]
public sealed class EmailEventLogTests
{
    private static ServerConfig Config(TempFolder temp, Action<JsonObject>? edit = null)
    {
        var root = ConfigFixtures.Valid();
        edit?.Invoke(root);
        return ConfigFixtures.LoadOk(root, temp.File("appsettings.json"));
    }

    /// <summary>The day file's events, opened with the organization's event log key.</summary>
    private static JsonObject[] Lines(ServerConfig config, string path) =>
        EmailEventQuery.ReadFile(path, ConfigFixtures.OrgId, EventLogCipher.KeysFrom(config)(ConfigFixtures.OrgId)!)
            .Select(l => JsonNode.Parse(l)!.AsObject()).ToArray();

    private static MailFlowMessage Transaction(MailDirectory directory, DateTimeOffset at, byte[] content, params string[] recipients) =>
        new(MessageOrigin.Mx, "sender@elsewhere.test",
            recipients.Select(r => new FlowRecipient(r, (RecipientResolution.Local)directory.Resolve(r))).ToList(), content, at)
        {
            Client = new SmtpClientInfo("s1", new IPEndPoint(IPAddress.Loopback, 40000), "client.test", Secure: false),
        };

    [Test]
    public void An_inbound_message_to_a_group_yields_one_received_event_and_one_delivered_event_per_mailbox_with_one_trace_id()
    {
        using var temp = new TempFolder();
        var config = Config(temp);
        var clock = new ManualClock();
        using var log = new EmailEventLog(() => config, time: clock);
        var directory = config.ToDirectory();
        var alice = directory.FindUser("alice@example.test")!;
        var bob = directory.FindUser("bob@example.test")!;
        var message = "From: Carol <Carol@Elsewhere.test>\r\nSubject: =?utf-8?q?Caf=C3=A9?= plans\r\nMessage-ID: <m1@elsewhere.test>\r\n\r\nbody\r\n"u8.ToArray();

        var trace = log.InboundDelivered(Transaction(directory, clock.GetUtcNow(), message, "team@example.test"), null,
            [(alice, "INBOX")], [bob]);

        var file = Path.Combine(temp.Path, "data", "events", ConfigFixtures.OrgId, "2026-01-01.jsonl");
        var lines = Lines(config, file);
        var raw = File.ReadAllText(file);
        Assert.That(raw, Does.Not.Contain("plans").And.Not.Contain("carol").And.Not.Contain("ORGANIZATION_EMAIL_RECEIVED"),
            "events name subjects and addresses: sealed at rest like every message-derived datum (docs/decisions.md, \"Storage and encryption\")");
        Assert.That(File.ReadAllLines(file), Has.Length.EqualTo(3));
        Assert.That(lines.Select(l => (string)l["event"]!["eventName"]!), Is.EqualTo(new[]
            { "ORGANIZATION_EMAIL_RECEIVED", "MAILBOX_EMAIL_DELIVERED", "INCOMING_EMAIL_BOUNCED" }));
        Assert.That(lines.Select(l => (string)l["traceId"]!), Is.All.EqualTo(trace.ToString()));
        Assert.That(lines.Select(l => (string)l["organizationId"]!), Is.All.EqualTo(ConfigFixtures.OrgId));
        Assert.That((string)lines[0]["timestamp"]!, Is.EqualTo("2026-01-01T00:00:00.000Z"));

        var received = lines[0]["event"]!.AsObject();
        Assert.That(received.Select(p => p.Key), Is.EqualTo(new[]
        {
            "eventName", "recipients", "from", "subject", "messageId", "spamVerdict", "dkimVerdict", "dmarcVerdict",
            "spfVerdict", "messageTimestamp",
        }), "sender and dmarcPolicy are left out: not sent on behalf, DMARC did not fail");
        Assert.Multiple(() =>
        {
            Assert.That(received["recipients"]!.AsArray().Select(r => (string)r!), Is.EqualTo(new[] { "team@example.test" }), "the intended recipients");
            Assert.That((string)received["from"]!, Is.EqualTo("carol@elsewhere.test"));
            Assert.That((string)received["subject"]!, Is.EqualTo("Café plans"));
            Assert.That((string)received["messageId"]!, Is.EqualTo("m1@elsewhere.test"));
            Assert.That((string)lines[1]["event"]!["recipient"]!, Is.EqualTo("alice@example.test"));
            Assert.That((string)lines[1]["event"]!["folder"]!, Is.EqualTo("INBOX"));
            var bounced = lines[2]["event"]!["bouncedRecipient"]!;
            Assert.That(((string)bounced["emailAddress"]!, (string)bounced["reason"]!, (string)bounced["status"]!),
                Is.EqualTo(("bob@example.test", "Mailbox full", "5.2.2")));
        });
    }

    [Test]
    public void Turning_the_log_off_stops_writing_at_once_but_metrics_still_count()
    {
        using var temp = new TempFolder();
        var on = Config(temp);
        var off = Config(temp, r => r.Org()["EmailEventLog"] = new JsonObject { ["Enabled"] = false });
        var current = on;
        using var metrics = new MailMetrics();
        long delivered = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (i, l) => { if (i.Meter == metrics.Meter) l.EnableMeasurementEvents(i); };
        listener.SetMeasurementEventCallback<long>((i, v, _, _) => { if (i.Name == "MailboxEmailDelivered") Interlocked.Add(ref delivered, v); });
        listener.Start();
        using var log = new EmailEventLog(() => current, metrics);

        log.Write(new MailboxEmailDelivered(ConfigFixtures.OrgId, Guid.NewGuid(), "alice@example.test", "INBOX"));
        current = off;
        log.Write(new MailboxEmailDelivered(ConfigFixtures.OrgId, Guid.NewGuid(), "alice@example.test", "INBOX"));

        var lines = Directory.EnumerateFiles(log.Root, "*.jsonl", SearchOption.AllDirectories).SelectMany(File.ReadAllLines).ToList();
        Assert.That(lines, Has.Count.EqualTo(1));
        Assert.That(Interlocked.Read(ref delivered), Is.EqualTo(2));
    }

    [Test]
    public void Files_older_than_RetentionDays_are_deleted_and_newer_ones_kept()
    {
        using var temp = new TempFolder();
        var config = Config(temp, r => r.Org()["EmailEventLog"] = new JsonObject { ["Enabled"] = true, ["RetentionDays"] = 3 });
        var clock = new ManualClock(); // 2026-01-01
        using var log = new EmailEventLog(() => config, time: clock);
        for (var day = 0; day < 5; day++)
        {
            log.Write(new JournalingInitiated(ConfigFixtures.OrgId, Guid.NewGuid(), "journal@archive.test"));
            clock.Advance(TimeSpan.FromDays(1));
        }
        clock.Advance(TimeSpan.FromDays(-1)); // now 2026-01-05: keep the 3rd, 4th and 5th

        Assert.That(log.DeleteExpired(), Is.EqualTo(2));
        var left = Directory.GetFiles(Path.Combine(log.Root, ConfigFixtures.OrgId)).Select(Path.GetFileName).Order();
        Assert.That(left, Is.EqualTo(new[] { "2026-01-03.jsonl", "2026-01-04.jsonl", "2026-01-05.jsonl" }));
    }

    [Test]
    public void A_query_by_subject_finds_every_event_of_the_matching_messages_within_the_time_range()
    {
        using var temp = new TempFolder();
        var config = Config(temp);
        var clock = new ManualClock();
        using var log = new EmailEventLog(() => config, time: clock);
        var directory = config.ToDirectory();
        var alice = directory.FindUser("alice@example.test")!;
        Guid Deliver(string subject)
        {
            var bytes = System.Text.Encoding.ASCII.GetBytes($"From: x@elsewhere.test\r\nSubject: {subject}\r\n\r\nhi\r\n");
            var trace = log.InboundDelivered(Transaction(directory, clock.GetUtcNow(), bytes, "alice@example.test"), null, [(alice, "INBOX")], []);
            clock.Advance(TimeSpan.FromHours(12));
            return trace;
        }
        var old = Deliver("Invoice 1");
        var recent = Deliver("Invoice 2");
        Deliver("Lunch");

        var found = EmailEventQuery.Run(log.Root, null, new EmailEventFilter("MAILBOX_EMAIL_DELIVERED",
            new DateTimeOffset(2026, 1, 1, 6, 0, 0, TimeSpan.Zero), null, new Regex("^Invoice"), null), EventLogCipher.KeysFrom(config));
        Assert.That(found.Select(l => (string)JsonNode.Parse(l)!["traceId"]!), Is.EqualTo(new[] { recent.ToString() }),
            $"the first invoice ({old}) is before --since; lunch does not match");
    }

    [Test]
    public void A_line_sealed_for_one_organization_does_not_open_with_another_organizations_key()
    {
        var master = new byte[32];
        var key = EventLogCipher.KeyFor(master, "m-1");
        var line = System.Text.Encoding.ASCII.GetString(EventLogCipher.Seal(key, "m-1", "{\"a\":1}"u8));
        Assert.That(EventLogCipher.Open(key, "m-1", line), Is.EqualTo("{\"a\":1}"));
        Assert.That(EventLogCipher.Open(EventLogCipher.KeyFor(master, "m-2"), "m-2", line), Is.Null);
        Assert.That(EventLogCipher.Open(key, "m-2", line), Is.Null, "the organization id is bound as associated data");
        Assert.That(EventLogCipher.Open(key, "m-1", line[..^4]), Is.Null, "a cut line is skipped");
    }

    [TestCase("7d", "2026-01-08T00:00:00Z", "2026-01-01T00:00:00Z")]
    [TestCase("12h", "2026-01-08T00:00:00Z", "2026-01-07T12:00:00Z")]
    [TestCase("2026-01-03", "2026-01-08T00:00:00Z", "2026-01-03T00:00:00Z")]
    [TestCase("2026-01-03T10:00:00+02:00", "2026-01-08T00:00:00Z", "2026-01-03T08:00:00Z")]
    public void Time_bounds_are_ISO_8601_or_a_duration_ago(string text, string now, string expected)
    {
        Assert.That(EmailEventQuery.ParseTime(text, DateTimeOffset.Parse(now)), Is.EqualTo(DateTimeOffset.Parse(expected)));
    }
}
