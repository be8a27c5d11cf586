namespace MailServer.Rules.FlowRules;

/// <summary>A problem in a rule definition. <see cref="Path"/> is relative to the FlowRules object, e.g. <c>Inbound[2].SenderPatterns[0]</c>; empty for the whole set.</summary>
public sealed record FlowRuleError(string Path, string Message);

/// <summary>The result of compiling rule definitions. A closed set.</summary>
public abstract record FlowRuleCompilation
{
    private FlowRuleCompilation() { }

    /// <summary>Every rule is valid.</summary>
    public sealed record Compiled(FlowRuleSet RuleSet) : FlowRuleCompilation;

    /// <summary>At least one rule is invalid; nothing was compiled.</summary>
    public sealed record Invalid(IReadOnlyList<FlowRuleError> Errors) : FlowRuleCompilation;
}

/// <summary>The addresses a flow decision looks at. Addresses are bare (<c>local@domain</c>), any case.</summary>
/// <param name="EnvelopeSender">MAIL FROM ("" for the null reverse path); matched only when the message has neither a Sender nor a From header.</param>
/// <param name="SenderHeader">The address of the Sender header, or null.</param>
/// <param name="FromHeader">The (first) address of the From header, or null.</param>
/// <param name="Recipients">The envelope recipients to decide for (inbound: the organization's own).</param>
public sealed record FlowMessage(string? EnvelopeSender, string? SenderHeader, string? FromHeader, IReadOnlyList<string> Recipients);

/// <summary>Why the winner beat the runner-up (the tie-break that decided).</summary>
public enum FlowTieBreak
{
    /// <summary>No other rule matched.</summary>
    OnlyMatch,

    /// <summary>A more specific matched sender pattern.</summary>
    SenderSpecificity,

    /// <summary>Equal sender specificity, a more specific matched recipient pattern.</summary>
    RecipientSpecificity,

    /// <summary>Equal specificity, a more restrictive action.</summary>
    ActionPrecedence,

    /// <summary>Everything equal: the rule written first.</summary>
    ConfigurationOrder,
}

/// <summary>How the winning rule matched.</summary>
/// <param name="Header">Which address matched the sender pattern: "Sender", "From" or "MAIL FROM".</param>
/// <param name="SenderPattern">The winning rule's most specific sender pattern that matched.</param>
/// <param name="RecipientPattern">The winning rule's most specific recipient pattern that matched.</param>
/// <param name="DecidedBy">What separated it from the runner-up.</param>
/// <param name="RunnerUp">The best rule that lost, or null.</param>
public sealed record FlowMatch(string Header, FlowPattern SenderPattern, FlowPattern RecipientPattern, FlowTieBreak DecidedBy, FlowRule? RunnerUp);

/// <summary>The decision for one recipient: the winning rule (null when none matched) and its action.</summary>
public sealed record RecipientFlowDecision(string Recipient, FlowRule? Rule, FlowAction Action, FlowMatch? Match)
{
    /// <summary>True when a synchronous hook decides this recipient (the message is held for it).</summary>
    public bool HeldForHook => Action == FlowAction.RunHook;

    /// <summary>One line for the rule tester and logs: the winner and the specificity that won.</summary>
    public string Why
    {
        get
        {
            if (Rule is null || Match is null)
                return "no rule matched: the default action applies";
            var how = $"sender pattern '{Match.SenderPattern}' ({Match.SenderPattern.Specificity}) matched the {Match.Header} address, " +
                      $"recipient pattern '{Match.RecipientPattern}' ({Match.RecipientPattern.Specificity}) matched";
            return Match.DecidedBy switch
            {
                FlowTieBreak.OnlyMatch => $"{how}; no other rule matched",
                FlowTieBreak.SenderSpecificity => $"{how}; beat '{Match.RunnerUp!.Name}' on sender specificity",
                FlowTieBreak.RecipientSpecificity => $"{how}; same sender specificity as '{Match.RunnerUp!.Name}', beat it on recipient specificity",
                FlowTieBreak.ActionPrecedence => $"{how}; same specificity as '{Match.RunnerUp!.Name}' ({Match.RunnerUp.Action}), {Rule.Action} is more restrictive",
                _ => $"{how}; same specificity and action as '{Match.RunnerUp!.Name}', written first",
            };
        }
    }
}

