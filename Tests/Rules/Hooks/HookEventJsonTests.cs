using System.Text.Json;
using MailServer.Rules.FlowRules;
using MailServer.Rules.Hooks;
using NUnit.Framework;

namespace MailServer.Tests.Rules.Hooks;

/// <summary>§10.2: the event JSON exactly, subject cut at 256, payload cut at 128 KB by recipients.</summary>
[TestFixture]
public sealed class HookEventJsonTests
{
    private static readonly Guid MessageId = Guid.Parse("d1234567-8e90-1f23-4567-89abcdef0123");

    [Test]
    public void Event_has_exactly_the_documented_shape()
    {
        var body = HookEventJson.Serialize(new HookEvent("from@example.com", ["a@example.com", "b@example.com"], "sender@example.com",
            "Hello From Amazon WorkMail!", MessageId, "0123456789abcdef0123456789abcdef", FlowDirection.Inbound));
        Assert.That(HookEventJson.ToText(body), Is.EqualTo(
            "{\"summaryVersion\":\"2018-10-10\"," +
            "\"envelope\":{\"mailFrom\":{\"address\":\"from@example.com\"},\"recipients\":[{\"address\":\"a@example.com\"},{\"address\":\"b@example.com\"}]}," +
            "\"sender\":{\"address\":\"sender@example.com\"}," +
            "\"subject\":\"Hello From Amazon WorkMail!\"," +
            "\"messageId\":\"d1234567-8e90-1f23-4567-89abcdef0123\"," +
            "\"invocationId\":\"0123456789abcdef0123456789abcdef\"," +
            "\"flowDirection\":\"INBOUND\",\"truncated\":false}"));
    }

    [Test]
    public void Sender_is_null_unless_sent_on_behalf_and_outbound_is_named()
    {
        using var doc = JsonDocument.Parse(HookEventJson.Serialize(new HookEvent("a@example.com", ["x@else.test"], null, null, MessageId,
            HookEventJson.NewInvocationId(), FlowDirection.Outbound)));
        Assert.Multiple(() =>
        {
            Assert.That(doc.RootElement.GetProperty("sender").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(doc.RootElement.GetProperty("flowDirection").GetString(), Is.EqualTo("OUTBOUND"));
            Assert.That(doc.RootElement.GetProperty("invocationId").GetString(), Does.Match("^[0-9a-f]{32}$"));
        });
    }

    [Test]
    public void Subject_is_truncated_at_256_characters_without_splitting_a_surrogate_pair()
    {
        var plain = new string('s', 300);
        var emoji = new string('e', 255) + "\U0001F600" + "tail";
        Assert.Multiple(() =>
        {
            Assert.That(HookEventJson.TruncateSubject(plain), Has.Length.EqualTo(256));
            Assert.That(HookEventJson.TruncateSubject(new string('s', 256)), Has.Length.EqualTo(256));
            Assert.That(HookEventJson.TruncateSubject(emoji), Is.EqualTo(new string('e', 255)));
        });
        using var doc = JsonDocument.Parse(HookEventJson.Serialize(new HookEvent("a@b.test", [], null, plain, MessageId, "x", FlowDirection.Inbound)));
        Assert.That(doc.RootElement.GetProperty("subject").GetString(), Has.Length.EqualTo(256));
        Assert.That(doc.RootElement.GetProperty("truncated").GetBoolean(), Is.False, "truncated is about the payload, not the subject");
    }

    [Test]
    public void Payload_over_128_KB_drops_recipients_and_says_truncated()
    {
        var recipients = Enumerable.Range(0, 5000).Select(i => $"recipient-number-{i:D5}@a-rather-long-domain-name.example.test").ToList();
        var body = HookEventJson.Serialize(new HookEvent("a@b.test", recipients, null, "s", MessageId, "x", FlowDirection.Inbound));
        using var doc = JsonDocument.Parse(body);
        var listed = doc.RootElement.GetProperty("envelope").GetProperty("recipients").EnumerateArray().Select(r => r.GetProperty("address").GetString()).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(body.Length, Is.LessThanOrEqualTo(128 * 1024));
            Assert.That(body.Length, Is.GreaterThan(128 * 1024 - 100), "as many recipients as fit");
            Assert.That(doc.RootElement.GetProperty("truncated").GetBoolean(), Is.True);
            Assert.That(listed, Is.EqualTo(recipients.Take(listed.Count)));
            Assert.That(listed, Has.Count.LessThan(recipients.Count));
        });
    }

    [Test]
    public void The_same_event_serialises_to_the_same_bytes_so_retries_repeat_the_invocation()
    {
        var e = new HookEvent("a@b.test", ["c@d.test"], null, "s", MessageId, HookEventJson.NewInvocationId(), FlowDirection.Inbound);
        var first = HookEventJson.Serialize(e);
        var retry = HookEventJson.Serialize(e);
        Assert.That(retry, Is.EqualTo(first));
    }
}
