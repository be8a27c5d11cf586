using System.Text.Json.Nodes;
using MailServer.Server.Configuration;
using MailServer.Storage;

namespace MailServer.Server.WorkMailApi;

/// <summary>One operation: whether it only reads, and what it does.</summary>
public sealed record OperationHandler(bool ReadOnly, Func<ApiCall, Task<JsonObject?>> Run);

/// <summary>
/// The WorkMail operations this server implements, by name. Reads answer from the configuration in force; writes go
/// through <see cref="ConfigWriter"/> (the file stays the one source of truth: the same validation as a hand edit,
/// only the values concerned change, applied live before the reply).
/// </summary>
public sealed partial class WorkMailOperations
{
    private readonly Dictionary<string, OperationHandler> _handlers = new(StringComparer.Ordinal);
    private readonly ConfigMonitor _monitor;
    private readonly ConfigWriter _writer;
    private readonly IMailboxLookup? _store;
    private readonly IKeyAdministrationStore? _keys;

    /// <summary>Registers every operation.</summary>
    /// <param name="monitor">The configuration in force (reads).</param>
    /// <param name="writer">Writes into the config file.</param>
    /// <param name="store">The mail store's mailboxes, for mailbox sizes; null where there is none (tests of the config side).</param>
    /// <param name="keys">The store's key administration, which deletes a deleted user's mailbox (crypto-shredding);
    /// null where the store has none.</param>
    /// <param name="exports">The mailbox export jobs; null: the export operations are not offered.</param>
    public WorkMailOperations(ConfigMonitor monitor, ConfigWriter writer, IMailboxLookup? store, IKeyAdministrationStore? keys, MailboxExportJobs? exports = null)
    {
        _monitor = monitor;
        _writer = writer;
        _store = store;
        _keys = keys;
        if (exports is not null)
            RegisterExports(exports);
        RegisterOrganizations();
        RegisterUsers();
        RegisterGroups();
        RegisterAliasesAndPermissions();
        RegisterPolicies();
    }

    /// <summary>The names of the implemented operations, sorted.</summary>
    public IReadOnlyList<string> Names => [.. _handlers.Keys.Order(StringComparer.Ordinal)];

    /// <summary>The operation named <paramref name="name"/>.</summary>
    public bool TryGet(string name, out OperationHandler handler) => _handlers.TryGetValue(name, out handler!);

    private void Read(string name, Func<ApiCall, ServerConfig, JsonObject> run) =>
        _handlers[name] = new OperationHandler(true, call => Task.FromResult<JsonObject?>(run(call, _monitor.Config)));

    private void Write(string name, Func<ApiCall, ConfigDocument, ConfigChange<JsonObject?>> plan) =>
        _handlers[name] = new OperationHandler(false, call => _writer.UpdateAsync(doc => plan(call, doc), call.CancellationToken));

    private void WriteAsync(string name, Func<ApiCall, Task<JsonObject?>> run) =>
        _handlers[name] = new OperationHandler(false, run);

    private static ConfigChange<JsonObject?> Change(params JsonEdit[] edits) => new(edits, null);

    private static ConfigChange<JsonObject?> Change(IEnumerable<JsonEdit> edits, JsonObject? result = null) => new([.. edits], result);

    private static object[] OrgPath(int organization) => [ConfigLoader.SectionName, "Organizations", organization];

    private static object[] Under(object[] path, params object[] more) => [.. path, .. more];

    private static JsonArray Array(IEnumerable<string> values) => new([.. values.Select(v => (JsonNode)JsonValue.Create(v)!)]);

    private static JsonArray Array(IEnumerable<JsonNode> values) => new([.. values]);

    /// <summary>A list output with its NextToken (left out when there is no next page).</summary>
    private static JsonObject Listed(string name, JsonArray items, string? nextToken)
    {
        var o = new JsonObject { [name] = items };
        if (nextToken is not null)
            o["NextToken"] = nextToken;
        return o;
    }

    /// <summary>The organization's ARN, shaped like WorkMail's (account 000000000000: there is no AWS account).</summary>
    private static string OrganizationArn(string region, string organizationId) =>
        $"arn:aws:workmail:{region}:000000000000:organization/{organizationId}";
}
