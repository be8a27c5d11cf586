using System.Net;
using System.Net.Sockets;
using MailServer.Rules.Dns;
using MailServer.Server.Configuration;
using MailServer.Server.Dns;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Dns;

/// <summary>The server's resolver against a real DNS server on loopback.</summary>
[TestFixture]
public sealed class DnsResolverTests
{
    private LoopbackDnsServer _dns = null!;
    private DnsResolver _resolver = null!;

    [SetUp]
    public void SetUp()
    {
        _dns = LoopbackDnsServer.Start();
        _resolver = new DnsResolver(new DnsConfig([_dns.Address], _dns.Port, TimeoutSeconds: 1));
    }

    [TearDown]
    public async Task TearDown() => await _dns.DisposeAsync();

    [Test]
    public async Task A_TXT_record_of_several_strings_comes_back_joined_and_long_ones_survive_UDP_truncation()
    {
        var longKey = "v=DKIM1; k=rsa; p=" + new string('A', 1200);
        _dns.AddTxtStrings("example.test", "v=spf1 ", "mx -all").AddTxt("sel._domainkey.example.test", longKey);

        var spf = await _resolver.LookupTxtAsync("example.test", CancellationToken.None);
        var dkim = await _resolver.LookupTxtAsync("sel._domainkey.example.test", CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(spf.Code, Is.EqualTo(DnsResultCode.NoError));
            Assert.That(spf.Records, Is.EqualTo(new[] { "v=spf1 mx -all" }));
            Assert.That(dkim.Records, Is.EqualTo(new[] { longKey }));
        });
    }

    [Test]
    public async Task A_negative_answer_with_an_SOA_is_cached_for_the_SOA_minimum_and_one_without_is_asked_again()
    {
        _dns.AddTxt("example.test", "v=spf1 -all");

        // No SOA in the authority section: RFC 2308 §5 says do not cache, so every lookup reaches the server.
        await _resolver.LookupTxtAsync("_dmarc.nowhere.test", CancellationToken.None);
        await _resolver.LookupTxtAsync("_dmarc.nowhere.test", CancellationToken.None);

        _dns.NegativeTtlSeconds = 60;
        var first = await _resolver.LookupTxtAsync("_dmarc.elsewhere.test", CancellationToken.None);
        var second = await _resolver.LookupTxtAsync("_dmarc.elsewhere.test", CancellationToken.None);
        var noData = await _resolver.LookupAddressesAsync("example.test", AddressFamily.InterNetwork, CancellationToken.None);
        var noDataAgain = await _resolver.LookupAddressesAsync("example.test", AddressFamily.InterNetwork, CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(_dns.Queries.Count(q => q == "_dmarc.nowhere.test TXT"), Is.EqualTo(2));
            Assert.That((first.Code, second.Code), Is.EqualTo((DnsResultCode.NameError, DnsResultCode.NameError)));
            Assert.That(_dns.Queries.Count(q => q == "_dmarc.elsewhere.test TXT"), Is.EqualTo(1), "NXDOMAIN with an SOA is cached");
            Assert.That((noData.Code, noDataAgain.Code, noDataAgain.Records.Count), Is.EqualTo((DnsResultCode.NoError, DnsResultCode.NoError, 0)));
            Assert.That(_dns.Queries.Count(q => q == "example.test A"), Is.EqualTo(1), "NODATA with an SOA is cached");
        });
    }

    [Test]
    public async Task A_negative_answer_with_a_zero_negative_TTL_is_not_cached()
    {
        _dns.NegativeTtlSeconds = 0;
        await _resolver.LookupTxtAsync("_dmarc.nowhere.test", CancellationToken.None);
        await _resolver.LookupTxtAsync("_dmarc.nowhere.test", CancellationToken.None);
        Assert.That(_dns.Queries.Count(q => q == "_dmarc.nowhere.test TXT"), Is.EqualTo(2));
    }

    [Test]
    public async Task MX_records_come_back_by_preference_without_the_trailing_dot()
    {
        _dns.AddMx("remote.test", 20, "backup.remote.test").AddMx("remote.test", 10, "mx.remote.test");

        var mx = await _resolver.LookupMxAsync("remote.test", CancellationToken.None);

        Assert.That(mx.Records, Is.EqualTo(new[] { new MxRecord(10, "mx.remote.test"), new MxRecord(20, "backup.remote.test") }));
    }

    [Test]
    public async Task Addresses_of_each_family_and_PTR_names()
    {
        _dns.AddA("mx.remote.test", "192.0.2.10").AddAaaa("mx.remote.test", "2001:db8::10").AddPtr("192.0.2.10", "mx.remote.test");

        var v4 = await _resolver.LookupAddressesAsync("mx.remote.test", AddressFamily.InterNetwork, CancellationToken.None);
        var v6 = await _resolver.LookupAddressesAsync("mx.remote.test", AddressFamily.InterNetworkV6, CancellationToken.None);
        var ptr = await _resolver.LookupPtrAsync(IPAddress.Parse("192.0.2.10"), CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(v4.Records, Is.EqualTo(new[] { IPAddress.Parse("192.0.2.10") }));
            Assert.That(v6.Records, Is.EqualTo(new[] { IPAddress.Parse("2001:db8::10") }));
            Assert.That(ptr.Records, Is.EqualTo(new[] { "mx.remote.test" }));
        });
    }

    [Test]
    public async Task A_missing_name_is_NXDOMAIN_and_a_name_without_that_type_is_an_empty_answer_both_void()
    {
        _dns.AddA("host.example.test", "192.0.2.1");

        var missing = await _resolver.LookupTxtAsync("nothing.example.test", CancellationToken.None);
        var noTxt = await _resolver.LookupTxtAsync("host.example.test", CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(missing.Code, Is.EqualTo(DnsResultCode.NameError));
            Assert.That(noTxt.Code, Is.EqualTo(DnsResultCode.NoError));
            Assert.That(missing.IsVoid && noTxt.IsVoid, Is.True);
        });
    }

    [Test]
    public async Task SERVFAIL_and_silence_are_temporary_failures_not_exceptions()
    {
        _dns.FailWithServerFailure("broken.test").NeverAnswer("silent.test");

        var failed = await _resolver.LookupTxtAsync("broken.test", CancellationToken.None);
        var silent = await _resolver.LookupMxAsync("silent.test", CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(failed.IsTemporaryFailure, Is.True);
            Assert.That(silent.IsTemporaryFailure, Is.True);
        });
    }

    [Test]
    public async Task A_second_lookup_within_the_TTL_is_answered_from_the_cache()
    {
        _dns.AddTxt("cached.test", "v=spf1 -all", ttl: 300);

        await _resolver.LookupTxtAsync("cached.test", CancellationToken.None);
        var second = await _resolver.LookupTxtAsync("cached.test", CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(second.Records, Is.EqualTo(new[] { "v=spf1 -all" }));
            Assert.That(_dns.Queries.Count(q => q == "cached.test TXT"), Is.EqualTo(1));
        });
    }
}
