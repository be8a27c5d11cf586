using System.Text.Json.Nodes;
using MailServer.Server.Configuration;
using NUnit.Framework;

namespace MailServer.Tests.Configuration;

/// <summary><c>MailServer.Storage</c>: LiteDB by default; PostgreSQL refused, with what it lacks, until its engine is whole.</summary>
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
    public void PostgreSql_is_refused_with_the_parts_its_engine_does_not_have_yet()
    {
        var errors = ErrorsWith("""{ "Engine": "PostgreSql", "ConnectionString": "Host=127.0.0.1;Database=mail;Username=mail" }""");
        var error = errors.Single();
        Assert.That(error.Path, Is.EqualTo("$.MailServer.Storage.Engine"));
        Assert.That(error.Message, Does.Contain("not available yet").And.Contain("use LiteDb"));
        // Exactly what is missing: what the engine has (the queue, held messages, retention) is not listed as missing.
        var missing = error.Message[error.Message.IndexOf("but not yet", StringComparison.Ordinal)..];
        Assert.That(missing, Does.Contain("IKeyAdministrationStore"));
        foreach (var part in StorageConfig.PostgreSqlNotYetAvailable)
            Assert.That(missing, Does.Contain(part));
        Assert.That(missing, Does.Not.Contain("queue").And.Not.Contain("held").And.Not.Contain("retention").And.Not.Contain("REPLACE")
            .And.Not.Contain("ISearchIndexStore").And.Not.Contain("reindex").And.Not.Contain("server host"));
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

    [TestCase("""{ "Engine": "Postgres" }""", "$.MailServer.Storage.Engine", "is not one of: LiteDb, PostgreSql")]
    [TestCase("""{ "Engine": "LiteDb", "ConnectionString": "Host=db" }""", "$.MailServer.Storage.ConnectionString", "only for Engine PostgreSql")]
    [TestCase("""{ "Engin": "LiteDb" }""", "$.MailServer.Storage.Engin", "")]
    [TestCase("""{ "Engine": "LiteDb", "KeyDirectory": "/srv/keys" }""", "$.MailServer.Storage.KeyDirectory", "only for Engine PostgreSql")]
    [TestCase("""{ "Engine": "PostgreSql", "ConnectionString": "Host=db;Database=m", "KeyDirectory": "keys" }""", "$.MailServer.Storage.KeyDirectory", "absolute path")]
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
