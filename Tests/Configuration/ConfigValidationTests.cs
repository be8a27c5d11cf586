using NUnit.Framework;
using System.Text.Json.Nodes;
using MailServer.Server.Configuration;
using MailServer.Server.Security;

namespace MailServer.Tests.Configuration;

[TestFixture]
public sealed class ConfigValidationTests
{
    private static void AssertError(Action<JsonObject> mutate, string path, string fragment)
    {
        var root = ConfigFixtures.Valid();
        mutate(root);
        var errors = ConfigFixtures.Errors(root);
        Assert.That(errors.Any(e => e.Path == path && e.Message.Contains(fragment, StringComparison.Ordinal)),
            $"expected an error at {path} containing '{fragment}', got:\n{string.Join("\n", errors)}");
    }

    private static JsonObject SecondOrg(string id, string alias, string domain) => new()
    {
        ["Id"] = id,
        ["Alias"] = alias,
        ["Domains"] = new JsonArray(new JsonObject { ["Name"] = domain, ["Default"] = true }),
    };

    [Test]
    public void The_fixture_is_valid_and_read_into_records()
    {
        var config = ConfigFixtures.LoadOk(ConfigFixtures.Valid());
        var org = config.Organizations.Single();
        Assert.Multiple(() =>
        {
            Assert.That(config.ServerName, Is.EqualTo("mail.example.test"));
            Assert.That(config.Listeners.Admin.ToString(), Is.EqualTo("127.0.0.1:8025"));
            Assert.That(config.Dns.Port, Is.EqualTo(5353));
            Assert.That(config.Delivery.RemotePort, Is.EqualTo(2526));
            Assert.That(config.Limits.MaxMessageBytes, Is.EqualTo(10L * 1024 * 1024));
            Assert.That(config.Limits.MaxAttachments, Is.EqualTo(500), "unset limits keep their defaults");
            Assert.That(org.DefaultDomain, Is.EqualTo("example.test"));
            Assert.That(org.Domains[1].Name, Is.EqualTo("other.test"), "domains are lower-cased");
            Assert.That(org.Users[1].Email, Is.EqualTo("bob@example.test"), "addresses are lower-cased");
            Assert.That(org.Users[1].MailboxQuotaMiB, Is.EqualTo(51_200), "quota defaults to 51,200 MiB");
            Assert.That(org.Users[1].Enabled, Is.True);
            Assert.That(org.FlowRules.Inbound[1].Hook!.FallbackAction, Is.EqualTo("Bounce"));
            Assert.That(org.FlowRules.Outbound[0].SmtpGateway, Is.EqualTo("relay"));
            Assert.That(org.SmtpGateways[0].Security, Is.EqualTo(SmtpGatewaySecurity.StartTls));
            Assert.That(org.SmtpGateways[0].ToString(), Does.Not.Contain("p\""), "a gateway never prints its password");
            Assert.That(org.AccessControlRules[0].IpRanges, Has.Count.EqualTo(3));
            Assert.That(org.RetentionPolicy.Folders[0].Action, Is.EqualTo(RetentionAction.PermanentlyDelete));
        });
    }

    [Test]
    public void The_repository_sample_appsettings_is_valid()
    {
        var path = Path.Combine(ConfigFixtures.RepositoryRoot(), "appsettings.json");
        var result = ConfigLoader.Load(path);
        Assert.That(result, Is.TypeOf<ConfigLoadResult.Ok>(),
            result is ConfigLoadResult.Invalid i ? string.Join("\n", i.Errors) : "");
        var org = ((ConfigLoadResult.Ok)result).Config.Organizations.Single();
        Assert.That(org.Alias, Is.EqualTo("example"));
        Assert.That(org.Users.Select(u => u.Email), Is.EqualTo(new[] { "alice@example.test", "bob@example.test" }));
    }

