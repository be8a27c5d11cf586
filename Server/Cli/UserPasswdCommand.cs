using MailServer.Server.Configuration;
using MailServer.Server.Security;

namespace MailServer.Server.Cli;

/// <summary>
/// <c>mailserver user passwd ADDRESS</c>: sets a user's password. The hash goes where the user's hash lives: in
/// appsettings.json when the user has a PasswordHash there (only that value changes; comments and formatting stay),
/// otherwise in <c>&lt;DataDirectory&gt;/passwords.json</c>. A running server picks the change up by live reload.
/// </summary>
internal sealed class UserPasswdCommand : ICliCommand
{
    public IReadOnlyList<string> Name { get; } = ["user", "passwd"];
    public string ArgumentSyntax => "ADDRESS";
    public int ArgumentCount => 1;
    public string Summary => "set a user's password (read from standard input) in the configuration file";
    public string Details =>
        "ADDRESS is the user's primary address or one of its aliases.\n" + PasswordInput.PolicyText +
        "\nWhen the user has a PasswordHash in the configuration file, only that value is rewritten; otherwise the hash\n" +
        "is stored in <DataDirectory>/passwords.json (mode 0600) and the configuration file is left alone.\n" +
        "A running server applies it within a second or two.";

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        var address = arguments.Arguments[0].Trim();
        var loaded = ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory);
        if (loaded is not ConfigLoadResult.Ok ok)
        {
            var errors = loaded is ConfigLoadResult.Invalid invalid ? invalid.Errors : [];
            await ConfigCheckCommand.WriteErrorsAsync(console, arguments.ConfigPath, errors).ConfigureAwait(false);
            await console.Error.WriteLineAsync("mailserver: fix the configuration first; nothing was changed").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        var location = Find(ok.Config, address);
        if (location is not { } at)
        {
            await console.Error.WriteLineAsync($"mailserver: no user has the address '{address}'").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        var password = await PasswordInput.ReadAsync(console).ConfigureAwait(false);
        if (password is null)
            return ExitCodes.InvalidInput;
        var user = ok.Config.Organizations[at.Organization].Users[at.User];
        var hash = PasswordHasher.Hash(password);
        var inConfigFile = HasHashInConfigFile(arguments.ConfigPath, at.Organization, at.User);
        var target = inConfigFile ? arguments.ConfigPath : PasswordFile.PathIn(ok.Config.DataDirectory);
        try
        {
            if (inConfigFile)
                await ConfigFileEditor.SetPasswordHashesAsync(arguments.ConfigPath, [(at.Organization, at.User, hash)],
                    console.CancellationToken).ConfigureAwait(false);
            else
                await PasswordFile.SetAsync(ok.Config.DataDirectory, new Dictionary<string, string> { [user.Email] = hash },
                    ok.Config.Organizations.SelectMany(o => o.Users).Select(u => u.Email).ToHashSet(StringComparer.OrdinalIgnoreCase),
                    console.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await console.Error.WriteLineAsync($"mailserver: cannot write {target}: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        await console.Out.WriteLineAsync($"Password of {user.Email} updated in {target}.").ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    /// <summary>Whether the configuration file itself holds a PasswordHash string for the user (not null, not absent).</summary>
    private static bool HasHashInConfigFile(string configPath, int organization, int user)
    {
        using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(configPath), ConfigLoader.DocumentOptions);
        return document.RootElement.GetProperty(ConfigLoader.SectionName).GetProperty("Organizations")[organization]
                   .GetProperty("Users")[user].TryGetProperty("PasswordHash", out var hash)
               && hash.ValueKind == System.Text.Json.JsonValueKind.String;
    }

    private static (int Organization, int User)? Find(ServerConfig config, string address)
    {
        for (var o = 0; o < config.Organizations.Count; o++)
        {
            var users = config.Organizations[o].Users;
            for (var u = 0; u < users.Count; u++)
                if (string.Equals(users[u].Email, address, StringComparison.OrdinalIgnoreCase)
                    || users[u].Aliases.Contains(address, StringComparer.OrdinalIgnoreCase))
                    return (o, u);
        }
        return null;
    }
}
