using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailServer.Rules.AccessControl;
using MailServer.Server.Configuration;

namespace MailServer.Server.WorkMailApi;

// Access control rules (§6), retention (§16), inbound DMARC (§12) and email monitoring (§18) (WorkMail API
// reference: PutAccessControlRule, DeleteAccessControlRule, ListAccessControlRules, GetAccessControlEffect,
// PutRetentionPolicy, GetDefaultRetentionPolicy, DeleteRetentionPolicy, PutInboundDmarcSettings,
// DescribeInboundDmarcSettings, PutEmailMonitoringConfiguration, DescribeEmailMonitoringConfiguration,
// DeleteEmailMonitoringConfiguration).
public sealed partial class WorkMailOperations
{
    private static readonly Dictionary<string, string> RetentionFolders = new(StringComparer.Ordinal)
    {
        ["INBOX"] = "Inbox",
        ["DELETED_ITEMS"] = "Deleted Items",
        ["SENT_ITEMS"] = "Sent Items",
        ["DRAFTS"] = "Drafts",
        ["JUNK_EMAIL"] = "Junk E-mail",
    };

    private void RegisterPolicies()
    {
        Write("PutAccessControlRule", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var name = call.Required("Name", 1, 64);
            var effect = call.Required("Effect") switch
            {
                "ALLOW" => "Allow",
                "DENY" => "Deny",
                var other => throw WorkMailException.InvalidParameter($"Effect '{other}' is not ALLOW or DENY"),
            };
            if ((call.Strings("ImpersonationRoleIds")?.Count ?? 0) + (call.Strings("NotImpersonationRoleIds")?.Count ?? 0) > 0)
                throw WorkMailException.InvalidParameter("impersonation roles are not supported");
            List<string> Users(string key) => (call.Strings(key) ?? [])
                .Select(u => Entities.Resolve(org, u, EntityKind.User).Email).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
            var rule = new JsonObject
            {
                ["Name"] = name,
                ["Effect"] = effect,
                ["Description"] = call.String("Description", required: true, max: 255),
                ["Protocols"] = Array(call.Strings("Actions") ?? []),
                ["NotProtocols"] = Array(call.Strings("NotActions") ?? []),
                ["IpRanges"] = Array(call.Strings("IpRanges") ?? []),
                ["NotIpRanges"] = Array(call.Strings("NotIpRanges") ?? []),
                ["Users"] = Array(Users("UserIds")),
                ["NotUsers"] = Array(Users("NotUserIds")),
            };
            var index = org.AccessControlRules.ToList().FindIndex(r => r.Name == name);
            if (index < 0 && org.AccessControlRules.Count >= 20) // WorkMail: 20 rules per organization
                throw new WorkMailException("LimitExceededException", "The request exceeds the limit of the resource. (20 access control rules)");
            return Change(index >= 0
                ? new JsonEdit.ReplaceItem(Under(OrgPath(oi), "AccessControlRules"), index, rule)
                : new JsonEdit.Append(OrgPath(oi), "AccessControlRules", rule));
        });

