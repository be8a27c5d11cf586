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
        var root = ConfigFixtures.Valid();
        root.MailServer()["Storage"] = JsonNode.Parse("""{ "Engine": "LiteDb" }""");
        Assert.That(ConfigFixtures.LoadOk(root).Storage.Engine, Is.EqualTo(StorageEngine.LiteDb));
    }

    [Test]
    public void PostgreSql_is_refused_with_the_parts_its_engine_does_not_have_yet()
    {
        var errors = ErrorsWith("""{ "Engine": "PostgreSql", "ConnectionString": "Host=127.0.0.1;Database=mail;Username=mail", "KeyLedgerConnectionString": "Host=127.0.0.1;Database=mail_keys;Username=mail" }""");
        var error = errors.Single();
        Assert.That(error.Path, Is.EqualTo("$.MailServer.Storage.Engine"));
        Assert.That(error.Message, Does.Contain("not available yet").And.Contain("use LiteDb"));
        // Exactly what is missing: what the engine has (the queue, held messages, retention) is not listed as missing.
        var missing = error.Message[error.Message.IndexOf("but not yet", StringComparison.Ordinal)..];
        Assert.That(missing, Does.Contain("ISearchIndexStore").And.Contain("backup").And.Contain("server host"));
        foreach (var part in StorageConfig.PostgreSqlNotYetAvailable)
            Assert.That(missing, Does.Contain(part));
        Assert.That(missing, Does.Not.Contain("queue").And.Not.Contain("held").And.Not.Contain("retention").And.Not.Contain("REPLACE")
            .And.Not.Contain("key rotation").And.Not.Contain("IKeyAdministrationStore"));
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
        Assert.That(ErrorsWith($$"""{ "Engine": "PostgreSql", "ConnectionString": "{{mail}}", "KeyLedgerConnectionString": "Host=db.example.test;Database=mail_keys;Username=keys" }""")
            .Select(e => e.Path), Does.Not.Contain("$.MailServer.Storage.KeyLedgerConnectionString"));
    }

    [TestCase("""{ "Engine": "Postgres" }""", "$.MailServer.Storage.Engine", "is not one of: LiteDb, PostgreSql")]
    [TestCase("""{ "Engine": "LiteDb", "KeyLedgerConnectionString": "Host=db" }""", "$.MailServer.Storage.KeyLedgerConnectionString", "only for Engine PostgreSql")]
    [TestCase("""{ "Engine": "LiteDb", "ConnectionString": "Host=db" }""", "$.MailServer.Storage.ConnectionString", "only for Engine PostgreSql")]
    [TestCase("""{ "Engin": "LiteDb" }""", "$.MailServer.Storage.Engin", "")]
    public void A_bad_Storage_setting_is_refused_with_its_path(string json, string path, string fragment) =>
        Assert.That(ErrorsWith(json).Any(e => e.Path == path && e.Message.Contains(fragment, StringComparison.Ordinal)),
            $"expected {path}: {fragment}; got {string.Join("; ", ErrorsWith(json))}");
}
