using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json.Nodes;
using MailServer.Protocols.Imap;
using MailServer.Server.Audit;
using MailServer.Server.Metrics;
using MailServer.Tests.Configuration;
using NUnit.Framework;

namespace MailServer.Tests.Audit;

/// <summary>
/// The IMAP observer's mapping onto MailboxAccess records (WorkMail Administrator Guide, "Mailbox access logs") and ActionDenied samples (WorkMail Administrator Guide, "Metrics"),
/// through the real <see cref="AuditLog"/> files.
/// </summary>
[TestFixture]
public sealed class MailboxAccessAuditTests
{
    [TestCase(MailboxAccessAction.ReadHierarchy, "read_hierarchy")]
    [TestCase(MailboxAccessAction.ReadSummary, "read_summary")]
    [TestCase(MailboxAccessAction.Read, "read")]
    [TestCase(MailboxAccessAction.Create, "create")]
    [TestCase(MailboxAccessAction.Update, "update")]
    [TestCase(MailboxAccessAction.UpdateReadState, "update_read_state")]
    [TestCase(MailboxAccessAction.Delete, "delete")]
    [TestCase(MailboxAccessAction.Move, "move")]
    [TestCase(MailboxAccessAction.MoveTo, "move_to")]
    [TestCase(MailboxAccessAction.Copy, "copy")]
    [TestCase(MailboxAccessAction.CopyTo, "copy_to")]
    [TestCase(MailboxAccessAction.ReadPermissions, "read_permissions")]
    [TestCase(MailboxAccessAction.UpdatePermissions, "update_permissions")]
    public void Each_action_has_its_section_19_1_name(MailboxAccessAction action, string name) =>
        Assert.That(MailboxAccessAuditObserver.ActionName(action), Is.EqualTo(name));

    [Test]
    public void Every_action_is_mapped() =>
        Assert.That(Enum.GetValues<MailboxAccessAction>().Select(MailboxAccessAuditObserver.ActionName).Distinct().Count(),
            Is.EqualTo(Enum.GetValues<MailboxAccessAction>().Length));

    [Test]
    public void An_allowed_and_a_denied_operation_are_written_with_their_fields_and_sampled()
    {
        using var temp = new TempFolder();
        using var audit = new AuditLog(temp.Path);
        using var metrics = new MailMetrics();
        var samples = new List<(string Name, int Value)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) => { if (instrument.Meter == metrics.Meter) l.EnableMeasurementEvents(instrument); };
        listener.SetMeasurementEventCallback<int>((instrument, value, _, _) => samples.Add((instrument.Name, value)));
        listener.Start();
        var observer = new MailboxAccessAuditObserver(audit, metrics);

        observer.Observe(new MailboxAccess("org-1", "alice@example.test", "bob@example.test", MailboxAccessAction.MoveTo,
            MailboxObjectType.Message, "Archive", "folder-7", [4, 9, 10, 11, 20], Allowed: true, IPAddress.Parse("192.0.2.5")));
        observer.Observe(new MailboxAccess("org-1", "alice@example.test", "carol@example.test", MailboxAccessAction.ReadHierarchy,
            MailboxObjectType.Folder, "INBOX", null, [], Allowed: false, IPAddress.Parse("2001:db8::1")));

        var lines = Directory.EnumerateFiles(audit.Root, "*.jsonl", SearchOption.AllDirectories).SelectMany(File.ReadAllLines)
            .Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.That(lines, Has.Count.EqualTo(2));
        Assert.Multiple(() =>
        {
            Assert.That((string)lines[0]["log_type"]!, Is.EqualTo("MailboxAccess"));
            Assert.That((string)lines[0]["action"]!, Is.EqualTo("move_to"));
            Assert.That((string)lines[0]["user_id"]!, Is.EqualTo("alice@example.test"));
            Assert.That((string)lines[0]["owner_id"]!, Is.EqualTo("bob@example.test"));
            Assert.That((string)lines[0]["protocol"]!, Is.EqualTo("IMAP"));
            Assert.That((string)lines[0]["source_ip"]!, Is.EqualTo("192.0.2.5"));
            Assert.That((string)lines[0]["object_type"]!, Is.EqualTo("Message"));
            Assert.That((string)lines[0]["item_id"]!, Is.EqualTo("4,9:11,20"), "UIDs as an IMAP set: runs in short");
            Assert.That((string)lines[0]["folder_path"]!, Is.EqualTo("Archive"));
            Assert.That((string)lines[0]["folder_id"]!, Is.EqualTo("folder-7"));
            Assert.That((bool)lines[0]["action_allowed"]!, Is.True);
            Assert.That((string)lines[0]["organization_arn"]!, Is.EqualTo("urn:mailserver:organization/org-1"));
            Assert.That((string)lines[1]["action"]!, Is.EqualTo("read_hierarchy"));
            Assert.That((string)lines[1]["object_type"]!, Is.EqualTo("Folder"));
            Assert.That((string)lines[1]["owner_id"]!, Is.EqualTo("carol@example.test"));
            Assert.That((string)lines[1]["source_ip"]!, Is.EqualTo("2001:db8::1"));
            Assert.That((bool)lines[1]["action_allowed"]!, Is.False);
            Assert.That(lines[1].ContainsKey("item_id") && lines[1]["item_id"] is not null, Is.False);
            Assert.That((string)lines[0]["request_id"]!, Is.Not.EqualTo((string)lines[1]["request_id"]!));
        });
        Assert.That(samples, Is.EqualTo(new[] { ("ActionDenied", 0), ("ActionDenied", 1) }));
    }
}
