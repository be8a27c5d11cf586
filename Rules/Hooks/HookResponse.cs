using System.Text.Json;
using MailServer.Rules.FlowRules;

namespace MailServer.Rules.Hooks;

/// <summary>Where a recipient's action in a hook decision came from.</summary>
public enum HookActionSource
{
    /// <summary>An action naming the recipient in its <c>recipients</c>.</summary>
    Named,

    /// <summary>The <c>allRecipients</c> action.</summary>
    AllRecipients,

    /// <summary>The rule's fallback action: left out of the response, or named only by an action past the tenth.</summary>
    Fallback,
}

/// <summary>The action a synchronous hook decided for one recipient.</summary>
/// <param name="Recipient">The address, lower-cased.</param>
/// <param name="Action">Inbound: Drop, Bounce, MoveToJunk, Default or BypassSpamCheck; outbound: Drop, Bounce or Default.</param>
/// <param name="BounceMessage">The <c>parameters.bounceMessage</c> of a BOUNCE, or null.</param>
/// <param name="Added">True for a recipient the response added (inbound: delivered as BCC, the headers untouched).</param>
/// <param name="Source">Which part of the response decided.</param>
public sealed record HookRecipientAction(string Recipient, FlowAction Action, string? BounceMessage, bool Added, HookActionSource Source);

/// <summary>What a synchronous hook's response means. A closed set.</summary>
public abstract record HookResponse
{
    private HookResponse() { }

    /// <summary>The response is unusable (§10.5: "invalid response"): the call counts as failed and is retried.</summary>
    public sealed record Invalid(string Reason) : HookResponse;

    /// <summary>A decision for every original recipient and every accepted added one.</summary>
    /// <param name="Recipients">Originals first, in envelope order, then added recipients in response order.</param>
    /// <param name="IgnoredRecipients">Added inbound recipients outside the organization (§10.3: only the organization's may be added).</param>
    public sealed record Decided(IReadOnlyList<HookRecipientAction> Recipients, IReadOnlyList<string> IgnoredRecipients) : HookResponse;
}

/// <summary>What the response parser needs to know about the message and the rule.</summary>
/// <param name="Direction">The flow direction (decides the allowed action types and the recipient limit).</param>
/// <param name="Recipients">The recipients the event listed.</param>
/// <param name="FallbackAction">The rule's fallback (never RunHook).</param>
/// <param name="IsOrganizationAddress">True for an address of the organization (inbound added recipients must be).</param>
public sealed record HookResponseContext(
    FlowDirection Direction,
    IReadOnlyList<string> Recipients,
    FlowAction FallbackAction,
    Func<string, bool> IsOrganizationAddress);

/// <summary>Parses a synchronous hook's response (§10.3) under the §10.4 limits.</summary>
public static class HookResponseParser
{
    /// <summary>§10.4: "Lambda function responses up to 256 KB are allowed."</summary>
    public const int MaxResponseBytes = 256 * 1024;

    /// <summary>§10.4: "Up to 10 unique actions are allowed ... Actions greater than 10 are subject to the configured Fallback action."</summary>
    public const int MaxActions = 10;

    /// <summary>§10.4: "Up to 500 recipients are allowed for outbound Lambda functions."</summary>
    public const int MaxOutboundRecipients = 500;

    private static readonly Dictionary<string, FlowAction> InboundTypes = new(StringComparer.Ordinal)
    {
        ["BOUNCE"] = FlowAction.Bounce, ["DROP"] = FlowAction.Drop, ["DEFAULT"] = FlowAction.Default,
        ["BYPASS_SPAM_CHECK"] = FlowAction.BypassSpamCheck, ["MOVE_TO_JUNK"] = FlowAction.MoveToJunk,
    };

    private static readonly Dictionary<string, FlowAction> OutboundTypes = new(StringComparer.Ordinal)
    {
        ["BOUNCE"] = FlowAction.Bounce, ["DROP"] = FlowAction.Drop, ["DEFAULT"] = FlowAction.Default,
    };

