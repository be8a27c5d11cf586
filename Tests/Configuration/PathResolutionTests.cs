using NUnit.Framework;
using MailServer.Rules.Directory;
using MailServer.Server.Configuration;

namespace MailServer.Tests.Configuration;

[TestFixture]
public sealed class PathResolutionTests
{
    [Test]
    public void A_relative_data_directory_resolves_against_the_config_folder()
    {
        var config = ConfigFixtures.LoadOk(ConfigFixtures.Valid(), "/srv/mail/appsettings.json");
        Assert.That(config.DataDirectory, Is.EqualTo("/srv/mail/data"));
    }

    [Test]
    public void The_data_option_overrides_the_config_and_resolves_against_the_current_directory()
    {
        var config = ConfigFixtures.LoadOk(ConfigFixtures.Valid(), "/srv/mail/appsettings.json", data: "elsewhere");
        Assert.That(config.DataDirectory, Is.EqualTo(Path.GetFullPath("elsewhere")));
    }

    [Test]
    public void Master_key_and_tls_paths_resolve_against_the_data_directory()
    {
        using var temp = new TempFolder();
        Directory.CreateDirectory(Path.Combine(temp.Path, "data", "certs"));
        File.WriteAllText(Path.Combine(temp.Path, "data", "certs", "c.pem"), "x");
        File.WriteAllText(Path.Combine(temp.Path, "data", "certs", "k.pem"), "x");
        var root = ConfigFixtures.Valid();
        root.MailServer()["Tls"]!["CertificatePath"] = "certs/c.pem";
        root.MailServer()["Tls"]!["KeyPath"] = "certs/k.pem";
        root.Org().Remove("MasterKeyPath");
        var config = ConfigFixtures.LoadOk(root, temp.File("appsettings.json"));
        Assert.Multiple(() =>
        {
            Assert.That(config.Tls.CertificatePath, Is.EqualTo(Path.Combine(temp.Path, "data", "certs", "c.pem")));
            Assert.That(config.Organizations[0].MasterKeyPath, Is.EqualTo(Path.Combine(temp.Path, "data", "keys", "example.key")),
                "MasterKeyPath defaults to keys/<alias>.key");
        });
    }

    [Test]
    public void The_directory_is_compiled_from_the_config()
    {
        var directory = ConfigFixtures.LoadOk(ConfigFixtures.Valid()).ToDirectory();
        var alice = directory.FindUser("A@Other.test");
        Assert.Multiple(() =>
        {
            Assert.That(alice?.Email, Is.EqualTo("alice@example.test"));
            Assert.That(alice?.MailboxQuotaBytes, Is.EqualTo(100L * 1024 * 1024));
            Assert.That(directory.Resolve("outer@example.test"), Is.TypeOf<RecipientResolution.Local>());
            Assert.That(((RecipientResolution.Local)directory.Resolve("outer@example.test")).Mailboxes.Select(u => u.Email),
                Is.EqualTo(new[] { "alice@example.test", "bob@example.test" }));
            Assert.That(directory.Resolve("nobody@example.test"), Is.TypeOf<RecipientResolution.UnknownAddress>());
        });
    }

    [Test]
    public void Limits_map_onto_smtp_limits_and_listeners_onto_endpoints()
    {
        var config = ConfigFixtures.LoadOk(ConfigFixtures.Valid());
        var limits = config.Limits.ToSmtpLimits();
        var endpoints = config.Listeners.SmtpEndpoints();
        Assert.Multiple(() =>
        {
            Assert.That(limits.MaxMessageBytes, Is.EqualTo(10L * 1024 * 1024));
            Assert.That(limits.MaxRecipients, Is.EqualTo(200));
            Assert.That(limits.MaxHeaderSectionBytes, Is.EqualTo(100 * 1024));
            Assert.That(limits.SessionTimeout, Is.EqualTo(TimeSpan.FromMinutes(5)));
            Assert.That(endpoints.Select(e => $"{e.Kind} {e.Address}:{e.Port}"),
                Is.EqualTo(new[] { "Mx 127.0.0.1:2525", "Submission 127.0.0.1:2587", "Submissions 127.0.0.1:2465" }));
        });
    }
}
