using System.Buffers;
using System.Net;
using System.Text;
using MailServer.Protocols.Smtp;
using MailServer.Rules.Directory;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Smtp;

/// <summary>The pure content checks and the Received header builder, row by row.</summary>
[TestFixture]
public sealed class MessageChecksTests
{
    [TestCase("a\r\nb\r\n", false)]
    [TestCase("", false)]
    [TestCase("a\nb\r\n", true)]
    [TestCase("a\r\nb\n", true)]
    [TestCase("a\rb\r\n", true)]
    [TestCase("a\r\n\r", true)]
    [TestCase("a\r\r\n", true)]
    [TestCase("a\0b\r\n", true)]
    [TestCase("\n.\nMAIL FROM:<x@y>\r\n", true)]
    public void Bare_CR_LF_and_NUL_are_found(string text, bool expected) =>
        Assert.That(MessageChecks.HasBareLineEndingOrNul(Encoding.ASCII.GetBytes(text)), Is.EqualTo(expected));

    [TestCase("A: b\r\n\r\nbody\r\n", 8)]
    [TestCase("\r\nbody only\r\n", 2)]
    [TestCase("A: b\r\nC: d\r\n", 12)]
    public void Header_section_ends_at_the_first_empty_line(string text, int expected) =>
        Assert.That(MessageChecks.HeaderSectionLength(Encoding.ASCII.GetBytes(text)), Is.EqualTo(expected));

    [TestCase("..first\r\nsecond", ".first\r\nsecond\r\n")]
    [TestCase("first\r\n.second", "first\r\n.second\r\n")]
    [TestCase(".", ".\r\n")]
    public void Assemble_restores_the_first_line_and_the_final_CRLF(string data, string expected) =>
        Assert.That(Encoding.ASCII.GetString(MessageChecks.Assemble(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(data)))), Is.EqualTo(expected));

    [TestCase("250 Ok", "250 2.0.0 Ok")]
    [TestCase("221 bye", "221 2.0.0 bye")]
    [TestCase("502 Unrecognized command, 19 retry(ies) remaining.", "502 5.5.1 Unrecognized command.")]
    [TestCase("550 5.7.1 Relaying denied, 19 retry(ies) remaining.", "550 5.7.1 Relaying denied.")]
    [TestCase("421 The session has be cancelled.", "421 4.3.0 The session has be cancelled.")]
    [TestCase("550 5.1.1 <x@example.test>: no such user", "550 5.1.1 <x@example.test>: no such user")]
    [TestCase("354 end with <CRLF>.<CRLF>", "354 end with <CRLF>.<CRLF>")]
    [TestCase("250-PIPELINING", "250-2.0.0 PIPELINING")]
    [TestCase("501 expected MAIL/RSET/QUIT, 18 retry(ies) remaining.", "503 5.5.1 Bad sequence of commands, expected MAIL/RSET/QUIT.")]
    [TestCase("not a reply", "not a reply")]
    public void Replies_without_an_enhanced_code_get_one(string line, string expected) =>
        Assert.That(SmtpReplies.WithEnhancedCode(line), Is.EqualTo(expected));

    [Test]
    public void Received_header_for_one_recipient_over_IPv6_with_a_hostile_HELO()
    {
        var org = new DirectoryOrganization("m-1", "example", ["example.test"], "example.test");
        var user = new DirectoryUser("m-1", "alice@example.test", "Alice", [], null, true, 1);
        var transaction = new SmtpTransaction(
            "abc", SmtpListenerKind.Mx, new IPEndPoint(IPAddress.IPv6Loopback, 4000), "evil\r\nBcc: x (y) <z>",
            "", [new AcceptedRecipient("alice@example.test", new RecipientResolution.Local(org, [user], false))],
            Secure: true, AuthenticatedUser: null, new DateTimeOffset(2026, 11, 27, 23, 0, 0, TimeSpan.Zero));

        var header = ReceivedHeader.Build(transaction, "mx.example.test", usedEhlo: true, "abc.1");

        Assert.That(header, Is.EqualTo(
            "Received: from evilBcc:xyz ([IPv6:::1])\r\n" +
            "\tby mx.example.test with ESMTPS\r\n" +
            "\tid abc.1\r\n" +
            "\tfor <alice@example.test>;\r\n" +
            "\tFri, 27 Nov 2026 23:00:00 +0000\r\n"));
    }
}