    [Test]
    public void Reports_default_to_TLS_reports_on_and_DMARC_aggregate_reports_off_and_refuse_non_booleans()
    {
        var config = ConfigFixtures.LoadOk(ConfigFixtures.Valid());
        Assert.That(config.Delivery.TlsReports, Is.True, "a domain asks for TLS reports by publishing _smtp._tls");
        Assert.That(config.Organizations.Single().Dmarc.AggregateReports, Is.False, "DMARC aggregate reports are opt-in per organization");
        var on = ConfigFixtures.Valid();
        on.Org()["Dmarc"] = new JsonObject { ["Enforce"] = true, ["AggregateReports"] = true };
        Assert.That(ConfigFixtures.LoadOk(on).Organizations.Single().Dmarc.AggregateReports, Is.True);
        AssertError(r => r.Org()["Dmarc"] = new JsonObject { ["AggregateReports"] = "daily" },
            "$.MailServer.Organizations[0].Dmarc.AggregateReports", "expected true or false");
        AssertError(r => ((JsonObject)r["MailServer"]!)["Delivery"] = new JsonObject { ["TlsReports"] = 1 },
            "$.MailServer.Delivery.TlsReports", "expected true or false");
    }

    [Test]
    public void Organization_id_must_be_m_and_32_hex() =>
        AssertError(r => r.Org()["Id"] = "m-a123b4c5de678fg9h0ij1k2lm234no56", "$.MailServer.Organizations[0].Id", "^m-[0-9a-f]{32}$");

    [Test]
    public void Organization_alias_is_unique() =>
        AssertError(r => r.MailServer()["Organizations"]!.AsArray().Add(SecondOrg("m-11111111111111111111111111111111", "example", "second.test")),
            "$.MailServer.Organizations[1].Alias", "already used at $.MailServer.Organizations[0].Alias");

    [Test]
    public void A_master_key_provider_must_be_one_of_the_three() =>
        AssertError(r => r.Org()["MasterKeyProvider"] = "Vault", "$.MailServer.Organizations[0].MasterKeyProvider", "");

    [Test]
    public void A_master_key_name_is_for_the_environment_and_credential_providers_only() =>
        AssertError(r => r.Org()["MasterKeyName"] = "MY_KEY", "$.MailServer.Organizations[0].MasterKeyName", "Environment, SystemdCredential and Pkcs11 providers only");

    [Test]
    public void The_pkcs11_provider_needs_its_token_settings() =>
        AssertError(r => r.Org()["MasterKeyProvider"] = "Pkcs11", "$.MailServer.Organizations[0].MasterKeyProvider", "needs a \"Pkcs11\" object");

    [Test]
    public void A_pkcs11_module_that_does_not_exist_is_refused_with_its_path() =>
        AssertError(r =>
        {
            r.Org()["MasterKeyProvider"] = "Pkcs11";
            r.Org()["Pkcs11"] = new JsonObject { ["Library"] = "/nonexistent/libhsm.so", ["TokenLabel"] = "mailserver", ["PinFile"] = "hsm.pin" };
        }, "$.MailServer.Organizations[0].Pkcs11.Library", "the PKCS#11 module /nonexistent/libhsm.so does not exist");

    [Test]
    public void A_pkcs11_pin_comes_from_exactly_one_place() =>
        AssertError(r =>
        {
            r.Org()["MasterKeyProvider"] = "Pkcs11";
            r.Org()["Pkcs11"] = new JsonObject { ["Library"] = "/bin/sh", ["TokenLabel"] = "mailserver", ["PinFile"] = "hsm.pin", ["PinEnvironmentVariable"] = "HSM_PIN" };
        }, "$.MailServer.Organizations[0].Pkcs11.PinFile", "exactly one of PinFile");

    [Test]
    public void Pkcs11_settings_belong_to_the_pkcs11_provider() =>
        AssertError(r => r.Org()["Pkcs11"] = new JsonObject { ["Library"] = "/bin/sh", ["TokenLabel"] = "mailserver", ["PinFile"] = "hsm.pin" },
            "$.MailServer.Organizations[0].Pkcs11.Library", "MasterKeyProvider \"Pkcs11\" only");

