using System.Security.Cryptography;
using System.Text;

namespace MailServer.Server.Admin;

/// <summary>
/// The bearer token that guards the admin endpoints (<c>/admin/...</c>): 32 random bytes, base64url, in
/// <c>&lt;DataDirectory&gt;/admin.token</c> with mode 0600. Whoever can read that file administers the server,
/// exactly like whoever can edit appsettings.json; the CLI reads it to talk to the running server.
/// </summary>
public sealed class AdminToken
{
    /// <summary>The token file's name inside the data directory.</summary>
    public const string FileName = "admin.token";

    private readonly byte[] _value;

    private AdminToken(string value)
    {
        Value = value;
        _value = Encoding.ASCII.GetBytes(value);
    }

    /// <summary>The token as sent in <c>Authorization: Bearer ...</c>.</summary>
    public string Value { get; }

    /// <summary>Reads the token of <paramref name="dataDirectory"/>, creating it (0600, never overwritten) when missing.</summary>
    /// <exception cref="IOException">The file cannot be read or created.</exception>
    /// <exception cref="UnauthorizedAccessException">The data directory is not ours to write.</exception>
    public static AdminToken LoadOrCreate(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, FileName);
        if (TryLoad(dataDirectory) is { } existing)
            return existing;
        Directory.CreateDirectory(dataDirectory);
        var value = Base64Url(RandomNumberGenerator.GetBytes(32));
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var file = new FileStream(path, options))
            {
                file.Write(Encoding.ASCII.GetBytes(value + "\n"));
                file.Flush(flushToDisk: true);
            }
            return new AdminToken(value);
        }
        catch (IOException) when (File.Exists(path))
        {
            return TryLoad(dataDirectory) ?? throw new IOException($"{path} exists but holds no token");
        }
    }

    /// <summary>The token of <paramref name="dataDirectory"/>, or null when no server has created one yet.</summary>
    /// <exception cref="UnauthorizedAccessException">The file exists but is not readable by this user.</exception>
    public static AdminToken? TryLoad(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, FileName);
        if (!File.Exists(path))
            return null;
        var text = File.ReadAllText(path).Trim();
        return text.Length == 0 ? null : new AdminToken(text);
    }

    /// <summary>True when an <c>Authorization</c> header value carries this token (constant-time comparison).</summary>
    public bool Matches(string? authorizationHeader)
    {
        const string scheme = "Bearer ";
        if (authorizationHeader is null || !authorizationHeader.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return false;
        var presented = Encoding.ASCII.GetBytes(authorizationHeader[scheme.Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(presented, _value);
    }

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
