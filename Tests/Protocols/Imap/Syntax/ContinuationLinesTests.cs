using System.Text;
using MailServer.Protocols.Imap.Syntax;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Syntax;

[TestFixture]
public sealed class ContinuationLinesTests
{
    [Test]
    public void Sasl_response_lines_decode_cancel_or_fail()
    {
        Assert.That(SaslResponse.Parse("dGVzdAB0ZXN0AHRlc3Q="u8), Is.EqualTo(new SaslResponse.Data(Encoding.ASCII.GetBytes("test\0test\0test"))));
        Assert.That(SaslResponse.Parse(""u8), Is.EqualTo(new SaslResponse.Data([])));
        Assert.That(SaslResponse.Parse("*"u8), Is.TypeOf<SaslResponse.Cancelled>()); // RFC 9051 §6.2.2
        Assert.That(SaslResponse.Parse("dGVz dA=="u8), Is.TypeOf<SaslResponse.Malformed>());
        Assert.That(SaslResponse.Parse("dGVzd"u8), Is.TypeOf<SaslResponse.Malformed>());
        Assert.That(SaslResponse.Parse("dG=zdA=="u8), Is.TypeOf<SaslResponse.Malformed>());
    }

    [Test]
    public void Sasl_data_is_not_printed()
    {
        Assert.That(SaslResponse.Parse("c2VjcmV0"u8).ToString(), Does.Not.Contain("secret").And.Not.Contain("c2VjcmV0"));
    }

    [TestCase("DONE", true)]
    [TestCase("done", true)]
    [TestCase("DONE ", false)]
    [TestCase("a1 NOOP", false)]
    public void Idle_ends_with_done(string line, bool done)
    {
        Assert.That(IdleSyntax.IsDone(Encoding.ASCII.GetBytes(line)), Is.EqualTo(done));
    }
}
