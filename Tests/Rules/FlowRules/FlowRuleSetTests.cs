using MailServer.Rules.FlowRules;
using NUnit.Framework;
using static MailServer.Rules.FlowRules.FlowAction;

namespace MailServer.Tests.Rules.FlowRules;

/// <summary>WorkMail's matching rules and the precedence of docs/decisions.md, "Email flow rules", one row per sentence: Sender before From, per-recipient splits, every tie-break.</summary>
[TestFixture]
public sealed class FlowRuleSetTests
{
    private static readonly HookDefinition AsyncHook = new(new Uri("http://127.0.0.1:9/hook"), false, Default, 0, null);
    private static readonly HookDefinition SyncHook = new(new Uri("http://127.0.0.1:9/hook"), true, Default, 5, "s");

    private static FlowRuleDefinition R(string name, FlowAction action, string senders, string recipients = "*", HookDefinition? hook = null,
        string? gateway = null) =>
        new(name, action, senders.Split(' '), recipients.Split(' '), gateway ?? (action == RouteToSmtpGateway ? "relay" : null),
            hook ?? (action == RunHook ? AsyncHook : null));

    private static FlowRuleSet Compile(FlowRuleDefinition[] inbound, FlowRuleDefinition[]? outbound = null)
    {
        var result = FlowRuleSet.Compile(inbound, outbound ?? []);
        Assert.That(result, Is.TypeOf<FlowRuleCompilation.Compiled>(),
            () => string.Join("; ", ((FlowRuleCompilation.Invalid)result).Errors));
        return ((FlowRuleCompilation.Compiled)result).RuleSet;
    }

    private static RecipientFlowDecision Inbound(FlowRuleSet set, string? sender, string? from, string recipient = "bob@example.test") =>
        set.Evaluate(FlowDirection.Inbound, new FlowMessage("bounce@else.test", sender, from, [recipient])).Recipients.Single();

    // Each row: rules as "name:Action:senderPatterns:recipientPatterns" separated by '|', Sender header, From header, recipient,
    // expected winner ("-" for none), expected tie-break.
    [TestCase("a:Drop:spam.test:*", null, "x@spam.test", "bob@example.test", "a", FlowTieBreak.OnlyMatch, TestName = "Domain pattern matches From")]
    [TestCase("a:Drop:spam.test:*", null, "x@other.test", "bob@example.test", "-", FlowTieBreak.OnlyMatch, TestName = "No match: default")]
    [TestCase("a:Drop:*.spam.test:*|b:Default:x@sub.spam.test:*", null, "x@sub.spam.test", "bob@example.test", "b", FlowTieBreak.SenderSpecificity, TestName = "Address beats wildcard: Default makes an exception")]
    [TestCase("a:Drop:*.spam.test:*|b:BypassSpamCheck:sub.spam.test:*", null, "x@sub.spam.test", "bob@example.test", "b", FlowTieBreak.SenderSpecificity, TestName = "Exact domain beats wildcard")]
    [TestCase("a:Drop:*.test:*|b:MoveToJunk:*.spam.test:*", null, "x@a.spam.test", "bob@example.test", "b", FlowTieBreak.SenderSpecificity, TestName = "Longer wildcard beats shorter")]
    [TestCase("a:Drop:*:*|b:Default:*.test:*", null, "x@a.test", "bob@example.test", "b", FlowTieBreak.SenderSpecificity, TestName = "Wildcard beats star")]
    [TestCase("a:Drop:spam.test:*|b:Default:spam.test:bob@example.test", null, "x@spam.test", "bob@example.test", "b", FlowTieBreak.RecipientSpecificity, TestName = "Equal sender: recipient address beats star")]
    [TestCase("a:Drop:spam.test:*.test|b:Default:spam.test:example.test", null, "x@spam.test", "bob@example.test", "b", FlowTieBreak.RecipientSpecificity, TestName = "Equal sender: recipient domain beats wildcard")]
    [TestCase("a:Bounce:spam.test:*|b:Drop:spam.test:*", null, "x@spam.test", "bob@example.test", "b", FlowTieBreak.ActionPrecedence, TestName = "Drop beats Bounce")]
    [TestCase("a:MoveToJunk:spam.test:*|b:Bounce:spam.test:*", null, "x@spam.test", "bob@example.test", "b", FlowTieBreak.ActionPrecedence, TestName = "Bounce beats MoveToJunk")]
    [TestCase("a:Default:spam.test:*|b:MoveToJunk:spam.test:*", null, "x@spam.test", "bob@example.test", "b", FlowTieBreak.ActionPrecedence, TestName = "MoveToJunk beats Default")]
    [TestCase("a:BypassSpamCheck:spam.test:*|b:Default:spam.test:*", null, "x@spam.test", "bob@example.test", "b", FlowTieBreak.ActionPrecedence, TestName = "Default beats BypassSpamCheck")]
    [TestCase("a:Drop:spam.test:*|b:Drop:spam.test:*", null, "x@spam.test", "bob@example.test", "a", FlowTieBreak.ConfigurationOrder, TestName = "All equal: first written")]
    [TestCase("a:Drop:spam.test:*|b:Default:nice.test:*", "s@nice.test", "x@spam.test", "bob@example.test", "b", FlowTieBreak.OnlyMatch, TestName = "Sender header matched first")]
    [TestCase("a:Drop:spam.test:*", "s@unknown.test", "x@spam.test", "bob@example.test", "a", FlowTieBreak.OnlyMatch, TestName = "From matched when Sender matches no rule")]
    [TestCase("a:Drop:x@spam.test:*|b:Default:*:*", "s@unknown.test", "x@spam.test", "bob@example.test", "b", FlowTieBreak.OnlyMatch, TestName = "Sender matching a star rule hides From")]
    [TestCase("a:Drop:spam.test:alice@example.test", null, "x@spam.test", "bob@example.test", "-", FlowTieBreak.OnlyMatch, TestName = "Recipient pattern must match")]
    [TestCase("a:Drop:spam.test:*", null, "X@SPAM.TEST", "BOB@EXAMPLE.TEST", "a", FlowTieBreak.OnlyMatch, TestName = "Case-insensitive")]
    [TestCase("a:Drop:user@spam.test:*|b:Default:spam.test:*", null, "user+tag@spam.test", "bob@example.test", "b", FlowTieBreak.OnlyMatch, TestName = "Subaddress not matched by the address pattern")]
    public void Inbound_winner(string rules, string? sender, string? from, string recipient, string winner, FlowTieBreak tie)
    {
        var set = Compile(rules.Split('|').Select(Parse).ToArray());
        var d = Inbound(set, sender, from, recipient);
        Assert.That(d.Rule?.Name ?? "-", Is.EqualTo(winner), d.Why);
        if (winner == "-")
        {
            Assert.That(d.Action, Is.EqualTo(Default));
            Assert.That(d.Why, Does.Contain("no rule matched"));
        }
        else
        {
            Assert.That(d.Match!.DecidedBy, Is.EqualTo(tie), d.Why);
            Assert.That(d.Action, Is.EqualTo(d.Rule!.Action));
        }
    }

