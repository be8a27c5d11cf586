using MailServer.Storage;
using System.Text.Json.Nodes;
using MailServer.Server.Configuration;
using MailServer.Server.Security;
using MailServer.Rules.Addressing;

namespace MailServer.Server.WorkMailApi;

// Users and the entity operations (WorkMail API reference: CreateUser, DeleteUser, DescribeUser, ListUsers,
// UpdateUser, ResetPassword, DescribeEntity, RegisterToWorkMail, DeregisterFromWorkMail, UpdatePrimaryEmailAddress,
// GetMailboxDetails, UpdateMailboxQuota). A user the API creates is DISABLED (Enabled: false) with the address
// name@default-domain until RegisterToWorkMail gives it its address and enables it, as in WorkMail.
public sealed partial class WorkMailOperations
{
    private const string InvalidPasswordText = "The supplied password doesn't match the minimum security constraints, such as length or use of special characters.";

    private void RegisterUsers()
    {
        WriteAsync("CreateUser", async call =>
        {
            var password = call.String("Password", max: 256);
            var hash = password is null ? null : await HashAsync(password);
            return await _writer.UpdateAsync(doc =>
            {
                var (oi, org) = call.Organization(doc.Config);
                var name = call.Required("Name", 1, 64).Trim();
                var displayName = call.String("DisplayName", required: true, max: 256)!;
                if (call.String("Role") is { } role && role != "USER")
                    throw WorkMailException.InvalidParameter($"Role {role} is not supported: users are USER");
                var email = (name.Contains('@') ? name : $"{name}@{org.DefaultDomain}").ToLowerInvariant();
                if (!AddressSyntax.IsValidAddress(email))
                    throw WorkMailException.InvalidParameter($"Name '{name}' is not a valid user name");
                if (!org.Domains.Any(d => d.Name == AddressSyntax.DomainOf(email)))
                    throw WorkMailException.MailDomainNotFound(AddressSyntax.DomainOf(email));
                if (Entities.All(org).Any(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase)) || AddressInUse(doc.Config, email))
                    throw WorkMailException.NameAvailability(name);
                var id = EntityIds.New();
                var user = new JsonObject
                {
                    ["Id"] = id,
                    ["Name"] = name,
                    ["Email"] = email,
                    ["DisplayName"] = displayName,
                    ["Aliases"] = new JsonArray(),
                    ["PasswordHash"] = hash,
                    ["Enabled"] = false,
                    ["MailboxQuotaMiB"] = UserConfig.MaxQuotaMiB,
                };
                foreach (var key in new[] { "FirstName", "LastName" })
                    if (call.String(key, max: 256) is { Length: > 0 } value)
                        user[key] = value;
                if (call.Bool("HiddenFromGlobalAddressList") == true)
                    user["HiddenFromGlobalAddressList"] = true;
                return Change([new JsonEdit.Append(OrgPath(oi), "Users", user)], new JsonObject { ["UserId"] = id });
            }, call.CancellationToken);
        });

        // DeleteUser is the explicit deletion: after the configuration change, the user's mailbox is deleted and its key
        // destroyed (crypto-shredding; the WorkMail Administrator Guide, "Mailbox encryption at rest"), so its mail cannot be decrypted from any copy, old
        // backups included. A user removed by editing the file only leaves the mailbox awaiting shredding (a typo must
        // not destroy mail).
        WriteAsync("DeleteUser", async call =>
        {
            (string Organization, string Email)? removed = null;
            var result = await _writer.UpdateAsync(doc =>
            {
                var (oi, org) = call.Organization(doc.Config);
                var user = Entities.Find(org, call.Required("UserId"), EntityKind.User);
                if (user is null)
                    return Change(); // WorkMail: deleting a user that is not there succeeds
                if (user.Enabled)
                    throw WorkMailException.EntityState($"{user.Email} is enabled: deregister it first (DeregisterFromWorkMail)");
                removed = (org.Id, user.Email);
                return Change([.. ReferenceEdits(oi, org, user, null), new JsonEdit.RemoveItem(Under(OrgPath(oi), "Users"), user.Index)]);
            }, call.CancellationToken);
            if (removed is { } r && _keys is not null)
                await _keys.DeleteMailboxAsync(r.Organization, r.Email.ToLowerInvariant(), call.CancellationToken);
            return result;
        });

