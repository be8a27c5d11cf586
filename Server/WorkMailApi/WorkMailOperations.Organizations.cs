using System.Text.Json.Nodes;
using MailServer.Server.Configuration;

namespace MailServer.Server.WorkMailApi;

// Organizations, mail domains, tags (WorkMail API reference: DescribeOrganization, ListOrganizations,
// RegisterMailDomain, DeregisterMailDomain, GetMailDomain, ListMailDomains, UpdateDefaultMailDomain, TagResource,
// UntagResource, ListTagsForResource).
public sealed partial class WorkMailOperations
{
    private void RegisterOrganizations()
    {
        Read("DescribeOrganization", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            return new JsonObject
            {
                ["OrganizationId"] = org.Id,
                ["Alias"] = org.Alias,
                ["State"] = "Active",
                ["DirectoryId"] = "d-" + org.Id[2..12],
                ["DirectoryType"] = "WorkMailDirectory",
                ["DefaultMailDomain"] = org.DefaultDomain,
                ["ARN"] = OrganizationArn(call.Caller.Region, org.Id),
                ["InteroperabilityEnabled"] = false,
            };
        });

        // An access key administers its own organization: that is the one it lists.
        Read("ListOrganizations", (call, config) =>
        {
            var mine = config.Organizations.Where(o => o.Id == call.Caller.OrganizationId).ToList();
            var (page, next) = call.Page(mine);
            return Listed("OrganizationSummaries", Array(page.Select(o => (JsonNode)new JsonObject
            {
                ["OrganizationId"] = o.Id,
                ["Alias"] = o.Alias,
                ["DefaultMailDomain"] = o.DefaultDomain,
                ["State"] = "Active",
            })), next);
        });

