using MailServer.Rules.Directory;
using NUnit.Framework;

namespace MailServer.Tests.Rules.Directory;

/// <summary>
/// RFC 5321 §4.5.1 postmaster (and RFC 2142 abuse) as recipient resolution: every local domain accepts them, a real
/// user, alias or group of that name keeps precedence, the bare form reaches the server's default organization.
/// </summary>
[TestFixture]
public sealed class PostmasterTests
{
    private static readonly DirectoryOrganization First = new("m-1", "first", ["first.test", "alias.test"], "first.test");
    private static readonly DirectoryOrganization Second = new("m-2", "second", ["second.test"], "second.test");

    private static DirectoryUser User(DirectoryOrganization org, string email, bool enabled = true, params string[] aliases) =>
        new(org.Id, email, email, aliases, null, enabled, 1L << 30);

    private static MailDirectory Build(DirectoryOrganization first, DirectoryOrganization second, string? serverName = null) => MailDirectory.Build(
        [first, second],
        [User(first, "off@first.test", enabled: false), User(first, "ann@first.test"), User(first, "ben@first.test"),
         User(second, "sue@second.test"), User(second, "postmaster@second.test")],
        [new DirectoryGroup(first.Id, "ops@first.test", [], ["ben@first.test", "inner@first.test"]),
         new DirectoryGroup(first.Id, "inner@first.test", [], ["ann@first.test"])],
        serverName: serverName);

    private static string[] MailboxesOf(RecipientResolution resolution) =>
        resolution is RecipientResolution.Local local ? local.Mailboxes.Select(m => m.Email).ToArray() : [resolution.GetType().Name];

    [TestCase("postmaster@first.test")]
    [TestCase("PostMaster@FIRST.test")]
    [TestCase("abuse@first.test")]
    [TestCase("postmaster@alias.test")]
    [TestCase("Abuse@alias.test")]
    public void Without_configuration_every_domain_reaches_the_first_enabled_user(string address)
    {
        var directory = Build(First, Second);

        Assert.That(MailboxesOf(directory.Resolve(address)), Is.EqualTo(new[] { "ann@first.test" }));
        Assert.That(directory.PostmasterOf(First), Is.EqualTo(new DirectoryPostmaster("ann@first.test", IsGroup: false, Configured: false)));
    }

    [Test]
    public void A_configured_group_receives_with_its_nested_members()
    {
        var directory = Build(First with { Postmaster = "OPS@first.test" }, Second);

        var resolution = directory.Resolve("abuse@alias.test");

        Assert.That(MailboxesOf(resolution), Is.EqualTo(new[] { "ben@first.test", "ann@first.test" }));
        Assert.That(((RecipientResolution.Local)resolution).IsGroup, Is.True);
        Assert.That(directory.PostmasterOf(First), Is.EqualTo(new DirectoryPostmaster("ops@first.test", IsGroup: true, Configured: true)));
    }

    [Test]
    public void A_real_user_named_postmaster_keeps_precedence_and_other_names_stay_unknown()
    {
        var directory = Build(First, Second);

        Assert.Multiple(() =>
        {
            Assert.That(MailboxesOf(directory.Resolve("postmaster@second.test")), Is.EqualTo(new[] { "postmaster@second.test" }));
            Assert.That(MailboxesOf(directory.Resolve("abuse@second.test")), Is.EqualTo(new[] { "sue@second.test" }));
            Assert.That(directory.Resolve("hostmaster@first.test"), Is.InstanceOf<RecipientResolution.UnknownAddress>());
            Assert.That(directory.Resolve("postmaster@elsewhere.test"), Is.InstanceOf<RecipientResolution.NotLocal>());
        });
    }

    [Test]
    public void Bare_postmaster_reaches_the_organization_of_the_server_name_else_the_first()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Build(First, Second).Qualify("Postmaster"), Is.EqualTo("postmaster@first.test"));
            Assert.That(Build(First, Second, "mx.second.test").Qualify("POSTMASTER"), Is.EqualTo("postmaster@second.test"));
            Assert.That(MailboxesOf(Build(First, Second, "mx.second.test").Resolve("postmaster")), Is.EqualTo(new[] { "postmaster@second.test" }));
            Assert.That(Build(First, Second, "mail.unrelated.test").Qualify("postmaster"), Is.EqualTo("postmaster@first.test"));
            Assert.That(Build(First, Second).Qualify("ann@first.test"), Is.EqualTo("ann@first.test"));
            Assert.That(MailDirectory.Empty.Resolve("postmaster"), Is.InstanceOf<RecipientResolution.NotLocal>());
        });
    }

    [Test]
    public void An_organization_without_enabled_users_has_no_postmaster_and_refuses_nothing_new()
    {
        var lonely = new DirectoryOrganization("m-3", "lonely", ["lonely.test"], "lonely.test");
        var directory = MailDirectory.Build([lonely], [User(lonely, "gone@lonely.test", enabled: false)], []);

        Assert.That(directory.PostmasterOf(lonely), Is.Null);
        Assert.That(directory.Resolve("postmaster@lonely.test"), Is.InstanceOf<RecipientResolution.UnknownAddress>());
    }

    [Test]
    public void The_address_server_made_messages_come_from_resolves_to_the_postmaster()
    {
        // DSNs and quota warnings name PostmasterAddress; it must be an address that exists.
        var directory = Build(First with { Postmaster = "ben@first.test" }, Second);

        Assert.Multiple(() =>
        {
            Assert.That(directory.PostmasterAddress(First), Is.EqualTo("postmaster@first.test"));
            Assert.That(MailboxesOf(directory.Resolve(directory.PostmasterAddress(First)!)), Is.EqualTo(new[] { "ben@first.test" }));
            Assert.That(directory.PostmasterAddress(), Is.EqualTo("postmaster@first.test"), "no organization given: the default one");
            Assert.That(MailboxesOf(directory.Resolve(directory.PostmasterAddress(Second)!)), Is.EqualTo(new[] { "postmaster@second.test" }));
        });
    }
}
