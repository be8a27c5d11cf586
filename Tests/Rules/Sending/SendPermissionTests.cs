using System.Text;
using MailServer.Rules.Directory;
using MailServer.Rules.Sending;
using NUnit.Framework;

namespace MailServer.Tests.Rules.Sending;

/// <summary>§5 send rights as a table: own address, Send As, Send On Behalf (direct and through nested groups), none.</summary>
[TestFixture]
public sealed class SendPermissionTests
{
    private static readonly DirectoryOrganization Org = new("org", "example", ["example.test"], "example.test");

    private static DirectoryUser User(string name, params string[] aliases) =>
        new(Org.Id, $"{name}@example.test", name, aliases, null, true, 1L << 30);

    private static readonly DirectoryUser Alice = User("alice", "boss@example.test");
    private static readonly DirectoryUser Bob = User("bob");
    private static readonly DirectoryUser Dave = User("dave");
    private static readonly DirectoryUser Erin = User("erin");

    private static readonly MailDirectory Directory = MailDirectory.Build(
        [Org], [Alice, Bob, Dave, Erin],
        [new DirectoryGroup(Org.Id, "inner@example.test", [], ["dave@example.test"]),
         new DirectoryGroup(Org.Id, "outer@example.test", [], ["inner@example.test"]),
         new DirectoryGroup(Org.Id, "sales@example.test", ["shop@example.test"], ["erin@example.test"])],
        [new DirectoryPermission("alice@example.test", "bob@example.test", MailboxRights.SendAs),
         new DirectoryPermission("boss@example.test", "outer@example.test", MailboxRights.SendOnBehalf),
         new DirectoryPermission("alice@example.test", "erin@example.test", MailboxRights.FullAccess),
         // §5: send permissions on a group, granted to a (nested) group and to a user.
         new DirectoryPermission("sales@example.test", "outer@example.test", MailboxRights.SendAs),
         new DirectoryPermission("shop@example.test", "bob@example.test", MailboxRights.SendOnBehalf)]);

    private static DirectoryUser Named(string name) => Directory.FindUser(name + "@example.test")!;

    [TestCase("alice", "alice@example.test", null, "AsSelf", "Keep")]
    [TestCase("alice", "BOSS@example.test", null, "AsSelf", "Keep")]
    [TestCase("bob", "alice@example.test", null, "AsOwner", "Remove")]
    [TestCase("bob", "alice@example.test", "bob@example.test", "AsOwner", "Remove")]
    [TestCase("dave", "alice@example.test", null, "OnBehalfOf", "Set")]
    [TestCase("dave", "alice@example.test", "dave@example.test", "OnBehalfOf", "Set")]
    [TestCase("erin", "alice@example.test", null, "Refused", "Keep")]
    [TestCase("alice", "alice@example.test", "bob@example.test", "Refused", "Keep")]
    [TestCase("alice", "nobody@elsewhere.test", null, "Refused", "Keep")]
    [TestCase("dave", "sales@example.test", null, "AsOwner", "Remove")]
    [TestCase("dave", "SHOP@example.test", "dave@example.test", "AsOwner", "Remove")]
    [TestCase("bob", "shop@example.test", null, "OnBehalfOf", "Set")]
    [TestCase("erin", "sales@example.test", null, "Refused", "Keep")]
    public void Header_rights(string user, string from, string? sender, string decision, string change)
    {
        var result = SendPermission.ForHeaders(Directory, Named(user), new SubmittedHeaders(from, sender));

        Assert.That(result.Decision.GetType().Name, Is.EqualTo(decision));
        Assert.That(result.Change.GetType().Name, Is.EqualTo(change));
        if (result.Change is SenderHeaderChange.Set set)
            Assert.That(set.Address, Is.EqualTo(user + "@example.test"));
    }

    [Test]
    public void Sending_as_a_group_names_the_group_as_owner()
    {
        Assert.Multiple(() =>
        {
            Assert.That(SendPermission.ForEnvelope(Directory, Dave, "shop@example.test"), Is.EqualTo(new SendDecision.AsOwner("sales@example.test")));
            Assert.That(SendPermission.ForEnvelope(Directory, Bob, "sales@example.test"), Is.EqualTo(new SendDecision.OnBehalfOf("sales@example.test")));
            Assert.That(SendPermission.ForEnvelope(Directory, Erin, "sales@example.test"), Is.InstanceOf<SendDecision.Refused>(),
                "membership alone is no send permission");
        });
    }

    [Test]
    public void A_refusal_names_the_address()
    {
        var result = SendPermission.ForEnvelope(Directory, Erin, "alice@example.test");

        Assert.That(result, Is.EqualTo(new SendDecision.Refused("alice@example.test", "you are not allowed to send as alice@example.test")));
        Assert.That(SendPermission.ForEnvelope(Directory, Erin, ""), Is.InstanceOf<SendDecision.AsSelf>(), "the null reverse-path claims nobody");
    }

    [TestCase("From: Alice <alice@example.test>\r\n\r\n", "alice@example.test", null)]
    [TestCase("From: alice@example.test\r\nSender: \"Dave\" <dave@example.test>\r\n\r\n", "alice@example.test", "dave@example.test")]
    public void Strict_parsing_reads_one_address(string headers, string from, string? sender)
    {
        var parsed = SubmittedHeaders.TryParse(Encoding.UTF8.GetBytes(headers), out var problem);

        Assert.That(problem, Is.Empty);
        Assert.That(parsed, Is.EqualTo(new SubmittedHeaders(from, sender)));
    }

    [TestCase("From: alice@example.test, bob@example.test\r\n\r\n")]
    [TestCase("From: alice@example.test\r\n Bcc: x@evil.test\r\n\r\n")]
    [TestCase("From: \"bob@example.test\"\r\n\r\n")]
    [TestCase("From: alice\r\n\r\n")]
    [TestCase("From: alice@example.test\r\nFrom: bob@example.test\r\n\r\n")]
    [TestCase("To: bob@example.test\r\n\r\n")]
    [TestCase("From: alice@example.test\r\nSender: a@example.test, b@example.test\r\n\r\n")]
    public void Anything_but_one_plain_address_is_refused(string headers)
    {
        var parsed = SubmittedHeaders.TryParse(Encoding.UTF8.GetBytes(headers), out var problem);

        Assert.That(parsed, Is.Null);
        Assert.That(problem, Is.Not.Empty);
    }
}
