using System.Text.Json.Nodes;
using MailServer.Server.Audit;
using MailServer.Server.Configuration;
using MailServer.Tests.Configuration;
using MailServer.Tests.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Audit;

/// <summary>The audit log keeps <c>AuditLog.RetentionDays</c> days of files per organization (365 by default).</summary>
[TestFixture]
public sealed class AuditRetentionTests
{
    private static AuthenticationAuditEvent Login() =>
        new(ConfigFixtures.OrgId, AuditEvent.NewRequestId(), "alice@example.test", "alice@example.test", "IMAP", "127.0.0.1", "basic", true, null);

    [Test]
    public void Day_files_older_than_RetentionDays_are_deleted_and_newer_ones_kept()
    {
        using var temp = new TempFolder();
        var root = ConfigFixtures.Valid();
        root.Org()["AuditLog"] = new JsonObject { ["RetentionDays"] = 2 };
        var config = ConfigFixtures.LoadOk(root, temp.File("appsettings.json"));
        var clock = new ManualClock(); // 2026-01-01
        using var log = new AuditLog(temp.Path, clock);
        for (var day = 0; day < 4; day++)
        {
            log.Write(Login());
            clock.Advance(TimeSpan.FromDays(1));
        }
        clock.Advance(TimeSpan.FromDays(-1)); // now 2026-01-04: keep the 3rd and 4th

        Assert.That(log.DeleteExpired(config), Is.EqualTo(2));
        Assert.That(Directory.GetFiles(Path.Combine(log.Root, ConfigFixtures.OrgId)).Select(Path.GetFileName).Order(),
            Is.EqualTo(new[] { "2026-01-03.jsonl", "2026-01-04.jsonl" }));
        log.Write(Login());
        Assert.That(File.ReadAllLines(Path.Combine(log.Root, ConfigFixtures.OrgId, "2026-01-04.jsonl")), Has.Length.EqualTo(2),
            "the log goes on writing into today's file after a sweep");
    }

    [Test]
    public void Without_the_section_a_year_of_files_is_kept()
    {
        using var temp = new TempFolder();
        var config = ConfigFixtures.LoadOk(ConfigFixtures.Valid(), temp.File("appsettings.json"));
        var clock = new ManualClock();
        using var log = new AuditLog(temp.Path, clock);
        log.Write(Login());
        clock.Advance(TimeSpan.FromDays(364));
        Assert.That(log.DeleteExpired(config), Is.Zero);
        clock.Advance(TimeSpan.FromDays(1));
        Assert.That(log.DeleteExpired(config), Is.EqualTo(1));
        Assert.That(config.Organizations[0].AuditLogSettings.RetentionDays, Is.EqualTo(AuditLogConfig.DefaultRetentionDays));
    }

    [Test]
    public void A_RetentionDays_out_of_range_is_refused_with_its_JSON_path()
    {
        var root = ConfigFixtures.Valid();
        root.Org()["AuditLog"] = new JsonObject { ["RetentionDays"] = 0 };
        var errors = ConfigFixtures.Errors(root);
        Assert.That(errors.Select(e => e.Path), Does.Contain("$.MailServer.Organizations[0].AuditLog.RetentionDays"), string.Join("\n", errors));
    }
}
