using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MailServer.Server.Configuration;

/// <summary>
/// <c>&lt;DataDirectory&gt;/passwords.json</c>: password hashes the server and the CLI write (first-start passwords,
/// <c>mailserver user passwd</c> for a user whose hash is not in appsettings.json), so the administrator's
/// appsettings.json — often kept in version control — is never rewritten with secrets' hashes. The loader merges
/// it: a user's PasswordHash in appsettings.json wins; otherwise the hash stored here under the user's primary
/// address is used. Shape: <c>{ "PasswordHashes": { "alice@example.com": "$pbkdf2-sha256$..." } }</c>; mode 0600.
/// </summary>
public static class PasswordFile
{
    /// <summary>The file's name in the data folder.</summary>
    public const string FileName = "passwords.json";

    private const string Section = "PasswordHashes";

    /// <summary>The file's path for a data folder.</summary>
    public static string PathIn(string dataDirectory) => Path.Combine(dataDirectory, FileName);

    /// <summary>
    /// The hashes in the file by lower-case address; empty when the file does not exist. Problems are reported
    /// through <paramref name="error"/> with a path of the form <c>FILE:$.PasswordHashes['address']</c>.
    /// </summary>
    public static Dictionary<string, string> Read(string path, Action<string, string> error)
    {
        var hashes = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        byte[] bytes;
        try
        {
            if (!File.Exists(path))
                return hashes;
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error($"{path}:$", $"cannot read the password file: {e.Message}");
            return hashes;
        }
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(bytes, documentOptions: ConfigLoader.DocumentOptions);
        }
        catch (JsonException e)
        {
            error($"{path}:$", $"not valid JSON at line {(e.LineNumber ?? 0) + 1}");
            return hashes;
        }
        if (root is not JsonObject obj || obj[Section] is not JsonObject section)
        {
            error($"{path}:$", $"expected {{ \"{Section}\": {{ \"ADDRESS\": \"HASH\", ... }} }}");
            return hashes;
        }
        foreach (var (address, value) in section)
        {
            var at = $"{path}:$.{Section}['{address}']";
            if (value is not JsonValue v || !v.TryGetValue<string>(out var hash))
                error(at, "expected a password hash string");
            else if (!Security.PasswordHasher.IsSupportedHash(hash))
                error(at, "is not a password hash this server can verify (use `mailserver user passwd`)");
            else
                hashes[address.Trim().ToLowerInvariant()] = hash;
        }
        return hashes;
    }

    /// <summary>
    /// Sets the hashes of <paramref name="updates"/> (by primary address) and drops entries of addresses that are
    /// no longer users (<paramref name="users"/>), so a user removed and added again does not get the old password
    /// back. Written atomically (temp file, fsync, rename) with mode 0600; creates the data folder if needed.
    /// </summary>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static async Task SetAsync(string dataDirectory, IReadOnlyDictionary<string, string> updates, IReadOnlySet<string> users,
        CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(dataDirectory);
        var path = PathIn(dataDirectory);
        var current = Read(path, (_, _) => { });
        foreach (var (address, hash) in updates)
            current[address.ToLowerInvariant()] = hash;
        var section = new JsonObject();
        foreach (var (address, hash) in current.Where(e => users.Contains(e.Key)).OrderBy(e => e.Key, StringComparer.Ordinal))
            section[address] = hash;
        var text = new JsonObject { [Section] = section }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
        await ConfigFileEditor.ReplaceFileAsync(path, Encoding.UTF8.GetBytes(text), cancellationToken).ConfigureAwait(false);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
