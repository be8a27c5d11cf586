using MailServer.Rules.Addressing;
namespace MailServer.Rules.MailboxRules;

/// <summary>A problem in a mailbox rule definition; <see cref="Path"/> is relative to the user's MailboxRules array, e.g. <c>[1].Actions[0].To</c>.</summary>
public sealed record MailboxRuleError(string Path, string Message);

/// <summary>
/// One user's compiled mailbox rules (rule type MAILBOX_RULE, §9.8). Applied at delivery after the flow rules
/// chose the folder; immutable, evaluated from any thread.
/// </summary>
public sealed class MailboxRuleSet
{
    /// <summary>The header a forward or redirect carries, naming the mailbox that sent it on (loop protection).</summary>
    public const string LoopHeader = "X-MailServer-Forwarded-By";

    /// <summary>A message already forwarded this many times is not forwarded again, whoever forwarded it.</summary>
    public const int MaxForwardHops = 5;

    /// <summary>The folder Delete files into (docs/decisions.md, "Retention").</summary>
    public const string DeletedItems = "Deleted Items";

    private MailboxRuleSet(IReadOnlyList<MailboxRuleDefinition> rules) => Rules = rules;

    /// <summary>No rules: the flow rules' folder stands.</summary>
    public static MailboxRuleSet Empty { get; } = new([]);

    /// <summary>The rules in order.</summary>
    public IReadOnlyList<MailboxRuleDefinition> Rules { get; }

