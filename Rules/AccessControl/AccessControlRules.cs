using System.Net;

namespace MailServer.Rules.AccessControl;

/// <summary>What a matching access control rule does (§6 "Effect").</summary>
public enum AccessRuleEffect
{
    /// <summary>The rule grants access, unless a matching Deny rule exists.</summary>
    Allow,
    /// <summary>The rule refuses access; any matching Deny wins.</summary>
    Deny,
}

/// <summary>
/// One access control rule (§6). Every condition list that is not empty must match (AND); an empty list
/// places no condition. Protocol names are WorkMail's ("IMAP", "SMTP", compared without case); user
/// addresses are primary addresses (the caller resolves aliases before building the rule and the request).
/// </summary>
public sealed record AccessControlRule(
    string Name,
    AccessRuleEffect Effect,
    IReadOnlyList<string> Protocols,
    IReadOnlyList<string> NotProtocols,
    IReadOnlyList<IPNetwork> IpRanges,
    IReadOnlyList<IPNetwork> NotIpRanges,
    IReadOnlyList<string> Users,
    IReadOnlyList<string> NotUsers)
{
    /// <summary>
    /// True when every condition of the rule holds for <paramref name="request"/>: the protocol is among
    /// <see cref="Protocols"/> (when any) and not among <see cref="NotProtocols"/>, the address is in an
    /// <see cref="IpRanges"/> range (when any) and in no <see cref="NotIpRanges"/> range, the user likewise.
    /// </summary>
    public bool Matches(AccessRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var ip = Normalise(request.SourceIp);
        return Includes(Protocols, request.Protocol) && !Excludes(NotProtocols, request.Protocol)
            && (IpRanges.Count == 0 || IpRanges.Any(n => n.Contains(ip)))
            && !NotIpRanges.Any(n => n.Contains(ip))
            && Includes(Users, request.User) && !Excludes(NotUsers, request.User);

        static bool Includes(IReadOnlyList<string> list, string value) =>
            list.Count == 0 || list.Contains(value, StringComparer.OrdinalIgnoreCase);
        static bool Excludes(IReadOnlyList<string> list, string value) =>
            list.Contains(value, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>
    /// An IPv4 client seen on a dual-stack socket arrives as ::ffff:a.b.c.d; rules written for IPv4 ranges
    /// must still match it, so it is compared as the IPv4 address it is (RFC 4291 §2.5.5.2).
    /// </summary>
    private static IPAddress Normalise(IPAddress address) =>
        address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}

/// <summary>A login to evaluate: over which protocol, from which address, as which user (primary address).</summary>
public sealed record AccessRequest(string Protocol, IPAddress SourceIp, string User);

/// <summary>The effect of the rules on one request, and the rule that decided it. A closed set.</summary>
public abstract record AccessDecision
{
    private AccessDecision() { }

    /// <summary>True when the request may proceed.</summary>
    public abstract bool Granted { get; }

    /// <summary>The deciding rule's name; null when no rule matched (audit: <c>rule_id</c> absent).</summary>
    public abstract string? RuleName { get; }

    /// <summary>A matching Allow rule and no matching Deny rule.</summary>
    public sealed record Allowed(string Rule) : AccessDecision
    {
        /// <inheritdoc />
        public override bool Granted => true;
        /// <inheritdoc />
        public override string? RuleName => Rule;
    }

    /// <summary>A matching Deny rule (the first one in configuration order is named).</summary>
    public sealed record DeniedByRule(string Rule) : AccessDecision
    {
        /// <inheritdoc />
        public override bool Granted => false;
        /// <inheritdoc />
        public override string? RuleName => Rule;
    }

    /// <summary>No rule matched (or there are no rules at all): access is denied by default (§6).</summary>
    public sealed record NoRuleMatched : AccessDecision
    {
        /// <inheritdoc />
        public override bool Granted => false;
        /// <inheritdoc />
        public override string? RuleName => null;
    }
}

/// <summary>
/// An organization's access control rules, evaluated as docs/decisions.md, "Access", settles what the WorkMail Administrator Guide's "Access control rules" leaves open:
/// any matching Deny wins; else any matching Allow grants; else access is denied. No rules at all therefore
/// blocks every login (§6: "If an administrator deletes all access control rules ... blocks all access").
/// Immutable and thread-safe.
/// </summary>
public sealed class AccessControlRuleSet
{
    private readonly IReadOnlyList<AccessControlRule> _rules;

    /// <summary>Compiles the rules, keeping their configuration order (it names the deciding rule).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="rules"/> is null.</exception>
    public AccessControlRuleSet(IEnumerable<AccessControlRule> rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        _rules = rules.ToList();
    }

    /// <summary>The rules, in configuration order.</summary>
    public IReadOnlyList<AccessControlRule> Rules => _rules;

    /// <summary>Evaluates <paramref name="request"/> against every rule.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is null.</exception>
    public AccessDecision Evaluate(AccessRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        AccessControlRule? allow = null;
        foreach (var rule in _rules)
        {
            if (!rule.Matches(request))
                continue;
            if (rule.Effect == AccessRuleEffect.Deny)
                return new AccessDecision.DeniedByRule(rule.Name);
            allow ??= rule;
        }
        return allow is null ? new AccessDecision.NoRuleMatched() : new AccessDecision.Allowed(allow.Name);
    }
}
