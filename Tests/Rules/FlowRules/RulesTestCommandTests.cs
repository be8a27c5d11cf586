using System.Text.Json;
using System.Text.Json.Nodes;
using MailServer.Server;
using MailServer.Tests.Configuration;
using NUnit.Framework;

namespace MailServer.Tests.Rules.FlowRules;

/// <summary><c>mailserver rules test</c>: the console's rule tester, from the config file only.</summary>
[TestFixture]
public sealed class RulesTestCommandTests
{
    private sealed record Outcome(int ExitCode, string Out, string Error);

    private static async Task<Outcome> Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Program.RunAsync(args, output, error, new StringReader(""));
        return new Outcome(code, output.ToString(), error.ToString());
    }

    private TempFolder _temp = null!;
    private string _config = null!;

    [SetUp]
    public void SetUp()
    {
        _temp = new TempFolder();
        var root = ConfigFixtures.Valid();
        root.Org()["FlowRules"]!["Inbound"] = JsonNode.Parse("""
            [ { "Name": "block", "Action": "Drop", "SenderPatterns": [ "*.spam.test" ], "RecipientPatterns": [ "*" ] },
              { "Name": "vip", "Action": "BypassSpamCheck", "SenderPatterns": [ "boss@a.spam.test" ], "RecipientPatterns": [ "*" ] },
              { "Name": "junk-bob", "Action": "MoveToJunk", "SenderPatterns": [ "*.spam.test" ], "RecipientPatterns": [ "bob@example.test" ] },
              { "Name": "metrics", "Action": "RunHook", "SenderPatterns": [ "*" ], "RecipientPatterns": [ "*" ],
                "Hook": { "Url": "http://127.0.0.1:9/metrics", "Synchronous": false } } ]
            """);
        _config = _temp.File("appsettings.json");
        File.WriteAllText(_config, root.ToJsonString());
    }

    [TearDown]
    public void TearDown() => _temp.Dispose();

    [Test]
    public async Task Prints_the_winner_action_and_why_per_recipient()
    {
        var r = await Run("rules", "test", "--direction", "inbound", "--from", "x@b.spam.test",
            "--recipient", "alice@example.test", "--recipient", "bob@example.test", "--recipient", "zed@nowhere.test", "--config", _config);
        Assert.Multiple(() =>
        {
            Assert.That(r.ExitCode, Is.EqualTo(0), r.Error);
            var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.That(lines, Does.Contain("alice@example.test: rule 'block' → Drop (organization example)"));
            Assert.That(lines, Does.Contain("bob@example.test: rule 'junk-bob' → MoveToJunk (organization example)"));
            Assert.That(r.Out, Does.Contain("same sender specificity as 'block', beat it on recipient specificity"));
            Assert.That(lines, Does.Contain("zed@nowhere.test: not a domain of any organization: inbound rules do not apply"));
            Assert.That(lines, Does.Contain("async hook 'metrics' (http://127.0.0.1:9/metrics) fires for alice@example.test, bob@example.test"));
        });
    }

    [Test]
    public async Task Sender_header_is_matched_before_From()
    {
        var r = await Run("rules", "test", "--direction=inbound", "--sender", "boss@a.spam.test", "--from", "x@b.spam.test",
            "--recipient", "alice@example.test", "--json", "--config", _config);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.Error);
        using var doc = JsonDocument.Parse(r.Out);
        var d = doc.RootElement.GetProperty("recipients")[0];
        Assert.Multiple(() =>
        {
            Assert.That(d.GetProperty("rule").GetString(), Is.EqualTo("vip"));
            Assert.That(d.GetProperty("action").GetString(), Is.EqualTo("BypassSpamCheck"));
            Assert.That(d.GetProperty("matchedHeader").GetString(), Is.EqualTo("Sender"));
            Assert.That(d.GetProperty("senderSpecificity").GetString(), Is.EqualTo("address"));
            Assert.That(d.GetProperty("decidedBy").GetString(), Is.EqualTo("SenderSpecificity"));
            Assert.That(d.GetProperty("runnerUp").GetString(), Is.EqualTo("block"));
        });
    }

    [Test]
    public async Task Headers_can_come_from_a_message_file()
    {
        var eml = _temp.File("m.eml");
        File.WriteAllText(eml, "From: Someone <x@b.spam.test>\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nbody\r\n");
        var r = await Run("rules", "test", "--direction", "inbound", "--message", eml, "--recipient", "alice@example.test", "--json", "--config", _config);
        using var doc = JsonDocument.Parse(r.Out);
        Assert.That(doc.RootElement.GetProperty("recipients")[0].GetProperty("rule").GetString(), Is.EqualTo("block"));
    }

    [Test]
    public async Task Outbound_uses_the_sender_organization_rules()
    {
        var r = await Run("rules", "test", "--direction", "outbound", "--from", "alice@example.test", "--recipient", "x@partner.test",
            "--recipient", "y@elsewhere.test", "--config", _config);
        Assert.Multiple(() =>
        {
            Assert.That(r.ExitCode, Is.EqualTo(0), r.Error);
            Assert.That(r.Out, Does.Contain("x@partner.test: rule 'via-relay' → RouteToSmtpGateway via gateway 'relay' (organization example)"));
            Assert.That(r.Out, Does.Contain("y@elsewhere.test: no rule → Default (organization example)"));
        });
    }

    [TestCase(new[] { "rules", "test", "--from", "a@b.test", "--recipient", "c@d.test" }, "--direction inbound|outbound is required")]
    [TestCase(new[] { "rules", "test", "--direction", "sideways", "--from", "a@b.test", "--recipient", "c@d.test" }, "--direction inbound|outbound is required")]
    [TestCase(new[] { "rules", "test", "--direction", "inbound", "--from", "a@b.test" }, "at least one --recipient")]
    [TestCase(new[] { "rules", "test", "--direction", "inbound", "--recipient", "c@d.test" }, "give --sender, --from or a --message")]
    [TestCase(new[] { "rules", "test", "--direction", "inbound", "--json=yes" }, "--json takes no value")]
    [TestCase(new[] { "config", "check", "--json" }, "unknown option '--json'")]
    public async Task Bad_arguments_exit_1_with_a_reason(string[] args, string message)
    {
        var r = await Run([.. args, "--config", _config]);
        Assert.Multiple(() =>
        {
            Assert.That(r.ExitCode, Is.EqualTo(1));
            Assert.That(r.Error, Does.Contain(message));
        });
    }

    [Test]
    public async Task Help_lists_the_options()
    {
        var r = await Run("rules", "test", "--help");
        Assert.That(r.Out, Does.Contain("--recipient ADDR").And.Contain("--message FILE.eml"));
    }
}
