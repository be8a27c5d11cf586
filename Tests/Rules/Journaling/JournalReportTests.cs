using MailServer.Rules.Journaling;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Rules.Journaling;

[TestFixture]
public sealed class JournalReportTests
{
    private static readonly JournalingSettings On = new(true, "archive@vault.test", "admin@example.test", "journal-noreply@example.test");

    [TestCase(true, true, false, false, "journal records are not journaled")]
    [TestCase(false, false, false, true, "journaling is off")]
    [TestCase(true, false, false, false, "the message neither enters nor leaves the organization")]
    public void No_record_when(bool enabled, bool isJournalRecord, bool senderInOrg, bool recipientInOrg, string reason)
    {
        var decision = JournalReport.Decide(On with { Enabled = enabled }, isJournalRecord, senderInOrg, recipientInOrg);
        Assert.That(decision, Is.EqualTo(new JournalDecision.None(reason)));
    }

    [TestCase(true, false)]
    [TestCase(false, true)]
    [TestCase(true, true)]
    public void One_record_when_the_message_enters_leaves_or_stays_inside(bool senderInOrg, bool recipientInOrg)
    {
        var decision = JournalReport.Decide(On, isJournalRecord: false, senderInOrg, recipientInOrg);
        Assert.That(decision, Is.EqualTo(new JournalDecision.Journal("journal-noreply@example.test", "archive@vault.test", "admin@example.test")));
    }

    [Test]
    public void The_report_names_sender_subject_id_and_every_recipient_and_carries_the_original()
    {
        var original = new MimeMessage();
        original.From.Add(MailboxAddress.Parse("ext@remote.test"));
        original.To.Add(MailboxAddress.Parse("team@example.test"));
        original.Cc.Add(MailboxAddress.Parse("carol@example.test"));
        original.Subject = "Quarterly figures";
        original.MessageId = "q3@remote.test";
        original.Body = new TextPart("plain") { Text = "unique-journal-body-7731" };
        var recipients = new[]
        {
            new JournalRecipient("alice@example.test", JournalRecipientField.To, "team@example.test"),
            new JournalRecipient("bob@example.test", JournalRecipientField.To, "team@example.test"),
            new JournalRecipient("carol@example.test", JournalReport.FieldOf(original, "carol@example.test")),
            new JournalRecipient("dave@example.test", JournalReport.FieldOf(original, "dave@example.test")),
        };
        var decision = (JournalDecision.Journal)JournalReport.Decide(On, false, false, true);

        var report = JournalReport.Build(decision, original, "ext@remote.test", recipients, DateTimeOffset.UnixEpoch);
        using var wire = new MemoryStream();
        report.WriteTo(wire);
        wire.Position = 0;
        var parsed = MimeMessage.Load(wire);

        var text = parsed.BodyParts.OfType<TextPart>().First().Text ?? "";
        var attached = parsed.BodyParts.OfType<MessagePart>().Single().Message;
        Assert.Multiple(() =>
        {
            Assert.That(parsed.Headers.Contains(JournalReport.MarkerHeader), Is.True);
            Assert.That(parsed.From.Mailboxes.Single().Address, Is.EqualTo("journal-noreply@example.test"));
            Assert.That(parsed.To.Mailboxes.Single().Address, Is.EqualTo("archive@vault.test"));
            Assert.That(text.Replace("\r\n", "\n"), Is.EqualTo(
                "Sender: ext@remote.test\nSubject: Quarterly figures\nMessage-Id: <q3@remote.test>\n" +
                "To: alice@example.test, Expanded: team@example.test\nTo: bob@example.test, Expanded: team@example.test\n" +
                "Cc: carol@example.test\nBcc: dave@example.test\n"));
            Assert.That(attached?.TextBody, Does.Contain("unique-journal-body-7731"));
            Assert.That(JournalReport.IsReservedSender("Journal-NoReply@example.test"), Is.True);
        });
    }
}
