using System.Text.Json.Nodes;
using MailServer.Server.Configuration;
using MailServer.Server.Events;

namespace MailServer.Tests.Support;

public sealed partial class ServerProcess
{
    /// <summary>
    /// The sample organization's email event log lines, opened with its key (they are sealed at rest), each as
    /// <c>{timestamp, traceId, organizationId, event:{eventName, ...}}</c>, oldest first. Empty when none was written.
    /// </summary>
    public JsonObject[] EventLogLines()
    {
        var config = ((ConfigLoadResult.Ok)ConfigLoader.Load(ConfigPath, null)).Config;
        var key = EventLogCipher.KeysFrom(config)(OrganizationId)!;
        var folder = Path.Combine(DataDirectory, "events", OrganizationId);
        return Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder, "*.jsonl").Order()
                .SelectMany(f => EmailEventQuery.ReadFile(f, OrganizationId, key))
                .Select(l => JsonNode.Parse(l)!.AsObject()).ToArray()
            : [];
    }

    /// <summary>Every audit log line (§19) of every organization, in file order, each as a JSON object.</summary>
    public JsonObject[] AuditLogLines()
    {
        var folder = Path.Combine(DataDirectory, "audit");
        return Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder, "*.jsonl", SearchOption.AllDirectories).Order().SelectMany(File.ReadAllLines)
                .Select(l => JsonNode.Parse(l)!.AsObject()).ToArray()
            : [];
    }
}
