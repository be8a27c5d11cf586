using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailServer.Protocols.Authentication;
using MailServer.Rules.Directory;
using MailServer.Server.Audit;
using MailServer.Server.Configuration;
using MailServer.Server.Metrics;
using MailServer.Server.Security;
using MailServer.Tests.Configuration;
using NUnit.Framework;

namespace MailServer.Tests.Audit;

/// <summary>
/// Login attempts through the real <see cref="CredentialValidator"/> with the configured access rules, the audit
/// log (§19.2, §19.3) and the AuthenticationFailure / AccessDenied samples (§20).
/// </summary>
[TestFixture]
public sealed class LoginAuditTests
{
    private const string Password = "correct horse battery";

    private sealed class Fixed(MailDirectory directory) : IDirectorySource
    {
        public MailDirectory Current => directory;
    }

    private sealed record Harness(CredentialValidator Validator, AuditLog Audit, MailMetrics Metrics, TempFolder Temp, List<(string Name, int Value, string? Tenant)> Samples, MeterListener Listener) : IDisposable
    {
        public void Dispose()
        {
            Listener.Dispose();
            Audit.Dispose();
            Metrics.Dispose();
            Temp.Dispose();
        }

        public IReadOnlyList<JsonObject> Lines() =>
            Directory.EnumerateFiles(Audit.Root, "*.jsonl", SearchOption.AllDirectories)
                .SelectMany(File.ReadAllLines)
                .Select(l => JsonNode.Parse(l)!.AsObject())
                .ToList();
    }

