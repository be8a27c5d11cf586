using System.Net;
using MailServer.Rules.SenderAuthentication;
using NUnit.Framework;

namespace MailServer.Tests.Rules.SenderAuthentication;

/// <summary>
/// RFC 7208 check_host(): the Appendix A examples (zone of §A, records of §A.1–§A.4) and openspf test-suite
/// style cases for syntax, limits and errors. Pure: an in-memory zone.
/// </summary>
[TestFixture]
public sealed class SpfEvaluatorTests
{
    /// <summary>RFC 7208 Appendix A zone, with <paramref name="record"/> as example.com's SPF record.</summary>
    private static ZoneResolver AppendixA(string? record) =>
        new ZoneResolver()
            .Txt("example.com", record is null ? [] : [record])
            .Mx("example.com", 10, "mail-a.example.com").Mx("example.com", 20, "mail-b.example.com")
            .A("example.com", "192.0.2.10", "192.0.2.11")
            .A("amy.example.com", "192.0.2.65")
            .A("bob.example.com", "192.0.2.66")
            .A("mail-a.example.com", "192.0.2.129")
            .A("mail-b.example.com", "192.0.2.130")
            .Cname("www.example.com", "example.com")
            .Mx("example.org", 10, "mail-c.example.org")
            .A("mail-c.example.org", "192.0.2.140")
            .Ptr("192.0.2.10", "example.com").Ptr("192.0.2.11", "example.com")
            .Ptr("192.0.2.65", "amy.example.com").Ptr("192.0.2.66", "bob.example.com")
            .Ptr("192.0.2.129", "mail-a.example.com").Ptr("192.0.2.130", "mail-b.example.com")
            .Ptr("192.0.2.140", "mail-c.example.org")
            .Ptr("10.2.3.4", "bob.example.com");

    private static Task<SpfVerdict> Check(ZoneResolver zone, string ip, string sender = "user@example.com", string helo = "mail.example.com") =>
        new SpfEvaluator(zone, "mx.receiver.test").CheckAsync(IPAddress.Parse(ip), sender, helo, CancellationToken.None);

    // RFC 7208 §A.1 simple examples.
    [TestCase("v=spf1 +all", "192.0.2.200", SpfResult.Pass)]
    [TestCase("v=spf1 a -all", "192.0.2.10", SpfResult.Pass)]
    [TestCase("v=spf1 a -all", "192.0.2.11", SpfResult.Pass)]
    [TestCase("v=spf1 a -all", "192.0.2.12", SpfResult.Fail)]
    [TestCase("v=spf1 a:example.org -all", "192.0.2.10", SpfResult.Fail)]
    [TestCase("v=spf1 mx -all", "192.0.2.129", SpfResult.Pass)]
    [TestCase("v=spf1 mx -all", "192.0.2.130", SpfResult.Pass)]
    [TestCase("v=spf1 mx -all", "192.0.2.10", SpfResult.Fail)]
    [TestCase("v=spf1 mx:example.org -all", "192.0.2.140", SpfResult.Pass)]
    [TestCase("v=spf1 mx:example.org -all", "192.0.2.129", SpfResult.Fail)]
    [TestCase("v=spf1 mx mx:example.org -all", "192.0.2.129", SpfResult.Pass)]
    [TestCase("v=spf1 mx mx:example.org -all", "192.0.2.140", SpfResult.Pass)]
    [TestCase("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.131", SpfResult.Pass)]
    [TestCase("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.143", SpfResult.Pass)]
    [TestCase("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.132", SpfResult.Fail)]
    [TestCase("v=spf1 ptr -all", "192.0.2.65", SpfResult.Pass)]
    [TestCase("v=spf1 ptr -all", "192.0.2.10", SpfResult.Pass)]
    [TestCase("v=spf1 ptr -all", "192.0.2.140", SpfResult.Fail)] // mail-c.example.org is not under example.com
    [TestCase("v=spf1 ptr -all", "10.2.3.4", SpfResult.Fail)]    // bob.example.com does not resolve back to 10.2.3.4
    [TestCase("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.65", SpfResult.Fail)]
    [TestCase("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.129", SpfResult.Pass)]
    [TestCase("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.143", SpfResult.Pass)]
    [TestCase("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.144", SpfResult.Fail)]
    public async Task Appendix_A1_simple_examples(string record, string ip, SpfResult expected)
    {
        var verdict = await Check(AppendixA(record), ip);
        Assert.That(verdict.Result, Is.EqualTo(expected), verdict.Problem);
    }

