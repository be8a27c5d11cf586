using MailServer.Protocols.Imap.Syntax;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Syntax;

[TestFixture]
public sealed class ModifiedUtf7Tests
{
    // RFC 3501 §5.1.3: "~peter/mail/&U,BTFw-/&ZeVnLIqe-" is "~peter/mail/台北/日本語".
    [TestCase("~peter/mail/\u53F0\u5317/\u65E5\u672C\u8A9E", "~peter/mail/&U,BTFw-/&ZeVnLIqe-")]
    [TestCase("&", "&-")]
    [TestCase("Tom & Jerry", "Tom &- Jerry")]
    [TestCase("Entw\u00FCrfe", "Entw&APw-rfe")]
    [TestCase("Gel\u00F6schte Elemente", "Gel&APY-schte Elemente")]
    [TestCase("\U0001F4E7 Mail", "&2D3c5w- Mail")]
    [TestCase("INBOX", "INBOX")]
    [TestCase("", "")]
    public void Round_trips(string unicode, string wire)
    {
        Assert.That(ModifiedUtf7.Encode(unicode), Is.EqualTo(wire));
        Assert.That(ModifiedUtf7.Decode(wire), Is.EqualTo(unicode));
    }

    [TestCase("&U,BTFw", "not terminated")]
    [TestCase("&AGE-", "printable US-ASCII")]
    [TestCase("&U,BTFw-&ZeVnLIqe-", "Adjacent encoded sequences")]
    [TestCase("&U,BTFx-", "trailing bits")]
    [TestCase("&2AA-", "unpaired high surrogate")]
    [TestCase("&3AA-", "unpaired low surrogate")]
    [TestCase("&U/BTFw-", "not a modified BASE64 character")]
    [TestCase("Entw\u00FCrfe", "must be encoded")]
    [TestCase("a\tb", "must be encoded")]
    public void Rejects_non_canonical_or_broken_names(string wire, string reason)
    {
        Assert.That(ModifiedUtf7.TryDecode(wire, out _, out var error), Is.False);
        Assert.That(error, Does.Contain(reason));
        Assert.Throws<FormatException>(() => ModifiedUtf7.Decode(wire));
    }

    [Test]
    public void Encoding_an_unpaired_surrogate_throws()
    {
        Assert.Throws<ArgumentException>(() => ModifiedUtf7.Encode("a\uD800b"));
    }

    [TestCase("inbox", false, "INBOX")]
    [TestCase("InBoX", true, "INBOX")]
    [TestCase("Inbox/Sub", false, "Inbox/Sub")]
    [TestCase("Entw&APw-rfe", false, "Entw\u00FCrfe")]
    [TestCase("Entw&APw-rfe", true, "Entw&APw-rfe")]
    public void Wire_names_become_unicode_names_with_inbox_normalised(string wire, bool utf8, string name)
    {
        Assert.That(MailboxName.FromWire(wire, utf8), Is.EqualTo(name));
    }
}
