using System.Net;
using System.Text;
using MailServer.Rules.SenderAuthentication;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Rules.SenderAuthentication;

/// <summary>RFC 7489: policy discovery, alignment, p/sp/pct, strict From parsing, and the enforcement table.</summary>
[TestFixture]
public sealed class DmarcEvaluatorTests
{
    private static readonly IPAddress Client = IPAddress.Parse("192.0.2.1");

    private static HeaderList Headers(string headerSection)
    {
        var message = MimeMessage.Load(new MemoryStream(Encoding.ASCII.GetBytes(headerSection.Replace("\n", "\r\n") + "\r\nbody\r\n")));
        return message.Headers;
    }

    private static SpfVerdict Spf(SpfResult result, string domain) =>
        new(result, SpfIdentity.MailFrom, domain, "bounce@" + domain, Client);

    private static DkimSignatureVerdict Dkim(DkimResult result, string domain) => new(result, domain, "s1", "rsa-sha256", "abcdefgh");

    private static Task<DmarcVerdict> Evaluate(ZoneResolver zone, string from, SpfVerdict spf, params DkimSignatureVerdict[] dkim) =>
        new DmarcEvaluator(zone, PublicSuffixList.Default).EvaluateAsync(Headers($"From: {from}\nMessage-Id: <fixed@x.test>\n"), spf, dkim, CancellationToken.None);

    [TestCase("v=DMARC1; p=reject", "a@example.org", SpfResult.Pass, "example.org", DmarcResult.Pass)]
    [TestCase("v=DMARC1; p=reject", "a@example.org", SpfResult.Pass, "bounce.example.org", DmarcResult.Pass)]   // relaxed
    [TestCase("v=DMARC1; p=reject; aspf=s", "a@example.org", SpfResult.Pass, "bounce.example.org", DmarcResult.Fail)] // strict
    [TestCase("v=DMARC1; p=reject", "a@example.org", SpfResult.Pass, "example.net", DmarcResult.Fail)]          // unaligned
    [TestCase("v=DMARC1; p=reject", "a@example.org", SpfResult.SoftFail, "example.org", DmarcResult.Fail)]      // not a pass
    [TestCase("v=DMARC1; p=reject", "a@example.org", SpfResult.Fail, "example.org", DmarcResult.Fail)]
    [TestCase("v=DMARC1; p=none", "a@example.org", SpfResult.Fail, "example.org", DmarcResult.Fail)]
    [TestCase("v=DMARC1;p=quarantine", "a@example.org", SpfResult.Fail, "example.org", DmarcResult.Fail)]
    [TestCase("v=dmarc1; p=reject", "a@example.org", SpfResult.Fail, "example.org", DmarcResult.None)]         // v= must match exactly
    [TestCase("p=reject; v=DMARC1", "a@example.org", SpfResult.Fail, "example.org", DmarcResult.None)]         // v= must be first
    [TestCase("v=DMARC1; p=bogus", "a@example.org", SpfResult.Fail, "example.org", DmarcResult.None)]          // no valid p, no rua
    [TestCase(null, "a@example.org", SpfResult.Fail, "example.org", DmarcResult.None)]
    public async Task Spf_alignment_and_record_selection(string? record, string from, SpfResult spf, string spfDomain, DmarcResult expected)
    {
        var zone = new ZoneResolver();
        if (record is not null)
            zone.Txt("_dmarc.example.org", record);
        var verdict = await Evaluate(zone, from, Spf(spf, spfDomain));
        Assert.That(verdict.Result, Is.EqualTo(expected), verdict.Problem);
    }

    [TestCase("v=DMARC1; p=reject", "mail.example.org", DmarcResult.Pass)]
    [TestCase("v=DMARC1; p=reject; adkim=s", "mail.example.org", DmarcResult.Fail)]
    [TestCase("v=DMARC1; p=reject; adkim=s", "example.org", DmarcResult.Pass)]
    [TestCase("v=DMARC1; p=reject", "example.net", DmarcResult.Fail)]
    public async Task Dkim_alignment(string record, string signingDomain, DmarcResult expected)
    {
        var zone = new ZoneResolver().Txt("_dmarc.example.org", record);
        var verdict = await Evaluate(zone, "a@example.org", Spf(SpfResult.None, "example.net"), Dkim(DkimResult.Pass, signingDomain));
        Assert.That(verdict.Result, Is.EqualTo(expected));
    }

