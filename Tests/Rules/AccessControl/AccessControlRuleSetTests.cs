using System.Net;
using MailServer.Rules.AccessControl;
using NUnit.Framework;

namespace MailServer.Tests.Rules.AccessControl;

/// <summary>docs/decisions.md, "Access": any matching Deny wins; else any matching Allow; else deny; no rules blocks all.</summary>
[TestFixture]
public sealed class AccessControlRuleSetTests
{
    private static AccessControlRule Rule(string name, AccessRuleEffect effect,
        string[]? protocols = null, string[]? notProtocols = null, string[]? ipRanges = null, string[]? notIpRanges = null,
        string[]? users = null, string[]? notUsers = null) =>
        new(name, effect, protocols ?? [], notProtocols ?? [],
            (ipRanges ?? []).Select(IPNetwork.Parse).ToList(), (notIpRanges ?? []).Select(IPNetwork.Parse).ToList(),
            users ?? [], notUsers ?? []);

    private static AccessRequest Request(string protocol, string ip, string user = "alice@example.test") =>
        new(protocol, IPAddress.Parse(ip), user);

    private static readonly AccessControlRule AllowAll = Rule("default", AccessRuleEffect.Allow);

    [Test]
    public void No_rules_at_all_block_every_login()
    {
        var decision = new AccessControlRuleSet([]).Evaluate(Request("IMAP", "192.0.2.1"));
        Assert.That(decision, Is.EqualTo(new AccessDecision.NoRuleMatched()));
        Assert.That(decision.Granted, Is.False);
        Assert.That(decision.RuleName, Is.Null, "rule_id is absent when no rule matched");
    }

    [Test]
    public void The_default_allow_all_rule_grants_any_protocol_address_and_user()
    {
        var set = new AccessControlRuleSet([AllowAll]);
        foreach (var request in new[] { Request("IMAP", "192.0.2.1"), Request("SMTP", "2001:db8::1", "bob@example.test") })
            Assert.That(set.Evaluate(request), Is.EqualTo(new AccessDecision.Allowed("default")));
    }

    [TestCase("IMAP", "10.1.2.3", "alice@example.test", "deny-imap-from-10", TestName = "A matching Deny beats an earlier Allow")]
    [TestCase("SMTP", "10.1.2.3", "alice@example.test", null, TestName = "Deny for another protocol does not apply")]
    [TestCase("imap", "10.1.2.3", "alice@example.test", "deny-imap-from-10", TestName = "Protocol names compare without case")]
    [TestCase("IMAP", "192.0.2.7", "alice@example.test", null, TestName = "Deny for another range does not apply")]
    public void Deny_wins_over_allow(string protocol, string ip, string user, string? denyingRule)
    {
        var set = new AccessControlRuleSet([AllowAll, Rule("deny-imap-from-10", AccessRuleEffect.Deny, protocols: ["IMAP"], ipRanges: ["10.0.0.0/8"])]);
        var decision = set.Evaluate(Request(protocol, ip, user));
        Assert.That(decision, denyingRule is null
            ? Is.EqualTo(new AccessDecision.Allowed("default"))
            : Is.EqualTo(new AccessDecision.DeniedByRule(denyingRule)));
    }

    [TestCase("192.0.2.10", true)]
    [TestCase("192.0.2.255", true)]
    [TestCase("192.0.3.1", false)]
    [TestCase("::ffff:192.0.2.10", true)] // an IPv4 client on a dual-stack socket
    [TestCase("2001:db8:1::5", true)]
    [TestCase("2001:db9::5", false)]
    public void Ip_ranges_match_IPv4_and_IPv6_CIDR(string ip, bool granted)
    {
        var set = new AccessControlRuleSet([Rule("office", AccessRuleEffect.Allow, ipRanges: ["192.0.2.0/24", "2001:db8::/32"])]);
        Assert.That(set.Evaluate(Request("IMAP", ip)).Granted, Is.EqualTo(granted));
    }

    [TestCase("IMAP", "192.0.2.1", "alice@example.test", false, "deny-outside")]
    [TestCase("IMAP", "10.0.0.1", "alice@example.test", true, "default")]
    [TestCase("IMAP", "192.0.2.1", "bob@example.test", true, "default")]
    [TestCase("SMTP", "192.0.2.1", "alice@example.test", true, "default")]
    public void Not_forms_exclude(string protocol, string ip, string user, bool granted, string rule)
    {
        // "Deny alice IMAP from anywhere but 10/8, for every protocol except SMTP."
        var set = new AccessControlRuleSet([
            AllowAll,
            Rule("deny-outside", AccessRuleEffect.Deny, notProtocols: ["SMTP"], notIpRanges: ["10.0.0.0/8"], users: ["alice@example.test"]),
        ]);
        var decision = set.Evaluate(Request(protocol, ip, user));
        Assert.That((decision.Granted, decision.RuleName), Is.EqualTo((granted, rule)));
    }

    [Test]
    public void Every_condition_of_a_rule_must_hold()
    {
        var set = new AccessControlRuleSet([Rule("alice-imap-office", AccessRuleEffect.Allow,
            protocols: ["IMAP"], ipRanges: ["192.0.2.0/24"], users: ["alice@example.test"], notUsers: ["bob@example.test"])]);
        Assert.Multiple(() =>
        {
            Assert.That(set.Evaluate(Request("IMAP", "192.0.2.1")).Granted, Is.True);
            Assert.That(set.Evaluate(Request("SMTP", "192.0.2.1")), Is.EqualTo(new AccessDecision.NoRuleMatched()));
            Assert.That(set.Evaluate(Request("IMAP", "198.51.100.1")), Is.EqualTo(new AccessDecision.NoRuleMatched()));
            Assert.That(set.Evaluate(Request("IMAP", "192.0.2.1", "carol@example.test")), Is.EqualTo(new AccessDecision.NoRuleMatched()));
        });
    }

    [Test]
    public void A_user_excluded_by_NotUsers_is_not_allowed_by_that_rule()
    {
        var set = new AccessControlRuleSet([Rule("all-but-bob", AccessRuleEffect.Allow, notUsers: ["Bob@Example.test"])]);
        Assert.Multiple(() =>
        {
            Assert.That(set.Evaluate(Request("IMAP", "192.0.2.1", "alice@example.test")).Granted, Is.True);
            Assert.That(set.Evaluate(Request("IMAP", "192.0.2.1", "bob@example.test")).Granted, Is.False, "addresses compare without case");
        });
    }

    [Test]
    public void With_two_matching_deny_rules_the_first_in_configuration_order_is_named()
    {
        var set = new AccessControlRuleSet([AllowAll, Rule("first", AccessRuleEffect.Deny), Rule("second", AccessRuleEffect.Deny)]);
        Assert.That(set.Evaluate(Request("IMAP", "192.0.2.1")), Is.EqualTo(new AccessDecision.DeniedByRule("first")));
    }
}