    private static FlowRuleDefinition Parse(string row)
    {
        var f = row.Split(':');
        return R(f[0], Enum.Parse<FlowAction>(f[1]), f[2], f[3]);
    }

    [Test]
    public void Inbound_records_which_header_matched_and_says_why()
    {
        var set = Compile([R("block", Drop, "*.spam.test"), R("vip", Default, "boss@a.spam.test")]);
        var bySender = Inbound(set, "boss@a.spam.test", "someone@else.test");
        var byFrom = Inbound(set, null, "x@b.spam.test");
        Assert.Multiple(() =>
        {
            Assert.That(bySender.Match!.Header, Is.EqualTo("Sender"));
            Assert.That(bySender.Why, Does.Contain("'boss@a.spam.test' (address)").And.Contain("beat 'block' on sender specificity"));
            Assert.That(byFrom.Match!.Header, Is.EqualTo("From"));
            Assert.That(byFrom.Rule!.Name, Is.EqualTo("block"));
            Assert.That(byFrom.Why, Does.Contain("no other rule matched"));
        });
    }

    [Test]
    public void Each_rule_applies_to_the_recipients_it_matches()
    {
        var set = Compile([
            R("drop-bob", Drop, "spam.test", "bob@example.test"),
            R("bounce-carol", Bounce, "spam.test", "carol@example.test"),
            R("junk-rest", MoveToJunk, "spam.test", "example.test"),
        ]);
        var result = set.Evaluate(FlowDirection.Inbound,
            new FlowMessage("", null, "x@spam.test", ["bob@example.test", "carol@example.test", "dave@example.test", "erin@other.test"]));
        Assert.That(result.Recipients.Select(r => (r.Recipient, r.Action, r.Rule?.Name)), Is.EqualTo(new[]
        {
            ("bob@example.test", Drop, (string?)"drop-bob"),
            ("carol@example.test", Bounce, "bounce-carol"),
            ("dave@example.test", MoveToJunk, "junk-rest"),
            ("erin@other.test", Default, null),
        }));
    }

