using System.Text.Json.Nodes;
using MailServer.Server.Configuration;
using NUnit.Framework;

namespace MailServer.Tests.Configuration;

/// <summary><c>MailServer.Storage</c>: LiteDB by default; PostgreSQL with a mail database and a key database of its own.</summary>
[TestFixture]
public sealed class StorageConfigTests
{
    private static IReadOnlyList<ConfigError> ErrorsWith(string storageJson)
    {
        var root = ConfigFixtures.Valid();
        root.MailServer()["Storage"] = JsonNode.Parse(storageJson);
        return ConfigFixtures.Errors(root);
    }

    [Test]
    public void LiteDb_is_the_engine_when_the_section_is_absent_or_says_so()
    {
        Assert.That(ConfigFixtures.LoadOk(ConfigFixtures.Valid()).Storage, Is.EqualTo(StorageConfig.LiteDb));
        Assert.That(StorageConfig.LiteDb.Lease, Is.EqualTo(TimeSpan.FromMinutes(5)), "the lease as before the setting existed");
        var root = ConfigFixtures.Valid();
        root.MailServer()["Storage"] = JsonNode.Parse("""{ "Engine": "LiteDb" }""");
        Assert.That(ConfigFixtures.LoadOk(root).Storage.Engine, Is.EqualTo(StorageEngine.LiteDb));
    }

    [Test]
    public void PostgreSql_with_its_two_databases_and_a_lease_loads()
    {
        var root = ConfigFixtures.Valid();
        root.MailServer()["Storage"] = JsonNode.Parse("""{ "Engine": "PostgreSql", "ConnectionString": "Host=127.0.0.1;Database=mail;Username=mail", "KeyLedgerConnectionString": "Host=127.0.0.1;Database=mail_keys;Username=mail", "LeaseSeconds": 30 }""");
        var storage = ConfigFixtures.LoadOk(root).Storage;
        Assert.That((storage.Engine, storage.ConnectionString, storage.KeyLedgerConnectionString, storage.Lease),
            Is.EqualTo((StorageEngine.PostgreSql, "Host=127.0.0.1;Database=mail;Username=mail", "Host=127.0.0.1;Database=mail_keys;Username=mail", TimeSpan.FromSeconds(30))));
    }

    [Test]
    public void A_PostgreSql_connection_string_is_checked_without_echoing_it()
    {
        Assert.That(ErrorsWith("""{ "Engine": "PostgreSql" }""").Select(e => e.Path), Does.Contain("$.MailServer.Storage.ConnectionString"));
        var bad = ErrorsWith("""{ "Engine": "PostgreSql", "ConnectionString": "Password=hunter2;Nonsense" }""");
        var error = bad.Single(e => e.Path == "$.MailServer.Storage.ConnectionString");
        Assert.That(error.Message, Does.Contain("not a valid PostgreSQL connection string").And.Not.Contain("hunter2"));
        Assert.That(ErrorsWith("""{ "Engine": "PostgreSql", "ConnectionString": "Host=db;Username=u" }""").Select(e => e.Message),
            Has.Some.Contains("names no Database"));
    }

    [Test]
    public void The_key_ledger_database_is_required_with_PostgreSql_and_must_not_be_the_mail_database()
    {
        const string mail = "Host=db.example.test;Database=mail;Username=mail;Password=hunter2";
        Assert.That(ErrorsWith($$"""{ "Engine": "PostgreSql", "ConnectionString": "{{mail}}" }""").Select(e => (e.Path, e.Message)),
            Has.Some.Matches<(string Path, string Message)>(e => e.Path == "$.MailServer.Storage.KeyLedgerConnectionString" && e.Message.Contains("is required")));
        var same = ErrorsWith($$"""{ "Engine": "PostgreSql", "ConnectionString": "{{mail}}", "KeyLedgerConnectionString": "Host=DB.example.test;Database=mail;Username=keys" }""")
            .Single(e => e.Path == "$.MailServer.Storage.KeyLedgerConnectionString");
        Assert.That(same.Message, Does.Contain("same database as ConnectionString").And.Not.Contain("hunter2"));
    }

    [TestCase("""{ "Engine": "Postgres" }""", "$.MailServer.Storage.Engine", "is not one of: LiteDb, PostgreSql")]
    [TestCase("""{ "Engine": "LiteDb", "KeyLedgerConnectionString": "Host=db" }""", "$.MailServer.Storage.KeyLedgerConnectionString", "only for Engine PostgreSql")]
    [TestCase("""{ "Engine": "LiteDb", "ConnectionString": "Host=db" }""", "$.MailServer.Storage.ConnectionString", "only for Engine PostgreSql")]
    [TestCase("""{ "Engin": "LiteDb" }""", "$.MailServer.Storage.Engin", "")]
    [TestCase("""{ "LeaseSeconds": 2 }""", "$.MailServer.Storage.LeaseSeconds", "")]
    [TestCase("""{ "LeaseSeconds": 7200 }""", "$.MailServer.Storage.LeaseSeconds", "")]
    public void A_bad_Storage_setting_is_refused_with_its_path(string json, string path, string fragment) =>
        Assert.That(ErrorsWith(json).Any(e => e.Path == path && e.Message.Contains(fragment, StringComparison.Ordinal)),
            $"expected {path}: {fragment}; got {string.Join("; ", ErrorsWith(json))}");

    [Test]
    public void The_queue_lease_is_a_setting_in_seconds()
    {
        var root = ConfigFixtures.Valid();
        root.MailServer()["Storage"] = JsonNode.Parse("""{ "LeaseSeconds": 15 }""");
        Assert.That(ConfigFixtures.LoadOk(root).Storage.Lease, Is.EqualTo(TimeSpan.FromSeconds(15)));
    }
}
