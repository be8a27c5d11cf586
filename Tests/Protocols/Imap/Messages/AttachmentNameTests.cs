using System.Text;
using MailServer.Protocols.Imap.Messages;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Messages;

/// <summary>Which parts the audit log calls attachments (WorkMail Administrator Guide, "Mailbox access logs", <c>read_attachment</c>).</summary>
[TestFixture]
public sealed class AttachmentNameTests
{
    private static ImapMessageView Multipart(string secondPartHeaders) => ImapMessageView.Parse(Encoding.ASCII.GetBytes(
        "From: a@example.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n" +
        "--x\r\nContent-Type: text/plain\r\n\r\nbody\r\n" +
        "--x\r\n" + secondPartHeaders + "\r\n\r\ncontent\r\n--x--\r\n"));

    [TestCase("Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a.pdf\"", ExpectedResult = "a.pdf")]
    [TestCase("Content-Type: application/pdf\r\nContent-Disposition: attachment", ExpectedResult = "application/pdf", Description = "no name: its media type")]
    [TestCase("Content-Type: application/octet-stream; name=\"old.bin\"", ExpectedResult = "old.bin", Description = "older mailers name it in Content-Type only")]
    [TestCase("Content-Type: image/png; name=\"logo.png\"\r\nContent-Disposition: inline", ExpectedResult = null, Description = "an inline image is not an attachment")]
    [TestCase("Content-Type: text/plain", ExpectedResult = null)]
    public string? Second_part(string headers) => Multipart(headers).AttachmentName([2u]);

    [Test]
    public void The_first_text_part_a_missing_part_and_the_whole_message_are_not_attachments()
    {
        var view = Multipart("Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a.pdf\"");
        Assert.That(view.AttachmentName([1u]), Is.Null);
        Assert.That(view.AttachmentName([3u]), Is.Null);
        Assert.That(view.AttachmentName([]), Is.Null);
    }
}
