using MailServer.Rules.FlowRules;
using MailServer.Rules.SenderAuthentication;
using MailServer.Server.MailFlow.Stages;
using MimeKit;

namespace MailServer.Server.MailFlow;

/// <summary>
/// Where a recipient stands after the stages so far. A closed set: <see cref="Continue"/> goes on to delivery, every
/// other state is final for that recipient and later stages leave it alone.
/// </summary>
public abstract record RecipientRoute
{
    private RecipientRoute() { }

    /// <summary>Goes on; delivery stores or queues it.</summary>
    public sealed record Continue : RecipientRoute;

    /// <summary>§9.2/§9.3 Drop: accepted, not delivered, the sender not told.</summary>
    public sealed record Dropped(string Rule) : RecipientRoute;

    /// <summary>
    /// §9.2/§9.3 Bounce: not delivered, the sender told — in the session when every recipient of the message is
    /// refused, else by a DSN (<see cref="BounceNoticeStage"/>).
    /// </summary>
    /// <param name="Rule">The rule (or hook rule) that bounced it.</param>
    /// <param name="Text">The bounce text: a hook's <c>bounceMessage</c> (§10.3) or the rule's default.</param>
    public sealed record Bounced(string Rule, string Text) : RecipientRoute;

    /// <summary>Held durably while a synchronous hook decides (§10.5); accepted.</summary>
    public sealed record Held(string Rule) : RecipientRoute;

    /// <summary>Refused before delivery (DMARC reject, §12; a virus or spam reject, §13); the SMTP reply names it.</summary>
    public sealed record Refused(Refusal Refusal, string Reason) : RecipientRoute;

    /// <summary>Not taken now; the sender retries (the content filter's greylist or soft reject, an engine down under TempFail).</summary>
    public sealed record Deferred(Deferral Deferral, string Reason) : RecipientRoute;

    /// <summary>Shared instance of <see cref="Continue"/>.</summary>
    public static readonly RecipientRoute Going = new Continue();
}

/// <summary>One recipient's state while the stages run.</summary>
public sealed class RecipientState(FlowRecipient recipient)
{
    /// <summary>The envelope recipient.</summary>
    public FlowRecipient Recipient { get; } = recipient;

    /// <summary>Where it stands; see <see cref="RecipientRoute"/>.</summary>
    public RecipientRoute Route { get; set; } = RecipientRoute.Going;

    /// <summary>The flow rule action that won for it (§9.2/§9.3), or a hook's decided action; Default when no rule matched.</summary>
    public FlowAction FlowAction { get; set; } = FlowAction.Default;

    /// <summary>The SMTP gateway a remote recipient goes through (a RouteToSmtpGateway rule); null: the organization's default.</summary>
    public string? Gateway { get; set; }

    /// <summary>The organization folder a local recipient's copies go to (<see cref="FolderPrecedenceStage"/>); null until decided.</summary>
    public string? Folder { get; set; }

    /// <summary>True for a recipient a hook added (§10.3: delivered as BCC).</summary>
    public bool AddedByHook { get; init; }

    /// <summary>The outcome once delivery is done with it; null before.</summary>
    public RecipientOutcome? Outcome { get; set; }

    /// <summary>True while later stages still act on it.</summary>
    public bool IsGoing => Route is RecipientRoute.Continue;
}

/// <summary>
/// The state of one message while it passes the stages (<see cref="MailFlowPipeline"/>): the message (whose content a
/// stage may replace: Authentication-Results, a DKIM signature), each recipient's state, and the verdicts the earlier
/// stages reached. One instance per message; not shared between threads.
/// </summary>
public sealed class MailFlowContext
{
    private HeaderList? _headers;

    /// <summary>Creates the state for <paramref name="message"/>, every recipient going.</summary>
    public MailFlowContext(MailFlowMessage message, IMailFlowDoor door)
    {
        _message = message;
        Door = door;
        Recipients = message.Release is { } release
            ? release.Actions.Select(a => new RecipientState(a.Recipient) { AddedByHook = a.Added }).ToList()
            : message.Recipients.Select(r => new RecipientState(r)).ToList();
    }

    private MailFlowMessage _message;

    /// <summary>The message; setting it (new content) drops the parsed header section.</summary>
    public MailFlowMessage Message
    {
        get => _message;
        set
        {
            if (!_message.Content.Equals(value.Content))
                _headers = null;
            _message = value;
        }
    }

    /// <summary>The door itself, for what a stage sends as a message of its own (a DSN, a forward, a journal record).</summary>
    public IMailFlowDoor Door { get; }

    /// <summary>Every recipient's state, in envelope order (a hook release: its decision's order, added ones included).</summary>
    public IReadOnlyList<RecipientState> Recipients { get; }

    /// <summary>The recipients still going.</summary>
    public IEnumerable<RecipientState> Going => Recipients.Where(r => r.IsGoing);

    /// <summary>Sender authentication's verdict and DMARC dispositions (MX only); null when not computed.</summary>
    public InboundAuthentication? Authentication { get; set; }

    /// <summary>A submission's owner (the user's own mailbox, or the one whose Send As / On Behalf right it used); set by <see cref="Stages.SendingRightsStage"/>.</summary>
    public string? SubmittedAs { get; set; }

    /// <summary>What the mailbox rules decided for each mailbox delivered to (for the forwards after delivery).</summary>
    public List<Delivery.MailboxRulePlan> MailboxRulePlans { get; } = [];

    /// <summary>The content filter's spam verdict.</summary>
    public SpamVerdict Spam { get; set; } = SpamVerdict.NotSpam;

    /// <summary>What the spam and virus engines found (<see cref="ContentFilterStage"/>); null when no engine scanned the message.</summary>
    public ContentFiltering.ContentScanResult? ContentScan { get; set; }

    /// <summary>
    /// True when the content engines scanned the message for <paramref name="organizationId"/> and called it spam (or,
    /// for a held message being released, did so when it was held).
    /// </summary>
    public bool EnginesCalledSpam(string organizationId) =>
        Message.Release?.Spam == true
        || (Spam == SpamVerdict.Spam && ContentScan is { } scan && scan.Organizations.Contains(organizationId));

    /// <summary>The header section of the current content, parsed once (only the header bytes are copied).</summary>
    /// <exception cref="FormatException">The header section cannot be parsed.</exception>
    public HeaderList Headers()
    {
        if (_headers is null)
        {
            var content = _message.Content;
            var end = content.Span.IndexOf("\r\n\r\n"u8);
            using var input = new MemoryStream(content[..(end < 0 ? content.Length : end + 4)].ToArray(), writable: false);
            _headers = HeaderList.Load(input);
        }
        return _headers;
    }

    /// <summary>Ends the flow for every recipient still going with <paramref name="route"/>.</summary>
    public void RouteAll(RecipientRoute route)
    {
        foreach (var r in Going)
            r.Route = route;
    }
}
