using System.Text.Json.Nodes;
using MailServer.Rules.FlowRules;
using MailServer.Rules.MailboxRules;
using MailServer.Server.Configuration;
using MailServer.Tests.Configuration;
using NUnit.Framework;

namespace MailServer.Tests.Rules.FlowRules;

/// <summary>The config side of the rule engine: validation paths in ConfigLoader, mapping to compiled sets.</summary>
[TestFixture]
public sealed class FlowRulesConfigTests
{
    private static void AssertError(Action<JsonObject> mutate, string path, string fragment)
    {
        var root = ConfigFixtures.Valid();
        mutate(root);
        var errors = ConfigFixtures.Errors(root);
        Assert.That(errors.Any(e => e.Path == path && e.Message.Contains(fragment, StringComparison.Ordinal)),
            $"expected an error at {path} containing '{fragment}', got:\n{string.Join("\n", errors)}");
    }

    [Test]
    public void A_synchronous_hook_rule_needs_the_destination_star() =>
        AssertError(r => r.Org()["FlowRules"]!["Inbound"]![1]!["RecipientPatterns"] = new JsonArray("example.test"),
            "$.MailServer.Organizations[0].FlowRules.Inbound[1].RecipientPatterns", "exactly the recipient pattern \"*\"");

    [Test]
    public void An_asynchronous_hook_rule_may_name_any_destination()
    {
        var root = ConfigFixtures.Valid();
        root.Org()["FlowRules"]!["Inbound"]![1]!["RecipientPatterns"] = new JsonArray("example.test");
        root.Org()["FlowRules"]!["Inbound"]![1]!["Hook"]!["Synchronous"] = false;
        Assert.That(ConfigFixtures.LoadOk(root).Organizations[0].FlowRules.Inbound[1].RecipientPatterns, Is.EqualTo(new[] { "example.test" }));
    }

    [Test]
    public void The_fallback_is_never_RunHook() =>
        AssertError(r => r.Org()["FlowRules"]!["Inbound"]![1]!["Hook"]!["FallbackAction"] = "RunHook",
            "$.MailServer.Organizations[0].FlowRules.Inbound[1].Hook.FallbackAction", "not one of");

    [Test]
    public void A_loaded_config_compiles_to_the_same_rules()
    {
        var config = ConfigFixtures.LoadOk(ConfigFixtures.Valid());
        var set = config.ToFlowRuleSets()[ConfigFixtures.OrgId];
        Assert.Multiple(() =>
        {
            Assert.That(set.Inbound.Select(r => (r.Name, r.Action)), Is.EqualTo(new[] { ("block", FlowAction.Drop), ("hook", FlowAction.RunHook) }));
            Assert.That(set.Inbound[1].Hook, Is.EqualTo(new HookDefinition(new Uri("https://hooks.example.net/x"), true, FlowAction.Bounce, 30, "s")));
            Assert.That(set.Outbound.Single().Definition.SmtpGateway, Is.EqualTo("relay"));
            Assert.That(set.Outbound.Single().RecipientPatterns.Select(p => p.Kind), Is.EqualTo(new[] { PatternKind.Domain, PatternKind.Address }));
        });
    }

    [Test]
    public void The_sample_appsettings_compiles()
    {
        var result = ConfigLoader.Load(Path.Combine(ConfigFixtures.RepositoryRoot(), "appsettings.json"));
        Assert.That(result, Is.TypeOf<ConfigLoadResult.Ok>());
        Assert.That(() => ((ConfigLoadResult.Ok)result).Config.ToFlowRuleSets(), Throws.Nothing);
    }

    private static JsonNode MailboxRules() => JsonNode.Parse("""
        [ { "Name": "news",
            "Conditions": [ { "Field": "Sender", "Contains": "news@" }, { "Field": "Header", "Header": "List-Id", "Contains": "weekly" } ],
            "Actions": [ { "Type": "Move", "Folder": "News" }, { "Type": "MarkRead" }, { "Type": "Forward", "To": "Bob@Example.test" } ],
            "StopProcessingRules": true } ]
        """)!;

    [Test]
    public void Mailbox_rules_load_per_user()
    {
        var root = ConfigFixtures.Valid();
        root.User(0)["MailboxRules"] = MailboxRules();
        var config = ConfigFixtures.LoadOk(root);
        var set = config.MailboxRulesOf("alice@example.test");
        Assert.Multiple(() =>
        {
            Assert.That(set.Rules.Single().Conditions, Is.EqualTo(new MailboxRuleCondition[]
            {
                new MailboxRuleCondition.SenderContains("news@"), new MailboxRuleCondition.HeaderContains("List-Id", "weekly"),
            }));
            Assert.That(set.Rules.Single().Actions, Is.EqualTo(new MailboxRuleAction[]
            {
                new MailboxRuleAction.Move("News"), new MailboxRuleAction.MarkRead(), new MailboxRuleAction.Forward("bob@example.test"),
            }));
            Assert.That(set.Rules.Single().StopProcessingRules, Is.True);
            Assert.That(config.MailboxRulesOf("bob@example.test").Rules, Is.Empty);
        });
    }

    [TestCase("Actions", 0, "Type", "Moove", "not one of")]
    [TestCase("Actions", 2, "To", "nobody", "not a valid email address")]
    [TestCase("Conditions", 0, "Field", "Body", "not one of")]
    [TestCase("Conditions", 1, "Contains", "", "must not be empty")]
    public void Mailbox_rule_errors_have_paths(string list, int index, string key, string value, string fragment)
    {
        var rules = MailboxRules();
        rules[0]![list]![index]![key] = value;
        AssertError(r => r.User(0)["MailboxRules"] = rules, $"$.MailServer.Organizations[0].Users[0].MailboxRules[0].{list}[{index}].{key}", fragment);
    }

    [Test]
    public void Message_flow_api_tokens_load_with_their_scope()
    {
        var root = ConfigFixtures.Valid();
        root.Org()["MessageFlowApi"] = JsonNode.Parse("""{ "Tokens": [ { "Token": "0123456789abcdef0123456789abcdef", "Contexts": [ "incoming" ], "AllowUpdate": true } ] }""");
        var token = ConfigFixtures.LoadOk(root).Organizations[0].MessageFlowApi!.Tokens.Single();
        Assert.Multiple(() =>
        {
            Assert.That(token.Contexts, Is.EqualTo(new[] { "incoming" }));
            Assert.That(token.AllowUpdate, Is.True);
            Assert.That(token.ToString(), Does.Not.Contain("0123456789abcdef"), "a token is never printed");
        });
    }

    [TestCase("""{ "Tokens": [ { "Token": "short", "Contexts": [ "incoming" ] } ] }""", "Tokens[0].Token", "at least 32 characters")]
    [TestCase("""{ "Tokens": [ { "Token": "0123456789abcdef0123456789abcdef", "Contexts": [ "sideways" ] } ] }""", "Tokens[0].Contexts[0]", "not one of: incoming, outgoing")]
    [TestCase("""{ "Tokens": [ { "Token": "0123456789abcdef0123456789abcdef" } ] }""", "Tokens[0].Contexts", "is required")]
    public void Message_flow_api_token_errors_have_paths(string json, string where, string fragment) =>
        AssertError(r => r.Org()["MessageFlowApi"] = JsonNode.Parse(json), "$.MailServer.Organizations[0].MessageFlowApi." + where, fragment);
}
