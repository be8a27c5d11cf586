using System.Text.Json;
using System.Text.Json.Nodes;
using MailServer.Server.Configuration;
using MailServer.Server.Security;
using Microsoft.Extensions.Logging.Abstractions;

namespace MailServer.Server.Cli;

/// <summary>
/// <c>mailserver import workmail-config DIR</c>: reads what the AWS CLI printed for a WorkMail organization (the
/// files the README's export script writes) and adds the equivalent organization to the configuration file, keeping
/// WorkMail's organization id and entity ids, so scripts that name them keep working. One validated, atomic write
/// (<see cref="ConfigWriter"/>); <c>--dry-run</c> prints the organization instead. Passwords cannot be exported:
/// each user gets a one-time password printed once, or the one <c>--passwords FILE</c> (CSV: address,password) gives.
/// </summary>
internal sealed class ImportWorkMailConfigCommand : ICliCommand
{
    public IReadOnlyList<string> Name { get; } = ["import", "workmail-config"];
    public string ArgumentSyntax => "DIR";
    public int ArgumentCount => 1;
    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("--dry-run", null, "print the organization that would be added; change nothing"),
        new("--passwords", "FILE", "CSV lines address,password for the users (others get a one-time password)"),
    ];
    public string Summary => "add a WorkMail organization exported with the AWS CLI to the configuration";
    public string Details =>
        "DIR holds the AWS CLI's JSON output (see the README's migration guide): organization.json, mail-domains.json,\n" +
        "users.json, groups.json, group-members/<GroupId>.json, aliases/<EntityId>.json, mailbox-permissions/<EntityId>.json,\n" +
        "mailbox-details/<UserId>.json, access-control-rules.json, and if present retention-policy.json,\n" +
        "inbound-dmarc.json, email-monitoring.json. WorkMail's test domain (*.awsapps.com) is left out; access rules\n" +
        "for protocols this server does not serve (EWS, ActiveSync, ...) are left out with a warning.";

    private static readonly Dictionary<string, string> Permissions = new(StringComparer.Ordinal)
    {
        ["FULL_ACCESS"] = "FullAccess", ["SEND_AS"] = "SendAs", ["SEND_ON_BEHALF"] = "SendOnBehalf",
    };

    private static readonly Dictionary<string, string> Folders = new(StringComparer.Ordinal)
    {
        ["INBOX"] = "Inbox", ["DELETED_ITEMS"] = "Deleted Items", ["SENT_ITEMS"] = "Sent Items", ["DRAFTS"] = "Drafts", ["JUNK_EMAIL"] = "Junk E-mail",
    };

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        var dir = Path.GetFullPath(arguments.Arguments[0]);
        if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
            return await Fail(console, $"{arguments.ConfigPath} is invalid; run 'mailserver config check' and fix it first");
        var warnings = new List<string>();
        Dictionary<string, string> passwords;
        JsonObject org;
        try
        {
            passwords = ReadPasswords(arguments.Value("--passwords"));
            org = BuildOrganization(dir, config, passwords, warnings);
        }
        catch (Exception e) when (e is IOException or JsonException or InvalidDataException or KeyNotFoundException or InvalidOperationException)
        {
            return await Fail(console, e.Message);
        }
        var oneTime = org["Users"]!.AsArray().Select(u => u!["Email"]!.GetValue<string>()).Where(e => !passwords.ContainsKey(e)).ToList();
        foreach (var warning in warnings)
            await console.Error.WriteLineAsync("warning: " + warning).ConfigureAwait(false);

        if (arguments.Flag("--dry-run"))
        {
            // The check of the real write, on the bytes it would produce, without writing them.
            var bytes = await File.ReadAllBytesAsync(arguments.ConfigPath, console.CancellationToken).ConfigureAwait(false);
            var after = JsonFileEdits.Apply(bytes, [new JsonEdit.Append([ConfigLoader.SectionName], "Organizations", WithoutHashes(org))]);
            if (ConfigLoader.Parse(after, arguments.ConfigPath, config.DataDirectory) is ConfigLoadResult.Invalid invalid)
            {
                await ConfigCheckCommand.WriteErrorsAsync(console, arguments.ConfigPath, invalid.Errors).ConfigureAwait(false);
                return await Fail(console, "the organization would make the configuration invalid; nothing was changed");
            }
            await console.Out.WriteLineAsync(WithoutHashes(org).ToJsonString(new JsonSerializerOptions { WriteIndented = true })).ConfigureAwait(false);
            await console.Out.WriteLineAsync($"Dry run: {Describe(org)} would be added to {arguments.ConfigPath}; " +
                                             $"{oneTime.Count} user(s) would get a one-time password.").ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        // One-time passwords: generated now, hashed, printed once below.
        var generated = oneTime.ToDictionary(e => e, _ => PasswordPolicy.Generate(), StringComparer.OrdinalIgnoreCase);
        var hashes = new System.Collections.Concurrent.ConcurrentDictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        Parallel.ForEach(passwords.Concat(generated), p => hashes[p.Key] = PasswordHasher.Hash(p.Value));
        foreach (var user in org["Users"]!.AsArray())
            user!["PasswordHash"] = hashes.GetValueOrDefault(user["Email"]!.GetValue<string>());

        using var monitor = ConfigMonitor.Start(arguments.ConfigPath, arguments.DataDirectory, NullLogger.Instance, TimeSpan.FromHours(1));
        try
        {
            await new ConfigWriter(monitor).UpdateAsync(doc =>
            {
                if (doc.Config.Organizations.Any(o => o.Id == org["Id"]!.GetValue<string>()))
                    throw new InvalidOperationException($"organization {org["Id"]} is already in {arguments.ConfigPath}");
                return new ConfigChange<bool>([new JsonEdit.Append([ConfigLoader.SectionName], "Organizations", org)], true);
            }, console.CancellationToken).ConfigureAwait(false);
        }
        catch (ConfigWriteRefusedException refused)
        {
            await ConfigCheckCommand.WriteErrorsAsync(console, arguments.ConfigPath, refused.Errors).ConfigureAwait(false);
            return await Fail(console, "the organization would make the configuration invalid; nothing was changed");
        }
        catch (InvalidOperationException e)
        {
            return await Fail(console, e.Message);
        }
        await console.Out.WriteLineAsync($"Added {Describe(org)} to {arguments.ConfigPath}.").ConfigureAwait(false);
        if (generated.Count > 0)
        {
            await console.Out.WriteLineAsync("One-time passwords (shown once; give each to its user, who should change it):").ConfigureAwait(false);
            foreach (var (email, password) in generated.OrderBy(p => p.Key, StringComparer.Ordinal))
                await console.Out.WriteLineAsync($"  {email}: {password}").ConfigureAwait(false);
        }
        return ExitCodes.Ok;
    }

    private static string Describe(JsonObject org) =>
        $"organization {org["Alias"]} ({org["Id"]}) with {org["Domains"]!.AsArray().Count} domain(s), {org["Users"]!.AsArray().Count} user(s), " +
        $"{org["Groups"]!.AsArray().Count} group(s)";

    private static JsonObject WithoutHashes(JsonObject org)
    {
        var copy = org.DeepClone().AsObject();
        foreach (var user in copy["Users"]!.AsArray())
            user!["PasswordHash"] = null;
        return copy;
    }

    private static Dictionary<string, string> ReadPasswords(string? path)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (path is null)
            return result;
        var n = 0;
        foreach (var line in File.ReadLines(path))
        {
            n++;
            if (line.Trim().Length == 0 || line.TrimStart().StartsWith('#'))
                continue;
            var comma = line.IndexOf(',');
            if (comma <= 0)
                throw new InvalidDataException($"{path}:{n}: expected address,password");
            var (address, password) = (line[..comma].Trim().ToLowerInvariant(), line[(comma + 1)..]);
            if (PasswordPolicy.Check(password) is { Count: > 0 } problems)
                throw new InvalidDataException($"{path}:{n}: the password of {address} does not meet the policy: {string.Join("; ", problems)}");
            result[address] = password;
        }
        return result;
    }

    private static JsonElement Read(string dir, string name, bool required = true)
    {
        var path = Path.Combine(dir, name);
        if (!File.Exists(path))
        {
            if (required)
                throw new IOException($"{path} is missing (see the export script in the README)");
            return default;
        }
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        return document.RootElement.Clone();
    }

    private static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static IEnumerable<JsonElement> Items(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array ? v.EnumerateArray() : [];

    private static bool IsTestDomain(string address) => address.EndsWith(".awsapps.com", StringComparison.OrdinalIgnoreCase);

    /// <summary>The organization object to append, built from the AWS CLI's output.</summary>
    private static JsonObject BuildOrganization(string dir, ServerConfig config, Dictionary<string, string> passwords, List<string> warnings)
    {
        var description = Read(dir, "organization.json");
        var id = Str(description, "OrganizationId") ?? throw new InvalidDataException("organization.json has no OrganizationId");
        var alias = (Str(description, "Alias") ?? id).ToLowerInvariant();
        if (config.Organizations.Any(o => o.Alias == alias))
        {
            warnings.Add($"the alias '{alias}' is taken; the organization is imported as '{alias}-workmail'");
            alias += "-workmail";
        }

        var domains = Items(Read(dir, "mail-domains.json"), "MailDomains")
            .Select(d => (Name: Str(d, "DomainName")!.ToLowerInvariant(), Default: d.TryGetProperty("DefaultDomain", out var dd) && dd.ValueKind == JsonValueKind.True))
            .Where(d => !IsTestDomain(d.Name)).ToList();
        if (domains.Count == 0)
            throw new InvalidDataException("mail-domains.json lists no domain of the organization's own (only the *.awsapps.com test domain)");
        var defaultDomain = domains.FirstOrDefault(d => d.Default).Name ?? domains[0].Name;

        // Entity id → primary address, for members, permissions and rules.
        var addressOf = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var users = new JsonArray();
        foreach (var u in Items(Read(dir, "users.json"), "Users"))
        {
            var state = Str(u, "State");
            if (state == "DELETED" || Str(u, "UserRole") is "SYSTEM_USER")
                continue;
            var userId = Str(u, "Id")!;
            var name = Str(u, "Name")!;
            var email = (Str(u, "Email") is { } e && !IsTestDomain(e) ? e : $"{name.Split('@')[0]}@{defaultDomain}").ToLowerInvariant();
            addressOf[userId] = email;
            var user = new JsonObject
            {
                ["Id"] = KeptId(userId, name, warnings),
                ["Name"] = name,
                ["Email"] = email,
                ["DisplayName"] = Str(u, "DisplayName") ?? name,
                ["Aliases"] = Aliases(dir, userId, email),
                ["PasswordHash"] = null,
                ["Enabled"] = state == "ENABLED",
            };
            if (user["Id"] is null)
                user.Remove("Id");
            var details = Read(dir, Path.Combine("mailbox-details", userId + ".json"), required: false);
            if (details.ValueKind == JsonValueKind.Object && details.TryGetProperty("MailboxQuota", out var q) && q.TryGetInt32(out var quota))
                user["MailboxQuotaMiB"] = Math.Clamp(quota, 1, UserConfig.MaxQuotaMiB);
            users.Add(user);
        }

        var groups = new JsonArray();
        var groupMembers = new List<(JsonObject Group, string GroupId)>();
        foreach (var g in Items(Read(dir, "groups.json"), "Groups"))
        {
            if (Str(g, "State") == "DELETED")
                continue;
            var groupId = Str(g, "Id")!;
            var name = Str(g, "Name")!;
            var slug = new string(name.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '-').ToArray()).Trim('-');
            var email = (Str(g, "Email") is { } e && !IsTestDomain(e) ? e : $"{slug}@{defaultDomain}").ToLowerInvariant();
            addressOf[groupId] = email;
            var group = new JsonObject
            {
                ["Id"] = KeptId(groupId, name, warnings),
                ["Name"] = name,
                ["Email"] = email,
                ["Aliases"] = Aliases(dir, groupId, email),
                ["Members"] = new JsonArray(),
                ["Enabled"] = Str(g, "State") == "ENABLED",
            };
            if (group["Id"] is null)
                group.Remove("Id");
            groups.Add(group);
            groupMembers.Add((group, groupId));
        }
        foreach (var (group, groupId) in groupMembers)
        {
            var members = Items(Read(dir, Path.Combine("group-members", groupId + ".json"), required: false), "Members")
                .Select(m => Str(m, "Id")).OfType<string>()
                .Select(m => addressOf.GetValueOrDefault(m)).OfType<string>().Distinct(StringComparer.OrdinalIgnoreCase);
            group["Members"] = new JsonArray([.. members.Select(m => (JsonNode)JsonValue.Create(m)!)]);
        }

        var permissions = new JsonArray();
        foreach (var (entityId, mailbox) in addressOf)
            foreach (var p in Items(Read(dir, Path.Combine("mailbox-permissions", entityId + ".json"), required: false), "Permissions"))
            {
                if (Str(p, "GranteeId") is not { } granteeId || !addressOf.TryGetValue(granteeId, out var grantee))
                    continue;
                var values = Items(p, "PermissionValues").Select(v => Permissions.GetValueOrDefault(v.GetString() ?? "")).OfType<string>().ToList();
                if (values.Count > 0)
                    permissions.Add(new JsonObject
                    {
                        ["Mailbox"] = mailbox,
                        ["Grantee"] = grantee,
                        ["Permissions"] = new JsonArray([.. values.Select(v => (JsonNode)JsonValue.Create(v)!)]),
                    });
            }

        var rules = new JsonArray();
        foreach (var r in Items(Read(dir, "access-control-rules.json"), "Rules"))
        {
            var name = Str(r, "Name")!;
            var actions = Items(r, "Actions").Select(a => a.GetString()!).ToList();
            var supported = actions.Where(a => AccessControlRuleConfig.KnownProtocols.Contains(a)).ToList();
            if (actions.Count > 0 && supported.Count == 0)
            {
                warnings.Add($"access rule '{name}' only names protocols this server does not serve ({string.Join(", ", actions)}); left out");
                continue;
            }
            JsonArray Strings(IEnumerable<string> values) => new([.. values.Select(v => (JsonNode)JsonValue.Create(v)!)]);
            rules.Add(new JsonObject
            {
                ["Name"] = name,
                ["Effect"] = Str(r, "Effect") == "ALLOW" ? "Allow" : "Deny",
                ["Description"] = Str(r, "Description") ?? "",
                ["Protocols"] = Strings(supported),
                ["NotProtocols"] = Strings(Items(r, "NotActions").Select(a => a.GetString()!).Where(a => AccessControlRuleConfig.KnownProtocols.Contains(a))),
                ["IpRanges"] = Strings(Items(r, "IpRanges").Select(a => a.GetString()!)),
                ["NotIpRanges"] = Strings(Items(r, "NotIpRanges").Select(a => a.GetString()!)),
                ["Users"] = Strings(Items(r, "UserIds").Select(a => addressOf.GetValueOrDefault(a.GetString()!)).OfType<string>()),
                ["NotUsers"] = Strings(Items(r, "NotUserIds").Select(a => addressOf.GetValueOrDefault(a.GetString()!)).OfType<string>()),
            });
        }

        var org = new JsonObject
        {
            ["Id"] = id,
            ["Alias"] = alias,
            ["Domains"] = new JsonArray([.. domains.Select(d => (JsonNode)new JsonObject { ["Name"] = d.Name, ["Default"] = d.Name == defaultDomain })]),
            ["Users"] = users,
            ["Groups"] = groups,
            ["MailboxPermissions"] = permissions,
            ["AccessControlRules"] = rules,
        };

        var retention = Read(dir, "retention-policy.json", required: false);
        if (retention.ValueKind == JsonValueKind.Object)
        {
            var policy = new JsonObject();
            foreach (var key in new[] { "Id", "Name", "Description" })
                if (Str(retention, key) is { } v)
                    policy[key] = v;
            policy["Folders"] = new JsonArray([.. Items(retention, "FolderConfigurations")
                .Where(f => Str(f, "Action") is "DELETE" or "PERMANENTLY_DELETE" && Folders.ContainsKey(Str(f, "Name") ?? ""))
                .Select(f => (JsonNode)new JsonObject
                {
                    ["Folder"] = Folders[Str(f, "Name")!],
                    ["Action"] = Str(f, "Action") == "DELETE" ? "Delete" : "PermanentlyDelete",
                    ["Days"] = f.TryGetProperty("Period", out var d) && d.TryGetInt32(out var days) ? days : 30,
                })]);
            org["RetentionPolicy"] = policy;
        }
        var dmarc = Read(dir, "inbound-dmarc.json", required: false);
        if (dmarc.ValueKind == JsonValueKind.Object && dmarc.TryGetProperty("Enforced", out var enforced) && enforced.ValueKind is JsonValueKind.True or JsonValueKind.False)
            org["Dmarc"] = new JsonObject { ["Enforce"] = enforced.GetBoolean() };
        var monitoring = Read(dir, "email-monitoring.json", required: false);
        if (monitoring.ValueKind == JsonValueKind.Object && Str(monitoring, "LogGroupArn") is { } logGroup)
        {
            var log = new JsonObject { ["Enabled"] = true, ["LogGroupArn"] = logGroup };
            if (Str(monitoring, "RoleArn") is { } role)
                log["RoleArn"] = role;
            org["EmailEventLog"] = log;
        }
        foreach (var email in passwords.Keys.Where(k => !users.Any(u => string.Equals(u!["Email"]!.GetValue<string>(), k, StringComparison.OrdinalIgnoreCase))))
            warnings.Add($"--passwords names {email}, which is not a user of the organization");
        return org;
    }

    /// <summary>WorkMail's UUID entity id, kept; an id of another shape (S-1-..., from a connected directory) is not, with a warning.</summary>
    private static string? KeptId(string id, string name, List<string> warnings)
    {
        var lower = id.ToLowerInvariant();
        if (EntityIds.IsWellFormed(lower))
            return lower;
        warnings.Add($"the id of '{name}' ({id}) is not a UUID; it gets a new one");
        return null;
    }

    private static JsonArray Aliases(string dir, string entityId, string primary)
    {
        var aliases = Items(Read(dir, Path.Combine("aliases", entityId + ".json"), required: false), "Aliases")
            .Select(a => a.GetString()!.ToLowerInvariant())
            .Where(a => a != primary && !IsTestDomain(a)).Distinct();
        return new JsonArray([.. aliases.Select(a => (JsonNode)JsonValue.Create(a)!)]);
    }

    private static async Task<int> Fail(CliConsole console, string message)
    {
        await console.Error.WriteLineAsync("mailserver: " + message).ConfigureAwait(false);
        return ExitCodes.InvalidInput;
    }
}