        Read("DescribeUser", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var user = Entities.Resolve(org, call.Required("UserId"), EntityKind.User);
            var u = user.User!;
            var o = new JsonObject
            {
                ["UserId"] = user.Id,
                ["Name"] = user.Name,
                ["Email"] = user.Email,
                ["DisplayName"] = u.DisplayName,
                ["State"] = user.State,
                ["UserRole"] = "USER",
                ["HiddenFromGlobalAddressList"] = u.HiddenFromGlobalAddressList,
            };
            foreach (var (key, value) in u.Attributes)
                o[key] = value;
            return o;
        });

        Read("ListUsers", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var users = Entities.All(org).Where(e => e.Kind == EntityKind.User);
            if (call.Object("Filters") is { } f)
            {
                string? Filter(string key) => f.TryGetProperty(key, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString() : null;
                if (Filter("UsernamePrefix") is { } np)
                    users = users.Where(u => u.Name.StartsWith(np, StringComparison.OrdinalIgnoreCase));
                if (Filter("DisplayNamePrefix") is { } dp)
                    users = users.Where(u => u.User!.DisplayName.StartsWith(dp, StringComparison.OrdinalIgnoreCase));
                if (Filter("PrimaryEmailPrefix") is { } ep)
                    users = users.Where(u => u.Email.StartsWith(ep, StringComparison.OrdinalIgnoreCase));
                if (Filter("State") is { } state)
                    users = users.Where(u => u.State == state);
            }
            var (page, next) = call.Page(users.ToList());
            return Listed("Users", Array(page.Select(u => (JsonNode)new JsonObject
            {
                ["Id"] = u.Id,
                ["Email"] = u.Email,
                ["Name"] = u.Name,
                ["DisplayName"] = u.User!.DisplayName,
                ["State"] = u.State,
                ["UserRole"] = "USER",
            })), next);
        });

        Write("UpdateUser", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var user = Entities.Resolve(org, call.Required("UserId"), EntityKind.User);
            if (call.String("Role") is { } role && role != "USER")
                throw WorkMailException.InvalidParameter($"Role {role} is not supported: users are USER");
            var path = user.Path(oi);
            var edits = new List<JsonEdit>();
            if (call.String("DisplayName", max: 256) is { } displayName)
                edits.Add(new JsonEdit.Set(path, "DisplayName", displayName));
            foreach (var key in UserConfig.AttributeNames)
                if (call.String(key, max: 256) is { } value)
                    edits.Add(value.Length == 0 ? new JsonEdit.Remove(path, key) : new JsonEdit.Set(path, key, value));
            if (call.Bool("HiddenFromGlobalAddressList") is { } hidden)
                edits.Add(new JsonEdit.Set(path, "HiddenFromGlobalAddressList", hidden));
            return Change(edits);
        });

        WriteAsync("ResetPassword", async call =>
        {
            var password = call.String("Password", required: true, max: 256)!;
            var hash = await HashAsync(password);
            return await _writer.UpdateAsync(doc =>
            {
                var (oi, org) = call.Organization(doc.Config);
                var user = Entities.Resolve(org, call.Required("UserId"), EntityKind.User);
                return Change(new JsonEdit.Set(user.Path(oi), "PasswordHash", hash));
            }, call.CancellationToken);
        });

        Read("DescribeEntity", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var email = call.Required("Email", 1, 254).Trim();
            var entity = Entities.OwnerOf(org, email) ?? throw WorkMailException.EntityNotFound(email);
            return new JsonObject { ["EntityId"] = entity.Id, ["Name"] = entity.Name, ["Type"] = entity.TypeName };
        });

        Write("RegisterToWorkMail", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var entity = Entities.Resolve(org, call.Required("EntityId"));
            var email = call.Required("Email", 1, 254).Trim().ToLowerInvariant();
            if (entity.Enabled)
                throw new WorkMailException("EntityAlreadyRegisteredException", $"The user, group, or resource that you're trying to register is already registered. ({entity.Email})");
            var edits = Readdress(oi, org, doc.Config, entity, email);
            edits.Add(new JsonEdit.Set(entity.Path(oi), "Enabled", true));
            return Change(edits);
        });

        Write("DeregisterFromWorkMail", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var entity = Entities.Resolve(org, call.Required("EntityId"));
            return entity.Enabled ? Change(new JsonEdit.Set(entity.Path(oi), "Enabled", false)) : Change();
        });

        Write("UpdatePrimaryEmailAddress", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var entity = Entities.Resolve(org, call.Required("EntityId"));
            var email = call.Required("Email", 1, 254).Trim().ToLowerInvariant();
            if (!entity.Enabled)
                throw WorkMailException.EntityState($"{entity.Email} is not registered (RegisterToWorkMail)");
            return Change(Readdress(oi, org, doc.Config, entity, email));
        });

        Read("GetMailboxDetails", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var user = Entities.Resolve(org, call.Required("UserId"), EntityKind.User);
            var used = _store?.FindMailbox(org.Id, user.Email)?.UsedBytes ?? 0;
            return new JsonObject
            {
                ["MailboxQuota"] = user.User!.MailboxQuotaMiB,
                ["MailboxSize"] = Math.Round(used / (1024.0 * 1024.0), 6),
            };
        });

        Write("UpdateMailboxQuota", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var user = Entities.Resolve(org, call.Required("UserId"), EntityKind.User);
            var quota = call.Int("MailboxQuota", 1, UserConfig.MaxQuotaMiB) ?? throw WorkMailException.InvalidParameter("MailboxQuota is required");
            return Change(new JsonEdit.Set(user.Path(oi), "MailboxQuotaMiB", quota));
        });
    }

    /// <summary>Checks WorkMail's password policy (§4.1) and hashes off the request thread (600,000 PBKDF2 rounds).</summary>
    private static async Task<string> HashAsync(string password)
    {
        if (PasswordPolicy.Check(password).Count > 0)
            throw new WorkMailException("InvalidPasswordException", InvalidPasswordText);
        return await Task.Run(() => PasswordHasher.Hash(password)).ConfigureAwait(false);
    }

    private static bool AddressInUse(ServerConfig config, string address) =>
        config.Organizations.Any(o => Entities.OwnerOf(o, address) is not null);

    /// <summary>
    /// The edits that give <paramref name="entity"/> the primary address <paramref name="email"/>: its own alias
    /// becomes the primary (and leaves the aliases); the id is written first when it was derived from the old
    /// address, so it does not change; references by the old address follow.
    /// </summary>
    /// <exception cref="WorkMailException">The domain is not the organization's, the address is another's, or a
    /// user's mailbox already holds mail under the old address (the store keys a mailbox by its owner's address).</exception>
    private List<JsonEdit> Readdress(int oi, OrganizationConfig org, ServerConfig config, Entity entity, string email)
    {
        var edits = new List<JsonEdit>();
        if (string.Equals(entity.Email, email, StringComparison.OrdinalIgnoreCase))
            return edits;
        if (!AddressSyntax.IsValidAddress(email))
            throw WorkMailException.InvalidParameter($"'{email}' is not an email address");
        if (!org.Domains.Any(d => d.Name == AddressSyntax.DomainOf(email)))
            throw WorkMailException.MailDomainNotFound(AddressSyntax.DomainOf(email));
        var owner = config.Organizations.Select(o => Entities.OwnerOf(o, email)).FirstOrDefault(e => e is not null);
        if (owner is not null && !(owner.Kind == entity.Kind && owner.Index == entity.Index && config.Organizations[oi] == org))
            throw WorkMailException.EmailAddressInUse(email);
        if (entity.Kind == EntityKind.User && _store?.FindMailbox(org.Id, entity.Email) is { MessageCount: > 0 })
            throw WorkMailException.EntityState($"the mailbox of {entity.Email} holds mail under that address; its primary address cannot change");

        var path = entity.Path(oi);
        if ((entity.User?.Id ?? entity.Group?.Id) is null)
            edits.Add(new JsonEdit.Set(path, "Id", entity.Id));
        var aliasIndex = entity.Aliases.ToList().FindIndex(a => string.Equals(a, email, StringComparison.OrdinalIgnoreCase));
        if (aliasIndex >= 0)
            edits.Add(new JsonEdit.RemoveItem(Under(path, "Aliases"), aliasIndex));
        edits.Add(new JsonEdit.Set(path, "Email", email));
        edits.AddRange(ReferenceEdits(oi, org, entity, email));
        return edits;
    }

    /// <summary>
    /// The edits that make references to <paramref name="entity"/> follow it: group memberships, mailbox permissions
    /// and access rules naming its primary address are rewritten to <paramref name="newAddress"/>, or removed when
    /// it is null (the entity is being deleted; then references by alias go too).
    /// </summary>
    private static List<JsonEdit> ReferenceEdits(int oi, OrganizationConfig org, Entity entity, string? newAddress)
    {
        var edits = new List<JsonEdit>();
        var deleting = newAddress is null;
        bool Names(string address) => string.Equals(address, entity.Email, StringComparison.OrdinalIgnoreCase)
                                      || (deleting && entity.Aliases.Contains(address, StringComparer.OrdinalIgnoreCase));

        for (var g = 0; g < org.Groups.Count; g++)
        {
            var members = org.Groups[g].Members;
            if (!members.Any(Names))
                continue;
            var updated = deleting ? members.Where(m => !Names(m)) : members.Select(m => Names(m) ? newAddress! : m);
            edits.Add(new JsonEdit.Set(Under(OrgPath(oi), "Groups", g), "Members", Array(updated)));
        }
        for (var p = org.MailboxPermissions.Count - 1; p >= 0; p--)
        {
            var permission = org.MailboxPermissions[p];
            if (!Names(permission.Mailbox) && !Names(permission.Grantee))
                continue;
            edits.Add(deleting
                ? new JsonEdit.RemoveItem(Under(OrgPath(oi), "MailboxPermissions"), p)
                : new JsonEdit.ReplaceItem(Under(OrgPath(oi), "MailboxPermissions"), p, PermissionJson(
                    Names(permission.Mailbox) ? newAddress! : permission.Mailbox,
                    Names(permission.Grantee) ? newAddress! : permission.Grantee,
                    permission.Permissions)));
        }
        // A rule whose only user is deleted goes with it: an empty Users list would mean every user.
        var removedRules = new List<int>();
        for (var r = 0; r < org.AccessControlRules.Count; r++)
        {
            var rule = org.AccessControlRules[r];
            if (deleting && rule.Users.Count > 0 && rule.Users.All(Names))
            {
                removedRules.Add(r);
                continue;
            }
            foreach (var (key, list) in new[] { ("Users", rule.Users), ("NotUsers", rule.NotUsers) })
                if (list.Any(Names))
                    edits.Add(new JsonEdit.Set(Under(OrgPath(oi), "AccessControlRules", r), key,
                        Array(deleting ? list.Where(u => !Names(u)) : list.Select(u => Names(u) ? newAddress! : u))));
        }
        for (var i = removedRules.Count - 1; i >= 0; i--)
            edits.Add(new JsonEdit.RemoveItem(Under(OrgPath(oi), "AccessControlRules"), removedRules[i]));
        return edits;
    }

    private static JsonObject PermissionJson(string mailbox, string grantee, IEnumerable<MailboxPermission> permissions) => new()
    {
        ["Mailbox"] = mailbox,
        ["Grantee"] = grantee,
        ["Permissions"] = Array(permissions.Select(p => p.ToString())),
    };
}