    // RFC 7208 §A.2 multiple domain example: example.org includes example.com; la.example.org redirects.
    [TestCase("user@example.org", "192.0.2.10", SpfResult.Pass)]
    [TestCase("user@example.org", "192.0.2.140", SpfResult.Pass)]
    [TestCase("user@example.org", "192.0.2.200", SpfResult.Fail)]
    [TestCase("user@la.example.org", "192.0.2.10", SpfResult.Pass)]
    public async Task Appendix_A2_include_and_redirect(string sender, string ip, SpfResult expected)
    {
        var zone = AppendixA("v=spf1 a -all")
            .Txt("example.org", "v=spf1 include:example.com mx -all")
            .Txt("la.example.org", "v=spf1 redirect=example.org");
        var verdict = await Check(zone, ip, sender);
        Assert.That(verdict.Result, Is.EqualTo(expected), verdict.Problem);
    }

    // RFC 7208 §A.3 DNSBL style: exists: with the reversed client address.
    [TestCase("192.0.2.1", SpfResult.Pass)]
    [TestCase("192.0.2.2", SpfResult.Fail)]
    public async Task Appendix_A3_exists_with_address_macro(string ip, SpfResult expected)
    {
        var zone = AppendixA("v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all")
            .A("1.2.0.192.someuser._spf.example.com", "127.0.0.2");
        var verdict = await Check(zone, ip, "someuser@example.com");
        Assert.That(verdict.Result, Is.EqualTo(expected), verdict.Problem);
    }

    // RFC 7208 §A.4 DNS load reduction: a record per address range, reached by macros.
    [Test]
    public async Task Appendix_A4_macro_selected_range()
    {
        var zone = AppendixA("v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all")
            .Txt("ip4._spf.example.com", "v=spf1 -ip4:192.0.2.0/24 +all")
            .Txt("ptr._spf.example.com", "v=spf1 -ptr:example.com +all");
        // The first include passes (its +all) for an address outside 192.0.2.0/24, so "-include" matches: fail.
        Assert.That((await Check(zone, "198.51.100.1")).Result, Is.EqualTo(SpfResult.Fail));
        // Inside the range and named under example.com: neither include matches, +all passes (de Morgan, §A.4).
        Assert.That((await Check(zone, "192.0.2.10")).Result, Is.EqualTo(SpfResult.Pass));
        // Inside the range without a PTR name under example.com: the second include matches: fail.
        Assert.That((await Check(zone, "192.0.2.200")).Result, Is.EqualTo(SpfResult.Fail));
    }

    // RFC 7208 §7.4 macro expansion examples.
    [TestCase("%{s}", "strong-bad@email.example.com")]
    [TestCase("%{o}", "email.example.com")]
    [TestCase("%{d}", "email.example.com")]
    [TestCase("%{d4}", "email.example.com")]
    [TestCase("%{d3}", "email.example.com")]
    [TestCase("%{d2}", "example.com")]
    [TestCase("%{d1}", "com")]
    [TestCase("%{dr}", "com.example.email")]
    [TestCase("%{d2r}", "example.email")]
    [TestCase("%{l}", "strong-bad")]
    [TestCase("%{l-}", "strong.bad")]
    [TestCase("%{lr}", "strong-bad")]
    [TestCase("%{lr-}", "bad.strong")]
    [TestCase("%{l1r-}", "strong")]
    [TestCase("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com")]
    [TestCase("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com")]
    [TestCase("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com")]
    [TestCase("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com")]
    [TestCase("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net")]
    [TestCase("%%%_%-", "% %20")]
    [TestCase("%{S}", "strong-bad%40email.example.com")]
    public async Task Section_7_4_macro_examples(string macro, string expected)
    {
        var context = MacroContext(IPAddress.Parse("192.0.2.3"));
        Assert.That(await SpfMacro.ExpandAsync(macro, context, explanation: false, CancellationToken.None), Is.EqualTo(expected));
    }

