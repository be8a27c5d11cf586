using System.Text;
using MailServer.Rules.FlowRules;
using MailServer.Rules.Hooks;
using NUnit.Framework;
using static MailServer.Rules.FlowRules.FlowAction;

namespace MailServer.Tests.Rules.Hooks;

/// <summary>§10.3 response schema and §10.4 limits, including every example of ag-050.</summary>
[TestFixture]
public sealed class HookResponseParserTests
{
    private static HookResponseContext Inbound(FlowAction fallback = Default, params string[] recipients) =>
        new(FlowDirection.Inbound, recipients.Length > 0 ? recipients : ["a@example.test", "b@example.test"], fallback,
            a => a.EndsWith("@example.test", StringComparison.Ordinal));

    private static HookResponseContext Outbound(FlowAction fallback = Default, params string[] recipients) =>
        new(FlowDirection.Outbound, recipients.Length > 0 ? recipients : ["x@partner.test", "y@partner.test"], fallback, _ => false);

    private static HookResponse Parse(string json, HookResponseContext context) => HookResponseParser.Parse(Encoding.UTF8.GetBytes(json), context);

    private static IReadOnlyList<(string, FlowAction, bool, HookActionSource)> Decided(string json, HookResponseContext context)
    {
        var r = Parse(json, context);
        Assert.That(r, Is.TypeOf<HookResponse.Decided>(), () => ((HookResponse.Invalid)r).Reason);
        return ((HookResponse.Decided)r).Recipients.Select(x => (x.Recipient, x.Action, x.Added, x.Source)).ToList();
    }

    [Test]
    public void Remove_a_recipient_example()
    {
        var json = """{"actions":[{"action":{"type":"DEFAULT"},"allRecipients":true},{"action":{"type":"DROP"},"recipients":["b@example.test"]}]}""";
        Assert.That(Decided(json, Inbound()), Is.EqualTo(new[]
        {
            ("a@example.test", Default, false, HookActionSource.AllRecipients),
            ("b@example.test", Drop, false, HookActionSource.Named),
        }));
    }

    [Test]
    public void Bounce_with_custom_text_example()
    {
        var json = """{"actions":[{"action":{"type":"BOUNCE","parameters":{"bounceMessage":"Email in breach of company policy."}},"allRecipients":true}]}""";
        var r = (HookResponse.Decided)Parse(json, Inbound());
        Assert.That(r.Recipients.Select(x => (x.Action, x.BounceMessage)),
            Is.All.EqualTo((Bounce, (string?)"Email in breach of company policy.")));
    }

    [Test]
    public void Added_inbound_recipient_of_the_organization_is_added_as_bcc()
    {
        var json = """{"actions":[{"action":{"type":"DEFAULT"},"recipients":["new@example.test"]},{"action":{"type":"DEFAULT"},"allRecipients":true}]}""";
        Assert.That(Decided(json, Inbound()), Is.EqualTo(new[]
        {
            ("a@example.test", Default, false, HookActionSource.AllRecipients),
            ("b@example.test", Default, false, HookActionSource.AllRecipients),
            ("new@example.test", Default, true, HookActionSource.Named),
        }));
    }

    [Test]
    public void Added_inbound_recipient_outside_the_organization_is_ignored_and_reported()
    {
        var json = """{"actions":[{"action":{"type":"DEFAULT"},"recipients":["spy@evil.test"]},{"action":{"type":"DEFAULT"},"allRecipients":true}]}""";
        var r = (HookResponse.Decided)Parse(json, Inbound());
        Assert.Multiple(() =>
        {
            Assert.That(r.Recipients.Select(x => x.Recipient), Is.EqualTo(new[] { "a@example.test", "b@example.test" }));
            Assert.That(r.IgnoredRecipients, Is.EqualTo(new[] { "spy@evil.test" }));
        });
    }

    [Test]
    public void Added_outbound_recipient_anywhere_is_allowed()
    {
        var json = """{"actions":[{"action":{"type":"DEFAULT"},"recipients":["archive@else.test"]},{"action":{"type":"DEFAULT"},"allRecipients":true}]}""";
        Assert.That(Decided(json, Outbound()).Last(), Is.EqualTo(("archive@else.test", Default, true, HookActionSource.Named)));
    }

    [Test]
    public void Recipients_left_out_without_allRecipients_get_the_fallback()
    {
        var json = """{"actions":[{"action":{"type":"MOVE_TO_JUNK"},"recipients":["a@example.test"]}]}""";
        Assert.That(Decided(json, Inbound(Bounce)), Is.EqualTo(new[]
        {
            ("a@example.test", MoveToJunk, false, HookActionSource.Named),
            ("b@example.test", Bounce, false, HookActionSource.Fallback),
        }));
    }

    [Test]
    public void A_recipient_named_twice_gets_the_more_restrictive_action()
    {
        var json = """{"actions":[{"action":{"type":"BYPASS_SPAM_CHECK"},"recipients":["a@example.test"]},{"action":{"type":"DROP"},"recipients":["A@example.test"]},{"action":{"type":"DEFAULT"},"allRecipients":true}]}""";
        Assert.That(Decided(json, Inbound())[0], Is.EqualTo(("a@example.test", Drop, false, HookActionSource.Named)));
    }

