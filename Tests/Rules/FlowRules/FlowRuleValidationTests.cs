using MailServer.Rules.FlowRules;
using NUnit.Framework;
using static MailServer.Rules.FlowRules.FlowAction;

namespace MailServer.Tests.Rules.FlowRules;

/// <summary>Compile-time checks of §9.1, §9.4, §10.1, §10.4, each reported with its path.</summary>
[TestFixture]
public sealed class FlowRuleValidationTests
{
    private static readonly Uri Url = new("https://hooks.example.test/flow");

    private static IReadOnlyList<FlowRuleError> Errors(FlowRuleDefinition[] inbound, FlowRuleDefinition[]? outbound = null,
        IReadOnlySet<string>? gateways = null) =>
        FlowRuleSet.Compile(inbound, outbound ?? [], gateways) switch
        {
            FlowRuleCompilation.Invalid i => i.Errors,
            _ => [],
        };

    private static FlowRuleDefinition Rule(FlowAction action = Drop, string[]? senders = null, string[]? recipients = null,
        HookDefinition? hook = null, string? gateway = null, string name = "r") =>
        new(name, action, senders ?? ["*"], recipients ?? ["*"], gateway, hook);

    public static IEnumerable<TestCaseData> InvalidInbound()
    {
        yield return new TestCaseData(Rule(senders: ["a+b@x.test"]), "Inbound[0].SenderPatterns[0]", "+ symbol").SetName("Plus in a sender pattern");
        yield return new TestCaseData(Rule(recipients: ["x.test", "a+b.x.test"]), "Inbound[0].RecipientPatterns[1]", "+ symbol").SetName("Plus in a recipient pattern");
        yield return new TestCaseData(Rule(senders: ["*@x.test"]), "Inbound[0].SenderPatterns[0]", "not an address").SetName("Star in a local part");
        yield return new TestCaseData(Rule(senders: []), "Inbound[0].SenderPatterns", "at least one pattern").SetName("No sender pattern");
        yield return new TestCaseData(Rule(recipients: []), "Inbound[0].RecipientPatterns", "at least one pattern").SetName("No recipient pattern");
        yield return new TestCaseData(Rule(senders: Enumerable.Range(0, 251).Select(i => $"u{i}@x.test").ToArray()), "Inbound[0].SenderPatterns", "at most 250").SetName("251 sender patterns");
        yield return new TestCaseData(Rule(RouteToSmtpGateway, gateway: "relay"), "Inbound[0].Action", "not an inbound action").SetName("Route inbound");
        yield return new TestCaseData(Rule(RunHook), "Inbound[0].Hook", "is required").SetName("RunHook without hook");
        yield return new TestCaseData(Rule(Drop, hook: new HookDefinition(Url, false, Default, 0, null)), "Inbound[0].Hook", "only used with the RunHook").SetName("Hook on Drop");
        yield return new TestCaseData(Rule(RunHook, hook: new HookDefinition(Url, true, RunHook, 0, null)), "Inbound[0].Hook.FallbackAction", "cannot be a fallback").SetName("Fallback RunHook");
        yield return new TestCaseData(Rule(RunHook, hook: new HookDefinition(Url, true, RouteToSmtpGateway, 0, null)), "Inbound[0].Hook.FallbackAction", "cannot be a fallback").SetName("Fallback of the other direction");
        yield return new TestCaseData(Rule(RunHook, hook: new HookDefinition(Url, true, Default, 241, null)), "Inbound[0].Hook.RuleTimeoutMinutes", "between 0 and 240").SetName("Timeout 241");
        yield return new TestCaseData(Rule(RunHook, hook: new HookDefinition(Url, true, Default, -1, null)), "Inbound[0].Hook.RuleTimeoutMinutes", "between 0 and 240").SetName("Timeout -1");
        yield return new TestCaseData(Rule(RunHook, recipients: ["example.test"], hook: new HookDefinition(Url, true, Default, 0, null)), "Inbound[0].RecipientPatterns", "exactly the recipient pattern \"*\"").SetName("Sync hook with a domain destination");
        yield return new TestCaseData(Rule(RunHook, recipients: ["*", "example.test"], hook: new HookDefinition(Url, true, Default, 0, null)), "Inbound[0].RecipientPatterns", "exactly the recipient pattern \"*\"").SetName("Sync hook with star and more");
        yield return new TestCaseData(Rule(RunHook, hook: new HookDefinition(new Uri("ftp://x.test/"), false, Default, 0, null)), "Inbound[0].Hook.Url", "http or https").SetName("Hook URL scheme");
        yield return new TestCaseData(Rule(name: ""), "Inbound[0].Name", "is required").SetName("No name");
    }

    [TestCaseSource(nameof(InvalidInbound))]
    public void Invalid_rule_is_refused_at_its_path(FlowRuleDefinition rule, string path, string message)
    {
        var errors = Errors([rule]);
        Assert.That(errors, Has.Some.Matches<FlowRuleError>(e => e.Path == path && e.Message.Contains(message)),
            () => string.Join("; ", errors));
    }

    [Test]
    public void Async_hook_may_have_any_destination()
    {
        Assert.That(Errors([Rule(RunHook, recipients: ["example.test"], hook: new HookDefinition(Url, false, Default, 0, null))]), Is.Empty);
    }

    [Test]
    public void Rule_names_are_unique_per_direction()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Errors([Rule(name: "x"), Rule(name: "x")]).Single().Path, Is.EqualTo("Inbound[1].Name"));
            Assert.That(Errors([Rule(name: "x")], [Rule(name: "x")]), Is.Empty);
        });
    }

    [Test]
    public void At_most_1000_sender_patterns_per_organization_across_both_directions()
    {
        FlowRuleDefinition Many(int n, int i) => Rule(senders: Enumerable.Range(0, n).Select(j => $"u{j}@d{i}.test").ToArray(), name: $"r{i}");
        var inbound = Enumerable.Range(0, 3).Select(i => Many(250, i)).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(Errors(inbound, [Many(250, 9)]), Is.Empty, "exactly 1000");
            Assert.That(Errors(inbound, [Many(250, 9), Many(1, 10)]).Single().Message, Does.Contain("at most 1000 sender patterns, found 1001"));
        });
    }

    [Test]
    public void Route_needs_a_known_gateway()
    {
        var known = new HashSet<string> { "relay" };
        Assert.Multiple(() =>
        {
            Assert.That(Errors([], [Rule(RouteToSmtpGateway, gateway: "relay")], known), Is.Empty);
            Assert.That(Errors([], [Rule(RouteToSmtpGateway, gateway: "other")], known).Single().Path, Is.EqualTo("Outbound[0].SmtpGateway"));
            Assert.That(Errors([], [Rule(RouteToSmtpGateway)], known).Single().Message, Does.Contain("is required"));
            Assert.That(Errors([], [Rule(Drop, gateway: "relay")], known).Single().Message, Does.Contain("only used with"));
        });
    }

    [Test]
    public void Outbound_actions_exclude_the_inbound_only_ones()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Errors([], [Rule(MoveToJunk)]).Single().Path, Is.EqualTo("Outbound[0].Action"));
            Assert.That(Errors([], [Rule(BypassSpamCheck)]).Single().Path, Is.EqualTo("Outbound[0].Action"));
            Assert.That(Errors([], [Rule(RunHook, hook: new HookDefinition(Url, true, MoveToJunk, 0, null))]).Single().Path,
                Is.EqualTo("Outbound[0].Hook.FallbackAction"));
        });
    }
}
