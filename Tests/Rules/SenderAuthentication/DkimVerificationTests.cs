using System.Net;
using System.Text;
using MailServer.Rules.SenderAuthentication;
using MailServer.Server.Dkim;
using MimeKit;
using MimeKit.Cryptography;
using NUnit.Framework;

namespace MailServer.Tests.Rules.SenderAuthentication;

/// <summary>
/// DKIM verification (RFC 6376, RFC 8463) through MimeKit's verifier and our DNS key locator: both algorithms,
/// both canonicalizations, l=, x=, tampering, key lookup failures, and ARC reported.
/// </summary>
[TestFixture]
public sealed class DkimVerificationTests
{
    private string _data = null!;
    private DkimKeyFile _rsa = null!;
    private DkimKeyFile _ed25519 = null!;

    [OneTimeSetUp]
    public void Keys()
    {
        _data = Path.Combine(Path.GetTempPath(), "dkimtest-" + Guid.NewGuid().ToString("N"));
        _rsa = DkimKeyFile.Generate(_data, "example.org", "rsa1", DkimSignatureAlgorithm.RsaSha256);
        _ed25519 = DkimKeyFile.Generate(_data, "example.org", "ed1", DkimSignatureAlgorithm.Ed25519Sha256);
    }

    [OneTimeTearDown]
    public void Cleanup() => System.IO.Directory.Delete(_data, recursive: true);

    private ZoneResolver Zone() => new ZoneResolver()
        .Txt("rsa1._domainkey.example.org", _rsa.DnsRecordText)
        .Txt("ed1._domainkey.example.org", _ed25519.DnsRecordText);