    /// <summary>
    /// Validates and compiles: names present and unique; at least one condition and one action; non-empty texts
    /// and folder names; Forward/Redirect to an address (<see cref="AddressSyntax.IsValidAddress"/>, any case, spaces around it ignored).
    /// </summary>
    /// <returns>The set, or null with the errors filled in.</returns>
    public static MailboxRuleSet? Compile(IReadOnlyList<MailboxRuleDefinition> rules, List<MailboxRuleError> errors)
    {
        var before = errors.Count;
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < rules.Count; i++)
        {
            var r = rules[i];
            void Error(string key, string message) => errors.Add(new MailboxRuleError($"[{i}]{(key.Length > 0 ? "." + key : "")}", message));
            if (string.IsNullOrWhiteSpace(r.Name))
                Error("Name", "is required");
            else if (!names.Add(r.Name))
                Error("Name", $"two mailbox rules are named '{r.Name}'");
            if (r.Conditions.Count == 0)
                Error("Conditions", "a mailbox rule needs at least one condition");
            if (r.Actions.Count == 0)
                Error("Actions", "a mailbox rule needs at least one action");
            for (var j = 0; j < r.Conditions.Count; j++)
            {
                var c = r.Conditions[j];
                if (c is MailboxRuleCondition.HeaderContains h && string.IsNullOrWhiteSpace(h.Header))
                    Error($"Conditions[{j}].Header", "is required");
                var text = c switch
                {
                    MailboxRuleCondition.SenderContains s => s.Text,
                    MailboxRuleCondition.RecipientContains s => s.Text,
                    MailboxRuleCondition.SubjectContains s => s.Text,
                    MailboxRuleCondition.HeaderContains s => s.Text,
                    _ => "",
                };
                if (string.IsNullOrEmpty(text))
                    Error($"Conditions[{j}].Contains", "cannot be empty");
            }
            for (var j = 0; j < r.Actions.Count; j++)
            {
                switch (r.Actions[j])
                {
                    case MailboxRuleAction.Move { Folder: var f } when string.IsNullOrWhiteSpace(f):
                    case MailboxRuleAction.Copy { Folder: var g } when string.IsNullOrWhiteSpace(g):
                        Error($"Actions[{j}].Folder", "is required");
                        break;
                    case MailboxRuleAction.Forward { To: var t } when !IsAddress(t):
                    case MailboxRuleAction.Redirect { To: var u } when !IsAddress(u):
                        Error($"Actions[{j}].To", "is not a valid email address");
                        break;
                }
            }
        }
        return errors.Count == before ? new MailboxRuleSet(rules) : null;
    }

    /// <summary>
    /// Runs the rules in order over <paramref name="message"/>, starting from the folder the flow rules chose.
    /// Every rule whose conditions all hold applies all its actions; <c>StopProcessingRules</c> ends the run.
    /// The last Move wins; Delete files into Deleted Items and beats Move. Forward and Redirect are suppressed
    /// (<see cref="MailboxRuleOutcome.LoopSuppressed"/>) when the message already carries
    /// <see cref="LoopHeader"/> naming this mailbox, or <see cref="MaxForwardHops"/> of them (a forwarding loop).
    /// Delivery does not call it for exempt messages (<see cref="MailboxRuleMessages.Exemption"/>: Junk, notifications, journal records).
    /// </summary>
    public MailboxRuleOutcome Evaluate(MailboxRuleMessage message, string folder)
    {
        var copies = new List<string>();
        var forwards = new List<string>();
        var redirects = new List<string>();
        var applied = new List<AppliedMailboxRule>();
        var markRead = false;
        var deleted = false;
        var target = folder;

        foreach (var rule in Rules)
        {
            if (!rule.Conditions.All(c => Holds(c, message)))
                continue;
            applied.Add(new AppliedMailboxRule(rule.Name, rule.Actions));
            foreach (var action in rule.Actions)
            {
                switch (action)
                {
                    case MailboxRuleAction.Move m: target = m.Folder; break;
                    case MailboxRuleAction.Copy c: copies.Add(c.Folder); break;
                    case MailboxRuleAction.Forward f: forwards.Add(f.To.Trim().ToLowerInvariant()); break;
                    case MailboxRuleAction.Redirect r: redirects.Add(r.To.Trim().ToLowerInvariant()); break;
                    case MailboxRuleAction.Delete: deleted = true; break;
                    case MailboxRuleAction.MarkRead: markRead = true; break;
                }
            }
            if (rule.StopProcessingRules)
                break;
        }
        if (deleted)
            target = DeletedItems;

        var loop = false;
        if (forwards.Count + redirects.Count > 0)
        {
            var hops = message.Headers.Where(h => string.Equals(h.Key, LoopHeader, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value.Trim()).ToList();
            loop = hops.Count >= MaxForwardHops || hops.Contains(message.Mailbox, StringComparer.OrdinalIgnoreCase);
            if (loop)
            {
                forwards.Clear();
                redirects.Clear();
            }
            else
            {
                // Never send back to the mailbox itself.
                forwards.RemoveAll(a => string.Equals(a, message.Mailbox, StringComparison.OrdinalIgnoreCase));
                redirects.RemoveAll(a => string.Equals(a, message.Mailbox, StringComparison.OrdinalIgnoreCase));
            }
        }
        copies.RemoveAll(c => string.Equals(c, target, StringComparison.OrdinalIgnoreCase));
        return new MailboxRuleOutcome(target, copies.Distinct(StringComparer.OrdinalIgnoreCase).ToList(),
            forwards.Distinct().ToList(), redirects.Distinct().ToList(), markRead, applied, loop);
    }

    private static bool Holds(MailboxRuleCondition condition, MailboxRuleMessage m) => condition switch
    {
        MailboxRuleCondition.SenderContains s => m.Senders.Any(x => Contains(x, s.Text)),
        MailboxRuleCondition.RecipientContains r => m.Recipients.Any(x => Contains(x, r.Text)) || Contains(m.EnvelopeRecipient, r.Text),
        MailboxRuleCondition.SubjectContains s => m.Subject is not null && Contains(m.Subject, s.Text),
        MailboxRuleCondition.HeaderContains h => m.Headers.Any(x => string.Equals(x.Key, h.Header, StringComparison.OrdinalIgnoreCase) && Contains(x.Value, h.Text)),
        _ => false,
    };

    private static bool Contains(string haystack, string needle) => haystack.Contains(needle, StringComparison.OrdinalIgnoreCase);

    private static bool IsAddress(string text) => AddressSyntax.IsValidAddress(text.Trim().ToLowerInvariant());
}
