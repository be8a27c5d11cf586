using MailServer.Server.Configuration;
using MailServer.Rules.Addressing;

namespace MailServer.Server.Cli;

/// <summary><c>mailserver config check</c>: validates the configuration like the server does on load and reload.</summary>
internal sealed class ConfigCheckCommand : ICliCommand
{
    public IReadOnlyList<string> Name { get; } = ["config", "check"];
    public string ArgumentSyntax => "";
    public int ArgumentCount => 0;
    public string Summary => "check the configuration file and print every error";
    public string Details =>
        "Prints OK and a summary when the file is valid. Otherwise prints every error with its JSON path\n" +
        "(for example $.MailServer.Organizations[0].Users[1].Email) and exits with 1.";

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        switch (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory))
        {
            case ConfigLoadResult.Ok { Config: var c }:
                var l = c.Listeners;
                await console.Out.WriteLineAsync($"OK {c.ConfigFilePath}").ConfigureAwait(false);
                await console.Out.WriteLineAsync($"  server name:    {c.ServerName}").ConfigureAwait(false);
                if (!AddressSyntax.IsFullyQualifiedServerName(c.ServerName))
                    await console.Out.WriteLineAsync(
                        $"  warning: $.MailServer.ServerName '{c.ServerName}' is not a fully qualified domain name: other servers cannot reach it " +
                        "by MX and clients cannot verify its certificate; set it to the machine's public name (for example mail.example.com)").ConfigureAwait(false);
                await console.Out.WriteLineAsync($"  data directory: {c.DataDirectory}").ConfigureAwait(false);
                await console.Out.WriteLineAsync(
                    $"  listeners:      {l.BindAddress} smtp {l.Smtp}, submission {l.Submission}, submissions {l.Submissions}, " +
                    $"imap {l.Imap}, imaps {l.Imaps}, https {l.Https}; admin {l.Admin}").ConfigureAwait(false);
                await console.Out.WriteLineAsync(
                    $"  tls:            {(c.Tls.CertificatePath ?? "self-signed certificate (generated on first start)")}").ConfigureAwait(false);
                foreach (var o in c.Organizations)
                {
                    await console.Out.WriteLineAsync(
                        $"  organization {o.Alias} ({o.Id}): domains {string.Join(", ", o.Domains.Select(d => d.Default ? d.Name + " (default)" : d.Name))}; " +
                        $"{o.Users.Count} user(s), {o.Groups.Count} group(s), {o.FlowRules.Inbound.Count + o.FlowRules.Outbound.Count} flow rule(s), " +
                        $"{o.AccessControlRules.Count} access rule(s)").ConfigureAwait(false);
                    var noPassword = o.Users.Where(u => u.PasswordHash is null).Select(u => u.Email).ToList();
                    if (noPassword.Count > 0)
                        await console.Out.WriteLineAsync($"    without a password (cannot log in yet): {string.Join(", ", noPassword)}").ConfigureAwait(false);
                }
                return ExitCodes.Ok;
            case ConfigLoadResult.Invalid { Errors: var errors }:
                await WriteErrorsAsync(console, arguments.ConfigPath, errors).ConfigureAwait(false);
                return ExitCodes.InvalidInput;
            default:
                return ExitCodes.Failure;
        }
    }

    /// <summary>Prints every error, one per line, then the count.</summary>
    internal static async Task WriteErrorsAsync(CliConsole console, string configPath, IReadOnlyList<ConfigError> errors)
    {
        await console.Error.WriteLineAsync($"INVALID {configPath}").ConfigureAwait(false);
        foreach (var e in errors)
            await console.Error.WriteLineAsync($"  {e}").ConfigureAwait(false);
        await console.Error.WriteLineAsync($"{errors.Count} error(s)").ConfigureAwait(false);
    }
}