/// <summary>An asynchronous hook to fire, with the recipients its rule matched.</summary>
public sealed record HookFiring(FlowRule Rule, IReadOnlyList<string> Recipients);

/// <summary>The decisions for one message: one per recipient, in order, and the async hooks to fire.</summary>
public sealed record FlowEvaluation(FlowDirection Direction, IReadOnlyList<RecipientFlowDecision> Recipients, IReadOnlyList<HookFiring> AsyncHooks);

/// <summary>
/// One organization's compiled inbound and outbound flow rules (§9): built once per configuration
/// generation, then evaluated any number of times from any thread.
/// </summary>
public sealed class FlowRuleSet
{
    /// <summary>§9.1 / §35: at most 250 sender patterns in one rule.</summary>
    public const int MaxSenderPatternsPerRule = 250;

    /// <summary>§9.1 / §35: at most 1,000 sender patterns in one organization.</summary>
    public const int MaxSenderPatternsPerOrganization = 1000;

    private FlowRuleSet(IReadOnlyList<FlowRule> inbound, IReadOnlyList<FlowRule> outbound)
    {
        Inbound = inbound;
        Outbound = outbound;
    }

    /// <summary>A set without rules: every recipient gets Default.</summary>
    public static FlowRuleSet Empty { get; } = new([], []);

    /// <summary>The inbound rules in configuration order.</summary>
    public IReadOnlyList<FlowRule> Inbound { get; }

    /// <summary>The outbound rules in configuration order.</summary>
    public IReadOnlyList<FlowRule> Outbound { get; }

    /// <summary>
    /// Validates and compiles. Checks (§9.1, §9.4, §10.1, §10.4): names present and unique per direction; actions
    /// of the direction; at least one pattern of each kind; pattern grammar, no '+'; ≤250 sender patterns per
    /// rule and ≤1,000 per organization; SmtpGateway exactly for RouteToSmtpGateway (and a known gateway when
    /// <paramref name="gatewayNames"/> is given); Hook exactly for RunHook; a synchronous hook only with the
    /// recipient patterns exactly <c>["*"]</c>; a fallback action of the direction that is not RunHook; a rule
    /// timeout of 0–240 minutes; an absolute http(s) URL.
    /// </summary>
    public static FlowRuleCompilation Compile(
        IReadOnlyList<FlowRuleDefinition> inbound,
        IReadOnlyList<FlowRuleDefinition> outbound,
        IReadOnlySet<string>? gatewayNames = null)
    {
        var errors = new List<FlowRuleError>();
        var compiledInbound = CompileDirection(FlowDirection.Inbound, inbound, gatewayNames, errors);
        var compiledOutbound = CompileDirection(FlowDirection.Outbound, outbound, gatewayNames, errors);
        var senderPatterns = inbound.Sum(r => r.SenderPatterns.Count) + outbound.Sum(r => r.SenderPatterns.Count);
        if (senderPatterns > MaxSenderPatternsPerOrganization)
            errors.Add(new FlowRuleError("", $"an organization can have at most {MaxSenderPatternsPerOrganization} sender patterns, found {senderPatterns}"));
        return errors.Count > 0
            ? new FlowRuleCompilation.Invalid(errors)
            : new FlowRuleCompilation.Compiled(new FlowRuleSet(compiledInbound, compiledOutbound));
    }

