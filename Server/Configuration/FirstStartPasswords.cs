using MailServer.Server.Security;

namespace MailServer.Server.Configuration;

/// <summary>A password generated for a user at first start.</summary>
public sealed record GeneratedPassword(string Email, string Password);

/// <summary>
/// First start (docs/decisions.md, "Passwords and first start"): every user without a PasswordHash gets a generated strong password, printed once
/// and stored only as its hash in <c>&lt;DataDirectory&gt;/passwords.json</c> (<see cref="PasswordFile"/>): the
/// administrator's appsettings.json is left byte for byte as it was. The host calls <see cref="EnsureAsync"/>
/// before loading the configuration for serving.
/// </summary>
public static class FirstStartPasswords
{
    /// <summary>
    /// Generates and stores passwords for users whose PasswordHash is null or absent, and prints
    /// "Generated password for ADDRESS: PASSWORD" for each to <paramref name="output"/>.
    /// Does nothing when the file is invalid (the caller's load reports the errors) or every user has a hash.
    /// </summary>
    /// <param name="configPath">The appsettings.json path.</param>
    /// <param name="dataDirectoryOverride">The --data option, or null (only used to validate the file).</param>
    /// <param name="output">Where the passwords are printed (standard output for the host).</param>
    /// <param name="cancellationToken">Cancels before the file is written.</param>
    /// <param name="iterations">PBKDF2 iterations; tests may lower it.</param>
    /// <returns>The generated passwords, in config order.</returns>
    /// <exception cref="IOException">The password file cannot be written.</exception>
    public static async Task<IReadOnlyList<GeneratedPassword>> EnsureAsync(string configPath, string? dataDirectoryOverride,
        TextWriter output, CancellationToken cancellationToken, int iterations = PasswordHasher.DefaultIterations)
    {
        if (ConfigLoader.Load(configPath, dataDirectoryOverride) is not ConfigLoadResult.Ok ok)
            return [];
        var generated = new List<GeneratedPassword>();
        var edits = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var o = 0; o < ok.Config.Organizations.Count; o++)
        {
            var users = ok.Config.Organizations[o].Users;
            for (var u = 0; u < users.Count; u++)
            {
                if (users[u].PasswordHash is not null)
                    continue;
                var password = PasswordPolicy.Generate();
                generated.Add(new GeneratedPassword(users[u].Email, password));
                edits[users[u].Email] = PasswordHasher.Hash(password, iterations);
            }
        }
        if (edits.Count == 0)
            return [];
        cancellationToken.ThrowIfCancellationRequested();
        var allUsers = ok.Config.Organizations.SelectMany(o => o.Users).Select(u => u.Email).ToHashSet(StringComparer.OrdinalIgnoreCase);
        await PasswordFile.SetAsync(ok.Config.DataDirectory, edits, allUsers, cancellationToken).ConfigureAwait(false);
        foreach (var g in generated)
            await output.WriteLineAsync($"Generated password for {g.Email}: {g.Password}").ConfigureAwait(false);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        return generated;
    }
}