    private sealed record ParsedAction(FlowAction Action, string? BounceMessage, IReadOnlyList<string> Recipients, bool All, bool PastLimit);

    /// <summary>
    /// Decides every recipient from the response body (§10.3):
    /// <list type="bullet">
    /// <item>An action naming a recipient applies to it; when several name it, the most restrictive wins.</item>
    /// <item>The first <c>allRecipients</c> action applies to every original recipient no named action covers.</item>
    /// <item>Original recipients covered by neither get the fallback action (§10.1).</item>
    /// <item>Actions past the tenth keep their recipients but take the fallback action (§10.4).</item>
    /// <item>A named recipient not in the event is added: inbound only when it is the organization's (as BCC),
    /// otherwise it is ignored and reported; outbound always, up to 500 recipients in all.</item>
    /// </list>
    /// Invalid (and so retried, then the fallback): larger than 256 KB, not JSON, no <c>actions</c> array, an
    /// action without <c>action.type</c>, a type the direction does not have, an action with neither recipients
    /// nor <c>allRecipients: true</c>, a recipient that is not an address, more than 500 recipients outbound.
    /// </summary>
    public static HookResponse Parse(ReadOnlySpan<byte> body, HookResponseContext context)
    {
        if (body.Length > MaxResponseBytes)
            return new HookResponse.Invalid($"response of {body.Length} bytes is larger than 256 KB");
        List<ParsedAction> actions;
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 16 });
            using var doc = JsonDocument.ParseValue(ref reader);
            if (Read(doc.RootElement, context, out var error) is not { } parsed)
                return new HookResponse.Invalid(error!);
            actions = parsed;
        }
        catch (JsonException e)
        {
            return new HookResponse.Invalid($"response is not JSON: {e.Message}");
        }
        return Decide(actions, context);
    }

    private static List<ParsedAction>? Read(JsonElement root, HookResponseContext context, out string? error)
    {
        string? failure = null;
        List<ParsedAction>? Fail(string why)
        {
            failure = why;
            return null;
        }
        var result = ReadActions(root, context, Fail);
        error = failure;
        return result;
    }

    private static List<ParsedAction>? ReadActions(JsonElement root, HookResponseContext context, Func<string, List<ParsedAction>?> Fail)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("actions", out var array) || array.ValueKind != JsonValueKind.Array)
            return Fail("response has no \"actions\" array");
        var types = context.Direction == FlowDirection.Inbound ? InboundTypes : OutboundTypes;
        var result = new List<ParsedAction>();
        var index = 0;
        foreach (var item in array.EnumerateArray())
        {
            var at = $"actions[{index}]";
            if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("action", out var action) || action.ValueKind != JsonValueKind.Object
                || !action.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
                return Fail($"{at} has no action.type");
            var typeName = typeElement.GetString()!;
            if (!types.TryGetValue(typeName, out var type))
                return Fail($"{at}: '{typeName}' is not an {context.Direction.ToString().ToUpperInvariant()} action type ({string.Join(", ", types.Keys)})");
            string? bounceMessage = null;
            if (action.TryGetProperty("parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object
                && parameters.TryGetProperty("bounceMessage", out var bm))
            {
                if (bm.ValueKind != JsonValueKind.String)
                    return Fail($"{at}: parameters.bounceMessage is not a string");
                if (type == FlowAction.Bounce)
                    bounceMessage = bm.GetString();
            }
            var all = item.TryGetProperty("allRecipients", out var allElement) && allElement.ValueKind == JsonValueKind.True;
            var recipients = new List<string>();
            if (item.TryGetProperty("recipients", out var list) && list.ValueKind != JsonValueKind.Null)
            {
                if (list.ValueKind != JsonValueKind.Array)
                    return Fail($"{at}: recipients is not an array");
                foreach (var r in list.EnumerateArray())
                {
                    var address = r.ValueKind == JsonValueKind.String ? r.GetString()!.Trim().ToLowerInvariant() : null;
                    if (address is null || !LooksLikeAddress(address))
                        return Fail($"{at}: {r.GetRawText()} is not an email address");
                    recipients.Add(address);
                }
            }
            if (!all && recipients.Count == 0)
                return Fail($"{at} names no recipients and is not allRecipients");
            result.Add(new ParsedAction(type, bounceMessage, recipients, all, PastLimit: index >= MaxActions));
            index++;
        }
        return result;
    }

    private static HookResponse Decide(List<ParsedAction> actions, HookResponseContext context)
    {
        var originals = context.Recipients.Select(r => r.Trim().ToLowerInvariant()).ToList();
        var originalSet = originals.ToHashSet(StringComparer.Ordinal);
        var named = new Dictionary<string, HookRecipientAction>(StringComparer.Ordinal);
        var addedOrder = new List<string>();
        var ignored = new List<string>();

        foreach (var a in actions)
        {
            var action = a.PastLimit ? context.FallbackAction : a.Action;
            var source = a.PastLimit ? HookActionSource.Fallback : HookActionSource.Named;
            foreach (var r in a.Recipients)
            {
                var added = !originalSet.Contains(r);
                if (added && context.Direction == FlowDirection.Inbound && !context.IsOrganizationAddress(r))
                {
                    if (!ignored.Contains(r))
                        ignored.Add(r);
                    continue;
                }
                var candidate = new HookRecipientAction(r, action, action == FlowAction.Bounce ? a.BounceMessage : null, added, source);
                if (named.TryGetValue(r, out var existing))
                {
                    if (FlowActions.Rank(context.Direction, action) < FlowActions.Rank(context.Direction, existing.Action))
                        named[r] = candidate;
                    continue;
                }
                named[r] = candidate;
                if (added)
                    addedOrder.Add(r);
            }
        }

        if (context.Direction == FlowDirection.Outbound && originalSet.Count + addedOrder.Count > MaxOutboundRecipients)
            return new HookResponse.Invalid($"response names {originalSet.Count + addedOrder.Count} recipients; at most {MaxOutboundRecipients} are allowed outbound");

        var allAction = actions.FirstOrDefault(a => a.All);
        var decided = new List<HookRecipientAction>(originals.Count + addedOrder.Count);
        foreach (var r in originals.Distinct(StringComparer.Ordinal))
        {
            if (named.TryGetValue(r, out var n))
                decided.Add(n);
            else if (allAction is not null)
            {
                var action = allAction.PastLimit ? context.FallbackAction : allAction.Action;
                decided.Add(new HookRecipientAction(r, action, action == FlowAction.Bounce ? allAction.BounceMessage : null, false,
                    allAction.PastLimit ? HookActionSource.Fallback : HookActionSource.AllRecipients));
            }
            else
                decided.Add(new HookRecipientAction(r, context.FallbackAction, null, false, HookActionSource.Fallback));
        }
        decided.AddRange(addedOrder.Select(r => named[r]));
        return new HookResponse.Decided(decided, ignored);
    }

    /// <summary>The decision when the hook could not be used for the whole rule timeout: the fallback for every recipient (§10.5).</summary>
    public static HookResponse.Decided Fallback(HookResponseContext context) =>
        new(context.Recipients.Select(r => r.Trim().ToLowerInvariant()).Distinct(StringComparer.Ordinal)
            .Select(r => new HookRecipientAction(r, context.FallbackAction, null, false, HookActionSource.Fallback)).ToList(), []);

    private static bool LooksLikeAddress(string a)
    {
        var at = a.LastIndexOf('@');
        return at > 0 && at < a.Length - 1 && a.Length <= 320 && !a.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '<' or '>' or ',' or ';');
    }
}