    [Test]
    public void The_environment_provider_defaults_to_a_variable_named_after_the_alias()
    {
        var root = ConfigFixtures.Valid();
        root.Org()["MasterKeyProvider"] = "Environment";
        var org = ConfigFixtures.LoadOk(root).Organizations.Single();
        Assert.That(org.MasterKeySource, Is.EqualTo(new MasterKeySourceConfig(MasterKeyProviderKind.Environment, "MAILSERVER_MASTER_KEY_EXAMPLE")));
    }

    [Test]
    public void An_organization_needs_a_default_domain() =>
        AssertError(r => r.Org()["Domains"]![0]!["Default"] = false, "$.MailServer.Organizations[0].Domains", "exactly one domain");

    [Test]
    public void Only_one_domain_is_the_default() =>
        AssertError(r => r.Org()["Domains"]![1]!["Default"] = true, "$.MailServer.Organizations[0].Domains[1].Default", "only one domain");

    [Test]
    public void Domains_are_ascii() =>
        AssertError(r => r.Org()["Domains"]![1]!["Name"] = "bücher.test", "$.MailServer.Organizations[0].Domains[1].Name", "A-label");

    [Test]
    public void A_domain_in_A_label_form_is_accepted()
    {
        var root = ConfigFixtures.Valid();
        root.Org()["Domains"]![1]!["Name"] = "xn--bcher-kva.test";
        root.Org()["Users"]![0]!["Aliases"] = new JsonArray("a@xn--bcher-kva.test");
        root.Org()["Groups"]![0]!["Members"] = new JsonArray("alice@example.test");
        Assert.That(ConfigFixtures.LoadOk(root).Organizations[0].Domains[1].Name, Is.EqualTo("xn--bcher-kva.test"));
    }

    [Test]
    public void A_domain_belongs_to_one_organization() =>
        AssertError(r => r.MailServer()["Organizations"]!.AsArray().Add(SecondOrg("m-11111111111111111111111111111111", "second", "Example.test")),
            "$.MailServer.Organizations[1].Domains[0].Name", "already belongs to $.MailServer.Organizations[0].Domains[0].Name");

    [Test]
    public void Addresses_must_be_valid() =>
        AssertError(r => r.User(1)["Email"] = "bob at example.test", "$.MailServer.Organizations[0].Users[1].Email", "not a valid email address");

    [Test]
    public void Addresses_must_be_in_the_organizations_domains() =>
        AssertError(r => r.User(1)["Email"] = "bob@elsewhere.test", "$.MailServer.Organizations[0].Users[1].Email", "not in one of this organization's domains");

    [Test]
    public void The_journal_sender_is_reserved_for_every_domain() =>
        AssertError(r => r.User(1)["Aliases"] = new JsonArray("Journal-NoReply@example.test"), "$.MailServer.Organizations[0].Users[1].Aliases[0]",
            "is reserved: journal records are sent from journal-noreply@<domain>");

    [Test]
    public void An_address_is_used_once_server_wide_user_alias_against_group() =>
        AssertError(r => r.User(1)["Aliases"] = new JsonArray("ALL@example.test"), "$.MailServer.Organizations[0].Groups[0].Aliases[0]",
            "already used at $.MailServer.Organizations[0].Users[1].Aliases[0]");

    [Test]
    public void An_address_is_used_once_server_wide_two_users() =>
        AssertError(r => r.User(1)["Email"] = "alice@example.test", "$.MailServer.Organizations[0].Users[1].Email",
            "already used at $.MailServer.Organizations[0].Users[0].Email");

    [Test]
    public void A_user_has_at_most_100_aliases() =>
        AssertError(r => r.User(1)["Aliases"] = new JsonArray(Enumerable.Range(0, 101).Select(i => (JsonNode?)JsonValue.Create($"b{i}@example.test")).ToArray()),
            "$.MailServer.Organizations[0].Users[1].Aliases", "at most 100 aliases");