    [Test]
    public async Task Failed_aligned_signature_does_not_pass()
    {
        var zone = new ZoneResolver().Txt("_dmarc.example.org", "v=DMARC1; p=reject");
        var verdict = await Evaluate(zone, "a@example.org", Spf(SpfResult.None, "example.net"),
            Dkim(DkimResult.Fail, "example.org"), Dkim(DkimResult.Pass, "example.net"));
        Assert.That(verdict.Result, Is.EqualTo(DmarcResult.Fail));
    }

    [Test]
    public async Task Subdomain_falls_back_to_the_organizational_domain_and_its_sp()
    {
        var zone = new ZoneResolver().Txt("_dmarc.example.org", "v=DMARC1; p=quarantine; sp=reject");
        var sub = await Evaluate(zone, "a@news.example.org", Spf(SpfResult.Fail, "news.example.org"));
        var own = await Evaluate(zone, "a@example.org", Spf(SpfResult.Fail, "example.org"));
        Assert.Multiple(() =>
        {
            Assert.That(sub.Result, Is.EqualTo(DmarcResult.Fail));
            Assert.That(sub.Policy, Is.EqualTo(DmarcPolicy.Reject));
            Assert.That(own.Policy, Is.EqualTo(DmarcPolicy.Quarantine));
        });
    }

    [Test]
    public async Task A_record_at_the_subdomain_wins_over_the_organizational_domain()
    {
        var zone = new ZoneResolver()
            .Txt("_dmarc.example.org", "v=DMARC1; p=reject")
            .Txt("_dmarc.news.example.org", "v=DMARC1; p=none");
        var verdict = await Evaluate(zone, "a@news.example.org", Spf(SpfResult.Fail, "news.example.org"));
        Assert.That(verdict.Policy, Is.EqualTo(DmarcPolicy.None));
    }

    [Test]
    public async Task Organizational_domain_uses_the_public_suffix_list()
    {
        // co.uk is a public suffix: the organizational domain of mail.shop.example.co.uk is example.co.uk.
        var zone = new ZoneResolver().Txt("_dmarc.example.co.uk", "v=DMARC1; p=reject");
        var verdict = await Evaluate(zone, "a@mail.shop.example.co.uk", Spf(SpfResult.Pass, "other.example.co.uk"));
        Assert.Multiple(() =>
        {
            Assert.That(verdict.Result, Is.EqualTo(DmarcResult.Pass)); // relaxed: same organizational domain
            Assert.That(PublicSuffixList.Default.OrganizationalDomainOf("mail.shop.example.co.uk"), Is.EqualTo("example.co.uk"));
            Assert.That(PublicSuffixList.Default.OrganizationalDomainOf("a.b.example.test"), Is.EqualTo("example.test"));
            Assert.That(PublicSuffixList.Default.OrganizationalDomainOf("co.uk"), Is.EqualTo("co.uk"));
        });
    }

    [Test]
    public async Task Policy_lookup_servfail_is_a_temperror_that_never_rejects()
    {
        var zone = new ZoneResolver().ServFail("_dmarc.example.org");
        var verdict = await Evaluate(zone, "a@example.org", Spf(SpfResult.Fail, "example.org"));
        var all = new SenderAuthenticationVerdict(Spf(SpfResult.Fail, "example.org"), [], ArcResult.None, verdict);
        Assert.Multiple(() =>
        {
            Assert.That(verdict.Result, Is.EqualTo(DmarcResult.TempError));
            Assert.That(all.DispositionFor(enforce: true), Is.EqualTo(DmarcDisposition.Deliver));
        });
    }

    [TestCase("From: a@example.org\nFrom: b@example.org\n", "2 From headers")]
    [TestCase("From: a@example.org, b@example.org\n", "2 addresses in From")]
    [TestCase("To: a@example.org\n", "no From header")]
    [TestCase("From: undisclosed\n", null)]
    [TestCase("From: \"x\" <a@example.org>\r\nBcc: x@evil.test\n", null)]
    public async Task Zero_or_several_authors_fail_dmarc(string headers, string? problem)
    {
        var zone = new ZoneResolver().Txt("_dmarc.example.org", "v=DMARC1; p=reject");
        var verdict = await new DmarcEvaluator(zone, PublicSuffixList.Default)
            .EvaluateAsync(Headers(headers), Spf(SpfResult.Pass, "example.org"), [], CancellationToken.None);
        if (problem is null && verdict.FromDomain is not null)
        {
            // The Bcc line is its own header: the From header itself is well formed and passes.
            Assert.That(verdict.Result, Is.EqualTo(DmarcResult.Pass));
            return;
        }
        Assert.That(verdict.Result, Is.EqualTo(DmarcResult.Fail));
        if (problem is not null)
            Assert.That(verdict.Problem, Is.EqualTo(problem));
    }

