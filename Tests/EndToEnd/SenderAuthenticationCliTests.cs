using System.Text.Json.Nodes;
using MailServer.Server;
using MailServer.Server.Dkim;
using MailServer.Tests.Configuration;
using MimeKit.Cryptography;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// <c>mailserver dkim generate</c> and <c>mailserver dns-records</c>, run in-process like the real executable's
/// entry point: the key files they write and the zone-file text they print.
/// </summary>
[TestFixture]
public sealed class SenderAuthenticationCliTests
{
    private sealed record Outcome(int ExitCode, string Out, string Error);

    private static async Task<Outcome> Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Program.RunAsync(args, output, error, new StringReader(""));
        return new Outcome(code, output.ToString(), error.ToString());
    }

    private static string WriteConfig(TempFolder temp)
    {
        var path = temp.File("appsettings.json");
        File.WriteAllText(path, ConfigFixtures.Valid().ToJsonString());
        return path;
    }

    [Test]
    public async Task Dkim_generate_writes_private_keys_readable_only_by_the_owner_and_prints_the_records()
    {
        using var temp = new TempFolder();
        var config = WriteConfig(temp);
        var result = await Run("dkim", "generate", "example.test", "--selector", "s1", "--ed25519", "--config", config);
        Assert.That(result.ExitCode, Is.Zero, result.Error);

        var rsaPath = Path.Combine(temp.File("data"), "dkim", "example.test", "s1.key");
        var edPath = Path.Combine(temp.File("data"), "dkim", "example.test", "s1-ed25519.key");
        Assert.That(File.Exists(rsaPath) && File.Exists(edPath), Is.True, result.Out);
        if (!OperatingSystem.IsWindows())
        {
            Assert.That(File.GetUnixFileMode(rsaPath), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            Assert.That(File.GetUnixFileMode(edPath), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        }
        var rsa = DkimKeyFile.Load("example.test", rsaPath);
        var ed = DkimKeyFile.Load("example.test", edPath);
        Assert.Multiple(() =>
        {
            Assert.That(rsa.Algorithm, Is.EqualTo(DkimSignatureAlgorithm.RsaSha256));
            Assert.That(((Org.BouncyCastle.Crypto.Parameters.RsaKeyParameters)rsa.PrivateKey).Modulus.BitLength, Is.EqualTo(2048));
            Assert.That(ed.Algorithm, Is.EqualTo(DkimSignatureAlgorithm.Ed25519Sha256));
            Assert.That(result.Out, Does.Contain("s1._domainkey.example.test."));
            Assert.That(result.Out, Does.Contain("s1-ed25519._domainkey.example.test."));
            Assert.That(result.Out, Does.Contain($"p={ed.PublicKeyBase64}"));
        });

        // Never overwrites a key: rotating means a new selector.
        var again = await Run("dkim", "generate", "example.test", "--selector", "s1", "--config", config);
        Assert.That(again.ExitCode, Is.EqualTo(2));
        Assert.That(DkimKeyFile.Load("example.test", rsaPath).PublicKeyBase64, Is.EqualTo(rsa.PublicKeyBase64));
    }

    [Test]
    public async Task Dkim_generate_refuses_a_domain_no_organization_has()
    {
        using var temp = new TempFolder();
        var result = await Run("dkim", "generate", "stranger.test", "--config", WriteConfig(temp));
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Error, Does.Contain("stranger.test is not a domain of any organization"));
    }

    [Test]
    public async Task Dns_records_prints_mx_spf_dkim_dmarc_and_autoconfig_in_zone_file_syntax()
    {
        using var temp = new TempFolder();
        var config = WriteConfig(temp);
        Assert.That((await Run("dkim", "generate", "example.test", "--config", config)).ExitCode, Is.Zero);
        var key = DkimKeyFile.LoadAll(temp.File("data"), "example.test").Single();

        var result = await Run("dns-records", "example.test", "--config", config);
        Assert.That(result.ExitCode, Is.Zero, result.Error);
        var lines = result.Out.Split('\n');
        Assert.Multiple(() =>
        {
            Assert.That(lines, Has.Some.Match(@"^example\.test\.\s+3600 IN MX\s+10 mail\.example\.test\.$"));
            Assert.That(lines, Has.Some.Match("^example\\.test\\.\\s+3600 IN TXT\\s+\"v=spf1 mx -all\"$"));
            Assert.That(lines, Has.Some.Match(@"^mail\._domainkey\.example\.test\.\s+3600 IN TXT\s+\( ""v=DKIM1; k=rsa; p=.*"" "".*"" \)$"));
            Assert.That(lines, Has.Some.Match("^_dmarc\\.example\\.test\\.\\s+3600 IN TXT\\s+\"v=DMARC1; p=quarantine; adkim=r; aspf=r; pct=100; rua=mailto:postmaster@example\\.test\"$"));
            Assert.That(lines, Has.Some.Match(@"^_imaps\._tcp\.example\.test\.\s+3600 IN SRV\s+0 1 \d+ mail\.example\.test\.$"));
            Assert.That(lines, Has.Some.Match(@"^_submissions\._tcp\.example\.test\.\s+3600 IN SRV\s+0 1 \d+ mail\.example\.test\.$"));
            Assert.That(lines, Has.Some.Match(@"^_imap\._tcp\.example\.test\.\s+3600 IN SRV\s+10 1 2143 mail\.example\.test\.$"));
            Assert.That(lines, Has.Some.Match(@"^_submission\._tcp\.example\.test\.\s+3600 IN SRV\s+10 1 2587 mail\.example\.test\.$"));
            Assert.That(lines, Has.Some.Match(@"^autoconfig\.example\.test\.\s+3600 IN CNAME mail\.example\.test\.$"));
            Assert.That(lines, Has.Some.Match(@"^autodiscover\.example\.test\.\s+3600 IN CNAME mail\.example\.test\.$"));
            // Outlook follows this SRV record to the HTTPS listener's own port.
            Assert.That(lines, Has.Some.Match(@"^_autodiscover\._tcp\.example\.test\.\s+3600 IN SRV\s+0 0 2443 mail\.example\.test\.$"));
            Assert.That(result.Out, Does.Contain("forward it to the HTTPS listener's port 2443"));
            // No MtaSts section: no policy is served, so none is announced.
            Assert.That(result.Out, Does.Not.Contain("mta-sts"));
        });
        // The 255-octet character-strings join back into exactly the key's record.
        var dkimLine = lines.Single(l => l.StartsWith("mail._domainkey."));
        var joined = string.Concat(System.Text.RegularExpressions.Regex.Matches(dkimLine, "\"([^\"]*)\"").Select(m => m.Groups[1].Value));
        Assert.That(joined, Is.EqualTo(key.DnsRecordText));

        // Without DOMAIN: every domain of every organization; a domain without keys says how to make one.
        var all = await Run("dns-records", "--config", config);
        Assert.That(all.Out, Does.Contain("; example.test").And.Contain("run 'mailserver dkim generate other.test'").IgnoreCase);
    }

    [Test]
    public async Task Dns_records_ask_for_DMARC_reports_only_where_a_postmaster_receives_them()
    {
        using var temp = new TempFolder();
        var root = ConfigFixtures.Valid();
        foreach (var user in root.Org()["Users"]!.AsArray())
            user!["Enabled"] = false;
        root.Org()["Groups"] = new JsonArray();
        root.Org()["MailboxPermissions"] = new JsonArray();
        root.Org()["AccessControlRules"]![0]!["Users"] = new JsonArray();
        var path = temp.File("appsettings.json");
        File.WriteAllText(path, root.ToJsonString());

        var result = await Run("dns-records", "example.test", "--config", path);

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(result.Out, Does.Contain("DMARC reports have nowhere to go"));
        Assert.That(result.Out.Split('\n'), Has.Some.Match("^_dmarc\\.example\\.test\\.\\s+3600 IN TXT\\s+\"v=DMARC1; p=quarantine; adkim=r; aspf=r; pct=100\"$"));
    }

    [Test]
    public async Task Dns_records_announces_the_mta_sts_policy_the_https_listener_serves_with_an_id_that_follows_the_policy()
    {
        using var temp = new TempFolder();
        var path = temp.File("appsettings.json");
        var json = ConfigFixtures.Valid();
        json["MailServer"]!["Organizations"]![0]!["MtaSts"] = new System.Text.Json.Nodes.JsonObject { ["Mode"] = "Testing" };
        File.WriteAllText(path, json.ToJsonString());
        var testing = await Run("dns-records", "example.test", "--config", path);
        Assert.That(testing.ExitCode, Is.Zero, testing.Error);
        var policy = "version: STSv1\r\nmode: testing\r\nmx: mail.example.test\r\nmax_age: 604800\r\n";
        var id = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(policy)))[..20];
        Assert.That(testing.Out.Split('\n'), Has.Some.Match($@"^_mta-sts\.example\.test\.\s+3600 IN TXT\s+""v=STSv1; id={id}""$"));
        Assert.That(testing.Out.Split('\n'), Has.Some.Match(@"^mta-sts\.example\.test\.\s+3600 IN CNAME mail\.example\.test\.$"));

        json["MailServer"]!["Organizations"]![0]!["MtaSts"]!["Mode"] = "Enforce";
        File.WriteAllText(path, json.ToJsonString());
        var enforce = await Run("dns-records", "example.test", "--config", path);
        Assert.That(enforce.Out, Does.Contain("_mta-sts.example.test.").And.Not.Contain($"id={id}"), "a new policy gets a new id");
    }

    [TestCase("vm")]
    [TestCase("mail.localdomain")]
    [TestCase("localhost")]
    public async Task Dns_records_refuses_a_server_name_that_is_not_fully_qualified_and_config_check_warns(string serverName)
    {
        using var temp = new TempFolder();
        var path = temp.File("appsettings.json");
        var json = ConfigFixtures.Valid();
        json["MailServer"]!["ServerName"] = serverName;
        File.WriteAllText(path, json.ToJsonString());

        var records = await Run("dns-records", "--config", path);
        Assert.That(records.ExitCode, Is.EqualTo(1));
        Assert.That(records.Out, Does.Not.Contain(" MX "), "no MX pointing at a bare machine name");
        Assert.That(records.Error, Does.Contain($"ServerName '{serverName}' is not a fully qualified domain name"));

        var check = await Run("config", "check", "--config", path);
        Assert.That(check.ExitCode, Is.Zero, "a warning, not an error: a test machine may run without a public name");
        Assert.That(check.Out, Does.Contain($"warning: $.MailServer.ServerName '{serverName}' is not a fully qualified domain name"));
    }
}