    [TestCase(-1)]
    [TestCase(541)]
    public void The_wait_for_room_in_the_bytes_in_flight_budget_is_0_to_540_seconds(int seconds) =>
        AssertError(r => r["MailServer"]!["Limits"]!["BytesInFlightWaitSeconds"] = seconds,
            "$.MailServer.Limits.BytesInFlightWaitSeconds", "between 0 and 540");

    [Test]
    public void The_wait_for_room_in_the_bytes_in_flight_budget_defaults_to_300_seconds()
    {
        Assert.That(ConfigFixtures.LoadOk(ConfigFixtures.Valid()).Limits.BytesInFlightWaitSeconds, Is.EqualTo(300));
        var zero = ConfigFixtures.Valid();
        zero["MailServer"]!["Limits"]!["BytesInFlightWaitSeconds"] = 0;
        Assert.That(ConfigFixtures.LoadOk(zero).Limits.BytesInFlightWaitSeconds, Is.Zero, "0: answered 452 at once when there is no room");
    }

    [TestCase(0)]
    [TestCase(51_201)]
    public void Quota_is_1_to_51200_MiB(int quota) =>
        AssertError(r => r.User(0)["MailboxQuotaMiB"] = quota, "$.MailServer.Organizations[0].Users[0].MailboxQuotaMiB", "between 1 and 51200");

    [Test]
    public void Group_members_must_exist_in_the_organization() =>
        AssertError(r => r.Org()["Groups"]![0]!["Members"]!.AsArray().Add("carol@example.test"),
            "$.MailServer.Organizations[0].Groups[0].Members[3]", "not a user or group of this organization");

    [Test]
    public void Permissions_name_existing_users_or_groups() =>
        AssertError(r => r.Org()["MailboxPermissions"]![0]!["Grantee"] = "nobody@example.test",
            "$.MailServer.Organizations[0].MailboxPermissions[0].Grantee", "not a user or group");

    [Test]
    public void Full_access_is_only_granted_on_a_user_mailbox() =>
        AssertError(r => r.Org()["MailboxPermissions"]![0]!["Mailbox"] = "team@example.test",
            "$.MailServer.Organizations[0].MailboxPermissions[0].Permissions", "FullAccess can only be granted on a user's mailbox");

    [Test]
    public void Postmaster_names_a_user_or_group_of_the_organization() =>
        AssertError(r => r.Org()["Postmaster"] = "nobody@example.test",
            "$.MailServer.Organizations[0].Postmaster", "'nobody@example.test' is not a user or group of this organization");

    [Test]
    public void Postmaster_cannot_be_a_disabled_user() =>
        AssertError(r => { r.Org()["Postmaster"] = "bob@example.test"; r.User(1)["Enabled"] = false; },
            "$.MailServer.Organizations[0].Postmaster", "is a disabled user");

    [Test]
    public void Postmaster_by_any_address_is_read_as_the_primary_address_and_defaults_to_null()
    {
        Assert.That(ConfigFixtures.LoadOk(ConfigFixtures.Valid()).Organizations[0].Postmaster, Is.Null);
        var root = ConfigFixtures.Valid();
        root.Org()["Postmaster"] = "ALL@example.test";
        Assert.That(ConfigFixtures.LoadOk(root).Organizations[0].Postmaster, Is.EqualTo("team@example.test"));
        root.Org()["Postmaster"] = "a@other.test";
        Assert.That(ConfigFixtures.LoadOk(root).Organizations[0].Postmaster, Is.EqualTo("alice@example.test"));
    }

    [Test]
    public void Permission_names_are_checked() =>
        AssertError(r => r.Org()["MailboxPermissions"]![0]!["Permissions"] = new JsonArray("ReadOnly"),
            "$.MailServer.Organizations[0].MailboxPermissions[0].Permissions[0]", "FullAccess, SendAs, SendOnBehalf");

    [TestCase(0)]
    [TestCase(65_536)]
    public void Ports_are_1_to_65535(int port) =>
        AssertError(r => r.MailServer()["Listeners"]!["Smtp"] = port, "$.MailServer.Listeners.Smtp", "between 1 and 65535");

