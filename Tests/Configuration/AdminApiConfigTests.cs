using System.Text.Json.Nodes;
using MailServer.Server.Configuration;
using NUnit.Framework;

namespace MailServer.Tests.Configuration;

/// <summary>Validation of the keys the WorkMail API relies on: AdminApi access keys, entity ids and names, tags.</summary>
[TestFixture]
public sealed class AdminApiConfigTests
{
    private static JsonObject WithKey(string id, string secret)
    {
        var root = ConfigFixtures.Valid();
        root.Org()["AdminApi"] = new JsonObject
        {
            ["AccessKeys"] = new JsonArray(new JsonObject { ["AccessKeyId"] = id, ["SecretAccessKey"] = secret }),
        };
        return root;
    }

    [Test]
    public void A_secret_can_live_in_a_file_under_the_data_directory()
    {
        using var temp = new TempFolder();
        Directory.CreateDirectory(Path.Combine(temp.Path, "data", "keys"));
        File.WriteAllText(Path.Combine(temp.Path, "data", "keys", "api.secret"), "s3cr3t-s3cr3t-s3cr3t-s3cr3t\n");
        var config = ConfigFixtures.LoadOk(WithKey("AKIAMAILSERVERTEST01", "file:keys/api.secret"), Path.Combine(temp.Path, "appsettings.json"));
        var key = config.Organizations[0].AdminApi!.AccessKeys.Single();
        Assert.That(key.SecretAccessKey, Is.EqualTo("s3cr3t-s3cr3t-s3cr3t-s3cr3t"));
        Assert.That(key.ToString(), Does.Not.Contain("s3cr3t"));
    }

    [Test]
    public void Bad_keys_are_refused_with_their_path_and_the_secret_is_never_repeated()
    {
        var shortSecret = ConfigFixtures.Errors(WithKey("AKIAMAILSERVERTEST01", "tooshort"));
        Assert.That(shortSecret.Single().Path, Is.EqualTo("$.MailServer.Organizations[0].AdminApi.AccessKeys[0].SecretAccessKey"));
        Assert.That(shortSecret.Single().Message, Does.Not.Contain("tooshort"));

        var badId = ConfigFixtures.Errors(WithKey("key id", "s3cr3t-s3cr3t-s3cr3t-s3cr3t"));
        Assert.That(badId.Single().Path, Is.EqualTo("$.MailServer.Organizations[0].AdminApi.AccessKeys[0].AccessKeyId"));

        var missingFile = ConfigFixtures.Errors(WithKey("AKIAMAILSERVERTEST01", "file:keys/none.secret"));
        Assert.That(missingFile.Single().Message, Does.StartWith("cannot read"));
    }

    [Test]
    public void Entity_ids_are_uuids_unique_in_the_organization_and_explicit_names_are_unique()
    {
        var root = ConfigFixtures.Valid();
        root.User(0)["Id"] = "not-an-id";
        Assert.That(ConfigFixtures.Errors(root).Single().Path, Is.EqualTo("$.MailServer.Organizations[0].Users[0].Id"));

        root = ConfigFixtures.Valid();
        root.User(0)["Id"] = "12345678-1234-1234-1234-123456789012";
        root.User(1)["Id"] = "12345678-1234-1234-1234-123456789012";
        Assert.That(ConfigFixtures.Errors(root).Single().Path, Is.EqualTo("$.MailServer.Organizations[0].Users[1].Id"));

        root = ConfigFixtures.Valid();
        root.User(1)["Name"] = "alice";
        Assert.That(ConfigFixtures.Errors(root).Single().Path, Is.EqualTo("$.MailServer.Organizations[0].Users[1].Name"));
    }

    [Test]
    public void Ids_without_an_Id_key_are_derived_from_the_address_and_stable()
    {
        var a = ConfigFixtures.LoadOk(ConfigFixtures.Valid()).Organizations[0].Users[0].EntityId(ConfigFixtures.OrgId);
        var b = ConfigFixtures.LoadOk(ConfigFixtures.Valid()).Organizations[0].Users[0].EntityId(ConfigFixtures.OrgId);
        Assert.That(a, Is.EqualTo(b).And.Match("^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"));
    }
}