    private static MimeMessage NewMessage()
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Sender", "sender@example.org"));
        message.To.Add(new MailboxAddress("Alice", "alice@example.test"));
        message.Subject = "Signed";
        message.MessageId = "sig-1@example.org";
        message.Date = new DateTimeOffset(2026, 11, 28, 2, 0, 0, TimeSpan.Zero);
        message.Body = new TextPart("plain") { Text = "Hello  there,\r\nthis body is signed.\r\n\r\n\r\n" };
        return message;
    }

    private static MimeMessage Sign(MimeMessage message, DkimKeyFile key, DkimCanonicalizationAlgorithm canonicalization, Action<DkimSigner>? configure = null)
    {
        var signer = new DkimSigner(key.PrivateKey, key.Domain, key.Selector, key.Algorithm)
        {
            HeaderCanonicalizationAlgorithm = canonicalization,
            BodyCanonicalizationAlgorithm = canonicalization,
        };
        configure?.Invoke(signer);
        message.Prepare(EncodingConstraint.SevenBit);
        signer.Sign(message, ["From", "To", "Subject", "Date", "Message-ID"]);
        return message;
    }

    /// <summary>Serializes and re-parses, as the message arrives over SMTP.</summary>
    private static MimeMessage Wire(MimeMessage message, Func<string, string>? tamper = null)
    {
        using var stream = new MemoryStream();
        message.WriteTo(stream);
        var text = Encoding.ASCII.GetString(stream.ToArray());
        if (tamper is not null)
            text = tamper(text);
        return MimeMessage.Load(new MemoryStream(Encoding.ASCII.GetBytes(text)));
    }

    private static Task<IReadOnlyList<DkimSignatureVerdict>> Verify(ZoneResolver zone, MimeMessage message, TimeProvider? time = null) =>
        new SenderAuthenticator(zone, "mx.example.test", time: time).VerifyDkimAsync(message, CancellationToken.None);

    [TestCase("rsa", DkimCanonicalizationAlgorithm.Relaxed)]
    [TestCase("rsa", DkimCanonicalizationAlgorithm.Simple)]
    [TestCase("ed25519", DkimCanonicalizationAlgorithm.Relaxed)]
    [TestCase("ed25519", DkimCanonicalizationAlgorithm.Simple)]
    public async Task A_valid_signature_passes(string algorithm, DkimCanonicalizationAlgorithm canonicalization)
    {
        var key = algorithm == "rsa" ? _rsa : _ed25519;
        var results = await Verify(Zone(), Wire(Sign(NewMessage(), key, canonicalization)));
        Assert.That(results, Has.Count.EqualTo(1));
        Assert.Multiple(() =>
        {
            Assert.That(results[0].Result, Is.EqualTo(DkimResult.Pass), results[0].Problem);
            Assert.That(results[0].Domain, Is.EqualTo("example.org"));
            Assert.That(results[0].Selector, Is.EqualTo(key.Selector));
            Assert.That(results[0].Algorithm, Is.EqualTo(algorithm == "rsa" ? "rsa-sha256" : "ed25519-sha256"));
        });
    }

    [Test]
    public async Task Every_signature_gets_its_own_result()
    {
        var message = Sign(Sign(NewMessage(), _rsa, DkimCanonicalizationAlgorithm.Relaxed), _ed25519, DkimCanonicalizationAlgorithm.Relaxed);
        var zone = new ZoneResolver().Txt("rsa1._domainkey.example.org", _rsa.DnsRecordText); // no ed25519 key published
        var results = await Verify(zone, Wire(message));
        Assert.That(results.Select(r => (r.Selector, r.Result)), Is.EquivalentTo(new[] { ("rsa1", DkimResult.Pass), ("ed1", DkimResult.PermError) }));
    }

    [Test]
    public async Task An_rsa_sha1_signature_is_not_accepted()
    {
        // RFC 8301 §3.1: rsa-sha1 must not be considered valid, however correct the signature.
        var signed = Wire(Sign(NewMessage(), _rsa with { Algorithm = DkimSignatureAlgorithm.RsaSha1 }, DkimCanonicalizationAlgorithm.Relaxed));
        Assert.That(signed.Headers[HeaderId.DkimSignature], Does.Contain("a=rsa-sha1"));
        Assert.That((await Verify(Zone(), signed))[0].Result, Is.Not.EqualTo(DkimResult.Pass));
    }

    [Test]
    public async Task A_changed_body_fails()
    {
        var wire = Wire(Sign(NewMessage(), _rsa, DkimCanonicalizationAlgorithm.Relaxed), t => t.Replace("this body is signed", "this body is forged"));
        Assert.That((await Verify(Zone(), wire))[0].Result, Is.EqualTo(DkimResult.Fail));
    }

    [Test]
    public async Task A_changed_signed_header_fails_and_relaxed_tolerates_whitespace()
    {
        var signed = Sign(NewMessage(), _rsa, DkimCanonicalizationAlgorithm.Relaxed);
        var forged = Wire(signed, t => t.Replace("Subject: Signed", "Subject: Forged"));
        var refolded = Wire(signed, t => t.Replace("Subject: Signed", "Subject:   Signed  "));
        Assert.Multiple(async () =>
        {
            Assert.That((await Verify(Zone(), forged))[0].Result, Is.EqualTo(DkimResult.Fail));
            Assert.That((await Verify(Zone(), refolded))[0].Result, Is.EqualTo(DkimResult.Pass));
        });
    }

    [Test]
    public async Task Simple_canonicalization_does_not_tolerate_whitespace()
    {
        var wire = Wire(Sign(NewMessage(), _rsa, DkimCanonicalizationAlgorithm.Simple), t => t.Replace("Subject: Signed", "Subject:  Signed"));
        Assert.That((await Verify(Zone(), wire))[0].Result, Is.EqualTo(DkimResult.Fail));
    }

    [Test]
    public async Task An_expired_signature_is_a_permerror()
    {
        var clock = new FixedClock(new DateTimeOffset(2026, 11, 28, 2, 0, 0, TimeSpan.Zero));
        var signed = Sign(NewMessage(), _rsa, DkimCanonicalizationAlgorithm.Relaxed, s => s.SignaturesExpireAfter = TimeSpan.FromHours(1));
        Assert.That(signed.Headers[HeaderId.DkimSignature], Does.Contain("x="));
        var wire = Wire(signed);
        var now = await Verify(Zone(), wire);
        clock.Now = DateTimeOffset.UtcNow.AddHours(2);
        var later = await Verify(Zone(), wire, clock);
        Assert.Multiple(() =>
        {
            Assert.That(now[0].Result, Is.EqualTo(DkimResult.Pass));
            Assert.That(later[0].Result, Is.EqualTo(DkimResult.PermError));
            Assert.That(later[0].Problem, Is.EqualTo("signature expired"));
        });
    }

    [Test]
    public async Task Key_lookup_failures_are_temperror_or_permerror()
    {
        var wire = Wire(Sign(NewMessage(), _rsa, DkimCanonicalizationAlgorithm.Relaxed));
        var servfail = await Verify(new ZoneResolver().ServFail("rsa1._domainkey.example.org"), wire);
        var missing = await Verify(new ZoneResolver(), wire);
        var revoked = await Verify(new ZoneResolver().Txt("rsa1._domainkey.example.org", "v=DKIM1; k=rsa; p="), wire);
        var wrongKey = await Verify(new ZoneResolver().Txt("rsa1._domainkey.example.org", DkimKeyFile.Generate(_data, "example.org", "other", DkimSignatureAlgorithm.RsaSha256).DnsRecordText), wire);
        Assert.Multiple(() =>
        {
            Assert.That(servfail[0].Result, Is.EqualTo(DkimResult.TempError));
            Assert.That(missing[0].Result, Is.EqualTo(DkimResult.PermError));
            Assert.That(revoked[0].Result, Is.EqualTo(DkimResult.PermError));
            Assert.That(revoked[0].Problem, Does.Contain("revoked"));
            Assert.That(wrongKey[0].Result, Is.EqualTo(DkimResult.Fail));
        });
    }

    [Test]
    public async Task A_malformed_signature_is_a_permerror_and_no_signature_is_none()
    {
        var message = Wire(NewMessage(), t => "DKIM-Signature: v=1; a=rsa-sha256; d=example.org\r\n" + t);
        var results = await Verify(Zone(), message);
        var none = await new SenderAuthenticator(Zone(), "mx.example.test")
            .AuthenticateAsync(IPAddress.Parse("192.0.2.1"), "h.example.org", "s@example.org", Wire(NewMessage()), CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(results[0].Result, Is.EqualTo(DkimResult.PermError));
            Assert.That(none.Dkim, Is.Empty);
            Assert.That(none.DkimVerdictName, Is.EqualTo("NONE"));
        });
    }

    [Test]
    public async Task Arc_chain_is_reported()
    {
        var message = Wire(NewMessage());
        var arcSigner = new TestArcSigner(_rsa);
        await arcSigner.SignAsync(message, ["From", "To", "Subject", "Date", "Message-ID"]);
        var wire = Wire(message);
        var authenticator = new SenderAuthenticator(Zone(), "mx.example.test");
        var pass = await authenticator.VerifyArcAsync(wire, CancellationToken.None);
        var broken = await authenticator.VerifyArcAsync(Wire(message, t => t.Replace("this body is signed", "this body is forged")), CancellationToken.None);
        var none = await authenticator.VerifyArcAsync(Wire(NewMessage()), CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(pass, Is.EqualTo(ArcResult.Pass));
            Assert.That(broken, Is.EqualTo(ArcResult.Fail));
            Assert.That(none, Is.EqualTo(ArcResult.None));
        });
    }

    /// <summary>An ARC sealer whose own authentication results are a fixed pass (the first hop of a chain).</summary>
    private sealed class TestArcSigner(DkimKeyFile key) : ArcSigner(key.PrivateKey, key.Domain, key.Selector, key.Algorithm)
    {
        protected override AuthenticationResults GenerateArcAuthenticationResults(FormatOptions options, MimeMessage message, CancellationToken cancellationToken) =>
            new("relay.example.org") { Results = { new AuthenticationMethodResult("dkim", "pass") } };

        protected override Task<AuthenticationResults> GenerateArcAuthenticationResultsAsync(FormatOptions options, MimeMessage message, CancellationToken cancellationToken) =>
            Task.FromResult(GenerateArcAuthenticationResults(options, message, cancellationToken));
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;
        public override DateTimeOffset GetUtcNow() => Now;
    }
}
