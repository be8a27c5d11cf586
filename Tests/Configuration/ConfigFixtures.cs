using NUnit.Framework;
using System.Text.Json.Nodes;
using MailServer.Server.Configuration;
using Microsoft.Extensions.Logging;

namespace MailServer.Tests.Configuration;

/// <summary>A valid configuration to mutate, and helpers to load it.</summary>
internal static class ConfigFixtures
{
    public const string OrgId = "m-0123456789abcdef0123456789abcdef";

    public const string ValidJson = """
        {
          // comments and trailing commas are allowed
          "Logging": { "LogLevel": { "Default": "Information" } },
          "MailServer": {
            "ServerName": "mail.example.test",
            "DataDirectory": "data",
            "Listeners": { "BindAddress": "127.0.0.1", "Smtp": 2525, "Submission": 2587, "Submissions": 2465,
                           "Imap": 2143, "Imaps": 2993, "Admin": "127.0.0.1:8025" },
            "Tls": { "CertificatePath": null, "KeyPath": null, "AllowPlaintextAuth": false },
            "Dns": { "Servers": [ "127.0.0.1" ], "Port": 5353 },
            "Delivery": { "RemotePort": 2526 },
            "Limits": { "MaxMessageSizeMiB": 10, "MaxRecipients": 200 },
            "Organizations": [ {
              "Id": "m-0123456789abcdef0123456789abcdef", "Alias": "example",
              "MasterKeyPath": "keys/example.key",
              "Domains": [ { "Name": "example.test", "Default": true }, { "Name": "Other.Test" } ],
              "Users": [
                { "Email": "alice@example.test", "DisplayName": "Alice", "Aliases": [ "a@other.test" ],
                  "PasswordHash": null, "Enabled": true, "MailboxQuotaMiB": 100 },
                { "Email": "Bob@Example.test", "DisplayName": "Bob", "PasswordHash": null },
              ],
              "Groups": [ { "Email": "team@example.test", "Aliases": [ "all@example.test" ],
                            "Members": [ "alice@example.test", "a@other.test", "bob@example.test" ] },
                          { "Email": "outer@example.test", "Members": [ "team@example.test" ] } ],
              "MailboxPermissions": [ { "Mailbox": "alice@example.test", "Grantee": "team@example.test",
                                        "Permissions": [ "FullAccess", "SendAs" ] } ],
              "AccessControlRules": [ { "Name": "default", "Effect": "Allow", "Protocols": [ "IMAP" ], "NotProtocols": [],
                                        "IpRanges": [ "10.0.0.0/8", "2001:db8::/32", "192.0.2.1" ], "NotIpRanges": [],
                                        "Users": [ "alice@example.test" ], "NotUsers": [] } ],
              "FlowRules": {
                "Inbound":  [ { "Name": "block", "Action": "Drop", "SenderPatterns": [ "*.spam.test" ], "RecipientPatterns": [ "*" ] },
                              { "Name": "hook", "Action": "RunHook", "SenderPatterns": [ "*" ], "RecipientPatterns": [ "*" ],
                                "Hook": { "Url": "https://hooks.example.net/x", "Synchronous": true, "FallbackAction": "Bounce",
                                          "RuleTimeoutMinutes": 30, "Secret": "s" } } ],
                "Outbound": [ { "Name": "via-relay", "Action": "RouteToSmtpGateway", "SmtpGateway": "relay",
                                "SenderPatterns": [ "*" ], "RecipientPatterns": [ "partner.test", "x@partner2.test" ] } ]
              },
              "SmtpGateways": [ { "Name": "relay", "Host": "relay.example.net", "Port": 587, "Username": "u", "Password": "p",
                                  "Security": "StartTls" } ],
              "DefaultSmtpGateway": null,
              "Dmarc": { "Enforce": true },
              "Journaling": { "Enabled": false, "JournalingAddress": null, "ReportAddress": null },
              "RetentionPolicy": { "Folders": [ { "Folder": "Deleted Items", "Action": "PermanentlyDelete", "Days": 30 } ] },
              "EmailEventLog": { "Enabled": true },
            } ]
          }
        }
        """;

    /// <summary>The valid config as a mutable node (comments stripped).</summary>
    public static JsonObject Valid() =>
        JsonNode.Parse(ValidJson, documentOptions: new System.Text.Json.JsonDocumentOptions
        {
            CommentHandling = System.Text.Json.JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
        })!.AsObject();

    public static JsonObject MailServer(this JsonObject root) => root["MailServer"]!.AsObject();

    public static JsonObject Org(this JsonObject root, int index = 0) => root.MailServer()["Organizations"]![index]!.AsObject();

    public static JsonObject User(this JsonObject root, int index) => root.Org()["Users"]![index]!.AsObject();

    public static ConfigLoadResult Load(JsonNode root, string configPath = "/srv/mail/appsettings.json", string? data = null) =>
        ConfigLoader.Parse(root.ToJsonString(), configPath, data);

    public static ServerConfig LoadOk(JsonNode root, string configPath = "/srv/mail/appsettings.json", string? data = null)
    {
        var result = Load(root, configPath, data);
        if (result is ConfigLoadResult.Invalid invalid)
            Assert.Fail("expected a valid config, got:\n" + string.Join("\n", invalid.Errors));
        return ((ConfigLoadResult.Ok)result).Config;
    }

    public static IReadOnlyList<ConfigError> Errors(JsonNode root)
    {
        var result = Load(root);
        Assert.That(result, Is.TypeOf<ConfigLoadResult.Invalid>(), "the config should have been refused");
        return ((ConfigLoadResult.Invalid)result).Errors;
    }

    /// <summary>The repository root (holding mailserver.sln), found from the test binaries upwards.</summary>
    public static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "mailserver.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("mailserver.sln not found above the test directory");
    }
}

/// <summary>A temporary folder deleted at dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mailserver-tests-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>An ILogger that records every entry, thread-safe.</summary>
internal sealed class ListLogger : ILogger
{
    private readonly List<(LogLevel Level, EventId Id, string Message, IReadOnlyList<KeyValuePair<string, object?>> State)> _entries = [];

    public IReadOnlyList<(LogLevel Level, EventId Id, string Message, IReadOnlyList<KeyValuePair<string, object?>> State)> Entries
    {
        get { lock (_entries) return _entries.ToList(); }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var values = state as IReadOnlyList<KeyValuePair<string, object?>> ?? [];
        lock (_entries)
            _entries.Add((logLevel, eventId, formatter(state, exception), values.ToList()));
    }
}