    private static Harness Create(string rulesJson)
    {
        var root = ConfigFixtures.Valid();
        root.Org()["AccessControlRules"] = JsonNode.Parse(rulesJson);
        root.User(0)["PasswordHash"] = PasswordHasher.Hash(Password, iterations: 1000);
        var temp = new TempFolder();
        var config = ConfigFixtures.LoadOk(root, temp.File("appsettings.json"));
        var metrics = new MailMetrics();
        var samples = new List<(string, int, string?)>();
        var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) => { if (instrument.Meter == metrics.Meter) l.EnableMeasurementEvents(instrument); };
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) =>
        {
            string? tenant = null;
            foreach (var tag in tags)
                if (tag.Key == MailMetrics.TenantTag)
                    tenant = tag.Value as string;
            lock (samples) samples.Add((instrument.Name, value, tenant));
        });
        listener.Start();
        var audit = new AuditLog(config.DataDirectory);
        var directory = new Fixed(config.ToDirectory());
        var validator = new CredentialValidator(directory, new PasswordHasher(), new ConfiguredLoginAccessRules(() => config),
            observer: new LoginAuditObserver(audit, metrics, directory));
        return new Harness(validator, audit, metrics, temp, samples, listener);
    }

    [Test]
    public async Task A_successful_login_writes_an_access_control_and_an_authentication_event_sharing_a_request_id()
    {
        using var h = Create("""[ { "Name": "default", "Effect": "Allow" } ]""");
        var result = await h.Validator.ValidateAsync("a@other.test", Password, IPAddress.Parse("192.0.2.5"), LoginProtocol.Imap, CancellationToken.None);
        Assert.That(result, Is.TypeOf<LoginResult.Success>());

        var lines = h.Lines();
        Assert.That(lines.Select(l => (string)l["log_type"]!), Is.EqualTo(new[] { "AccessControl", "Authentication" }));
        var access = lines[0];
        var auth = lines[1];
        Assert.Multiple(() =>
        {
            Assert.That(access["organization_arn"]!.GetValue<string>(), Is.EqualTo("urn:mailserver:organization/" + ConfigFixtures.OrgId));
            Assert.That(access["user_id"]!.GetValue<string>(), Is.EqualTo("alice@example.test"));
            Assert.That(access["protocol"]!.GetValue<string>(), Is.EqualTo("IMAP"));
            Assert.That(access["source_ip"]!.GetValue<string>(), Is.EqualTo("192.0.2.5"));
            Assert.That(access["scope"]!.GetValue<string>(), Is.EqualTo("AccessControl"));
            Assert.That(access["rule_id"]!.GetValue<string>(), Is.EqualTo("default"));
            Assert.That(access["access_granted"]!.GetValue<bool>(), Is.True);
            Assert.That(auth["request_id"]!.GetValue<string>(), Is.EqualTo(access["request_id"]!.GetValue<string>()));
            Assert.That(auth["user"]!.GetValue<string>(), Is.EqualTo("a@other.test"), "the name the attempt was made with");
            Assert.That(auth["user_id"]!.GetValue<string>(), Is.EqualTo("alice@example.test"));
            Assert.That(auth["method"]!.GetValue<string>(), Is.EqualTo("basic"));
            Assert.That(auth["auth_successful"]!.GetValue<bool>(), Is.True);
            Assert.That(auth.ContainsKey("auth_failed_reason"), Is.False, "present only if auth failed");
            Assert.That(auth["event_timestamp"]!.GetValue<long>(),
                Is.InRange(DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
            Assert.That(h.Samples, Is.EquivalentTo(new[] { ("AuthenticationFailure", 0, (string?)ConfigFixtures.OrgId), ("AccessDenied", 0, ConfigFixtures.OrgId) }));
        });
    }

    [Test]
    public async Task A_wrong_password_is_audited_with_its_reason_and_never_the_password()
    {
        using var h = Create("""[ { "Name": "default", "Effect": "Allow" } ]""");
        var result = await h.Validator.ValidateAsync("alice@example.test", "Sup3rSecretGuess", IPAddress.Parse("2001:db8::9"), LoginProtocol.Smtp, CancellationToken.None);
        Assert.That(result, Is.TypeOf<LoginResult.InvalidCredentials>());

        var auth = h.Lines().Single();
        Assert.Multiple(() =>
        {
            Assert.That(auth["log_type"]!.GetValue<string>(), Is.EqualTo("Authentication"), "no access evaluation without good credentials");
            Assert.That(auth["protocol"]!.GetValue<string>(), Is.EqualTo("SMTP"));
            Assert.That(auth["source_ip"]!.GetValue<string>(), Is.EqualTo("2001:db8::9"));
            Assert.That(auth["auth_successful"]!.GetValue<bool>(), Is.False);
            Assert.That(auth["auth_failed_reason"]!.GetValue<string>(), Is.EqualTo("InvalidCredentials"));
            Assert.That(h.Samples, Is.EqualTo(new[] { ("AuthenticationFailure", 1, (string?)ConfigFixtures.OrgId) }));
        });
        foreach (var file in Directory.EnumerateFiles(h.Audit.Root, "*", SearchOption.AllDirectories))
            Assert.That(File.ReadAllText(file), Does.Not.Contain("Sup3rSecretGuess"));
    }

    [Test]
    public async Task A_login_denied_by_a_rule_names_the_rule_and_counts_one_access_denied()
    {
        using var h = Create("""
            [ { "Name": "default", "Effect": "Allow" },
              { "Name": "no-loopback-imap", "Effect": "Deny", "Protocols": [ "IMAP" ], "IpRanges": [ "127.0.0.0/8" ] } ]
            """);
        var result = await h.Validator.ValidateAsync("alice@example.test", Password, IPAddress.Loopback, LoginProtocol.Imap, CancellationToken.None);
        Assert.That(result, Is.EqualTo(new LoginResult.Denied("no-loopback-imap")));

        var lines = h.Lines();
        Assert.Multiple(() =>
        {
            Assert.That(lines[0]["rule_id"]!.GetValue<string>(), Is.EqualTo("no-loopback-imap"));
            Assert.That(lines[0]["access_granted"]!.GetValue<bool>(), Is.False);
            Assert.That(lines[1]["auth_failed_reason"]!.GetValue<string>(), Is.EqualTo("AccessDenied"));
            Assert.That(h.Samples, Is.EquivalentTo(new[] { ("AuthenticationFailure", 1, (string?)ConfigFixtures.OrgId), ("AccessDenied", 1, ConfigFixtures.OrgId) }));
        });
    }

    [Test]
    public async Task With_no_rules_a_good_password_is_denied_and_the_access_event_has_no_rule_id()
    {
        using var h = Create("[]");
        var result = await h.Validator.ValidateAsync("alice@example.test", Password, IPAddress.Parse("192.0.2.5"), LoginProtocol.Imap, CancellationToken.None);
        Assert.That(result, Is.EqualTo(new LoginResult.Denied(null)));
        var access = h.Lines()[0];
        Assert.That(access.ContainsKey("rule_id"), Is.False, "rule_id is not available when no rule matched (§19.2)");
        Assert.That(access["access_granted"]!.GetValue<bool>(), Is.False);
    }

    [Test]
    public void Audit_lines_are_valid_json_with_snake_case_mailbox_access_fields()
    {
        var line = AuditLog.Serialize(new MailboxAccessAuditEvent("m-1", "r-1", "bob@example.test", "IMAP", "192.0.2.1",
            MailboxActions.MoveTo, "alice@example.test", "Message", ActionAllowed: true, ItemId: "e1", FolderPath: "Archive", FolderId: "f1"),
            DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123));
        using var doc = JsonDocument.Parse(line);
        Assert.That(doc.RootElement.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[]
        {
            "log_type", "event_timestamp", "organization_arn", "request_id", "user_id", "protocol", "source_ip", "action",
            "owner_id", "object_type", "action_allowed", "item_id", "folder_path", "folder_id",
        }));
        Assert.That(doc.RootElement.GetProperty("event_timestamp").GetInt64(), Is.EqualTo(1_700_000_000_123));
        Assert.That(doc.RootElement.GetProperty("action").GetString(), Is.EqualTo("move_to"));
    }
}
