using MailServer.Rules.FlowRules;

namespace MailServer.Server.Events;

/// <summary>
/// RULE_APPLIED for email flow rules (§9.5, §18.3): one event per rule that won for some recipients of a
/// message, its recipients grouped by the action taken.
/// </summary>
public static class FlowRuleEvents
{
    /// <summary>Writes one RULE_APPLIED per rule among <paramref name="decisions"/> (recipients no rule decided are left out).</summary>
    /// <param name="log">The event log.</param>
    /// <param name="organizationId">The organization whose rules decided.</param>
    /// <param name="traceId">The message's trace id.</param>
    /// <param name="ruleType"><see cref="RuleApplied.InboundRule"/> or <see cref="RuleApplied.OutboundRule"/>.</param>
    /// <param name="decisions">The rule decisions, with the action actually taken for each recipient.</param>
    public static void RulesApplied(this IEmailEventLog log, string organizationId, Guid traceId, string ruleType,
        IEnumerable<(string Rule, FlowAction Action, string Recipient)> decisions)
    {
        ArgumentNullException.ThrowIfNull(log);
        foreach (var rule in decisions.GroupBy(d => d.Rule, StringComparer.Ordinal))
        {
            var actions = rule.GroupBy(d => d.Action)
                .Select(a => new RuleAction(ActionName(a.Key), a.Select(d => d.Recipient).ToList()))
                .ToList();
            log.Write(new RuleApplied(organizationId, traceId, rule.Key, ruleType, actions));
        }
    }

    /// <summary>The action as the event log spells it (DROP, BOUNCE, ROUTE_TO_SMTP_GATEWAY, …).</summary>
    public static string ActionName(FlowAction action) => action switch
    {
        FlowAction.Drop => "DROP",
        FlowAction.Bounce => "BOUNCE",
        FlowAction.MoveToJunk => "MOVE_TO_JUNK",
        FlowAction.Default => "DEFAULT",
        FlowAction.BypassSpamCheck => "BYPASS_SPAM_CHECK",
        FlowAction.RouteToSmtpGateway => "ROUTE_TO_SMTP_GATEWAY",
        FlowAction.RunHook => "RUN_HOOK",
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, "not a flow action"),
    };
}
