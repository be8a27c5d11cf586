using MailServer.Rules.TransportSecurity;
using NUnit.Framework;

namespace MailServer.Tests.Rules.TransportSecurity;

/// <summary>RFC 8461: the policy text, the TXT record and MX matching.</summary>
[TestFixture]
public sealed class MtaStsPolicyTests
{
    [Test]
    public void The_rfc_example_policy_parses()
    {
        // RFC 8461 §3.2's example, with LF line ends (CRLF is also accepted).
        var policy = MtaStsPolicy.Parse("1", "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n");
        Assert.That(policy, Is.Not.Null);
        Assert.Multiple(() =>
        {
            Assert.That(policy!.Mode, Is.EqualTo(MtaStsMode.Enforce));
            Assert.That(policy.MxPatterns, Is.EqualTo(new[] { "mail.example.com", "*.example.net", "backupmx.example.com" }));
            Assert.That(policy.MaxAge, Is.EqualTo(TimeSpan.FromSeconds(604800)));
        });
    }

    [TestCase("mode: enforce\r\nmx: a.example\r\nmax_age: 10\r\n", TestName = "no version")]
    [TestCase("version: STSv1\r\nmode: strict\r\nmx: a.example\r\nmax_age: 10\r\n", TestName = "unknown mode")]
    [TestCase("version: STSv1\r\nmode: enforce\r\nmax_age: 10\r\n", TestName = "enforce without mx")]
    [TestCase("version: STSv1\r\nmode: enforce\r\nmx: a.example\r\n", TestName = "no max_age")]
    public void An_invalid_policy_is_none(string text) => Assert.That(MtaStsPolicy.Parse("1", text), Is.Null);

    [Test]
    public void Max_age_is_capped_at_one_year() =>
        Assert.That(MtaStsPolicy.Parse("1", "version: STSv1\nmode: testing\nmx: a.example\nmax_age: 999999999\n")!.MaxAge,
            Is.EqualTo(MtaStsPolicy.LongestMaxAge));

    [TestCase("mail.example.com", ExpectedResult = true)]
    [TestCase("MAIL.example.com.", ExpectedResult = true)]
    [TestCase("mx1.example.net", ExpectedResult = true)]
    [TestCase("example.net", ExpectedResult = false)]
    [TestCase("a.b.example.net", ExpectedResult = false)]
    [TestCase("mail.example.org", ExpectedResult = false)]
    public bool Mx_patterns_match_one_wildcard_label(string host) =>
        new MtaStsPolicy("1", MtaStsMode.Enforce, ["mail.example.com", "*.example.net"], TimeSpan.FromDays(1)).Lists(host);

    [Test]
    public void The_txt_record_gives_the_id_only_when_there_is_exactly_one()
    {
        Assert.That(MtaStsPolicy.RecordId(["v=STSv1; id=20160831085700Z;"]), Is.EqualTo("20160831085700Z"));
        Assert.That(MtaStsPolicy.RecordId(["v=spf1 -all", "v=STSv1; id=abc"]), Is.EqualTo("abc"));
        Assert.That(MtaStsPolicy.RecordId(["v=STSv1; id=a", "v=STSv1; id=b"]), Is.Null);
        Assert.That(MtaStsPolicy.RecordId(["v=STSv1; id=not-alphanumeric"]), Is.Null);
        Assert.That(MtaStsPolicy.RecordId([]), Is.Null);
    }
}
