using System.Net;
using System.Text;
using MailServer.Rules.SenderAuthentication;
using NUnit.Framework;

namespace MailServer.Tests.Rules.SenderAuthentication;

/// <summary>RFC 8601: the field we prepend, and the removal of forged fields claiming our authserv-id.</summary>
[TestFixture]
public sealed class AuthenticationResultsHeaderTests
{
    private static SenderAuthenticationVerdict Verdict(params DkimSignatureVerdict[] dkim) => new(
        new SpfVerdict(SpfResult.Pass, SpfIdentity.MailFrom, "example.org", "bounce@example.org", IPAddress.Parse("192.0.2.1")),
        dkim,
        ArcResult.None,
        new DmarcVerdict(DmarcResult.Fail, "example.org", DmarcPolicy.Reject, DmarcPolicy.Quarantine, false, false, "no aligned SPF or DKIM pass"));

    [Test]
    public void Field_lists_every_method_with_its_properties()
    {
        var field = AuthenticationResultsHeader.Build("mx.example.test", Verdict(
            new DkimSignatureVerdict(DkimResult.Pass, "example.org", "s1", "rsa-sha256", "AbC+/x=="),
            new DkimSignatureVerdict(DkimResult.TempError, "example.net", "s2", "ed25519-sha256", "zzzzzzzz", "DNS failure")));
        Assert.That(field, Is.EqualTo(
            "Authentication-Results: mx.example.test;\r\n" +
            "\tspf=pass smtp.mailfrom=bounce@example.org;\r\n" +
            "\tdkim=pass header.d=example.org header.s=s1 header.a=rsa-sha256 header.b=\"AbC+/x==\";\r\n" +
            "\tdkim=temperror (DNS failure) header.d=example.net header.s=s2 header.a=ed25519-sha256 header.b=zzzzzzzz;\r\n" +
            "\tdmarc=fail (p=REJECT dis=QUARANTINE) header.from=example.org;\r\n" +
            "\tarc=none\r\n"));
    }

    [Test]
    public void Field_parses_back_with_mimekit()
    {
        var field = AuthenticationResultsHeader.Build("mx.example.test", Verdict());
        var value = field[(field.IndexOf(':') + 1)..];
        Assert.That(MimeKit.Cryptography.AuthenticationResults.TryParse(Encoding.ASCII.GetBytes(value), out var parsed), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(parsed!.AuthenticationServiceIdentifier, Is.EqualTo("mx.example.test"));
            Assert.That(parsed!.Results.Select(r => $"{r.Method}={r.Result}"), Is.EqualTo(new[] { "spf=pass", "dkim=none", "dmarc=fail", "arc=none" }));
        });
    }

    [Test]
    public void Helo_identity_is_reported_as_smtp_helo()
    {
        var verdict = Verdict() with { Spf = new SpfVerdict(SpfResult.None, SpfIdentity.Helo, "relay.example.org", "postmaster@relay.example.org", IPAddress.Loopback) };
        Assert.That(AuthenticationResultsHeader.Build("mx.example.test", verdict), Does.Contain("spf=none smtp.helo=relay.example.org;"));
    }

    [Test]
    public void Removes_only_fields_claiming_our_authserv_id()
    {
        var message = "Received: from a by b; Sat, 28 Nov 2026 02:00:00 +0000\r\n" +
                      "Authentication-Results: MX.Example.Test; spf=pass\r\n smtp.mailfrom=forged@example.org\r\n" +
                      "authentication-results: (comment) mx.example.test;\r\n\tdkim=pass\r\n" +
                      "Authentication-Results: other.example.net; spf=fail\r\n" +
                      "Authentication-Results: mx.example.test.evil; spf=pass\r\n" +
                      "Subject: Authentication-Results: mx.example.test; in a subject\r\n" +
                      "\r\n" +
                      "Authentication-Results: mx.example.test; body text is not a header\r\n";
        var cleaned = Encoding.ASCII.GetString(AuthenticationResultsHeader.RemoveClaims(Encoding.ASCII.GetBytes(message), "mx.example.test"));
        Assert.That(cleaned, Is.EqualTo(
            "Received: from a by b; Sat, 28 Nov 2026 02:00:00 +0000\r\n" +
            "Authentication-Results: other.example.net; spf=fail\r\n" +
            "Authentication-Results: mx.example.test.evil; spf=pass\r\n" +
            "Subject: Authentication-Results: mx.example.test; in a subject\r\n" +
            "\r\n" +
            "Authentication-Results: mx.example.test; body text is not a header\r\n"));
    }

    [Test]
    public void Message_without_claims_is_returned_unchanged()
    {
        var bytes = Encoding.ASCII.GetBytes("Subject: hi\r\n\r\nbody\r\n");
        Assert.That(AuthenticationResultsHeader.RemoveClaims(bytes, "mx.example.test"), Is.EqualTo(bytes));
    }
}