        Read("ListMailDomains", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var (page, next) = call.Page(org.Domains);
            return Listed("MailDomains", Array(page.Select(d => (JsonNode)new JsonObject
            {
                ["DomainName"] = d.Name,
                ["DefaultDomain"] = d.Default,
            })), next);
        });

        Read("GetMailDomain", (call, config) =>
        {
            var (_, org) = call.Organization(config);
            var name = call.Required("DomainName", 3, 209).Trim().ToLowerInvariant();
            var domain = org.Domains.FirstOrDefault(d => d.Name == name) ?? throw WorkMailException.MailDomainNotFound(name);
            // The records the domain should publish (as `mailserver dns-records` prints them, §3.1): MX, SPF, DMARC,
            // and client autoconfiguration; ownership is the config's to say, so it counts as verified.
            var dkim = Dkim.DkimKeyFile.LoadAll(config.DataDirectory, name);
            var records = new JsonArray
            {
                Record("MX", name, $"10 {config.ServerName}."),
                Record("TXT", name, "v=spf1 mx -all"),
                Record("TXT", $"_dmarc.{name}", "v=DMARC1; p=quarantine"),
                Record("CNAME", $"autodiscover.{name}", $"{config.ServerName}."),
            };
            foreach (var key in dkim)
                records.Add(Record("TXT", $"{key.Selector}._domainkey.{name}", key.DnsRecordText));
            return new JsonObject
            {
                ["Records"] = records,
                ["IsTestDomain"] = false,
                ["IsDefault"] = domain.Default,
                ["OwnershipVerificationStatus"] = "VERIFIED",
                ["DkimVerificationStatus"] = dkim.Count > 0 ? "VERIFIED" : "PENDING",
            };

            static JsonObject Record(string type, string host, string value) =>
                new() { ["Type"] = type, ["Hostname"] = host, ["Value"] = value };
        });

        Write("RegisterMailDomain", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var name = call.Required("DomainName", 3, 209).Trim().ToLowerInvariant();
            if (org.Domains.Any(d => d.Name == name))
                return Change(); // already ours: registering again changes nothing (ClientToken idempotency)
            if (doc.Config.Organizations.Any(o => o.Domains.Any(d => d.Name == name)))
                throw new WorkMailException("MailDomainInUseException", $"The domain you're trying to change is in use by another user or organization in your account. ({name})");
            if (org.Domains.Count >= 100) // §35: domains per organization
                throw new WorkMailException("LimitExceededException", "The request exceeds the limit of the resource. (100 mail domains)");
            return Change(new JsonEdit.Append(OrgPath(oi), "Domains", new JsonObject { ["Name"] = name, ["Default"] = false }));
        });

        Write("DeregisterMailDomain", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var name = call.Required("DomainName", 3, 209).Trim().ToLowerInvariant();
            var index = org.Domains.ToList().FindIndex(d => d.Name == name);
            if (index < 0)
                return Change();
            if (org.Domains[index].Default)
                throw new WorkMailException("MailDomainInUseException", $"The domain you're trying to change is in use by another user or organization in your account. ({name} is the default domain)");
            var used = Entities.All(org).FirstOrDefault(e => e.Email.EndsWith("@" + name, StringComparison.OrdinalIgnoreCase)
                                                             || e.Aliases.Any(a => a.EndsWith("@" + name, StringComparison.OrdinalIgnoreCase)));
            if (used is not null)
                throw new WorkMailException("MailDomainInUseException", $"The domain you're trying to change is in use by another user or organization in your account. ({name} is used by {used.Email})");
            return Change(new JsonEdit.RemoveItem(Under(OrgPath(oi), "Domains"), index));
        });

        Write("UpdateDefaultMailDomain", (call, doc) =>
        {
            var (oi, org) = call.Organization(doc.Config);
            var name = call.Required("DomainName", 3, 209).Trim().ToLowerInvariant();
            if (!org.Domains.Any(d => d.Name == name))
                throw WorkMailException.MailDomainNotFound(name);
            var edits = new List<JsonEdit>();
            for (var i = 0; i < org.Domains.Count; i++)
                if (org.Domains[i].Default != (org.Domains[i].Name == name))
                    edits.Add(new JsonEdit.Set(Under(OrgPath(oi), "Domains", i), "Default", org.Domains[i].Name == name));
            return Change(edits);
        });

        Read("ListTagsForResource", (call, config) =>
        {
            var org = TaggedOrganization(call, config).Organization;
            return new JsonObject { ["Tags"] = Array(org.Tags.Select(t => (JsonNode)new JsonObject { ["Key"] = t.Key, ["Value"] = t.Value })) };
        });

        Write("TagResource", (call, doc) =>
        {
            var (oi, org) = TaggedOrganization(call, doc.Config);
            if (!call.Input.TryGetProperty("Tags", out var tagsElement) || tagsElement.ValueKind != System.Text.Json.JsonValueKind.Array)
                throw WorkMailException.InvalidParameter("Tags is required");
            var tags = org.Tags.ToDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal);
            var order = org.Tags.Select(t => t.Key).ToList();
            foreach (var t in tagsElement.EnumerateArray())
            {
                var key = t.TryGetProperty("Key", out var k) && k.ValueKind == System.Text.Json.JsonValueKind.String ? k.GetString()! : throw WorkMailException.InvalidParameter("a tag needs a Key");
                var value = t.TryGetProperty("Value", out var v) && v.ValueKind == System.Text.Json.JsonValueKind.String ? v.GetString()! : throw WorkMailException.InvalidParameter("a tag needs a Value");
                if (!tags.ContainsKey(key))
                    order.Add(key);
                tags[key] = value;
            }
            if (tags.Count > 50)
                throw new WorkMailException("TooManyTagsException", "The resource can have up to 50 user-applied tags.");
            return Change(new JsonEdit.Set(OrgPath(oi), "Tags", Array(order.Select(k => (JsonNode)new JsonObject { ["Key"] = k, ["Value"] = tags[k] }))));
        });

        Write("UntagResource", (call, doc) =>
        {
            var (oi, org) = TaggedOrganization(call, doc.Config);
            var keys = call.Strings("TagKeys", required: true)!;
            if (!org.Tags.Any(t => keys.Contains(t.Key)))
                return Change();
            return Change(new JsonEdit.Set(OrgPath(oi), "Tags",
                Array(org.Tags.Where(t => !keys.Contains(t.Key)).Select(t => (JsonNode)new JsonObject { ["Key"] = t.Key, ["Value"] = t.Value }))));
        });
    }

    /// <summary>The organization a ResourceARN names (arn:aws:workmail:REGION:ACCOUNT:organization/ID): the caller's own only.</summary>
    private static (int Index, OrganizationConfig Organization) TaggedOrganization(ApiCall call, ServerConfig config)
    {
        var arn = call.Required("ResourceARN", 1, 1011);
        var parts = arn.Split(':');
        var id = parts.Length == 6 && parts[0] == "arn" && parts[2] == "workmail" && parts[5].StartsWith("organization/", StringComparison.Ordinal)
            ? parts[5]["organization/".Length..]
            : null;
        for (var i = 0; i < config.Organizations.Count; i++)
            if (config.Organizations[i].Id == id && id == call.Caller.OrganizationId)
                return (i, config.Organizations[i]);
        throw new WorkMailException("ResourceNotFoundException", $"The resource cannot be found. ({arn})");
    }
}
