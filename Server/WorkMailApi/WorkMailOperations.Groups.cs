using System.Text;
using System.Text.Json.Nodes;
using MailServer.Server.Configuration;

namespace MailServer.Server.WorkMailApi;

// Groups (WorkMail API reference: CreateGroup, DeleteGroup, DescribeGroup, ListGroups, UpdateGroup,
// AssociateMemberToGroup, DisassociateMemberFromGroup, ListGroupMembers, ListGroupsForEntity). A group the API
// creates is DISABLED (Enabled: false, out of the directory) until RegisterToWorkMail.
public sealed partial class WorkMailOperations
{
    private void RegisterGroups()
    {
        Write("CreateGroup", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var name = call.Required("Name", 1, 256).Trim();
            if (Entities.All(org).Any(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase)))
                throw WorkMailException.NameAvailability(name);
            var email = PlaceholderAddress(doc.Config, name, org.DefaultDomain);
            var id = EntityIds.New();
            var group = new JsonObject
            {
                ["Id"] = id,
                ["Name"] = name,
                ["Email"] = email,
                ["Aliases"] = new JsonArray(),
                ["Members"] = new JsonArray(),
                ["Enabled"] = false,
            };
            if (call.Bool("HiddenFromGlobalAddressList") == true)
                group["HiddenFromGlobalAddressList"] = true;
            return Change([new JsonEdit.Append(OrgPath(oi), "Groups", group)], new JsonObject { ["GroupId"] = id });
        });

        Write("DeleteGroup", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var group = Entities.Find(org, call.Required("GroupId"), EntityKind.Group);
            if (group is null)
                return Change();
            return Change([.. ReferenceEdits(oi, org, group, null), new JsonEdit.RemoveItem(Under(OrgPath(oi), "Groups"), group.Index)]);
        });

        Read("DescribeGroup", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var group = Entities.Resolve(org, call.Required("GroupId"), EntityKind.Group);
            return new JsonObject
            {
                ["GroupId"] = group.Id,
                ["Name"] = group.Name,
                ["Email"] = group.Email,
                ["State"] = group.State,
                ["HiddenFromGlobalAddressList"] = group.Group!.HiddenFromGlobalAddressList,
            };
        });

        Read("ListGroups", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var groups = Entities.All(org).Where(e => e.Kind == EntityKind.Group);
            if (call.Object("Filters") is { } f)
            {
                string? Filter(string key) => f.TryGetProperty(key, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString() : null;
                if (Filter("NamePrefix") is { } np)
                    groups = groups.Where(g => g.Name.StartsWith(np, StringComparison.OrdinalIgnoreCase));
                if (Filter("PrimaryEmailPrefix") is { } ep)
                    groups = groups.Where(g => g.Email.StartsWith(ep, StringComparison.OrdinalIgnoreCase));
                if (Filter("State") is { } state)
                    groups = groups.Where(g => g.State == state);
            }
            var (page, next) = call.Page(groups.ToList());
            return Listed("Groups", Array(page.Select(g => (JsonNode)new JsonObject
            {
                ["Id"] = g.Id,
                ["Email"] = g.Email,
                ["Name"] = g.Name,
                ["State"] = g.State,
            })), next);
        });

        Write("UpdateGroup", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var group = Entities.Resolve(org, call.Required("GroupId"), EntityKind.Group);
            return call.Bool("HiddenFromGlobalAddressList") is { } hidden
                ? Change(new JsonEdit.Set(group.Path(oi), "HiddenFromGlobalAddressList", hidden))
                : Change();
        });

        Write("AssociateMemberToGroup", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var group = Entities.Resolve(org, call.Required("GroupId"), EntityKind.Group);
            var member = Entities.Resolve(org, call.Required("MemberId"));
            if (member.Kind == EntityKind.Group && member.Index == group.Index)
                throw WorkMailException.InvalidParameter("a group cannot be a member of itself");
            if (group.Group!.Members.Any(m => Entities.OwnerOf(org, m) is { } e && e.Kind == member.Kind && e.Index == member.Index))
                return Change();
            return Change(new JsonEdit.Append(group.Path(oi), "Members", member.Email));
        });

        Write("DisassociateMemberFromGroup", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var group = Entities.Resolve(org, call.Required("GroupId"), EntityKind.Group);
            var member = Entities.Resolve(org, call.Required("MemberId"));
            var members = group.Group!.Members;
            var indices = Enumerable.Range(0, members.Count)
                .Where(i => Entities.OwnerOf(org, members[i]) is { } e && e.Kind == member.Kind && e.Index == member.Index).ToList();
            if (indices.Count == 0)
                throw WorkMailException.EntityNotFound($"{member.Email} is not a member of {group.Email}");
            return Change(indices.OrderDescending().Select(i => (JsonEdit)new JsonEdit.RemoveItem(Under(group.Path(oi), "Members"), i)));
        });

        Read("ListGroupMembers", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var group = Entities.Resolve(org, call.Required("GroupId"), EntityKind.Group);
            var members = group.Group!.Members.Select(m => Entities.OwnerOf(org, m)).OfType<Entity>().ToList();
            var (page, next) = call.Page(members);
            return Listed("Members", Array(page.Select(m => (JsonNode)new JsonObject
            {
                ["Id"] = m.Id,
                ["Name"] = m.Name,
                ["Type"] = m.TypeName,
                ["State"] = m.State,
            })), next);
        });

        Read("ListGroupsForEntity", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var entity = Entities.Resolve(org, call.Required("EntityId"));
            var groups = Entities.All(org).Where(e => e.Kind == EntityKind.Group
                && e.Group!.Members.Any(m => Entities.OwnerOf(org, m) is { } x && x.Kind == entity.Kind && x.Index == entity.Index));
            if (call.Object("Filters") is { } f && f.TryGetProperty("GroupNamePrefix", out var p) && p.ValueKind == System.Text.Json.JsonValueKind.String)
                groups = groups.Where(g => g.Name.StartsWith(p.GetString()!, StringComparison.OrdinalIgnoreCase));
            var (page, next) = call.Page(groups.ToList());
            return Listed("Groups", Array(page.Select(g => (JsonNode)new JsonObject { ["GroupId"] = g.Id, ["GroupName"] = g.Name })), next);
        });
    }

    /// <summary>
    /// The address a created group holds until it is registered: its name made into a local part (letters, digits,
    /// '.', '-', '_'; anything else becomes '-'), made unique with a number when taken.
    /// </summary>
    private static string PlaceholderAddress(ServerConfig config, string name, string domain)
    {
        var local = new StringBuilder();
        foreach (var c in name.ToLowerInvariant())
            local.Append(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '.' or '-' or '_' ? c : '-');
        var stem = local.ToString().Trim('-', '.');
        if (stem.Length == 0)
            stem = "group";
        if (stem.Length > 56)
            stem = stem[..56];
        var candidate = $"{stem}@{domain}";
        for (var n = 2; AddressInUse(config, candidate); n++)
            candidate = $"{stem}-{n}@{domain}";
        return candidate;
    }
}