    [Test]
    public void Strict_parsing_refuses_what_lenient_parsing_splits_into_two_addresses()
    {
        // docs/dependencies.md, "MimeKit": by default "user@example.com\r\nBcc: x@evil.test" (inside one field value) parses as two addresses.
        var value = Encoding.ASCII.GetBytes("a@example.org\r\n x@evil.test");
        var lenient = InternetAddressList.TryParse(ParserOptions.Default, value, out var lenientList) ? lenientList.Mailboxes.Count() : 0;
        var headers = new HeaderList { new Header(Encoding.ASCII, HeaderId.From, "a@example.org x@evil.test") };
        var domain = DmarcEvaluator.FromDomainOf(headers, out var problem);
        Assert.Multiple(() =>
        {
            Assert.That(lenient, Is.EqualTo(2), "the pitfall this guards against");
            Assert.That(domain, Is.Null);
            Assert.That(problem, Is.Not.Null);
        });
    }

    [Test]
    public async Task Pct_samples_deterministically_by_message_id()
    {
        // Find one Message-Id inside a 50% sample and one outside it.
        var inside = Enumerable.Range(0, 1000).Select(i => $"<m{i}@x.test>").First(id => DmarcEvaluator.SampleBucket(id) < 50);
        var outside = Enumerable.Range(0, 1000).Select(i => $"<m{i}@x.test>").First(id => DmarcEvaluator.SampleBucket(id) >= 50);
        var zone = new ZoneResolver().Txt("_dmarc.example.org", "v=DMARC1; p=reject; pct=50");
        var evaluator = new DmarcEvaluator(zone, PublicSuffixList.Default);
        var sampled = await evaluator.EvaluateAsync(Headers($"From: a@example.org\nMessage-Id: {inside}\n"), Spf(SpfResult.Fail, "example.org"), [], CancellationToken.None);
        var spared = await evaluator.EvaluateAsync(Headers($"From: a@example.org\nMessage-Id: {outside}\n"), Spf(SpfResult.Fail, "example.org"), [], CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(sampled.Policy, Is.EqualTo(DmarcPolicy.Reject));
            Assert.That(sampled.AppliedPolicy, Is.EqualTo(DmarcPolicy.Reject));
            Assert.That(spared.Policy, Is.EqualTo(DmarcPolicy.Reject));
            Assert.That(spared.AppliedPolicy, Is.EqualTo(DmarcPolicy.Quarantine), "RFC 7489 §6.6.4: the next less strict policy");
        });
    }

    [TestCase(DmarcResult.Fail, DmarcPolicy.Reject, true, DmarcDisposition.Reject)]
    [TestCase(DmarcResult.Fail, DmarcPolicy.Quarantine, true, DmarcDisposition.Quarantine)]
    [TestCase(DmarcResult.Fail, DmarcPolicy.None, true, DmarcDisposition.Deliver)]
    [TestCase(DmarcResult.Fail, DmarcPolicy.Reject, false, DmarcDisposition.Deliver)]
    [TestCase(DmarcResult.Pass, DmarcPolicy.Reject, true, DmarcDisposition.Deliver)]
    public void Enforcement_table(DmarcResult result, DmarcPolicy policy, bool enforce, DmarcDisposition expected)
    {
        var verdict = new SenderAuthenticationVerdict(Spf(SpfResult.Fail, "example.org"), [], ArcResult.None,
            new DmarcVerdict(result, "example.org", policy, result == DmarcResult.Fail ? policy : null, false, false));
        Assert.Multiple(() =>
        {
            Assert.That(verdict.DispositionFor(enforce), Is.EqualTo(expected));
            Assert.That(verdict.DmarcPolicyName, Is.EqualTo(result == DmarcResult.Fail ? policy.ToString().ToUpperInvariant() : null));
        });
    }
}
