using System.Net;
using MailServer.Rules.AccessControl;
using MailServer.Server.Configuration;
using MailServer.Server.Security;

namespace MailServer.Server.Cli;

/// <summary>
/// <c>mailserver access test --protocol IMAP|SMTP --ip ADDR --user ADDR</c>: evaluates the access control rules of
/// the configuration file for one request, like WorkMail's console tester (§6 "Test"), and prints the effect and
/// the rule that decided. Reads only the configuration: works with the server running or stopped.
/// </summary>
internal sealed class AccessTestCommand : ICliCommand
{
    public IReadOnlyList<string> Name { get; } = ["access", "test"];
    public string ArgumentSyntax => "";
    public int ArgumentCount => 0;
    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("--protocol", "NAME", "IMAP or SMTP (required)"),
        new("--ip", "ADDRESS", "the client's IPv4 or IPv6 address (required)"),
        new("--user", "ADDRESS", "the user's address or one of its aliases (required)"),
    ];
    public string Summary => "show whether the access control rules let a user log in";
    public string Details =>
        "Evaluates the AccessControlRules of the user's organization for a login request and prints the\n" +
        "effect (Allow or Deny) and the deciding rule. Any matching Deny rule wins, else any matching Allow\n" +
        "rule; when no rule matches, access is denied. Exit code 0 whatever the effect; 1 for invalid input.";

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        var protocol = arguments.Value("--protocol");
        var ipText = arguments.Value("--ip");
        var userText = arguments.Value("--user");
        if (protocol is null || ipText is null || userText is null)
            return await Invalid(console, "--protocol, --ip and --user are required").ConfigureAwait(false);
        var known = AccessControlRuleConfig.KnownProtocols.FirstOrDefault(p => string.Equals(p, protocol, StringComparison.OrdinalIgnoreCase));
        if (known is null)
            return await Invalid(console, $"--protocol must be one of: {string.Join(", ", AccessControlRuleConfig.KnownProtocols)}").ConfigureAwait(false);
        if (!IPAddress.TryParse(ipText, out var ip))
            return await Invalid(console, $"'{ipText}' is not an IP address").ConfigureAwait(false);
        if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
            return await Invalid(console, $"{arguments.ConfigPath} is invalid; run 'mailserver config check'").ConfigureAwait(false);

        var user = config.ToDirectory().FindUser(userText.Trim());
        if (user is null)
            return await Invalid(console, $"'{userText}' is not a user (or an alias of one)").ConfigureAwait(false);
        var decision = new ConfiguredLoginAccessRules(() => config)
            .Evaluate(user.OrganizationId, new AccessRequest(known, ip, user.Email));
        var organization = config.Organizations.First(o => o.Id == user.OrganizationId);
        await console.Out.WriteLineAsync($"Organization: {organization.Alias}").ConfigureAwait(false);
        await console.Out.WriteLineAsync($"Request: {known} from {ip} as {user.Email}").ConfigureAwait(false);
        await console.Out.WriteLineAsync($"Effect: {(decision.Granted ? "Allow" : "Deny")}").ConfigureAwait(false);
        await console.Out.WriteLineAsync(decision switch
        {
            AccessDecision.Allowed a => $"Rule: {a.Rule} (Allow; no Deny rule matches)",
            AccessDecision.DeniedByRule d => $"Rule: {d.Rule} (Deny)",
            _ => organization.AccessControlRules.Count == 0
                ? "Rule: none (the organization has no access control rules: every login is blocked)"
                : "Rule: none (no rule matches: access is denied by default)",
        }).ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    private static async Task<int> Invalid(CliConsole console, string message)
    {
        await console.Error.WriteLineAsync($"mailserver: {message}").ConfigureAwait(false);
        return ExitCodes.InvalidInput;
    }
}