    [Test]
    public void Ports_are_distinct() =>
        AssertError(r => r.MailServer()["Listeners"]!["Imaps"] = 2143, "$.MailServer.Listeners.Imaps", "already used by Imap");

    [Test]
    public void The_https_port_is_distinct_from_the_mail_ports() =>
        AssertError(r => r.MailServer()["Listeners"]!["Https"] = 2993, "$.MailServer.Listeners.Https", "already used by Imaps");

    [Test]
    public void The_https_listener_defaults_to_2443_and_mta_sts_to_none()
    {
        var config = ConfigFixtures.LoadOk(ConfigFixtures.Valid());
        Assert.That(config.Listeners.Https, Is.EqualTo(2443));
        Assert.That(config.Organizations[0].MtaSts, Is.Null);
    }

    [Test]
    public void An_mta_sts_mode_is_one_of_enforce_testing_none() =>
        AssertError(r => r.Org()["MtaSts"] = new JsonObject { ["Mode"] = "enforce" }, "$.MailServer.Organizations[0].MtaSts.Mode", "Enforce, Testing, None");

    [Test]
    public void An_mta_sts_max_age_is_at_most_rfc_8461s_year() =>
        AssertError(r => r.Org()["MtaSts"] = new JsonObject { ["Mode"] = "Enforce", ["MaxAgeSeconds"] = 31_557_601 },
            "$.MailServer.Organizations[0].MtaSts.MaxAgeSeconds", "between 1 and 31557600");

    [Test]
    public void The_admin_endpoint_needs_an_address_and_port() =>
        AssertError(r => r.MailServer()["Listeners"]!["Admin"] = "localhost", "$.MailServer.Listeners.Admin", "address:port");

    [Test]
    public void A_password_hash_must_be_verifiable() =>
        AssertError(r => r.User(0)["PasswordHash"] = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
            "$.MailServer.Organizations[0].Users[0].PasswordHash", "not a password hash this server can verify");

    [Test]
    public void A_valid_password_hash_is_accepted()
    {
        var root = ConfigFixtures.Valid();
        var hash = PasswordHasher.Hash("Correct-Horse-1", 1000);
        root.User(0)["PasswordHash"] = hash;
        Assert.That(ConfigFixtures.LoadOk(root).Organizations[0].Users[0].PasswordHash, Is.EqualTo(hash));
    }

    [Test]
    public void Tls_paths_come_in_pairs() =>
        AssertError(r => r.MailServer()["Tls"]!["CertificatePath"] = "/etc/ssl/mail.pem", "$.MailServer.Tls.KeyPath",
            "set together or not at all");

    [Test]
    public void Tls_files_must_exist()
    {
        AssertError(r =>
        {
            r.MailServer()["Tls"]!["CertificatePath"] = "/nonexistent/cert.pem";
            r.MailServer()["Tls"]!["KeyPath"] = "/nonexistent/key.pem";
        }, "$.MailServer.Tls.KeyPath", "file not found: /nonexistent/key.pem");
    }

    [Test]
    public void Acme_needs_an_https_directory_and_a_contact_address()
    {
        AssertError(r => r.MailServer()["Tls"]!["Acme"] = new JsonObject { ["DirectoryUrl"] = "http://ca.example/dir", ["Email"] = "admin@example.test" },
            "$.MailServer.Tls.Acme.DirectoryUrl", "not an https:// URL");
        AssertError(r => r.MailServer()["Tls"]!["Acme"] = new JsonObject { ["DirectoryUrl"] = "https://ca.example/dir", ["Email"] = "admin" },
            "$.MailServer.Tls.Acme.Email", "not an email address");
        AssertError(r => r.MailServer()["Tls"]!["Acme"] = new JsonObject { ["DirectoryUrl"] = "https://ca.example/dir" },
            "$.MailServer.Tls.Acme.Email", "required");
    }

