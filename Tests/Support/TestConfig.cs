using System.Text.Json.Nodes;
using MailServer.Server.Configuration;

namespace MailServer.Tests.Support;

/// <summary>
/// A typed builder for test configurations: what a test needs is said in method calls, and the result goes through
/// the loader's own validation (<c>ConfigLoader.Parse</c>), so a test config is always one the server accepts.
/// </summary>
internal sealed class TestConfig
{
    private readonly JsonObject _server = new()
    {
        ["ServerName"] = "mx.example.test",
        ["DataDirectory"] = "data",
        ["Organizations"] = new JsonArray(),
    };

    /// <summary>A configuration with no organization yet.</summary>
    public static TestConfig Create() => new();

    /// <summary>The data folder (absolute, or relative to the config file).</summary>
    public TestConfig DataDirectory(string path) { _server["DataDirectory"] = path; return this; }

    /// <summary>The name in greetings, Received and Authentication-Results fields.</summary>
    public TestConfig ServerName(string name) { _server["ServerName"] = name; return this; }

    /// <summary>Every listener on loopback, on the given ports.</summary>
    public TestConfig Listeners(ServerProcess.Ports ports)
    {
        _server["Listeners"] = new JsonObject
        {
            ["BindAddress"] = "127.0.0.1", ["Smtp"] = ports.Smtp, ["Submission"] = ports.Submission, ["Submissions"] = ports.Submissions,
            ["Imap"] = ports.Imap, ["Imaps"] = ports.Imaps, ["Admin"] = $"127.0.0.1:{ports.Admin}", ["Https"] = ports.Https,
        };
        return this;
    }

    /// <summary>The one resolver's server on loopback.</summary>
    public TestConfig Dns(LoopbackDnsServer dns)
    {
        _server["Dns"] = new JsonObject { ["Servers"] = new JsonArray(dns.Address.ToString()), ["Port"] = dns.Port, ["TimeoutSeconds"] = 2 };
        return this;
    }

    /// <summary>Adds an organization with one domain (its default) and an allow-all access rule.</summary>
    public TestConfig Organization(string id, string alias, string domain, Action<TestOrganization>? configure = null)
    {
        var organization = new TestOrganization(id, alias, domain);
        configure?.Invoke(organization);
        ((JsonArray)_server["Organizations"]!).Add(organization.Node);
        return this;
    }

    /// <summary>The JSON a test would write to appsettings.json.</summary>
    public string Json() => new JsonObject { ["MailServer"] = _server.DeepClone() }.ToJsonString();

    /// <summary>The validated configuration.</summary>
    /// <exception cref="InvalidOperationException">The loader refused it; the message lists every error with its JSON path.</exception>
    public ServerConfig Build(string configPath = "/tmp/appsettings.json") => ConfigLoader.Parse(Json(), configPath) switch
    {
        ConfigLoadResult.Ok ok => ok.Config,
        ConfigLoadResult.Invalid invalid => throw new InvalidOperationException(
            "test config invalid: " + string.Join("; ", invalid.Errors.Select(e => $"{e.Path}: {e.Message}"))),
        _ => throw new InvalidOperationException("unknown load result"),
    };
}

/// <summary>One organization of a <see cref="TestConfig"/>.</summary>
internal sealed class TestOrganization
{
    internal TestOrganization(string id, string alias, string domain)
    {
        Domain = domain;
        Node = new JsonObject
        {
            ["Id"] = id,
            ["Alias"] = alias,
            ["MasterKeyPath"] = $"keys/{alias}.key",
            ["Domains"] = new JsonArray(new JsonObject { ["Name"] = domain, ["Default"] = true }),
            ["Users"] = new JsonArray(),
            ["AccessControlRules"] = new JsonArray(new JsonObject { ["Name"] = "default", ["Effect"] = "Allow" }),
        };
    }

    internal JsonObject Node { get; }

    /// <summary>The organization's (default) domain.</summary>
    public string Domain { get; }

    /// <summary>Adds a user <paramref name="localPart"/>@domain.</summary>
    public TestOrganization User(string localPart, string? passwordHash = null)
    {
        ((JsonArray)Node["Users"]!).Add(new JsonObject
        {
            ["Email"] = $"{localPart}@{Domain}",
            ["DisplayName"] = localPart,
            ["PasswordHash"] = passwordHash,
        });
        return this;
    }

    /// <summary>Gives the last added user a mailbox rule (§9.8) that matches every message from <paramref name="senderContains"/>.</summary>
    /// <param name="name">The rule's name.</param>
    /// <param name="senderContains">Text the Sender field must contain.</param>
    /// <param name="actions">The actions as JSON objects, e.g. <c>{ "Type": "Move", "Folder": "News" }</c>.</param>
    public TestOrganization MailboxRule(string name, string senderContains, params string[] actions)
    {
        var user = (JsonObject)((JsonArray)Node["Users"]!)[^1]!;
        var rules = (JsonArray)(user["MailboxRules"] ??= new JsonArray());
        rules.Add(new JsonObject
        {
            ["Name"] = name,
            ["Conditions"] = new JsonArray(new JsonObject { ["Field"] = "Sender", ["Contains"] = senderContains }),
            ["Actions"] = new JsonArray(actions.Select(a => (JsonNode)JsonNode.Parse(a)!).ToArray()),
        });
        return this;
    }

    /// <summary>Journaling (§14) to <paramref name="journalingAddress"/>, failures reported to <paramref name="reportAddress"/>.</summary>
    public TestOrganization Journaling(string journalingAddress, string reportAddress)
    {
        Node["Journaling"] = new JsonObject { ["Enabled"] = true, ["JournalingAddress"] = journalingAddress, ["ReportAddress"] = reportAddress };
        return this;
    }

    /// <summary>Dmarc.Enforce (§12).</summary>
    public TestOrganization EnforceDmarc(bool enforce) { Node["Dmarc"] = new JsonObject { ["Enforce"] = enforce }; return this; }

    /// <summary>Adds an inbound flow rule (§9.2) for recipients matching <paramref name="recipientPattern"/>.</summary>
    public TestOrganization InboundRule(string name, string action, string senderPattern, string recipientPattern = "*")
    {
        var rules = (JsonObject)(Node["FlowRules"] ??= new JsonObject());
        var inbound = (JsonArray)(rules["Inbound"] ??= new JsonArray());
        inbound.Add(new JsonObject
        {
            ["Name"] = name, ["Action"] = action,
            ["SenderPatterns"] = new JsonArray(senderPattern), ["RecipientPatterns"] = new JsonArray(recipientPattern),
        });
        return this;
    }
}