    [Test]
    public async Task Section_7_4_ipv6_macro_example()
    {
        var context = MacroContext(IPAddress.Parse("2001:db8::cb01"));
        Assert.That(await SpfMacro.ExpandAsync("%{ir}.%{v}._spf.%{d2}", context, explanation: false, CancellationToken.None),
            Is.EqualTo("1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"));
    }

    private static SpfMacroContext MacroContext(IPAddress ip) => new(
        "strong-bad@email.example.com", "email.example.com", ip, "mx.example.org", "mx.receiver.test",
        DateTimeOffset.UnixEpoch, _ => Task.FromResult("unknown"));

    // openspf test-suite style: record selection, syntax and semantics.
    [TestCase(null, "192.0.2.1", SpfResult.None)]                                     // no TXT at all
    [TestCase("v=spf10 +all", "192.0.2.1", SpfResult.None)]                           // not a v=spf1 record
    [TestCase("V=SPF1 +ALL", "192.0.2.1", SpfResult.Pass)]                            // case-insensitive
    [TestCase("v=spf1", "192.0.2.1", SpfResult.Neutral)]                              // nothing matches, no redirect
    [TestCase("v=spf1 ?all", "192.0.2.1", SpfResult.Neutral)]
    [TestCase("v=spf1 ~all", "192.0.2.1", SpfResult.SoftFail)]
    [TestCase("v=spf1 -all", "192.0.2.1", SpfResult.Fail)]
    [TestCase("v=spf1 ip4:192.0.2.1 -all", "192.0.2.1", SpfResult.Pass)]
    [TestCase("v=spf1 ip4:192.0.2.1 -all", "::ffff:192.0.2.1", SpfResult.Pass)]       // IPv4-mapped client
    [TestCase("v=spf1 ip6:2001:db8::/32 -all", "2001:db8::1", SpfResult.Pass)]
    [TestCase("v=spf1 ip6:2001:db8::/32 -all", "2001:db9::1", SpfResult.Fail)]
    [TestCase("v=spf1 ip4:192.0.2.0/24 -all", "2001:db8::1", SpfResult.Fail)]         // ip4 never matches IPv6
    [TestCase("v=spf1 a//64 -all", "192.0.2.10", SpfResult.Pass)]
    [TestCase("v=spf1 a/24//64 -all", "192.0.2.99", SpfResult.Pass)]
    [TestCase("v=spf1 foo:bar -all", "192.0.2.1", SpfResult.PermError)]               // unknown mechanism
    [TestCase("v=spf1 ip4:192.0.2.1/33 -all", "192.0.2.1", SpfResult.PermError)]      // prefix too long
    [TestCase("v=spf1 ip4:192.0.2.1/024 -all", "192.0.2.1", SpfResult.PermError)]     // leading zero
    [TestCase("v=spf1 ip4:192.0.2 -all", "192.0.2.1", SpfResult.PermError)]           // not a dotted quad
    [TestCase("v=spf1 a:foo -all", "192.0.2.1", SpfResult.PermError)]                 // domain-end needs a toplabel
    [TestCase("v=spf1 a:111.222.33.44 -all", "192.0.2.1", SpfResult.PermError)]       // numeric toplabel
    [TestCase("v=spf1 exists:%{q}.example.com -all", "192.0.2.1", SpfResult.PermError)] // unknown macro letter
    [TestCase("v=spf1 exists:%{d0}.example.com -all", "192.0.2.1", SpfResult.PermError)] // zero digit transformer
    [TestCase("v=spf1 -all foo=%{x}", "192.0.2.1", SpfResult.PermError)]              // unknown modifier, invalid macro
    [TestCase("v=spf1 +all moo.cow-far_out=man:dog/cat", "192.0.2.1", SpfResult.Pass)] // unknown modifier ignored
    [TestCase("v=spf1 redirect=a.example.com redirect=b.example.com", "192.0.2.1", SpfResult.PermError)]
    [TestCase("v=spf1 -all exp=a.example.com exp=b.example.com", "192.0.2.1", SpfResult.PermError)]
    [TestCase("v=spf1 include:nothing.example.com -all", "192.0.2.1", SpfResult.PermError)] // include of none
    [TestCase("v=spf1 redirect=nothing.example.com", "192.0.2.1", SpfResult.PermError)]    // redirect to none
    [TestCase("v=spf1 -all redirect=nothing.example.com", "192.0.2.1", SpfResult.Fail)]    // redirect unused after a match
    [TestCase("v=spf1 ip4:192.0.2.1 ip4:192.0.2.2 ?all x=y", "192.0.2.3", SpfResult.Neutral)]
    public async Task Record_syntax_and_results(string? record, string ip, SpfResult expected)
    {
        var verdict = await Check(AppendixA(record), ip);
        Assert.That(verdict.Result, Is.EqualTo(expected), verdict.Problem);
    }