    [Test]
    public void Acme_domains_are_full_names_and_default_to_the_server_name()
    {
        AssertError(r => r.MailServer()["Tls"]!["Acme"] = new JsonObject
        {
            ["DirectoryUrl"] = "https://ca.example/dir", ["Email"] = "admin@example.test", ["Domains"] = new JsonArray("mail.example.test", "vm"),
        }, "$.MailServer.Tls.Acme.Domains[1]", "not a fully qualified domain name");
        var root = ConfigFixtures.Valid();
        root.MailServer()["Tls"]!["Acme"] = new JsonObject { ["DirectoryUrl"] = "https://ca.example/dir", ["Email"] = "Admin@Example.test" };
        var config = ConfigFixtures.LoadOk(root);
        Assert.That(config.Tls.Acme!.Domains, Is.EqualTo(new[] { "mail.example.test" }));
        Assert.That(config.Tls.Acme.Email, Is.EqualTo("admin@example.test"));
        Assert.That(config.Listeners.Http, Is.EqualTo(2080));
    }

    [Test]
    public void Acme_and_certificate_files_are_exclusive_and_the_http_port_is_checked_only_with_acme()
    {
        AssertError(r =>
        {
            r.MailServer()["Tls"]!["CertificatePath"] = "cert.pem";
            r.MailServer()["Tls"]!["KeyPath"] = "key.pem";
            r.MailServer()["Tls"]!["Acme"] = new JsonObject { ["DirectoryUrl"] = "https://ca.example/dir", ["Email"] = "admin@example.test" };
        }, "$.MailServer.Tls.Acme", "exclusive");
        AssertError(r =>
        {
            r.MailServer()["Listeners"]!["Http"] = 2443;
            r.MailServer()["Tls"]!["Acme"] = new JsonObject { ["DirectoryUrl"] = "https://ca.example/dir", ["Email"] = "admin@example.test" };
        }, "$.MailServer.Listeners.Http", "already used by Https");
        var root = ConfigFixtures.Valid();
        root.MailServer()["Listeners"]!["Http"] = 2443; // no ACME: no HTTP listener, no clash
        Assert.That(ConfigFixtures.LoadOk(root).Listeners.Http, Is.EqualTo(2443));
    }

    [Test]
    public void An_unknown_key_is_an_error_naming_its_path() =>
        AssertError(r => r.User(1)["Emial"] = "x", "$.MailServer.Organizations[0].Users[1].Emial", "unknown key");

    [Test]
    public void A_key_in_the_wrong_case_gets_a_hint() =>
        AssertError(r => r.MailServer()["Listeners"]!["smtp"] = 25, "$.MailServer.Listeners.smtp", "did you mean 'Smtp'");

    [Test]
    public void A_wrong_type_names_the_path() =>
        AssertError(r => r.MailServer()["Dns"]!["Port"] = "53", "$.MailServer.Dns.Port", "expected an integer, found a string");

    [Test]
    public void Flow_rule_actions_come_from_the_contract() =>
        AssertError(r => r.Org()["FlowRules"]!["Inbound"]![0]!["Action"] = "RouteToSmtpGateway",
            "$.MailServer.Organizations[0].FlowRules.Inbound[0].Action", "not one of: Drop, Bounce, MoveToJunk, Default, BypassSpamCheck, RunHook");

    [Test]
    public void A_route_rule_names_an_existing_gateway() =>
        AssertError(r => r.Org()["FlowRules"]!["Outbound"]![0]!["SmtpGateway"] = "nowhere",
            "$.MailServer.Organizations[0].FlowRules.Outbound[0].SmtpGateway", "no SMTP gateway is named 'nowhere'");

    [Test]
    public void A_run_hook_rule_needs_a_hook() =>
        AssertError(r => r.Org()["FlowRules"]!["Inbound"]![1]!.AsObject().Remove("Hook"),
            "$.MailServer.Organizations[0].FlowRules.Inbound[1].Hook", "required for the RunHook action");