    private static List<FlowRule> CompileDirection(FlowDirection direction, IReadOnlyList<FlowRuleDefinition> definitions,
        IReadOnlySet<string>? gatewayNames, List<FlowRuleError> errors)
    {
        var rules = new List<FlowRule>(definitions.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        var allowed = FlowActions.For(direction);
        for (var i = 0; i < definitions.Count; i++)
        {
            var d = definitions[i];
            var path = $"{direction}[{i}]";
            var before = errors.Count;
            void Error(string key, string message) => errors.Add(new FlowRuleError(key.Length == 0 ? path : $"{path}.{key}", message));

            if (string.IsNullOrWhiteSpace(d.Name))
                Error("Name", "is required");
            else if (!names.Add(d.Name))
                Error("Name", $"two {direction.ToString().ToLowerInvariant()} rules are named '{d.Name}'");
            if (!allowed.Contains(d.Action))
                Error("Action", $"'{d.Action}' is not an {direction.ToString().ToLowerInvariant()} action; expected one of: {string.Join(", ", allowed)}");

            var senders = Patterns(d.SenderPatterns, "SenderPatterns");
            var recipients = Patterns(d.RecipientPatterns, "RecipientPatterns");
            if (d.SenderPatterns.Count > MaxSenderPatternsPerRule)
                Error("SenderPatterns", $"a rule can have at most {MaxSenderPatternsPerRule} sender patterns, found {d.SenderPatterns.Count}");

            if (d.Action == FlowAction.RouteToSmtpGateway)
            {
                if (string.IsNullOrEmpty(d.SmtpGateway))
                    Error("SmtpGateway", "is required for the RouteToSmtpGateway action");
                else if (gatewayNames is not null && !gatewayNames.Contains(d.SmtpGateway))
                    Error("SmtpGateway", $"no SMTP gateway is named '{d.SmtpGateway}'");
            }
            else if (d.SmtpGateway is not null)
            {
                Error("SmtpGateway", "is only used with the RouteToSmtpGateway action");
            }

            if (d.Action == FlowAction.RunHook)
            {
                if (d.Hook is null)
                    Error("Hook", "is required for the RunHook action");
                else
                    CheckHook(d, allowed, Error);
            }
            else if (d.Hook is not null)
            {
                Error("Hook", "is only used with the RunHook action");
            }

            if (errors.Count == before)
                rules.Add(new FlowRule(d, direction, i, senders, recipients));

            List<FlowPattern> Patterns(IReadOnlyList<string> texts, string key)
            {
                var parsed = new List<FlowPattern>(texts.Count);
                if (texts.Count == 0)
                    Error(key, "a rule needs at least one pattern (use \"*\" for any address)");
                for (var j = 0; j < texts.Count; j++)
                {
                    if (FlowPattern.TryParse(texts[j], out var why) is { } p)
                        parsed.Add(p);
                    else
                        Error($"{key}[{j}]", why!);
                }
                return parsed;
            }
        }
        return rules;
    }

    private static void CheckHook(FlowRuleDefinition d, IReadOnlyList<FlowAction> allowed, Action<string, string> error)
    {
        var hook = d.Hook!;
        if (!hook.Url.IsAbsoluteUri || hook.Url.Scheme is not ("http" or "https"))
            error("Hook.Url", $"'{hook.Url}' is not an absolute http or https URL");
        // §10.1: "The Fallback action can't be another Lambda action."
        if (hook.FallbackAction == FlowAction.RunHook || !allowed.Contains(hook.FallbackAction))
            error("Hook.FallbackAction", $"'{hook.FallbackAction}' cannot be a fallback; expected one of: {string.Join(", ", allowed.Where(a => a != FlowAction.RunHook))}");
        // §10.4: 0 (no retries) to 240 minutes.
        if (hook.RuleTimeoutMinutes is < 0 or > HookDefinition.MaxRuleTimeoutMinutes)
            error("Hook.RuleTimeoutMinutes", $"must be between 0 and {HookDefinition.MaxRuleTimeoutMinutes}, found {hook.RuleTimeoutMinutes}");
        // §10.1: "Synchronous Run Lambda rules support the * destination condition only."
        if (hook.Synchronous && !(d.RecipientPatterns.Count == 1 && d.RecipientPatterns[0].Trim() == "*"))
            error("RecipientPatterns", "a synchronous hook rule must have exactly the recipient pattern \"*\" (§10.1)");
    }

    /// <summary>
    /// Decides every recipient of <paramref name="message"/> (WorkMail Administrator Guide, "Email flow rules"; docs/decisions.md, "Email flow rules"):
    /// <list type="bullet">
    /// <item>Inbound: a rule applies when a recipient pattern matches the recipient and a sender pattern matches
    /// the Sender header address; only when no rule for that recipient matches the Sender address (or there is
    /// none) is the From address matched instead.</item>
    /// <item>Outbound: a rule applies when the recipient and either the Sender or the From address match; the more
    /// specific of the two sender matches counts.</item>
    /// <item>The winner has the most specific matched sender pattern, then the most specific matched recipient
    /// pattern, then the most restrictive action, then comes first in the configuration.</item>
    /// <item>Asynchronous hook rules never decide delivery: every one that applies is listed to fire.</item>
    /// <item>Neither header present: the envelope sender stands in (a message without From breaks RFC 5322 §3.6,
    /// but must still meet the rules).</item>
    /// </list>
    /// </summary>
    public FlowEvaluation Evaluate(FlowDirection direction, FlowMessage message)
    {
        var rules = direction == FlowDirection.Inbound ? Inbound : Outbound;
        var decisions = new List<RecipientFlowDecision>(message.Recipients.Count);
        var firings = new Dictionary<FlowRule, List<string>>();
        var candidates = new List<Candidate>();

        var sender = Clean(message.SenderHeader);
        var from = Clean(message.FromHeader);
        if (sender is null && from is null)
            from = Clean(message.EnvelopeSender);
        var fromLabel = message.SenderHeader is null && message.FromHeader is null ? "MAIL FROM" : "From";

        foreach (var recipient in message.Recipients)
        {
            candidates.Clear();
            if (direction == FlowDirection.Inbound)
            {
                // §9.5: "If present, the Sender address is matched first. The From address is matched if there is
                // no Sender header or if the Sender header doesn't match any rule."
                Collect(rules, recipient, sender, "Sender", null, "", candidates);
                if (candidates.Count == 0)
                    Collect(rules, recipient, from, fromLabel, null, "", candidates);
            }
            else
            {
                Collect(rules, recipient, sender, "Sender", from, fromLabel, candidates);
            }

            foreach (var c in candidates.Where(c => c.Rule.IsAsyncHook))
            {
                if (!firings.TryGetValue(c.Rule, out var list))
                    firings[c.Rule] = list = [];
                list.Add(recipient);
            }
            decisions.Add(Decide(direction, recipient, candidates.Where(c => !c.Rule.IsAsyncHook).ToList()));
        }

        var hooks = firings.OrderBy(f => f.Key.Order).Select(f => new HookFiring(f.Key, f.Value)).ToList();
        return new FlowEvaluation(direction, decisions, hooks);
    }

    private readonly record struct Candidate(FlowRule Rule, FlowPattern Sender, FlowPattern Recipient, string Header);

    private static void Collect(IReadOnlyList<FlowRule> rules, string recipient, string? first, string firstLabel,
        string? second, string secondLabel, List<Candidate> into)
    {
        if (first is null && second is null)
            return;
        foreach (var rule in rules)
        {
            var r = rule.BestRecipientMatch(recipient);
            if (r is null)
                continue;
            var a = rule.BestSenderMatch(first);
            var b = rule.BestSenderMatch(second);
            if (a is not null && (b is null || a.Specificity >= b.Specificity))
                into.Add(new Candidate(rule, a, r, firstLabel));
            else if (b is not null)
                into.Add(new Candidate(rule, b, r, secondLabel));
        }
    }

    private static RecipientFlowDecision Decide(FlowDirection direction, string recipient, List<Candidate> candidates)
    {
        if (candidates.Count == 0)
            return new RecipientFlowDecision(recipient, null, FlowAction.Default, null);
        candidates.Sort((x, y) => Compare(direction, x, y));
        var winner = candidates[0];
        var tie = FlowTieBreak.OnlyMatch;
        FlowRule? runnerUp = null;
        if (candidates.Count > 1)
        {
            var second = candidates[1];
            runnerUp = second.Rule;
            tie = winner.Sender.Specificity != second.Sender.Specificity ? FlowTieBreak.SenderSpecificity
                : winner.Recipient.Specificity != second.Recipient.Specificity ? FlowTieBreak.RecipientSpecificity
                : winner.Rule.Action != second.Rule.Action ? FlowTieBreak.ActionPrecedence
                : FlowTieBreak.ConfigurationOrder;
        }
        return new RecipientFlowDecision(recipient, winner.Rule, winner.Rule.Action,
            new FlowMatch(winner.Header, winner.Sender, winner.Recipient, tie, runnerUp));
    }

    // Negative: x wins. Sender specificity, recipient specificity, action restrictiveness, configuration order.
    private static int Compare(FlowDirection direction, Candidate x, Candidate y)
    {
        var c = y.Sender.Specificity.CompareTo(x.Sender.Specificity);
        if (c != 0)
            return c;
        c = y.Recipient.Specificity.CompareTo(x.Recipient.Specificity);
        if (c != 0)
            return c;
        c = FlowActions.Rank(direction, x.Rule.Action).CompareTo(FlowActions.Rank(direction, y.Rule.Action));
        return c != 0 ? c : x.Rule.Order.CompareTo(y.Rule.Order);
    }

    private static string? Clean(string? address) =>
        string.IsNullOrWhiteSpace(address) ? null : address.Trim();
}
