using System.Globalization;
using System.Text.Json;

namespace MailServer.Rules.ContentFiltering;

/// <summary>
/// rspamd's actions (its <c>actions</c> config section decides the thresholds; we only map the names). The order is
/// rspamd's, from the mildest to the strongest.
/// </summary>
public enum SpamAction
{
    /// <summary><c>no action</c>: not spam.</summary>
    NoAction,

    /// <summary><c>greylist</c>: suspicious; the sender should retry later.</summary>
    Greylist,

    /// <summary><c>add header</c>: spam, delivered marked.</summary>
    AddHeader,

    /// <summary><c>rewrite subject</c>: spam, delivered marked (we file it in Junk instead of touching the subject).</summary>
    RewriteSubject,

    /// <summary><c>soft reject</c>: refused for now (rate limits, greylisting, a temporary failure inside rspamd).</summary>
    SoftReject,

    /// <summary><c>reject</c>: refused for good.</summary>
    Reject,
}

/// <summary>What rspamd's <c>/checkv2</c> answered for one message.</summary>
/// <param name="Action">The action it chose.</param>
/// <param name="Score">The message's score.</param>
/// <param name="RequiredScore">The score of its <c>reject</c> action.</param>
/// <param name="Symbols">The symbols that matched, highest score first (name and score).</param>
public sealed record SpamScan(SpamAction Action, double Score, double RequiredScore, IReadOnlyList<(string Name, double Score)> Symbols)
{
    /// <summary>The action as rspamd spells it.</summary>
    public string ActionName => ContentVerdicts.ActionName(Action);

    /// <summary>The symbol names, in <see cref="Symbols"/> order.</summary>
    public IReadOnlyList<string> SymbolNames => Symbols.Select(s => s.Name).ToList();
}

/// <summary>What the virus scanner found in one message. A closed set.</summary>
public abstract record VirusScan
{
    private VirusScan() { }

    /// <summary>Nothing found.</summary>
    public sealed record Clean : VirusScan;

    /// <summary>A signature matched; <see cref="Signature"/> goes to the log, never to the sender.</summary>
    public sealed record Infected(string Signature) : VirusScan;

    /// <summary>Shared instance of <see cref="Clean"/>.</summary>
    public static readonly VirusScan NothingFound = new Clean();
}

/// <summary>What the server does when an engine cannot answer within the timeout (config ContentFiltering.FailMode).</summary>
public enum EngineFailMode
{
    /// <summary>Accept the message unscanned (logged, counted): mail keeps flowing while an engine is down.</summary>
    Open,

    /// <summary>Answer <c>451 4.7.1</c>: the sender retries later, nothing unscanned gets in.</summary>
    TempFail,
}

/// <summary>Which way a scanned message goes.</summary>
public enum ScanDirection
{
    /// <summary>MX mail for local recipients.</summary>
    Inbound,

    /// <summary>Mail a user submitted (authenticated).</summary>
    Outbound,
}

/// <summary>What the content filter decides for a message. A closed set; the mail flow acts on it.</summary>
public abstract record ContentDecision
{
    private ContentDecision() { }

    /// <summary>Goes on; <see cref="Spam"/> files it in Junk E-mail under the Default action (§13).</summary>
    /// <param name="Spam">True when rspamd's action says spam (add header, rewrite subject).</param>
    /// <param name="Unscanned">True when an engine failed and <see cref="EngineFailMode.Open"/> let the message through.</param>
    public sealed record Deliver(bool Spam, bool Unscanned = false) : ContentDecision;

    /// <summary>A virus: refused (<c>554 5.7.1</c>) before any rule applies (§13); nothing of the signature reaches the sender.</summary>
    public sealed record RefuseVirus(string Signature) : ContentDecision;

    /// <summary>rspamd says reject: refused in the session (<c>550 5.7.1</c>).</summary>
    public sealed record RefuseSpam : ContentDecision;

    /// <summary>rspamd says soft reject or greylist, or an engine is down under TempFail: <c>451 4.7.1</c>, the sender retries.</summary>
    /// <param name="EngineDown">True when the reason is an engine failure rather than rspamd's verdict.</param>
    public sealed record Defer(bool EngineDown) : ContentDecision;
}

