using MailServer.Server.Configuration;
using MailServer.Server.Security;

namespace MailServer.Server.Cli;

/// <summary>
/// <c>mailserver user passwd ADDRESS</c>: sets a user's password. Only that user's PasswordHash value changes in
/// the file; comments and formatting stay. A running server picks the change up by live reload.
/// </summary>
internal sealed class UserPasswdCommand : ICliCommand
{
    public IReadOnlyList<string> Name { get; } = ["user", "passwd"];
    public string ArgumentSyntax => "ADDRESS";
    public int ArgumentCount => 1;
    public string Summary => "set a user's password (read from standard input) in the configuration file";
    public string Details =>
        "ADDRESS is the user's primary address or one of its aliases.\n" + PasswordInput.PolicyText +
        "\nOnly the user's PasswordHash value is rewritten; a running server applies it within a second.";

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
        try
        {
            await ConfigFileEditor.SetPasswordHashesAsync(arguments.ConfigPath, [(at.Organization, at.User, PasswordHasher.Hash(password))],
                console.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await console.Error.WriteLineAsync($"mailserver: cannot write {arguments.ConfigPath}: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        await console.Out.WriteLineAsync($"Password of {user.Email} updated in {arguments.ConfigPath}.").ConfigureAwait(false);
        return ExitCodes.Ok;
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
