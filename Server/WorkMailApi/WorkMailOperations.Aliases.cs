using System.Text.Json.Nodes;
using MailServer.Server.Configuration;
using MailServer.Rules.Addressing;

namespace MailServer.Server.WorkMailApi;

// Aliases and mailbox permissions (WorkMail API reference: CreateAlias, DeleteAlias, ListAliases,
// PutMailboxPermissions, DeleteMailboxPermissions, ListMailboxPermissions; §4.2, §5).
public sealed partial class WorkMailOperations
{
    private static readonly Dictionary<string, MailboxPermission> PermissionValues = new(StringComparer.Ordinal)
    {
        ["FULL_ACCESS"] = MailboxPermission.FullAccess,
        ["SEND_AS"] = MailboxPermission.SendAs,
        ["SEND_ON_BEHALF"] = MailboxPermission.SendOnBehalf,
    };

    private void RegisterAliasesAndPermissions()
    {
        Write("CreateAlias", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var entity = Entities.Resolve(org, call.Required("EntityId"));
            var alias = call.Required("Alias", 1, 254).Trim().ToLowerInvariant();
            if (!AddressSyntax.IsValidAddress(alias))
                throw WorkMailException.InvalidParameter($"'{alias}' is not an email address");
            if (!org.Domains.Any(d => d.Name == AddressSyntax.DomainOf(alias)))
                throw WorkMailException.MailDomainNotFound(AddressSyntax.DomainOf(alias));
            var owner = doc.Config.Organizations.Select(o => Entities.OwnerOf(o, alias)).FirstOrDefault(e => e is not null);
            if (owner is not null)
            {
                if (owner.Kind == entity.Kind && owner.Index == entity.Index && org.Id == call.Caller.OrganizationId)
                    return Change(); // already this entity's
                throw WorkMailException.EmailAddressInUse(alias);
            }
            if (entity.Aliases.Count >= 100) // §4.2, §35: 100 aliases per user
                throw new WorkMailException("LimitExceededException", "The request exceeds the limit of the resource. (100 aliases)");
            return Change(new JsonEdit.Append(entity.Path(oi), "Aliases", alias));
        });

        Write("DeleteAlias", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var entity = Entities.Resolve(org, call.Required("EntityId"));
            var alias = call.Required("Alias", 1, 254).Trim();
            if (string.Equals(alias, entity.Email, StringComparison.OrdinalIgnoreCase))
                throw WorkMailException.InvalidParameter($"{alias} is the primary address, not an alias (UpdatePrimaryEmailAddress)");
            var index = entity.Aliases.ToList().FindIndex(a => string.Equals(a, alias, StringComparison.OrdinalIgnoreCase));
            return index < 0 ? Change() : Change(new JsonEdit.RemoveItem(Under(entity.Path(oi), "Aliases"), index));
        });

        Read("ListAliases", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var entity = Entities.Resolve(org, call.Required("EntityId"));
            var (page, next) = call.Page(entity.Aliases);
            return Listed("Aliases", Array(page), next);
        });

        Write("PutMailboxPermissions", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var mailbox = Entities.Resolve(org, call.Required("EntityId"));
            var grantee = Entities.Resolve(org, call.Required("GranteeId"));
            var values = call.Strings("PermissionValues", required: true)!;
            var permissions = values.Select(v => PermissionValues.TryGetValue(v, out var p)
                ? p
                : throw WorkMailException.InvalidParameter($"'{v}' is not one of FULL_ACCESS, SEND_AS, SEND_ON_BEHALF")).Distinct().ToList();
            var path = Under(OrgPath(oi), "MailboxPermissions");
            var existing = Enumerable.Range(0, org.MailboxPermissions.Count)
                .Where(i => org.MailboxPermissions[i].Mailbox == mailbox.Email && org.MailboxPermissions[i].Grantee == grantee.Email).ToList();
            // WorkMail's Put replaces the grantee's permissions on the mailbox; none left means no entry.
            var edits = new List<JsonEdit>();
            for (var i = existing.Count - 1; i >= (permissions.Count > 0 ? 1 : 0); i--)
                edits.Add(new JsonEdit.RemoveItem(path, existing[i]));
            if (permissions.Count > 0)
                edits.Insert(0, existing.Count > 0
                    ? new JsonEdit.ReplaceItem(path, existing[0], PermissionJson(mailbox.Email, grantee.Email, permissions))
                    : new JsonEdit.Append(OrgPath(oi), "MailboxPermissions", PermissionJson(mailbox.Email, grantee.Email, permissions)));
            return Change(edits);
        });

        Write("DeleteMailboxPermissions", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var mailbox = Entities.Resolve(org, call.Required("EntityId"));
            var grantee = Entities.Resolve(org, call.Required("GranteeId"));
            var path = Under(OrgPath(oi), "MailboxPermissions");
            return Change(Enumerable.Range(0, org.MailboxPermissions.Count)
                .Where(i => org.MailboxPermissions[i].Mailbox == mailbox.Email && org.MailboxPermissions[i].Grantee == grantee.Email)
                .OrderDescending()
                .Select(i => (JsonEdit)new JsonEdit.RemoveItem(path, i)));
        });

        Read("ListMailboxPermissions", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var mailbox = Entities.Resolve(org, call.Required("EntityId"));
            var grants = org.MailboxPermissions.Where(p => p.Mailbox == mailbox.Email)
                .GroupBy(p => p.Grantee, StringComparer.OrdinalIgnoreCase)
                .Select(g => (Grantee: Entities.OwnerOf(org, g.Key), Permissions: g.SelectMany(p => p.Permissions).Distinct().ToList()))
                .Where(g => g.Grantee is not null)
                .ToList();
            var (page, next) = call.Page(grants);
            return Listed("Permissions", Array(page.Select(g => (JsonNode)new JsonObject
            {
                ["GranteeId"] = g.Grantee!.Id,
                ["GranteeType"] = g.Grantee.TypeName,
                ["PermissionValues"] = Array(g.Permissions.Select(p => PermissionValues.First(kv => kv.Value == p).Key)),
            })), next);
        });
    }
}