/// <summary>
/// The content filter's decisions as pure functions: rspamd's answer parsed, and the answers of both engines turned into
/// one <see cref="ContentDecision"/>.
/// </summary>
public static class ContentVerdicts
{
    /// <summary>
    /// The decision for one message. A virus wins over everything (§13: blocked before rules); then an engine failure
    /// (<paramref name="failMode"/>); then rspamd's action. Inbound: reject → refuse, soft reject and greylist → defer,
    /// add header and rewrite subject → spam, no action → not spam. Outbound (an authenticated user's mail): reject →
    /// refuse, everything milder is sent (greylisting one's own users makes no sense); the caller counts the spam ones
    /// for the compromised-account throttle.
    /// </summary>
    /// <param name="spam">rspamd's answer; null when rspamd is not configured or failed.</param>
    /// <param name="virus">clamd's answer; null when clamd is not configured or failed.</param>
    /// <param name="engineFailed">True when a configured engine gave no answer (down, timed out, garbage).</param>
    /// <param name="failMode">What an engine failure means.</param>
    /// <param name="direction">Inbound or outbound.</param>
    public static ContentDecision Decide(SpamScan? spam, VirusScan? virus, bool engineFailed, EngineFailMode failMode, ScanDirection direction)
    {
        if (virus is VirusScan.Infected infected)
            return new ContentDecision.RefuseVirus(infected.Signature);
        if (engineFailed && failMode == EngineFailMode.TempFail)
            return new ContentDecision.Defer(EngineDown: true);
        var action = spam?.Action ?? SpamAction.NoAction;
        return action switch
        {
            SpamAction.Reject => new ContentDecision.RefuseSpam(),
            SpamAction.SoftReject or SpamAction.Greylist when direction == ScanDirection.Inbound => new ContentDecision.Defer(EngineDown: false),
            SpamAction.AddHeader or SpamAction.RewriteSubject => new ContentDecision.Deliver(Spam: true, engineFailed),
            _ => new ContentDecision.Deliver(Spam: false, engineFailed),
        };
    }

    /// <summary>True when an outbound message counts towards the compromised-account throttle (spam by rspamd's action).</summary>
    public static bool IsSpammy(SpamScan? spam) => spam?.Action is SpamAction.AddHeader or SpamAction.RewriteSubject or SpamAction.SoftReject or SpamAction.Reject;

