using MailServer.Rules.FlowRules;
using NUnit.Framework;

namespace MailServer.Tests.Rules.FlowRules;

/// <summary>§9.4: the four pattern forms, '+' refused, case-insensitive matching, the specificity ladder.</summary>
[TestFixture]
public sealed class FlowPatternTests
{
    [TestCase("user@example.com", PatternKind.Address)]
    [TestCase("User@Example.COM", PatternKind.Address)]
    [TestCase("example.com", PatternKind.Domain)]
    [TestCase("*.example.com", PatternKind.WildcardDomain)]
    [TestCase("*", PatternKind.Any)]
    [TestCase("localhost", PatternKind.Domain)]
    public void Valid_forms_parse(string text, PatternKind kind)
    {
        var p = FlowPattern.TryParse(text, out var error);
        Assert.That(p?.Kind, Is.EqualTo(kind), error);
        Assert.That(p!.Text, Is.EqualTo(text.ToLowerInvariant()));
    }

    [TestCase("user+tag@example.com", "+ symbol")]
    [TestCase("+@example.com", "+ symbol")]
    [TestCase("ex+ample.com", "+ symbol")]
    [TestCase("*@example.com", "not an address")]
    [TestCase("user@*.example.com", "not an address")]
    [TestCase("ex*ample.com", "not an address")]
    [TestCase("example.*", "not an address")]
    [TestCase("**", "not an address")]
    [TestCase("*.", "not an address")]
    [TestCase("*example.com", "not an address")]
    [TestCase("a.*.example.com", "not an address")]
    [TestCase("@example.com", "not an address")]
    [TestCase("user@", "not an address")]
    [TestCase("a@b@example.com", "not an address")]
    [TestCase("-bad.example.com", "not an address")]
    [TestCase("", "cannot be empty")]
    public void Invalid_forms_are_refused_with_a_reason(string text, string reason)
    {
        Assert.That(FlowPattern.TryParse(text, out var error), Is.Null);
        Assert.That(error, Does.Contain(reason));
    }

    [TestCase("user@example.com", "user@example.com", true)]
    [TestCase("user@example.com", "USER@EXAMPLE.COM", true)]
    [TestCase("user@example.com", "other@example.com", false)]
    [TestCase("user@example.com", "user+tag@example.com", false)]
    [TestCase("example.com", "anyone@example.com", true)]
    [TestCase("example.com", "anyone@Example.Com", true)]
    [TestCase("example.com", "user+tag@example.com", true)]
    [TestCase("example.com", "anyone@sub.example.com", false)]
    [TestCase("example.com", "anyone@badexample.com", false)]
    [TestCase("*.example.com", "anyone@example.com", true)]
    [TestCase("*.example.com", "anyone@sub.example.com", true)]
    [TestCase("*.example.com", "anyone@a.b.example.com", true)]
    [TestCase("*.example.com", "anyone@badexample.com", false)]
    [TestCase("*.example.com", "anyone@example.com.evil.test", false)]
    [TestCase("*", "anyone@anywhere.test", true)]
    [TestCase("*", "user+tag@anywhere.test", true)]
    public void Matching(string pattern, string address, bool matches)
    {
        Assert.That(FlowPattern.TryParse(pattern, out _)!.Matches(address), Is.EqualTo(matches));
    }

    [Test]
    public void Specificity_ladder_address_domain_longer_wildcard_shorter_wildcard_star()
    {
        var ladder = new[] { "a@x.example.com", "x.example.com", "*.x.example.com", "*.example.com", "*" }
            .Select(t => FlowPattern.TryParse(t, out _)!.Specificity).ToList();
        for (var i = 0; i + 1 < ladder.Count; i++)
            Assert.That(ladder[i], Is.GreaterThan(ladder[i + 1]), $"{ladder[i]} above {ladder[i + 1]}");
    }
}
