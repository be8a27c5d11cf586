using MailServer.Rules.AccessControl;

namespace MailServer.Server.Configuration;

/// <summary>Turns the AccessControlRules sections of a <see cref="ServerConfig"/> into compiled rule sets.</summary>
public static class AccessControlMapping
{
    /// <summary>
    /// One rule set per organization id. Users in the config are already primary addresses (the loader
    /// resolves aliases), so a rule naming an alias matches its user.
    /// </summary>
    public static IReadOnlyDictionary<string, AccessControlRuleSet> ToAccessControlRuleSets(this ServerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.Organizations.ToDictionary(
            o => o.Id,
            o => new AccessControlRuleSet(o.AccessControlRules.Select(ToRule)),
            StringComparer.Ordinal);
    }

    /// <summary>One rule in the Rules layer's shape.</summary>
    public static AccessControlRule ToRule(this AccessControlRuleConfig rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return new AccessControlRule(
            rule.Name,
            rule.Effect == AccessEffect.Allow ? AccessRuleEffect.Allow : AccessRuleEffect.Deny,
            rule.Protocols, rule.NotProtocols, rule.IpRanges, rule.NotIpRanges, rule.Users, rule.NotUsers);
    }
}
