using MailServer.Rules.FlowRules;
using MailServer.Server.Configuration;

namespace MailServer.Server.MessageFlow;

/// <summary>
/// Every organization's compiled flow rules for the configuration in force, compiled once per configuration
/// generation and shared by the inbound and outbound paths. Thread-safe: one reference swapped whole, so a reader
/// sees a configuration and the sets compiled from it, never a mix.
/// </summary>
public sealed class FlowRuleSetCache(Func<ServerConfig> config)
{
    private sealed record Compiled(ServerConfig Config, IReadOnlyDictionary<string, FlowRuleSet> Sets);

    private volatile Compiled? _compiled;

    /// <summary>The compiled rule sets by organization id.</summary>
    /// <exception cref="InvalidOperationException">A rule set of the configuration does not compile (validated at load, so not expected).</exception>
    public IReadOnlyDictionary<string, FlowRuleSet> RuleSets
    {
        get
        {
            var current = config();
            var cached = _compiled;
            if (cached is not null && ReferenceEquals(cached.Config, current))
                return cached.Sets;
            var sets = current.ToFlowRuleSets();
            _compiled = new Compiled(current, sets);
            return sets;
        }
    }

    /// <summary>The rule set of one organization; <see cref="FlowRuleSet.Empty"/> when it has none.</summary>
    public FlowRuleSet For(string organizationId) => RuleSets.GetValueOrDefault(organizationId) ?? FlowRuleSet.Empty;
}
