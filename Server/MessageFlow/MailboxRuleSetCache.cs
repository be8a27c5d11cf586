using MailServer.Rules.MailboxRules;
using MailServer.Server.Configuration;

namespace MailServer.Server.MessageFlow;

/// <summary>
/// Every user's compiled mailbox rules (§9.8) for the configuration in force, compiled once per configuration
/// generation, so a reload applies to the next delivery. Thread-safe like <see cref="FlowRuleSetCache"/>: one
/// reference swapped whole.
/// </summary>
public sealed class MailboxRuleSetCache(Func<ServerConfig> config)
{
    private sealed record Compiled(ServerConfig Config, IReadOnlyDictionary<string, MailboxRuleSet> Sets);

    private volatile Compiled? _compiled;

    /// <summary>The rules of the user whose primary address is <paramref name="email"/>; <see cref="MailboxRuleSet.Empty"/> when none.</summary>
    /// <exception cref="InvalidOperationException">A user's rules do not compile (validated at load, so not expected).</exception>
    public MailboxRuleSet For(string email)
    {
        var current = config();
        var cached = _compiled;
        if (cached is null || !ReferenceEquals(cached.Config, current))
        {
            var sets = current.Organizations.SelectMany(o => o.Users)
                .Where(u => u.MailboxRules is { Count: > 0 })
                .ToDictionary(u => u.Email, u => current.MailboxRulesOf(u.Email), StringComparer.OrdinalIgnoreCase);
            _compiled = cached = new Compiled(current, sets);
        }
        return cached.Sets.GetValueOrDefault(email) ?? MailboxRuleSet.Empty;
    }
}
