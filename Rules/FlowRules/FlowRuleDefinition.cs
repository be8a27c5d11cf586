namespace MailServer.Rules.FlowRules;

/// <summary>Which way a message flows through the organization (§9).</summary>
public enum FlowDirection
{
    /// <summary>From anywhere to recipients of the organization.</summary>
    Inbound,

    /// <summary>From users of the organization to anywhere.</summary>
    Outbound,
}

/// <summary>
/// Every flow rule action of both directions (docs/decisions.md, "Email flow rules"). Which ones a direction allows,
/// and how restrictive each is, is <see cref="FlowActions"/>'s business.
/// </summary>
public enum FlowAction
{
    /// <summary>Not delivered, the sender not told.</summary>
    Drop,

    /// <summary>Not delivered, the sender told (inbound: a bounce; outbound: "the administrator blocked it").</summary>
    Bounce,

    /// <summary>Inbound: into Junk E-mail even when not spam.</summary>
    MoveToJunk,

    /// <summary>Inbound: the spam check decides Inbox or Junk E-mail. Outbound: the normal flow.</summary>
    Default,

    /// <summary>Inbound: into the Inbox even when spam.</summary>
    BypassSpamCheck,

    /// <summary>Outbound: through the rule's named SMTP gateway.</summary>
    RouteToSmtpGateway,

    /// <summary>Pass the message to the rule's hook (§10).</summary>
    RunHook,
}

/// <summary>The action sets and their precedence per direction (WorkMail Administrator Guide, "Email flow rules"; docs/decisions.md, "Email flow rules").</summary>
public static class FlowActions
{
    /// <summary>Inbound actions, most restrictive first: Drop &gt; Bounce &gt; MoveToJunk &gt; Default &gt; BypassSpamCheck &gt; RunHook.</summary>
    public static IReadOnlyList<FlowAction> Inbound { get; } =
        [FlowAction.Drop, FlowAction.Bounce, FlowAction.MoveToJunk, FlowAction.Default, FlowAction.BypassSpamCheck, FlowAction.RunHook];

    /// <summary>
    /// Outbound actions, most restrictive first: Drop &gt; Bounce &gt; RouteToSmtpGateway &gt; Default &gt; RunHook.
    /// WorkMail's guide lists Default first but calls the order "most restrictive"; docs/decisions.md, "Email flow rules", settles it this way.
    /// </summary>
    public static IReadOnlyList<FlowAction> Outbound { get; } =
        [FlowAction.Drop, FlowAction.Bounce, FlowAction.RouteToSmtpGateway, FlowAction.Default, FlowAction.RunHook];

    /// <summary>The actions <paramref name="direction"/> allows, most restrictive first.</summary>
    public static IReadOnlyList<FlowAction> For(FlowDirection direction) =>
        direction == FlowDirection.Inbound ? Inbound : Outbound;

    /// <summary>0 for the most restrictive action of the direction; larger is less restrictive.</summary>
    /// <exception cref="ArgumentException">The action is not one of the direction's.</exception>
    public static int Rank(FlowDirection direction, FlowAction action)
    {
        var i = For(direction) is IList<FlowAction> list ? list.IndexOf(action) : -1;
        return i >= 0 ? i : throw new ArgumentException($"{action} is not an {direction} action.", nameof(action));
    }
}

/// <summary>A RunHook rule's hook (§10): where to post, sync or async, what to do when it fails.</summary>
/// <param name="Url">The webhook URL (http or https).</param>
/// <param name="Synchronous">True: the hook decides delivery; false: fire and forget.</param>
/// <param name="FallbackAction">Applied when a synchronous hook fails for the whole rule timeout, and to recipients its response leaves out; never RunHook.</param>
/// <param name="RuleTimeoutMinutes">How long failed invocations are retried, 0–240 (0: no retries).</param>
/// <param name="Secret">The HMAC-SHA256 key for the request signature; null: requests are not signed.</param>
public sealed record HookDefinition(Uri Url, bool Synchronous, FlowAction FallbackAction, int RuleTimeoutMinutes, string? Secret)
{
    /// <summary>§10.4: the longest rule timeout.</summary>
    public const int MaxRuleTimeoutMinutes = 240;

    /// <summary>Never prints the secret.</summary>
    public override string ToString() =>
        $"Hook {Url} {(Synchronous ? "sync" : "async")} fallback {FallbackAction} timeout {RuleTimeoutMinutes} min";
}

/// <summary>One flow rule as an administrator defined it, before validation.</summary>
/// <param name="Name">Unique within its direction.</param>
/// <param name="Action">One of the direction's actions.</param>
/// <param name="SenderPatterns">§9.4 patterns matched against the Sender/From header addresses.</param>
/// <param name="RecipientPatterns">§9.4 patterns matched against each envelope recipient.</param>
/// <param name="SmtpGateway">The gateway name, exactly for RouteToSmtpGateway.</param>
/// <param name="Hook">The hook, exactly for RunHook.</param>
public sealed record FlowRuleDefinition(
    string Name,
    FlowAction Action,
    IReadOnlyList<string> SenderPatterns,
    IReadOnlyList<string> RecipientPatterns,
    string? SmtpGateway = null,
    HookDefinition? Hook = null);

/// <summary>A compiled flow rule: patterns parsed, shape checked.</summary>
public sealed class FlowRule
{
    internal FlowRule(FlowRuleDefinition definition, FlowDirection direction, int order,
        IReadOnlyList<FlowPattern> senders, IReadOnlyList<FlowPattern> recipients)
    {
        Definition = definition;
        Direction = direction;
        Order = order;
        SenderPatterns = senders;
        RecipientPatterns = recipients;
    }

    /// <summary>What the administrator wrote.</summary>
    public FlowRuleDefinition Definition { get; }

    /// <summary>The rule's name.</summary>
    public string Name => Definition.Name;

    /// <summary>The rule's action.</summary>
    public FlowAction Action => Definition.Action;

    /// <summary>The hook of a RunHook rule, else null.</summary>
    public HookDefinition? Hook => Definition.Hook;

    /// <summary>True for a RunHook rule whose hook is asynchronous: it fires, it never decides.</summary>
    public bool IsAsyncHook => Definition.Hook is { Synchronous: false };

    /// <summary>Inbound or outbound.</summary>
    public FlowDirection Direction { get; }

    /// <summary>Position in the configuration (the last tie-break).</summary>
    public int Order { get; }

    /// <summary>The parsed sender patterns.</summary>
    public IReadOnlyList<FlowPattern> SenderPatterns { get; }

    /// <summary>The parsed recipient patterns.</summary>
    public IReadOnlyList<FlowPattern> RecipientPatterns { get; }

    /// <summary>The most specific sender pattern matching <paramref name="address"/>, or null.</summary>
    public FlowPattern? BestSenderMatch(string? address) => address is null ? null : Best(SenderPatterns, address);

    /// <summary>The most specific recipient pattern matching <paramref name="address"/>, or null.</summary>
    public FlowPattern? BestRecipientMatch(string address) => Best(RecipientPatterns, address);

    private static FlowPattern? Best(IReadOnlyList<FlowPattern> patterns, string address)
    {
        FlowPattern? best = null;
        foreach (var p in patterns)
            if ((best is null || p.Specificity > best.Specificity) && p.Matches(address))
                best = p;
        return best;
    }

    /// <inheritdoc />
    public override string ToString() => $"{Direction} rule '{Name}' ({Action})";
}
