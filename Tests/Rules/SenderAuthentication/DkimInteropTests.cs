using System.Text;
using MailServer.Rules.SenderAuthentication;
using MailServer.Server.Dkim;
using MailServer.Tests.Support;
using MimeKit;
using MimeKit.Cryptography;
using NUnit.Framework;

namespace MailServer.Tests.Rules.SenderAuthentication;

/// <summary>
/// The interop bar: messages signed by dkimpy (an independent implementation, Debian python3-dkim) verify
/// with ours, and messages signed by our <see cref="DkimMessageSigner"/> verify with dkimpy.
/// </summary>
[TestFixture]
public sealed class DkimInteropTests
{
    private string _data = null!;
    private DkimKeyFile _rsa = null!;
    private DkimKeyFile _ed25519 = null!;

    [OneTimeSetUp]
    public void Keys()
    {
        _data = Path.Combine(Path.GetTempPath(), "dkiminterop-" + Guid.NewGuid().ToString("N"));
        _rsa = DkimKeyFile.Generate(_data, "example.org", "mail", DkimSignatureAlgorithm.RsaSha256);
        _ed25519 = DkimKeyFile.Generate(_data, "example.org", "mail-ed25519", DkimSignatureAlgorithm.Ed25519Sha256);
    }

    [OneTimeTearDown]
    public void Cleanup() => System.IO.Directory.Delete(_data, recursive: true);

    private static byte[] Message(string body = "Hello from the interop test.\r\nSecond line.\r\n") => Encoding.ASCII.GetBytes(
        "From: Sender <sender@example.org>\r\n" +
        "To: Alice <alice@example.test>\r\n" +
        "Subject: Interop\r\n" +
        "Date: Sat, 28 Nov 2026 02:00:00 +0000\r\n" +
        "Message-ID: <interop-1@example.org>\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: text/plain; charset=us-ascii\r\n" +
        "\r\n" + body);

    private ZoneResolver Zone() => new ZoneResolver()
        .Txt("mail._domainkey.example.org", _rsa.DnsRecordText)
        .Txt("mail-ed25519._domainkey.example.org", _ed25519.DnsRecordText);

    private Task<IReadOnlyList<DkimSignatureVerdict>> VerifyOurs(byte[] message) =>
        new SenderAuthenticator(Zone(), "mx.example.test").VerifyDkimAsync(MimeMessage.Load(new MemoryStream(message)), CancellationToken.None);