    [Test]
    public void Hook_timeout_is_0_to_240_minutes() =>
        AssertError(r => r.Org()["FlowRules"]!["Inbound"]![1]!["Hook"]!["RuleTimeoutMinutes"] = 241,
            "$.MailServer.Organizations[0].FlowRules.Inbound[1].Hook.RuleTimeoutMinutes", "between 0 and 240");

    [TestCase("user+tag@example.test", "+ symbol")]
    [TestCase("ex*ample.test", "not an address, a domain, *.domain or *")]
    public void Patterns_have_the_four_shapes(string pattern, string fragment) =>
        AssertError(r => r.Org()["FlowRules"]!["Inbound"]![0]!["SenderPatterns"] = new JsonArray(pattern),
            "$.MailServer.Organizations[0].FlowRules.Inbound[0].SenderPatterns[0]", fragment);

    [Test]
    public void A_rule_the_loader_could_not_read_does_not_shift_the_paths_of_the_rules_after_it()
    {
        // Inbound[0] cannot be read (an unknown action); the rule compiler sees only Inbound[1], as its first rule, and
        // its pattern error must still be reported at Inbound[1].
        var root = ConfigFixtures.Valid();
        var inbound = root["MailServer"]!["Organizations"]![0]!["FlowRules"]!["Inbound"]!;
        inbound[0]!["Action"] = "Shred";
        inbound[1]!["SenderPatterns"] = new JsonArray("*", "user+tag@example.test");
        var errors = ConfigFixtures.Errors(root).Select(e => e.Path).ToList();
        Assert.That(errors, Does.Contain("$.MailServer.Organizations[0].FlowRules.Inbound[0].Action"));
        Assert.That(errors, Does.Contain("$.MailServer.Organizations[0].FlowRules.Inbound[1].SenderPatterns[1]"));
        Assert.That(errors, Does.Not.Contain("$.MailServer.Organizations[0].FlowRules.Inbound[0].SenderPatterns[1]"));
    }

    [Test]
    public void Two_rules_of_one_direction_cannot_share_a_name() =>
        AssertError(r => r.Org()["FlowRules"]!["Inbound"]![1]!["Name"] = r.Org()["FlowRules"]!["Inbound"]![0]!["Name"]!.GetValue<string>(),
            "$.MailServer.Organizations[0].FlowRules.Inbound[1].Name", "two inbound rules are named");

    [Test]
    public void Gateway_security_is_checked() =>
        AssertError(r => r.Org()["SmtpGateways"]![0]!["Security"] = "Ssl",
            "$.MailServer.Organizations[0].SmtpGateways[0].Security", "not one of: StartTls, Tls, None");

    [Test]
    public void Access_rule_ip_ranges_are_cidr() =>
        AssertError(r => r.Org()["AccessControlRules"]![0]!["IpRanges"] = new JsonArray("10.0.0.0/33"),
            "$.MailServer.Organizations[0].AccessControlRules[0].IpRanges[0]", "CIDR");

    [Test]
    public void Journaling_enabled_needs_its_addresses() =>
        AssertError(r => r.Org()["Journaling"]!["Enabled"] = true,
            "$.MailServer.Organizations[0].Journaling.JournalingAddress", "is required");

    [Test]
    public void Retention_folders_are_known() =>
        AssertError(r => r.Org()["RetentionPolicy"]!["Folders"]![0]!["Folder"] = "Trash",
            "$.MailServer.Organizations[0].RetentionPolicy.Folders[0].Folder", "not one of: Inbox");

    [Test]
    public void Every_error_is_reported_at_once()
    {
        var root = ConfigFixtures.Valid();
        root.Org()["Id"] = "bad";
        root.User(1)["MailboxQuotaMiB"] = 0;
        root.MailServer()["Listeners"]!["Imap"] = 70_000;
        root.MailServer()["Unknown"] = 1;
        var paths = ConfigFixtures.Errors(root).Select(e => e.Path).ToList();
        Assert.That(paths, Is.SupersetOf(new[]
        {
            "$.MailServer.Organizations[0].Id", "$.MailServer.Organizations[0].Users[1].MailboxQuotaMiB",
            "$.MailServer.Listeners.Imap", "$.MailServer.Unknown",
        }));
    }

