using System.Net;
using MailServer.Protocols.Authentication;
using MailServer.Rules.AccessControl;
using MailServer.Rules.Directory;
using MailServer.Server.Configuration;

namespace MailServer.Server.Security;

/// <summary>
/// The access control rules of the configuration in force (WorkMail Administrator Guide, "Access control rules"; docs/decisions.md, "Access"), evaluated for the
/// organization of the user logging in. Rules are compiled once per configuration generation, so an edit
/// applies to the next login (WorkMail allows five minutes; we apply at once). Thread-safe.
/// </summary>
public sealed class ConfiguredLoginAccessRules : ILoginAccessRules
{
    private readonly Func<ServerConfig> _config;
    private volatile Compiled? _compiled;

    /// <summary>Creates the evaluator over the live configuration.</summary>
    /// <param name="config">Returns the configuration in force (the config monitor's).</param>
    public ConfiguredLoginAccessRules(Func<ServerConfig> config) =>
        _config = config ?? throw new ArgumentNullException(nameof(config));

    /// <summary>WorkMail's protocol name for a login protocol (§19.1's enum).</summary>
    public static string ProtocolName(LoginProtocol protocol) => protocol switch
    {
        LoginProtocol.Imap => "IMAP",
        LoginProtocol.Smtp => "SMTP",
        _ => throw new ArgumentOutOfRangeException(nameof(protocol), protocol, null),
    };

    /// <inheritdoc />
    public AccessDecision Evaluate(DirectoryUser user, IPAddress remoteAddress, LoginProtocol protocol)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(remoteAddress);
        return Evaluate(user.OrganizationId, new AccessRequest(ProtocolName(protocol), remoteAddress, user.Email));
    }

    /// <summary>
    /// Evaluates a request for an organization. An organization that is not (or no longer) configured has no
    /// rules, so the request is denied.
    /// </summary>
    public AccessDecision Evaluate(string organizationId, AccessRequest request)
    {
        var config = _config();
        var compiled = _compiled;
        if (compiled is null || !ReferenceEquals(compiled.Config, config))
            _compiled = compiled = new Compiled(config, config.ToAccessControlRuleSets());
        return compiled.Sets.TryGetValue(organizationId, out var set)
            ? set.Evaluate(request)
            : new AccessDecision.NoRuleMatched();
    }

    private sealed record Compiled(ServerConfig Config, IReadOnlyDictionary<string, AccessControlRuleSet> Sets);
}
