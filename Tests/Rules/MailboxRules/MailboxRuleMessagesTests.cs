using System.Text;
using MailServer.Rules.MailboxRules;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Rules.MailboxRules;

/// <summary>What mailbox rules see and send: exemptions, folder chains, the Forward and Redirect messages.</summary>
[TestFixture]
public sealed class MailboxRuleMessagesTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    private const string Original =
        "X-MailServer-Forwarded-By: carol@partner.test\r\nFrom: Dave <dave@elsewhere.test>\r\nTo: Carol <carol@partner.test>, alice@example.test\r\n" +
        "Cc: =?utf-8?q?B=C3=B6b?= <bob@example.test>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nDate: Sat, 28 Nov 2026 02:00:00 +0000\r\n" +
        "Message-ID: <orig@elsewhere.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nHello.\r\n";

    private static HeaderList Headers(string text) => HeaderList.Load(new MemoryStream(Encoding.UTF8.GetBytes(text)));

    [TestCase("INBOX", "dave@elsewhere.test", "Content-Type: text/plain\r\n\r\n", MailboxRuleExemption.None, TestName = "An ordinary message in the Inbox: the rules run")]
    [TestCase("Junk E-mail", "dave@elsewhere.test", "Content-Type: text/plain\r\n\r\n", MailboxRuleExemption.Junk, TestName = "Junk, however it got there: exempt")]
    [TestCase("INBOX", "", "Content-Type: text/plain\r\n\r\n", MailboxRuleExemption.Notification, TestName = "A null reverse path: exempt")]
    [TestCase("INBOX", "mailer@elsewhere.test", "Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n", MailboxRuleExemption.Notification, TestName = "A DSN (multipart/report): exempt")]
    [TestCase("INBOX", "journal-noreply@example.test", "Content-Type: text/plain\r\n\r\n", MailboxRuleExemption.JournalRecord, TestName = "The reserved journal sender: exempt")]
    [TestCase("INBOX", "archive@elsewhere.test", "X-MS-Journal-Report: \r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n", MailboxRuleExemption.JournalRecord, TestName = "A journal report from another server: exempt")]
    public void Exemption(string folder, string reversePath, string headers, MailboxRuleExemption expected) =>
        Assert.That(MailboxRuleMessages.Exemption(folder, reversePath, Headers(headers)), Is.EqualTo(expected));

    [Test]
    public void The_view_has_decoded_senders_recipients_subject_and_headers()
    {
        var view = MailboxRuleMessages.View(Headers(Original), "alice@example.test", "a.liddell@example.test");

        Assert.That(view.Senders, Is.EqualTo(new[] { "dave@elsewhere.test", "Dave" }));
        Assert.That(view.Recipients, Is.EqualTo(new[] { "carol@partner.test", "Carol", "alice@example.test", "bob@example.test", "Böb" }));
        Assert.That(view.Subject, Is.EqualTo("Grüße"));
        Assert.That(view.EnvelopeRecipient, Is.EqualTo("a.liddell@example.test"));
        Assert.That(view.Headers, Does.Contain(new KeyValuePair<string, string>("Message-ID", "<orig@elsewhere.test>")));
    }

    [TestCase("Archive", new[] { "Archive" })]
    [TestCase("Finance/2026/Q4", new[] { "Finance", "Finance/2026", "Finance/2026/Q4" })]
    [TestCase("Deleted Items", new[] { "Deleted Items" })]
    public void A_folder_chain_lists_the_parents_first(string folder, string[] chain) =>
        Assert.That(MailboxRuleMessages.FolderChain(folder), Is.EqualTo(chain));

    [TestCase("A//B")]
    [TestCase("/A")]
    [TestCase("A/")]
    [TestCase(" A")]
    [TestCase("A\tB")]
    [TestCase("Other Users/bob/INBOX")]
    public void A_name_IMAP_could_not_show_has_no_chain(string folder) =>
        Assert.That(MailboxRuleMessages.FolderChain(folder), Is.Null);

    [Test]
    public void A_forward_is_a_new_auto_forwarded_message_from_the_mailbox_with_the_original_attached_and_the_hops_kept()
    {
        var original = MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(Original)));

        var forward = MailboxRuleMessages.Forward(original, "alice@example.test", "Alice", "bob@example.test", Now);

        Assert.That(forward.From.Mailboxes.Single().ToString(), Is.EqualTo("\"Alice\" <alice@example.test>").Or.EqualTo("Alice <alice@example.test>"));
        Assert.That(forward.To.Mailboxes.Single().Address, Is.EqualTo("bob@example.test"));
        Assert.That(forward.Subject, Is.EqualTo("FW: Grüße"));
        Assert.That(forward.Date, Is.EqualTo(Now));
        Assert.That(forward.MessageId, Does.EndWith("@example.test"));
        Assert.That(forward.Headers["Auto-Submitted"], Is.EqualTo("auto-forwarded"));
        Assert.That(forward.Headers.Where(h => h.Field == MailboxRuleSet.LoopHeader).Select(h => h.Value.Trim()),
            Is.EqualTo(new[] { "carol@partner.test", "alice@example.test" }), "earlier hops stay, so the hop limit holds across forwards");
        var attached = forward.Attachments.OfType<MessagePart>().Single();
        Assert.That(attached.Message!.MessageId, Is.EqualTo("orig@elsewhere.test"));
    }

    [Test]
    public void A_redirect_is_the_original_byte_for_byte_after_a_resent_block_at_the_top()
    {
        var bytes = Encoding.ASCII.GetBytes(Original);

        var redirected = Encoding.ASCII.GetString(MailboxRuleMessages.Redirect(bytes, "alice@example.test", "friend@remote.test", Now));

        var lines = redirected.Split("\r\n");
        Assert.That(lines[..4], Is.EqualTo(new[]
        {
            "X-MailServer-Forwarded-By: alice@example.test",
            "Resent-From: alice@example.test",
            "Resent-To: friend@remote.test",
            "Resent-Date: Sat, 28 Nov 2026 12:00:00 +0000",
        }));
        Assert.That(lines[4], Does.Match("^Resent-Message-ID: <[^@>]+@example\\.test>$"));
        Assert.That(redirected, Does.EndWith(Original));
    }
}
