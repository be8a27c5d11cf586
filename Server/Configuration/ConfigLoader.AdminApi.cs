using System.Text.Json;
using System.Text.RegularExpressions;

namespace MailServer.Server.Configuration;

// Organizations[].AdminApi (the WorkMail API's access keys), Organizations[].Tags, and the keys the WorkMail API
// writes on users and groups: Id, Name, HiddenFromGlobalAddressList, and a group's Enabled.
public static partial class ConfigLoader
{
    // WorkMail's CreateUser Name: "[\w\-.]+(@[a-zA-Z0-9.\-]+\.[a-zA-Z0-9-]{2,})?", 1 to 64 characters.
    [GeneratedRegex(@"^[\w\-.]+(@[a-zA-Z0-9.\-]+\.[a-zA-Z0-9-]{2,})?$")]
    private static partial Regex UserNamePattern();

    // WorkMail's CreateGroup Name: "[\u0020-\u00FF]+", 1 to 256 characters.
    [GeneratedRegex(@"^[\u0020-\u00FF]+$")]
    private static partial Regex GroupNamePattern();

    // WorkMail's retention policy Id and Name: "[a-zA-Z0-9_-]+", 1 to 64 characters.
    [GeneratedRegex(@"^[a-zA-Z0-9_-]{1,64}$")]
    private static partial Regex RetentionPolicyName();

    [GeneratedRegex(@"^[A-Za-z0-9]{16,128}$")]
    private static partial Regex AccessKeyIdPattern();

    private sealed partial class Parser
    {
        /// <summary>The shortest secret access key accepted (AWS's are 40 characters).</summary>
        private const int MinSecretLength = 20;

        // Access key ids are unique server-wide: a key belongs to exactly one organization.
        private readonly Dictionary<string, string> _accessKeyIds = new(StringComparer.Ordinal);

        private (string? Id, string? Name, bool Hidden) ReadEntityKeys(JsonObjectReader e, Regex namePattern)
        {
            var id = e.String("Id");
            if (id is not null && !EntityIds.IsWellFormed(id))
            {
                e.Error("Id", $"'{id}' is not an entity id (a lower-case UUID such as 12345678-1234-1234-1234-123456789012)");
                id = null;
            }
            var name = e.String("Name");
            var maxName = namePattern == UserNamePattern() ? 64 : 256;
            if (name is not null && (name.Length > maxName || !namePattern.IsMatch(name)))
            {
                e.Error("Name", $"'{name}' is not a valid name (at most {maxName} characters of {namePattern})");
                name = null;
            }
            return (id, name, e.Bool("HiddenFromGlobalAddressList", false));
        }

        /// <summary>Entity ids are unique in the organization, and so are user and group names (WorkMail's NameAvailabilityException).</summary>
        private void CheckEntityIdsAndNames(JsonObjectReader o, string organizationId, List<UserConfig> users, List<GroupConfig> groups)
        {
            var ids = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            var names = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            void Check(string entityId, string name, bool explicitName, string path)
            {
                if (!ids.TryAdd(entityId, path))
                    Add(path + ".Id", $"'{entityId}' is already the id of {ids[entityId]}");
                if (!names.TryAdd(name, path) && explicitName)
                    Add(path + ".Name", $"'{name}' is already the name of {names[name]}");
            }
            // Indices follow the file: valid entries only reach here when the whole array is valid.
            if (users.Count == CountOf(o, "Users"))
                for (var i = 0; i < users.Count; i++)
                    Check(users[i].EntityId(organizationId), users[i].UserName, users[i].Name is not null, JsonObjectReader.Item(o.PathOf("Users"), i));
            if (groups.Count == CountOf(o, "Groups"))
                for (var i = 0; i < groups.Count; i++)
                    Check(groups[i].EntityId(organizationId), groups[i].GroupName, groups[i].Name is not null, JsonObjectReader.Item(o.PathOf("Groups"), i));
        }

        private static int CountOf(JsonObjectReader o, string key) =>
            o.TryGet(key, out var a) && a.ValueKind == JsonValueKind.Array ? a.GetArrayLength() : 0;

        private AdminApiConfig? ReadAdminApi(JsonObjectReader? a)
        {
            if (a is null)
                return null;
            var keys = a.Array("AccessKeys", (e, p) =>
            {
                var k = JsonObjectReader.Open(e, p, errors);
                if (k is null)
                    return null;
                var id = k.String("AccessKeyId", required: true);
                if (id is not null && !AccessKeyIdPattern().IsMatch(id))
                {
                    k.Error("AccessKeyId", "must be 16 to 128 letters and digits (like AWS's AKIA...)");
                    id = null;
                }
                else if (id is not null && !_accessKeyIds.TryAdd(id, k.PathOf("AccessKeyId")))
                {
                    k.Error("AccessKeyId", $"is already used at {_accessKeyIds[id]}");
                    id = null;
                }
                var secret = k.String("SecretAccessKey", required: true);
                if (secret is not null && secret.StartsWith("file:", StringComparison.Ordinal))
                {
                    var path = Path.GetFullPath(secret["file:".Length..], _dataDirectory);
                    try
                    {
                        secret = File.ReadAllText(path).Trim();
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                        k.Error("SecretAccessKey", $"cannot read {path}: {ex.Message}");
                        secret = null;
                    }
                }
                // The message never repeats the secret.
                if (secret is not null && (secret.Length < MinSecretLength || secret.Any(char.IsWhiteSpace)))
                {
                    k.Error("SecretAccessKey", $"a secret needs at least {MinSecretLength} characters and no spaces (e.g. `openssl rand -base64 30`)");
                    secret = null;
                }
                k.Finish();
                return id is null || secret is null ? null : new AdminApiAccessKey(id, secret);
            });
            a.Finish();
            return new AdminApiConfig(keys);
        }

        private List<TagConfig> ReadTags(JsonObjectReader o)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var tags = o.Array("Tags", (e, p) =>
            {
                var t = JsonObjectReader.Open(e, p, errors);
                if (t is null)
                    return null;
                var key = t.String("Key", required: true);
                var value = t.String("Value") ?? "";
                if (key is not null && (key.Length is < 1 or > 128))
                    t.Error("Key", "must be 1 to 128 characters");
                else if (key is not null && !seen.Add(key))
                    t.Error("Key", $"'{key}' is already a tag of this organization");
                if (value.Length > 256)
                    t.Error("Value", "must be at most 256 characters");
                t.Finish();
                return key is null ? null : new TagConfig(key, value);
            });
            // §2.7: at most 50 tags.
            if (tags.Count > 50)
                o.Error("Tags", $"an organization can have at most 50 tags, found {tags.Count}");
            return tags;
        }
    }
}