    [Test]
    public async Task Two_spf_records_are_a_permerror()
    {
        var zone = AppendixA("v=spf1 +all").Txt("example.com", "v=spf1 -all", "some other text");
        Assert.That((await Check(zone, "192.0.2.1")).Result, Is.EqualTo(SpfResult.PermError));
    }

    [Test]
    public async Task Servfail_is_a_temperror_and_nxdomain_is_none()
    {
        var zone = AppendixA("v=spf1 include:broken.example.net -all").ServFail("broken.example.net").ServFail("down.example.net");
        Assert.That((await Check(zone, "192.0.2.1")).Result, Is.EqualTo(SpfResult.TempError));
        Assert.That((await Check(zone, "192.0.2.1", "user@down.example.net")).Result, Is.EqualTo(SpfResult.TempError));
        Assert.That((await Check(zone, "192.0.2.1", "user@nowhere.example.net")).Result, Is.EqualTo(SpfResult.None));
    }

    [Test]
    public async Task Eleven_dns_mechanisms_exceed_the_limit_of_ten()
    {
        var ten = string.Join(' ', Enumerable.Range(1, 10).Select(i => $"a:h{i}.example.com"));
        var zone = AppendixA(null);
        for (var i = 1; i <= 11; i++)
            zone.A($"h{i}.example.com", $"198.51.100.{i}");
        zone.Txt("ten.example.com", $"v=spf1 {ten} ip4:192.0.2.1 -all");
        zone.Txt("eleven.example.com", $"v=spf1 {ten} a:h11.example.com -all");
        Assert.That((await Check(zone, "192.0.2.1", "u@ten.example.com")).Result, Is.EqualTo(SpfResult.Pass));
        Assert.That((await Check(zone, "192.0.2.1", "u@eleven.example.com")).Result, Is.EqualTo(SpfResult.PermError));
        // A match before the eleventh term ends the evaluation first.
        Assert.That((await Check(zone, "198.51.100.1", "u@eleven.example.com")).Result, Is.EqualTo(SpfResult.Pass));
    }

    [Test]
    public async Task Include_loop_ends_in_permerror()
    {
        var zone = AppendixA("v=spf1 include:loop.example.com -all").Txt("loop.example.com", "v=spf1 include:example.com -all");
        Assert.That((await Check(zone, "192.0.2.1")).Result, Is.EqualTo(SpfResult.PermError));
    }

    [Test]
    public async Task Third_void_lookup_is_a_permerror()
    {
        var zone = AppendixA(null)
            .Txt("two.example.com", "v=spf1 a:v1.example.com a:v2.example.com ip4:192.0.2.1 -all")
            .Txt("three.example.com", "v=spf1 a:v1.example.com a:v2.example.com a:v3.example.com ip4:192.0.2.1 -all");
        Assert.That((await Check(zone, "192.0.2.1", "u@two.example.com")).Result, Is.EqualTo(SpfResult.Pass));
        Assert.That((await Check(zone, "192.0.2.1", "u@three.example.com")).Result, Is.EqualTo(SpfResult.PermError));
    }