    /// <summary>rspamd's name for <paramref name="action"/>.</summary>
    public static string ActionName(SpamAction action) => action switch
    {
        SpamAction.NoAction => "no action",
        SpamAction.Greylist => "greylist",
        SpamAction.AddHeader => "add header",
        SpamAction.RewriteSubject => "rewrite subject",
        SpamAction.SoftReject => "soft reject",
        SpamAction.Reject => "reject",
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, "Unknown action."),
    };

    /// <summary>The action named <paramref name="name"/> (rspamd's spelling), or null for a name we do not know.</summary>
    public static SpamAction? ParseAction(string? name) => name switch
    {
        "no action" => SpamAction.NoAction,
        "greylist" => SpamAction.Greylist,
        "add header" or "add_header" => SpamAction.AddHeader,
        "rewrite subject" or "rewrite_subject" => SpamAction.RewriteSubject,
        "soft reject" or "soft_reject" => SpamAction.SoftReject,
        "reject" => SpamAction.Reject,
        _ => null,
    };

    /// <summary>Parses the JSON body of rspamd's <c>/checkv2</c> reply (rspamd protocol v2).</summary>
    /// <exception cref="FormatException">The body is not such a reply (no known action, no score).</exception>
    public static SpamScan ParseCheckReply(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new FormatException("rspamd replied with something other than an object.");
            var actionName = root.TryGetProperty("action", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
            var action = ParseAction(actionName) ?? throw new FormatException($"rspamd replied with an unknown action '{actionName}'.");
            if (!root.TryGetProperty("score", out var s) || s.ValueKind != JsonValueKind.Number)
                throw new FormatException("rspamd's reply has no score.");
            var required = root.TryGetProperty("required_score", out var r) && r.ValueKind == JsonValueKind.Number ? r.GetDouble() : 0;
            var symbols = new List<(string, double)>();
            if (root.TryGetProperty("symbols", out var sy) && sy.ValueKind == JsonValueKind.Object)
                foreach (var p in sy.EnumerateObject())
                    symbols.Add((p.Name, p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty("score", out var ps) && ps.ValueKind == JsonValueKind.Number
                        ? ps.GetDouble() : 0));
            symbols.Sort((x, y) => y.Item2.CompareTo(x.Item2) is var c && c != 0 ? c : string.CompareOrdinal(x.Item1, y.Item1));
            return new SpamScan(action, s.GetDouble(), required, symbols);
        }
        catch (JsonException e)
        {
            throw new FormatException("rspamd's reply is not JSON.", e);
        }
    }

    /// <summary>
    /// Parses clamd's reply to <c>INSTREAM</c> (<c>stream: OK</c>, <c>stream: NAME FOUND</c>, or <c>... ERROR</c>).
    /// </summary>
    /// <exception cref="FormatException">An ERROR reply or one we do not understand (the scan did not happen).</exception>
    public static VirusScan ParseClamdReply(string reply)
    {
        var line = reply.TrimEnd('\0', '\n', '\r', ' ');
        var colon = line.IndexOf(": ", StringComparison.Ordinal);
        var result = colon < 0 ? line : line[(colon + 2)..];
        if (result == "OK")
            return VirusScan.NothingFound;
        if (result.EndsWith(" FOUND", StringComparison.Ordinal) && result.Length > " FOUND".Length)
            return new VirusScan.Infected(result[..^" FOUND".Length]);
        throw new FormatException($"clamd answered '{line}'.");
    }

    /// <summary>
    /// The header fields that carry the verdict into the stored message (after every incoming <c>X-Spam-*</c> field was
    /// removed): <c>X-Spam-Flag</c>, <c>X-Spam-Score</c>, <c>X-Spam-Action</c>, <c>X-Spam-Symbols</c> (folded) and
    /// <c>X-Virus-Scanned</c>, each ending in CRLF. Empty when nothing was scanned.
    /// </summary>
    /// <param name="serverName">Our host name (names the scanner, as Authentication-Results names its authserv-id).</param>
    /// <param name="spam">rspamd's answer, or null.</param>
    /// <param name="virusScanned">True when clamd scanned the message and found nothing.</param>
    /// <param name="spamVerdict">True when the message is filed as spam.</param>
    public static string HeaderFields(string serverName, SpamScan? spam, bool virusScanned, bool spamVerdict)
    {
        var text = new System.Text.StringBuilder();
        if (spam is not null)
        {
            text.Append("X-Spam-Flag: ").Append(spamVerdict ? "YES" : "NO").Append("\r\n");
            text.Append("X-Spam-Score: ").Append(spam.Score.ToString("0.00", CultureInfo.InvariantCulture))
                .Append(" / ").Append(spam.RequiredScore.ToString("0.00", CultureInfo.InvariantCulture)).Append("\r\n");
            text.Append("X-Spam-Action: ").Append(spam.ActionName).Append(" (").Append(serverName).Append(")\r\n");
            if (spam.Symbols.Count > 0)
            {
                // RFC 5322 §2.1.1: lines of at most 78 characters, folded before a symbol.
                var line = "X-Spam-Symbols:".Length;
                text.Append("X-Spam-Symbols:");
                for (var i = 0; i < spam.Symbols.Count; i++)
                {
                    var (name, score) = spam.Symbols[i];
                    var item = $" {SafeToken(name)}({score.ToString("0.00", CultureInfo.InvariantCulture)}){(i < spam.Symbols.Count - 1 ? "," : "")}";
                    if (line + item.Length > 78)
                    {
                        text.Append("\r\n\t");
                        line = 1;
                        item = item[1..];
                    }
                    text.Append(item);
                    line += item.Length;
                }
                text.Append("\r\n");
            }
        }
        if (virusScanned)
            text.Append("X-Virus-Scanned: ClamAV (").Append(serverName).Append(")\r\n");
        return text.ToString();
    }

    /// <summary>True for a header field name we remove from incoming mail: it claims a verdict only we may give.</summary>
    public static bool IsVerdictField(ReadOnlySpan<byte> name) =>
        StartsWithIgnoreCase(name, "X-Spam"u8) || StartsWithIgnoreCase(name, "X-Virus-Scanned"u8) || StartsWithIgnoreCase(name, "X-Rspamd-"u8);

    private static bool StartsWithIgnoreCase(ReadOnlySpan<byte> value, ReadOnlySpan<byte> prefix) =>
        value.Length >= prefix.Length && System.Text.Ascii.EqualsIgnoreCase(value[..prefix.Length], prefix);

    private static string SafeToken(string name) => new(name.Where(c => c > ' ' && c < 127 && c != ',').Take(64).ToArray());
}
