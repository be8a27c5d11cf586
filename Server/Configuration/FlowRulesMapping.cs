using MailServer.Rules.FlowRules;
using MailServer.Rules.MailboxRules;
using MailServer.Rules.Addressing;

namespace MailServer.Server.Configuration;

/// <summary>Turns the validated FlowRules and MailboxRules sections into the rule engine's compiled sets.</summary>
public static class FlowRulesMapping
{
    /// <summary>The rule engine's definition of one configured rule.</summary>
    public static FlowRuleDefinition ToDefinition(this FlowRuleConfig rule) => new(
        rule.Name,
        Enum.Parse<FlowAction>(rule.Action),
        rule.SenderPatterns,
        rule.RecipientPatterns,
        rule.SmtpGateway,
        rule.Hook is { } h ? new HookDefinition(h.Url, h.Synchronous, Enum.Parse<FlowAction>(h.FallbackAction), h.RuleTimeoutMinutes, h.Secret) : null);

    /// <summary>The organization's compiled flow rules.</summary>
    /// <exception cref="InvalidOperationException">The rules do not compile; never for a config from <see cref="ConfigLoader"/>, which checks the same things.</exception>
    public static FlowRuleSet ToFlowRuleSet(this OrganizationConfig organization) =>
        FlowRuleSet.Compile(
                organization.FlowRules.Inbound.Select(ToDefinition).ToList(),
                organization.FlowRules.Outbound.Select(ToDefinition).ToList(),
                organization.SmtpGateways.Select(g => g.Name).ToHashSet(StringComparer.Ordinal)) switch
        {
            FlowRuleCompilation.Compiled c => c.RuleSet,
            FlowRuleCompilation.Invalid i => throw new InvalidOperationException(
                $"Flow rules of {organization.Alias} do not compile: {string.Join("; ", i.Errors.Select(e => $"{e.Path}: {e.Message}"))}"),
            _ => throw new InvalidOperationException("Unknown compilation result."),
        };

    /// <summary>Every organization's compiled flow rules, by organization id: compile once per config generation.</summary>
    /// <exception cref="InvalidOperationException">As <see cref="ToFlowRuleSet"/>.</exception>
    public static IReadOnlyDictionary<string, FlowRuleSet> ToFlowRuleSets(this ServerConfig config) =>
        config.Organizations.ToDictionary(o => o.Id, ToFlowRuleSet, StringComparer.Ordinal);

    /// <summary>The compiled mailbox rules of the user whose primary address is <paramref name="email"/>; empty when none.</summary>
    public static MailboxRuleSet MailboxRulesOf(this ServerConfig config, string email)
    {
        var user = config.Organizations.SelectMany(o => o.Users).FirstOrDefault(u => string.Equals(u.Email, email, StringComparison.OrdinalIgnoreCase));
        if (user?.MailboxRules is not { Count: > 0 } rules)
            return MailboxRuleSet.Empty;
        var errors = new List<MailboxRuleError>();
        return MailboxRuleSet.Compile(rules, errors)
               ?? throw new InvalidOperationException($"Mailbox rules of {email} do not compile: {string.Join("; ", errors)}");
    }
}