        Write("DeleteAccessControlRule", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var name = call.Required("Name", 1, 64);
            var index = org.AccessControlRules.ToList().FindIndex(r => r.Name == name);
            return index < 0 ? Change() : Change(new JsonEdit.RemoveItem(Under(OrgPath(oi), "AccessControlRules"), index));
        });

        Read("ListAccessControlRules", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            IEnumerable<string> Ids(IEnumerable<string> users) => users.Select(u => Entities.OwnerOf(org, u)?.Id).OfType<string>();
            return new JsonObject
            {
                ["Rules"] = Array(org.AccessControlRules.Select(r => (JsonNode)new JsonObject
                {
                    ["Name"] = r.Name,
                    ["Effect"] = r.Effect == AccessEffect.Allow ? "ALLOW" : "DENY",
                    ["Description"] = r.Description ?? "",
                    ["IpRanges"] = Array(r.IpRanges.Select(n => n.ToString())),
                    ["NotIpRanges"] = Array(r.NotIpRanges.Select(n => n.ToString())),
                    ["Actions"] = Array(r.Protocols),
                    ["NotActions"] = Array(r.NotProtocols),
                    ["UserIds"] = Array(Ids(r.Users)),
                    ["NotUserIds"] = Array(Ids(r.NotUsers)),
                })),
            };
        });

        // §6: any matching Deny wins; else any matching Allow; else deny (no rule matched).
        Read("GetAccessControlEffect", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            if (!IPAddress.TryParse(call.Required("IpAddress", 1, 45), out var ip))
                throw WorkMailException.InvalidParameter("IpAddress is not an IP address");
            var action = call.Required("Action", 1, 64);
            var user = call.String("UserId") is { } u ? Entities.Resolve(org, u, EntityKind.User).Email : "";
            var request = new AccessRequest(action, ip, user);
            var matched = org.AccessControlRules.Where(r => r.ToRule().Matches(request)).ToList();
            var effect = matched.Any(r => r.Effect == AccessEffect.Deny) ? "DENY" : matched.Count > 0 ? "ALLOW" : "DENY";
            return new JsonObject { ["Effect"] = effect, ["MatchedRules"] = Array(matched.Select(r => r.Name)) };
        });

        Write("PutRetentionPolicy", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var id = call.String("Id", max: 64) ?? org.RetentionPolicy.Id ?? "rp-" + Guid.NewGuid().ToString("N")[..16];
            var name = call.Required("Name", 1, 64);
            if (!call.Input.TryGetProperty("FolderConfigurations", out var folders) || folders.ValueKind != JsonValueKind.Array)
                throw WorkMailException.InvalidParameter("FolderConfigurations is required");
            var entries = new JsonArray();
            foreach (var f in folders.EnumerateArray())
            {
                var folderName = f.TryGetProperty("Name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : "";
                var folder = RetentionFolders.TryGetValue(folderName, out var mapped)
                    ? mapped
                    : throw WorkMailException.InvalidParameter($"folder '{folderName}' is not one of {string.Join(", ", RetentionFolders.Keys)}");
                var action = f.TryGetProperty("Action", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
                if (action == "NONE")
                    continue;
                var configAction = action switch
                {
                    "DELETE" => "Delete",
                    "PERMANENTLY_DELETE" => "PermanentlyDelete",
                    _ => throw WorkMailException.InvalidParameter($"Action '{action}' is not NONE, DELETE or PERMANENTLY_DELETE"),
                };
                if (!f.TryGetProperty("Period", out var p) || !p.TryGetInt32(out var days) || days is < 1 or > 730)
                    throw WorkMailException.InvalidParameter($"{folderName}: Period must be 1 to 730 days");
                entries.Add(new JsonObject { ["Folder"] = folder, ["Action"] = configAction, ["Days"] = days });
            }
            var policy = new JsonObject { ["Id"] = id, ["Name"] = name };
            if (call.String("Description", max: 256) is { } description)
                policy["Description"] = description;
            policy["Folders"] = entries;
            return Change(new JsonEdit.Set(OrgPath(oi), "RetentionPolicy", policy));
        });

        Read("GetDefaultRetentionPolicy", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var policy = org.RetentionPolicy;
            if (policy.Id is null && policy.Folders.Count == 0)
                throw WorkMailException.EntityNotFound("the organization has no retention policy");
            var o = new JsonObject();
            if (policy.Id is not null)
                o["Id"] = policy.Id;
            if (policy.Name is not null)
                o["Name"] = policy.Name;
            if (policy.Description is not null)
                o["Description"] = policy.Description;
            o["FolderConfigurations"] = Array(policy.Folders.Select(f => (JsonNode)new JsonObject
            {
                ["Name"] = RetentionFolders.First(kv => kv.Value == f.Folder).Key,
                ["Action"] = f.Action == RetentionAction.Delete ? "DELETE" : "PERMANENTLY_DELETE",
                ["Period"] = f.Days,
            }));
            return o;
        });

        Write("DeleteRetentionPolicy", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var id = call.Required("Id", 1, 64);
            if (org.RetentionPolicy.Id is { } current && current != id)
                throw WorkMailException.InvalidParameter($"the organization's retention policy is {current}, not {id}");
            return Change(new JsonEdit.Remove(OrgPath(oi), "RetentionPolicy"));
        });

        Write("PutInboundDmarcSettings", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var enforced = call.Bool("Enforced") ?? throw WorkMailException.InvalidParameter("Enforced is required");
            // The object is written whole: the organization's AggregateReports choice is kept.
            var dmarc = new JsonObject { ["Enforce"] = enforced };
            if (org.Dmarc.AggregateReports)
                dmarc["AggregateReports"] = true;
            return org.Dmarc.Enforce == enforced ? Change() : Change(new JsonEdit.Set(OrgPath(oi), "Dmarc", dmarc));
        });

        Read("DescribeInboundDmarcSettings", (call, config) =>
            new JsonObject { ["Enforced"] = call.Organization(config).Organization.Dmarc.Enforce });

        // The email event log is local (<DataDirectory>/events): the ARNs are kept for the scripts that read them back.
        Write("PutEmailMonitoringConfiguration", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var logGroup = call.Required("LogGroupArn", 47, 562);
            var role = call.String("RoleArn", max: 2048);
            var section = new JsonObject { ["Enabled"] = true, ["RetentionDays"] = org.EmailEventLog.RetentionDays, ["LogGroupArn"] = logGroup };
            if (role is not null)
                section["RoleArn"] = role;
            return Change(new JsonEdit.Set(OrgPath(oi), "EmailEventLog", section));
        });

        Read("DescribeEmailMonitoringConfiguration", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var log = org.EmailEventLog;
            if (!log.Enabled)
                throw new WorkMailException("ResourceNotFoundException", "The resource cannot be found. (email monitoring is off)");
            var o = new JsonObject
            {
                ["LogGroupArn"] = log.LogGroupArn ?? $"arn:aws:logs:{call.Caller.Region}:000000000000:log-group:/aws/workmail/{org.Alias}:*",
            };
            if (log.RoleArn is not null)
                o["RoleArn"] = log.RoleArn;
            return o;
        });

        Write("DeleteEmailMonitoringConfiguration", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            return org.EmailEventLog.Enabled
                ? Change(new JsonEdit.Set(OrgPath(oi), "EmailEventLog", new JsonObject { ["Enabled"] = false, ["RetentionDays"] = org.EmailEventLog.RetentionDays }))
                : Change();
        });
    }
}