    [Test]
    public void Async_hooks_fire_for_every_matching_rule_whatever_wins_and_never_decide()
    {
        var set = Compile([
            R("drop", Drop, "spam.test"),
            R("metrics-all", RunHook, "*"),
            R("metrics-spam", RunHook, "x@spam.test", "bob@example.test"),
            R("metrics-none", RunHook, "nobody@nowhere.test"),
        ]);
        var result = set.Evaluate(FlowDirection.Inbound, new FlowMessage("", null, "x@spam.test", ["bob@example.test", "carol@example.test"]));
        Assert.Multiple(() =>
        {
            Assert.That(result.Recipients.Select(r => r.Rule?.Name), Is.EqualTo(new[] { "drop", "drop" }),
                "the async rule with an address pattern is more specific but does not decide");
            Assert.That(result.AsyncHooks.Select(h => (h.Rule.Name, string.Join(",", h.Recipients))), Is.EqualTo(new[]
            {
                ("metrics-all", "bob@example.test,carol@example.test"),
                ("metrics-spam", "bob@example.test"),
            }));
        });
    }

    [Test]
    public void A_synchronous_hook_rule_that_wins_holds_the_recipient()
    {
        var set = Compile([R("scan", RunHook, "*.test", hook: SyncHook), R("all", Default, "*")]);
        var d = Inbound(set, null, "x@a.test");
        Assert.Multiple(() =>
        {
            Assert.That(d.Rule!.Name, Is.EqualTo("scan"));
            Assert.That(d.HeldForHook, Is.True);
            Assert.That(set.Evaluate(FlowDirection.Inbound, new FlowMessage("", null, "x@a.test", ["b@example.test"])).AsyncHooks, Is.Empty);
        });
    }

    [Test]
    public void A_synchronous_hook_loses_to_any_action_of_equal_specificity()
    {
        var set = Compile([R("scan", RunHook, "*", hook: SyncHook), R("all", BypassSpamCheck, "*")]);
        var d = Inbound(set, null, "x@a.test");
        Assert.That((d.Rule!.Name, d.Match!.DecidedBy), Is.EqualTo(("all", FlowTieBreak.ActionPrecedence)));
    }

    // Outbound: "applied if the recipient and either the Sender or From header matches".
    [TestCase("a:Drop:alice@example.test:partner.test", "alice@example.test", null, "x@partner.test", "a", TestName = "Outbound From matches")]
    [TestCase("a:Drop:alice@example.test:partner.test", "bob@example.test", "alice@example.test", "x@partner.test", "a", TestName = "Outbound From matches though Sender does not")]
    [TestCase("a:Drop:bob@example.test:partner.test", "bob@example.test", "alice@example.test", "x@partner.test", "a", TestName = "Outbound Sender matches")]
    [TestCase("a:Drop:alice@example.test:partner.test", "alice@example.test", null, "x@other.test", "-", TestName = "Outbound recipient must match")]
    [TestCase("a:Default:example.test:*|b:Bounce:example.test:*", "alice@example.test", null, "x@other.test", "b", TestName = "Outbound Bounce beats Default")]
    [TestCase("a:Drop:example.test:*|b:Bounce:example.test:*", "alice@example.test", null, "x@other.test", "a", TestName = "Outbound Drop beats Bounce")]
    [TestCase("a:Default:example.test:*|b:RouteToSmtpGateway:example.test:*", "alice@example.test", null, "x@other.test", "b", TestName = "Outbound Route beats Default")]
    [TestCase("a:RouteToSmtpGateway:example.test:*|b:Bounce:example.test:*", "alice@example.test", null, "x@other.test", "b", TestName = "Outbound Bounce beats Route")]
    [TestCase("a:Drop:example.test:*|b:Default:alice@example.test:*", "alice@example.test", null, "x@other.test", "b", TestName = "Outbound specificity first")]
    public void Outbound_winner(string rules, string from, string? sender, string recipient, string winner)
    {
        var defs = rules.Split('|').Select(Parse).ToArray();
        var set = Compile([], defs);
        var d = set.Evaluate(FlowDirection.Outbound, new FlowMessage(from, sender, from, [recipient])).Recipients.Single();
        Assert.That(d.Rule?.Name ?? "-", Is.EqualTo(winner), d.Why);
    }

    [Test]
    public void Outbound_rules_do_not_apply_inbound()
    {
        var set = Compile([], [R("a", Drop, "*")]);
        Assert.That(Inbound(set, null, "x@a.test").Rule, Is.Null);
    }

    [Test]
    public void Without_Sender_and_From_the_envelope_sender_is_matched()
    {
        var set = Compile([R("a", Drop, "spam.test")]);
        var d = set.Evaluate(FlowDirection.Inbound, new FlowMessage("x@spam.test", null, null, ["b@example.test"])).Recipients.Single();
        Assert.That((d.Rule?.Name, d.Match?.Header), Is.EqualTo(("a", "MAIL FROM")));
    }
}
