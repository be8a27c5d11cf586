namespace MailServer.Rules.FlowRules;

/// <summary>The spam verdict a classifier gives.</summary>
public enum SpamVerdict
{
    /// <summary>Not spam: the Inbox.</summary>
    NotSpam,

    /// <summary>Spam: Junk E-mail under the Default action.</summary>
    Spam,
}

/// <summary>The DMARC outcome delivery acts on (§12); None until sender authentication reports one.</summary>
public enum DmarcDisposition
{
    /// <summary>No DMARC failure to act on.</summary>
    None,

    /// <summary>DMARC failed with p=quarantine (enforced): the message is spam.</summary>
    Quarantine,

    /// <summary>DMARC failed with p=reject (enforced): refused before flow rules.</summary>
    Reject,
}

/// <summary>What the spam check sees of a message.</summary>
/// <param name="Dmarc">The enforced DMARC disposition.</param>
public sealed record SpamCheckInput(DmarcDisposition Dmarc);

/// <summary>The spam classifier seam (docs/decisions.md, "Spam verdicts").</summary>
public interface ISpamClassifier
{
    /// <summary>Classifies one message. Pure: no I/O on the delivery path.</summary>
    SpamVerdict Classify(SpamCheckInput input);
}

/// <summary>
/// The classifier until a real engine is configured (docs/decisions.md, "Spam verdicts"): a message is spam only when DMARC
/// quarantine says so.
/// </summary>
public sealed class DmarcOnlySpamClassifier : ISpamClassifier
{
    /// <inheritdoc />
    public SpamVerdict Classify(SpamCheckInput input) =>
        input.Dmarc == DmarcDisposition.Quarantine ? SpamVerdict.Spam : SpamVerdict.NotSpam;
}

/// <summary>The folder an inbound copy goes to.</summary>
public enum InboundFolder
{
    /// <summary>The Inbox.</summary>
    Inbox,

    /// <summary>Junk E-mail.</summary>
    Junk,
}

/// <summary>What delivery does for one inbound recipient after the flow rules (§9.2). A closed set.</summary>
public abstract record InboundDisposition
{
    private InboundDisposition() { }

    /// <summary>Store it in <see cref="Folder"/>.</summary>
    public sealed record Deliver(InboundFolder Folder) : InboundDisposition;

    /// <summary>§9.2 Drop: "not delivered, and the sender is not notified". Accepted, not stored.</summary>
    public sealed record Drop : InboundDisposition;

    /// <summary>§9.2 Bounce: not delivered, the sender told (in session when every recipient is refused).</summary>
    public sealed record Bounce(string? Message) : InboundDisposition;

    /// <summary>A synchronous hook decides (the message waits for it).</summary>
    public sealed record HoldForHook(FlowRule Rule) : InboundDisposition;

    /// <summary>
    /// The disposition for an inbound flow action (§9.2): Drop and Bounce as such; MoveToJunk → Junk E-mail even
    /// when not spam; Default → the spam verdict decides; BypassSpamCheck → the Inbox even when spam; RunHook
    /// (a synchronous hook that won) → held.
    /// </summary>
    /// <exception cref="ArgumentException">An outbound-only action.</exception>
    public static InboundDisposition For(RecipientFlowDecision decision, SpamVerdict spam, string? bounceMessage = null) => decision.Action switch
    {
        FlowAction.Drop => new Drop(),
        FlowAction.Bounce => new Bounce(bounceMessage),
        FlowAction.MoveToJunk => new Deliver(InboundFolder.Junk),
        FlowAction.Default => new Deliver(spam == SpamVerdict.Spam ? InboundFolder.Junk : InboundFolder.Inbox),
        FlowAction.BypassSpamCheck => new Deliver(InboundFolder.Inbox),
        FlowAction.RunHook when decision.Rule is not null => new HoldForHook(decision.Rule),
        _ => throw new ArgumentException($"{decision.Action} is not an inbound action.", nameof(decision)),
    };

    /// <summary>The disposition for an action a hook decided or a fallback (never RunHook).</summary>
    /// <exception cref="ArgumentException">RunHook or an outbound-only action.</exception>
    public static InboundDisposition For(FlowAction action, SpamVerdict spam, string? bounceMessage = null) =>
        action == FlowAction.RunHook
            ? throw new ArgumentException("A hook's decision cannot be another hook.", nameof(action))
            : For(new RecipientFlowDecision("", null, action, null), spam, bounceMessage);
}