    [Test]
    public void Actions_past_the_tenth_take_the_fallback()
    {
        var recipients = Enumerable.Range(0, 12).Select(i => $"u{i}@example.test").ToArray();
        var actions = recipients.Select(r => $$"""{"action":{"type":"BYPASS_SPAM_CHECK"},"recipients":["{{r}}"]}""");
        var decided = Decided($$"""{"actions":[{{string.Join(",", actions)}}]}""", Inbound(MoveToJunk, recipients));
        Assert.Multiple(() =>
        {
            Assert.That(decided.Take(10).Select(d => d.Item2), Is.All.EqualTo(BypassSpamCheck));
            Assert.That(decided.Skip(10).Select(d => (d.Item2, d.Item4)), Is.All.EqualTo((MoveToJunk, HookActionSource.Fallback)));
        });
    }

    [Test]
    public void Exactly_ten_actions_are_all_honoured()
    {
        var recipients = Enumerable.Range(0, 10).Select(i => $"u{i}@example.test").ToArray();
        var actions = recipients.Select(r => $$"""{"action":{"type":"DROP"},"recipients":["{{r}}"]}""");
        Assert.That(Decided($$"""{"actions":[{{string.Join(",", actions)}}]}""", Inbound(Default, recipients)).Select(d => d.Item2), Is.All.EqualTo(Drop));
    }

    [TestCase("not json", "not JSON")]
    [TestCase("[]", "no \"actions\" array")]
    [TestCase("{}", "no \"actions\" array")]
    [TestCase("""{"actions":{}}""", "no \"actions\" array")]
    [TestCase("""{"actions":[{"recipients":["a@example.test"]}]}""", "no action.type")]
    [TestCase("""{"actions":[{"action":{"type":"ROUTE"},"allRecipients":true}]}""", "not an INBOUND action type")]
    [TestCase("""{"actions":[{"action":{"type":"default"},"allRecipients":true}]}""", "not an INBOUND action type")]
    [TestCase("""{"actions":[{"action":{"type":"DROP"}}]}""", "names no recipients")]
    [TestCase("""{"actions":[{"action":{"type":"DROP"},"allRecipients":false,"recipients":[]}]}""", "names no recipients")]
    [TestCase("""{"actions":[{"action":{"type":"DROP"},"recipients":["not an address"]}]}""", "is not an email address")]
    [TestCase("""{"actions":[{"action":{"type":"DROP"},"recipients":[42]}]}""", "is not an email address")]
    [TestCase("""{"actions":[{"action":{"type":"BOUNCE","parameters":{"bounceMessage":7}},"allRecipients":true}]}""", "bounceMessage is not a string")]
    public void Invalid_inbound_responses(string json, string reason)
    {
        var r = Parse(json, Inbound());
        Assert.That(r, Is.TypeOf<HookResponse.Invalid>());
        Assert.That(((HookResponse.Invalid)r).Reason, Does.Contain(reason));
    }

    [TestCase("MOVE_TO_JUNK")]
    [TestCase("BYPASS_SPAM_CHECK")]
    public void Inbound_only_types_are_invalid_outbound(string type)
    {
        var r = Parse($$"""{"actions":[{"action":{"type":"{{type}}"},"allRecipients":true}]}""", Outbound());
        Assert.That(((HookResponse.Invalid)r).Reason, Does.Contain("not an OUTBOUND action type"));
    }

    [Test]
    public void A_response_over_256_KB_is_invalid()
    {
        var padding = new string(' ', HookResponseParser.MaxResponseBytes);
        var r = Parse("""{"actions":[{"action":{"type":"DEFAULT"},"allRecipients":true}]}""" + padding, Inbound());
        Assert.That(((HookResponse.Invalid)r).Reason, Does.Contain("larger than 256 KB"));
    }

    [Test]
    public void Outbound_at_most_500_recipients()
    {
        string Response(int added) => $$"""{"actions":[{"action":{"type":"DEFAULT"},"recipients":[{{string.Join(",", Enumerable.Range(0, added).Select(i => $"\"n{i}@else.test\""))}}]},{"action":{"type":"DEFAULT"},"allRecipients":true}]}""";
        Assert.Multiple(() =>
        {
            Assert.That(Parse(Response(498), Outbound()), Is.TypeOf<HookResponse.Decided>(), "2 + 498 = 500");
            Assert.That(((HookResponse.Invalid)Parse(Response(499), Outbound())).Reason, Does.Contain("at most 500"));
        });
    }

    [Test]
    public void Fallback_applies_to_every_recipient()
    {
        var f = HookResponseParser.Fallback(Inbound(MoveToJunk));
        Assert.That(f.Recipients.Select(r => (r.Recipient, r.Action, r.Source)), Is.EqualTo(new[]
        {
            ("a@example.test", MoveToJunk, HookActionSource.Fallback),
            ("b@example.test", MoveToJunk, HookActionSource.Fallback),
        }));
    }
}