    [Test]
    public async Task More_than_ten_mx_names_is_a_permerror()
    {
        var zone = AppendixA(null).Txt("many.example.com", "v=spf1 mx -all");
        for (var i = 1; i <= 11; i++)
            zone.Mx("many.example.com", i, $"mx{i}.example.com");
        Assert.That((await Check(zone, "192.0.2.1", "u@many.example.com")).Result, Is.EqualTo(SpfResult.PermError));
    }

    [Test]
    public async Task Fail_carries_the_expanded_explanation()
    {
        var zone = AppendixA("v=spf1 mx -all exp=explain._spf.%{d}")
            .Txt("explain._spf.example.com", "%{i} is not one of %{d}'s designated mail servers (sender %{s})");
        var verdict = await Check(zone, "192.0.2.200");
        Assert.That(verdict.Result, Is.EqualTo(SpfResult.Fail));
        Assert.That(verdict.Explanation, Is.EqualTo("192.0.2.200 is not one of example.com's designated mail servers (sender user@example.com)"));
    }

    [Test]
    public async Task Null_reverse_path_checks_the_helo_identity()
    {
        var zone = AppendixA(null).Txt("mail.example.com", "v=spf1 ip4:192.0.2.5 -all");
        var pass = await Check(zone, "192.0.2.5", sender: "", helo: "mail.example.com");
        Assert.Multiple(() =>
        {
            Assert.That(pass.Result, Is.EqualTo(SpfResult.Pass));
            Assert.That(pass.Identity, Is.EqualTo(SpfIdentity.Helo));
            Assert.That(pass.Sender, Is.EqualTo("postmaster@mail.example.com"));
        });
        Assert.That((await Check(zone, "192.0.2.6", sender: "", helo: "mail.example.com")).Result, Is.EqualTo(SpfResult.Fail));
        Assert.That((await Check(zone, "192.0.2.6", sender: "", helo: "[192.0.2.6]")).Result, Is.EqualTo(SpfResult.None));
    }

    [Test]
    public async Task Ptr_macro_expands_to_the_validated_name()
    {
        var zone = AppendixA("v=spf1 exists:%{p}.allow.example.com -all").A("amy.example.com.allow.example.com", "127.0.0.2");
        Assert.That((await Check(zone, "192.0.2.65")).Result, Is.EqualTo(SpfResult.Pass));
        Assert.That((await Check(zone, "192.0.2.66")).Result, Is.EqualTo(SpfResult.Fail));
    }

    [Test]
    public async Task An_evaluation_past_its_time_limit_is_a_temperror()
    {
        // RFC 7208 §4.6.4: a receiver may give up after 20 s; here the budget is shortened and DNS never answers.
        var evaluator = new SpfEvaluator(new SilentResolver(), "mx.receiver.test", timeLimit: TimeSpan.FromMilliseconds(200));
        var verdict = await evaluator.CheckAsync(IPAddress.Parse("192.0.2.1"), "user@example.com", "h.example.com", CancellationToken.None);
        Assert.That(verdict.Result, Is.EqualTo(SpfResult.TempError));
        Assert.That(verdict.Problem, Does.Contain("longer than"));
    }

    /// <summary>A resolver whose queries never complete until cancelled.</summary>
    private sealed class SilentResolver : MailServer.Rules.Dns.IDnsResolver
    {
        private static async Task<MailServer.Rules.Dns.DnsAnswer<T>> Never<T>(CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new InvalidOperationException("unreachable");
        }

        public Task<MailServer.Rules.Dns.DnsAnswer<string>> LookupTxtAsync(string name, CancellationToken cancellationToken) => Never<string>(cancellationToken);
        public Task<MailServer.Rules.Dns.DnsAnswer<MailServer.Rules.Dns.MxRecord>> LookupMxAsync(string name, CancellationToken cancellationToken) => Never<MailServer.Rules.Dns.MxRecord>(cancellationToken);
        public Task<MailServer.Rules.Dns.DnsAnswer<IPAddress>> LookupAddressesAsync(string name, System.Net.Sockets.AddressFamily family, CancellationToken cancellationToken) => Never<IPAddress>(cancellationToken);
        public Task<MailServer.Rules.Dns.DnsAnswer<string>> LookupPtrAsync(IPAddress address, CancellationToken cancellationToken) => Never<string>(cancellationToken);
    }
}