    [TestCase("rsa-sha256", "relaxed/relaxed", false)]
    [TestCase("rsa-sha256", "relaxed/simple", false)]
    [TestCase("rsa-sha256", "simple/simple", false)]
    [TestCase("rsa-sha256", "relaxed/relaxed", true)]
    [TestCase("ed25519-sha256", "relaxed/relaxed", false)]
    [TestCase("ed25519-sha256", "simple/simple", true)]
    public async Task Dkimpy_signatures_verify_with_ours(string algorithm, string canonicalization, bool withLength)
    {
        var key = algorithm == "rsa-sha256" ? _rsa : _ed25519;
        var signed = await DkimPy.SignAsync(Message(), key.Path, "example.org", key.Selector, algorithm, canonicalization, withLength);
        Assert.That(Encoding.ASCII.GetString(signed), Does.StartWith("DKIM-Signature:"));
        if (withLength)
            Assert.That(Encoding.ASCII.GetString(signed), Does.Contain("l="));

        var results = await VerifyOurs(signed);
        Assert.That(results.Select(r => (r.Result, r.Algorithm, r.Selector)), Is.EqualTo(new[] { (DkimResult.Pass, algorithm, key.Selector) }),
            string.Join("; ", results.Select(r => r.Problem)));

        // And a tampered copy fails with ours as well (the signed part changed).
        var tampered = Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(signed).Replace("Second line.", "Second lime."));
        Assert.That((await VerifyOurs(tampered))[0].Result, Is.EqualTo(DkimResult.Fail));
    }

    [Test]
    public async Task Dkimpy_length_limited_signature_survives_appended_text()
    {
        // RFC 6376 §3.5 l=: only the first l octets of the canonical body are signed.
        var signed = await DkimPy.SignAsync(Message(), _rsa.Path, "example.org", "mail", "rsa-sha256", "relaxed/relaxed", withLength: true);
        var appended = signed.Concat(Encoding.ASCII.GetBytes("Appended by a mailing list.\r\n")).ToArray();
        Assert.That((await VerifyOurs(appended))[0].Result, Is.EqualTo(DkimResult.Pass));
    }

    [Test]
    public async Task Our_signatures_verify_with_dkimpy()
    {
        var message = MimeMessage.Load(new MemoryStream(Message("Caf\u00e9 is not ASCII, so the signer prepares the body first.\r\n".Replace("\u00e9", "e"))));
        var signer = new DkimMessageSigner(_data);
        Assert.That(signer.Sign(message), Is.EqualTo(2), "one RSA and one Ed25519 signature");
        using var wire = new MemoryStream();
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        message.WriteTo(format, wire);
        var bytes = wire.ToArray();
        var text = Encoding.ASCII.GetString(bytes);
        Assert.Multiple(() =>
        {
            Assert.That(text, Does.Contain("a=rsa-sha256"));
            Assert.That(text, Does.Contain("a=ed25519-sha256"));
            Assert.That(text, Does.Contain("c=relaxed/relaxed"));
        });

        // dkimpy checks every signature against the key we publish for its selector.
        var rsaOnly = StripSignature(text, "a=ed25519-sha256");
        var edOnly = StripSignature(text, "a=rsa-sha256");
        var rsa = await DkimPy.VerifyAsync(Encoding.ASCII.GetBytes(rsaOnly), _rsa.DnsRecordText);
        var ed = await DkimPy.VerifyAsync(Encoding.ASCII.GetBytes(edOnly), _ed25519.DnsRecordText);
        var tampered = await DkimPy.VerifyAsync(Encoding.ASCII.GetBytes(rsaOnly.Replace("Subject: Interop", "Subject: Interloper")), _rsa.DnsRecordText);
        Assert.Multiple(() =>
        {
            Assert.That(rsa.AllPass, Is.True, rsa.Results);
            Assert.That(ed.AllPass, Is.True, ed.Results);
            Assert.That(tampered.AllPass, Is.False, tampered.Results);
        });
        // And ours agrees.
        Assert.That((await VerifyOurs(bytes)).Select(r => r.Result), Is.EqualTo(new[] { DkimResult.Pass, DkimResult.Pass }));
    }

    [Test]
    public void Signer_leaves_a_domain_without_keys_unsigned()
    {
        var message = MimeMessage.Load(new MemoryStream(Encoding.ASCII.GetBytes(
            Encoding.ASCII.GetString(Message()).Replace("sender@example.org", "sender@nokeys.example"))));
        Assert.That(new DkimMessageSigner(_data).Sign(message), Is.Zero);
        Assert.That(message.Headers.Contains(HeaderId.DkimSignature), Is.False);
    }

    /// <summary>Removes the DKIM-Signature field (with its continuation lines) that contains <paramref name="marker"/>.</summary>
    private static string StripSignature(string message, string marker)
    {
        var lines = message.Split("\r\n").ToList();
        var result = new List<string>();
        for (var i = 0; i < lines.Count; i++)
        {
            if (lines[i].StartsWith("DKIM-Signature:", StringComparison.OrdinalIgnoreCase))
            {
                var field = new List<string> { lines[i] };
                while (i + 1 < lines.Count && lines[i + 1].Length > 0 && (lines[i + 1][0] == ' ' || lines[i + 1][0] == '\t'))
                    field.Add(lines[++i]);
                if (string.Join("", field).Contains(marker))
                    continue;
                result.AddRange(field);
                continue;
            }
            result.Add(lines[i]);
        }
        return string.Join("\r\n", result);
    }
}
