using MailServer.Rules.Directory;
using NUnit.Framework;

namespace MailServer.Tests.Rules.Directory;

/// <summary>§5 mailbox permissions as the directory reports them: direct grants, group grants, Full Access for users only.</summary>
[TestFixture]
public sealed class MailboxRightsTests
{
    private const string Org = "m-0123456789abcdef0123456789abcdef";

    private static MailDirectory Build(params DirectoryPermission[] permissions) => MailDirectory.Build(
        [new DirectoryOrganization(Org, "example", ["example.test"], "example.test")],
        [User("alice@example.test", "alice.a@example.test"), User("bob@example.test"), User("carol@example.test")],
        [new DirectoryGroup(Org, "outer@example.test", [], ["inner@example.test"]),
         new DirectoryGroup(Org, "inner@example.test", [], ["carol@example.test"])],
        permissions);

    private static DirectoryUser User(string email, params string[] aliases) =>
        new(Org, email, email, aliases, null, true, 1L << 30);

    [Test]
    public void A_direct_grant_reaches_the_grantee_through_an_alias_of_the_mailbox()
    {
        var directory = Build(new DirectoryPermission("alice.a@example.test", "bob@example.test", MailboxRights.SendAs | MailboxRights.FullAccess));
        var alice = directory.FindUser("alice@example.test")!;
        Assert.Multiple(() =>
        {
            Assert.That(directory.RightsOn(alice, directory.FindUser("bob@example.test")!), Is.EqualTo(MailboxRights.SendAs | MailboxRights.FullAccess));
            Assert.That(directory.RightsOn(alice, directory.FindUser("carol@example.test")!), Is.EqualTo(MailboxRights.None));
            Assert.That(directory.FullAccessMailboxesOf(directory.FindUser("bob@example.test")!).Select(u => u.Email), Is.EqualTo(new[] { "alice@example.test" }));
        });
    }

    [Test]
    public void A_grant_to_a_nested_group_reaches_its_members_full_access_included()
    {
        // §5: "Granting mailbox permissions to a group extends those permissions to all the members of that group,
        // including members of nested groups."
        var directory = Build(new DirectoryPermission("alice@example.test", "outer@example.test", MailboxRights.SendOnBehalf | MailboxRights.FullAccess));
        var carol = directory.FindUser("carol@example.test")!;
        Assert.Multiple(() =>
        {
            Assert.That(directory.RightsOn(directory.FindUser("alice@example.test")!, carol), Is.EqualTo(MailboxRights.SendOnBehalf | MailboxRights.FullAccess));
            Assert.That(directory.FullAccessMailboxesOf(carol).Select(u => u.Email), Is.EqualTo(new[] { "alice@example.test" }));
            Assert.That(directory.FullAccessMailboxesOf(directory.FindUser("bob@example.test")!), Is.Empty, "bob is in no group");
        });
    }

    [Test]
    public void Rights_on_a_group_reach_the_grantee_through_any_address_of_the_group()
    {
        var directory = Build(new DirectoryPermission("inner@example.test", "bob@example.test", MailboxRights.SendAs));
        var bob = directory.FindUser("bob@example.test")!;
        Assert.Multiple(() =>
        {
            Assert.That(directory.RightsOn("INNER@example.test", bob), Is.EqualTo(MailboxRights.SendAs));
            Assert.That(directory.RightsOn("outer@example.test", bob), Is.EqualTo(MailboxRights.None), "a grant on a group is not one on the groups containing it");
            Assert.That(directory.RightsOn("nobody@example.test", bob), Is.EqualTo(MailboxRights.None));
        });
    }
}
