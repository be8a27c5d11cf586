using System.Text.Json.Nodes;
using MailServer.Server;
using MailServer.Tests.Configuration;
using NUnit.Framework;

namespace MailServer.Tests.Rules.AccessControl;

/// <summary><c>mailserver access test</c>: the console tester of §6 on the configuration file.</summary>
[TestFixture]
public sealed class AccessTestCommandTests
{
    private static async Task<(int Code, string Out, string Error)> Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Program.RunAsync(args, output, error, new StringReader(""));
        return (code, output.ToString(), error.ToString());
    }

    private static string Write(TempFolder temp, JsonArray rules)
    {
        var root = ConfigFixtures.Valid();
        root.Org()["AccessControlRules"] = rules;
        var path = temp.File("appsettings.json");
        File.WriteAllText(path, root.ToJsonString());
        return path;
    }

    [Test]
    public async Task Prints_deny_and_the_deciding_rule_for_an_alias_of_the_user()
    {
        using var temp = new TempFolder();
        var path = Write(temp, JsonNode.Parse("""
            [ { "Name": "default", "Effect": "Allow" },
              { "Name": "no-imap-from-lan", "Effect": "Deny", "Protocols": [ "IMAP" ], "IpRanges": [ "10.0.0.0/8" ] } ]
            """)!.AsArray());

        var denied = await Run("access", "test", "--protocol", "IMAP", "--ip", "10.9.8.7", "--user", "a@other.test", "--config", path);
        Assert.That(denied.Code, Is.Zero, denied.Error);
        Assert.That(denied.Out, Is.EqualTo(
            "Organization: example\n" +
            "Request: IMAP from 10.9.8.7 as alice@example.test\n" +
            "Effect: Deny\n" +
            "Rule: no-imap-from-lan (Deny)\n"));

        var allowed = await Run("access", "test", "--protocol", "smtp", "--ip=10.9.8.7", "--user", "bob@example.test", "--config", path);
        Assert.That(allowed.Out, Does.Contain("Effect: Allow\nRule: default (Allow; no Deny rule matches)"));
    }

    [Test]
    public async Task Without_rules_every_login_is_denied_and_the_output_says_why()
    {
        using var temp = new TempFolder();
        var path = Write(temp, []);
        var result = await Run("access", "test", "--protocol", "IMAP", "--ip", "2001:db8::1", "--user", "alice@example.test", "--config", path);
        Assert.That(result.Out, Does.Contain("Effect: Deny\nRule: none (the organization has no access control rules: every login is blocked)"));
    }

    [TestCase("POP3", "192.0.2.1", "alice@example.test", "--protocol must be one of: IMAP, SMTP")]
    [TestCase("IMAP", "not-an-ip", "alice@example.test", "'not-an-ip' is not an IP address")]
    [TestCase("IMAP", "192.0.2.1", "nobody@example.test", "'nobody@example.test' is not a user")]
    public async Task Refuses_bad_input_with_exit_code_1(string protocol, string ip, string user, string message)
    {
        using var temp = new TempFolder();
        var path = Write(temp, JsonNode.Parse("""[ { "Name": "default", "Effect": "Allow" } ]""")!.AsArray());
        var result = await Run("access", "test", "--protocol", protocol, "--ip", ip, "--user", user, "--config", path);
        Assert.That(result.Code, Is.EqualTo(1));
        Assert.That(result.Error, Does.StartWith($"mailserver: {message}"));
    }

    [Test]
    public async Task An_option_of_another_verb_is_refused()
    {
        var result = await Run("access", "test", "--dry-run");
        Assert.That(result.Code, Is.EqualTo(1));
        Assert.That(result.Error, Does.Contain("unknown option '--dry-run'"));
    }
}