    [Test]
    public void Broken_json_is_reported_with_its_line()
    {
        var result = ConfigLoader.Parse("{\n  \"MailServer\": {\n    \"DataDirectory\": \"data\" \"x\"\n  }\n}", "/srv/appsettings.json");
        var error = ((ConfigLoadResult.Invalid)result).Errors.Single();
        Assert.That(error.ToString(), Does.StartWith("$: not valid JSON at line 3"));
    }

    [Test]
    public void A_missing_file_is_an_error_not_an_exception()
    {
        var result = ConfigLoader.Load("/nonexistent/appsettings.json");
        Assert.That(((ConfigLoadResult.Invalid)result).Errors.Single().Message, Does.StartWith("cannot read /nonexistent/appsettings.json"));
    }

    [Test]
    public void ContentFiltering_is_off_by_default_and_read_when_given()
    {
        var off = ConfigFixtures.LoadOk(ConfigFixtures.Valid());
        var root = ConfigFixtures.Valid();
        root.MailServer()["ContentFiltering"] = JsonNode.Parse("""
            { "RspamdUrl": "http://127.0.0.1:11333", "RspamdControllerUrl": "http://127.0.0.1:11334", "ClamdAddress": "/run/clamav/clamd.ctl",
              "TimeoutSeconds": 5, "FailMode": "TempFail" }
            """);
        root.Org()["ContentFiltering"] = JsonNode.Parse("""{ "Enabled": false }""");
        var on = ConfigFixtures.LoadOk(root);
        Assert.Multiple(() =>
        {
            Assert.That(off.ContentFiltering.AnyEngine, Is.False);
            Assert.That(off.Organizations[0].ContentFiltering.Enabled, Is.Null, "on whenever an engine is configured");
            Assert.That(on.ContentFiltering.RspamdUrl!.ToString(), Is.EqualTo("http://127.0.0.1:11333/"));
            Assert.That(on.ContentFiltering.ClamdAddress!.SocketPath, Is.EqualTo("/run/clamav/clamd.ctl"));
            Assert.That(on.ContentFiltering.FailMode, Is.EqualTo(MailServer.Rules.ContentFiltering.EngineFailMode.TempFail));
            Assert.That(on.ContentFiltering.TimeoutSeconds, Is.EqualTo(5));
            Assert.That(on.Organizations[0].ContentFiltering.Enabled, Is.False);
        });
    }

    [TestCase("RspamdUrl", "\"ftp://x\"", "is not an http:// or https:// URL")]
    [TestCase("ClamdAddress", "\"clamd\"", "neither a socket path")]
    [TestCase("ClamdAddress", "\"127.0.0.1:99999\"", "neither a socket path")]
    [TestCase("FailMode", "\"Closed\"", "Open")]
    [TestCase("TimeoutSeconds", "0", "")]
    [TestCase("Unknown", "1", "")]
    public void A_bad_ContentFiltering_setting_is_refused_with_its_path(string key, string json, string fragment) =>
        AssertError(r => r.MailServer()["ContentFiltering"] = JsonNode.Parse($"{{ \"{key}\": {json} }}"), $"$.MailServer.ContentFiltering.{key}", fragment);

    [Test]
    public void A_controller_without_a_scanner_is_refused() =>
        AssertError(r => r.MailServer()["ContentFiltering"] = JsonNode.Parse("""{ "RspamdControllerUrl": "http://127.0.0.1:11334" }"""),
            "$.MailServer.ContentFiltering.RspamdControllerUrl", "needs RspamdUrl");

    [Test]
    public void An_organizations_Enabled_must_be_a_boolean() =>
        AssertError(r => r.Org()["ContentFiltering"] = JsonNode.Parse("""{ "Enabled": "yes" }"""),
            "$.MailServer.Organizations[0].ContentFiltering.Enabled", "expected true or false");
}
