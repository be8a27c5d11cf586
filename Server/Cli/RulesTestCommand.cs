using System.Text.Json;
using MailServer.Rules.FlowRules;
using MailServer.Server.Configuration;
using MimeKit;
using MailServer.Rules.Addressing;

namespace MailServer.Server.Cli;

/// <summary>
/// <c>mailserver rules test</c>: the console's "Test configuration" (§9.6). Evaluates the configured flow rules for
/// given header addresses and recipients exactly as delivery does (same compiled set, same
/// <see cref="FlowRuleSet.Evaluate"/>) and prints, per recipient, the winning rule, its action and why. Reads
/// the configuration only: no server is needed and nothing is sent.
/// </summary>
internal sealed class RulesTestCommand : ICliCommand
{
    public IReadOnlyList<string> Name { get; } = ["rules", "test"];
    public string ArgumentSyntax => "";
    public int ArgumentCount => 0;
    public string Summary => "show which flow rule wins for a sender and recipients, and why";
    public string Details =>
        "At least one of --sender, --from, --message. Inbound, each recipient is decided by the rules of the\n" +
        "organization owning its domain; outbound, by the organization of the From (or Sender) address.\n" +
        "Asynchronous hook rules never decide delivery; those that would fire are listed.";

    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("--direction", "inbound|outbound", "which rules: inbound or outbound"),
        new("--sender", "ADDR", "the Sender header address (matched first inbound, §9.5)"),
        new("--from", "ADDR", "the From header address"),
        new("--recipient", "ADDR", "an envelope recipient; repeat for several", Repeatable: true),
        new("--message", "FILE.eml", "take Sender and From from this message's headers (options given win)"),
        new("--json", null, "print JSON instead of text"),
    ];

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        var direction = arguments.Value("--direction")?.ToLowerInvariant() switch
        {
            "inbound" => FlowDirection.Inbound,
            "outbound" => FlowDirection.Outbound,
            _ => (FlowDirection?)null,
        };
        var recipients = arguments.Values("--recipient").Select(r => r.Trim().ToLowerInvariant()).ToList();
        var sender = arguments.Value("--sender")?.Trim().ToLowerInvariant();
        var from = arguments.Value("--from")?.Trim().ToLowerInvariant();
        var json = arguments.Flag("--json");
        if (direction is null)
            return await Usage(console, "--direction inbound|outbound is required").ConfigureAwait(false);
        if (recipients.Count == 0)
            return await Usage(console, "at least one --recipient is required").ConfigureAwait(false);

        if (arguments.Value("--message") is { } file)
        {
            try
            {
                await using var stream = File.OpenRead(file);
                var headers = await HeaderList.LoadAsync(stream, console.CancellationToken).ConfigureAwait(false);
                sender ??= FlowHeaders.SenderAddress(headers);
                from ??= FlowHeaders.FromAddress(headers);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                await console.Error.WriteLineAsync($"mailserver: cannot read {file}: {e.Message}").ConfigureAwait(false);
                return ExitCodes.InvalidInput;
            }
        }
        if (sender is null && from is null)
            return await Usage(console, "give --sender, --from or a --message with a Sender or From header").ConfigureAwait(false);

        if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
        {
            if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is ConfigLoadResult.Invalid { Errors: var errors })
                await ConfigCheckCommand.WriteErrorsAsync(console, arguments.ConfigPath, errors).ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }

        var results = FlowRuleTester.Test(config, direction.Value, sender, from, recipients);
        if (json)
            await console.Out.WriteLineAsync(FlowRuleTester.ToJson(direction.Value, results)).ConfigureAwait(false);
        else
            foreach (var line in FlowRuleTester.ToText(results))
                await console.Out.WriteLineAsync(line).ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    private static async Task<int> Usage(CliConsole console, string message)
    {
        await console.Error.WriteLineAsync($"mailserver: rules test: {message}").ConfigureAwait(false);
        await console.Error.WriteLineAsync("Run 'mailserver rules test --help' for usage.").ConfigureAwait(false);
        return ExitCodes.InvalidInput;
    }
}

/// <summary>One organization's evaluation for the recipients it owns (inbound) or for the sender's organization (outbound).</summary>
/// <param name="Organization">The organization alias, or null for recipients no rules apply to.</param>
/// <param name="Evaluation">The decisions, or null when no organization's rules apply.</param>
/// <param name="Unmatched">Recipients no organization's rules apply to.</param>
/// <param name="Reason">Why the rules do not apply to <paramref name="Unmatched"/>, or null.</param>
internal sealed record FlowTestResult(string? Organization, FlowEvaluation? Evaluation, IReadOnlyList<string> Unmatched, string? Reason);

/// <summary>The rule tester's evaluation and output, shared by the CLI and its tests.</summary>
internal static class FlowRuleTester
{
    public static IReadOnlyList<FlowTestResult> Test(ServerConfig config, FlowDirection direction, string? sender, string? from, IReadOnlyList<string> recipients)
    {
        var sets = config.ToFlowRuleSets();
        OrganizationConfig? OrgOf(string? address) => AddressSyntax.DomainOrNull(address) is not { } domain
            ? null
            : config.Organizations.FirstOrDefault(o => o.Domains.Any(d => string.Equals(d.Name, domain, StringComparison.OrdinalIgnoreCase)));
        var results = new List<FlowTestResult>();
        if (direction == FlowDirection.Inbound)
        {
            foreach (var group in recipients.GroupBy(r => OrgOf(r)?.Id))
            {
                if (group.Key is null)
                {
                    results.Add(new FlowTestResult(null, null, group.ToList(), "not a domain of any organization: inbound rules do not apply"));
                    continue;
                }
                var org = config.Organizations.First(o => o.Id == group.Key);
                results.Add(new FlowTestResult(org.Alias, sets[org.Id].Evaluate(direction, new FlowMessage(null, sender, from, group.ToList())), [], null));
            }
        }
        else
        {
            var org = OrgOf(from) ?? OrgOf(sender);
            results.Add(org is null
                ? new FlowTestResult(null, null, recipients, "the From and Sender addresses belong to no organization: outbound rules do not apply")
                : new FlowTestResult(org.Alias, sets[org.Id].Evaluate(direction, new FlowMessage(null, sender, from, recipients)), [], null));
        }
        return results;
    }

    public static IEnumerable<string> ToText(IReadOnlyList<FlowTestResult> results)
    {
        foreach (var r in results)
        {
            foreach (var u in r.Unmatched)
                yield return $"{u}: {r.Reason}";
            if (r.Evaluation is null)
                continue;
            foreach (var d in r.Evaluation.Recipients)
            {
                yield return d.Rule is null
                    ? $"{d.Recipient}: no rule → {d.Action} (organization {r.Organization})"
                    : $"{d.Recipient}: rule '{d.Rule.Name}' → {d.Action}{Detail(d.Rule)} (organization {r.Organization})";
                yield return $"  why: {d.Why}";
            }
            foreach (var h in r.Evaluation.AsyncHooks)
                yield return $"async hook '{h.Rule.Name}' ({h.Rule.Hook!.Url}) fires for {string.Join(", ", h.Recipients)}";
        }
    }

    private static string Detail(FlowRule rule) => rule.Action switch
    {
        FlowAction.RouteToSmtpGateway => $" via gateway '{rule.Definition.SmtpGateway}'",
        FlowAction.RunHook => $" (synchronous hook {rule.Hook!.Url}, fallback {rule.Hook.FallbackAction})",
        _ => "",
    };

    public static string ToJson(FlowDirection direction, IReadOnlyList<FlowTestResult> results)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("direction", direction == FlowDirection.Inbound ? "inbound" : "outbound");
            w.WriteStartArray("recipients");
            foreach (var r in results)
            {
                foreach (var u in r.Unmatched)
                {
                    w.WriteStartObject();
                    w.WriteString("recipient", u);
                    w.WriteNull("organization");
                    w.WriteNull("rule");
                    w.WriteNull("action");
                    w.WriteString("why", r.Reason);
                    w.WriteEndObject();
                }
                foreach (var d in r.Evaluation?.Recipients ?? [])
                {
                    w.WriteStartObject();
                    w.WriteString("recipient", d.Recipient);
                    w.WriteString("organization", r.Organization);
                    if (d.Rule is null)
                        w.WriteNull("rule");
                    else
                        w.WriteString("rule", d.Rule.Name);
                    w.WriteString("action", d.Action.ToString());
                    if (d.Rule?.Definition.SmtpGateway is { } g)
                        w.WriteString("smtpGateway", g);
                    w.WriteString("why", d.Why);
                    if (d.Match is { } m)
                    {
                        w.WriteString("matchedHeader", m.Header);
                        w.WriteString("senderPattern", m.SenderPattern.Text);
                        w.WriteString("senderSpecificity", m.SenderPattern.Specificity.ToString());
                        w.WriteString("recipientPattern", m.RecipientPattern.Text);
                        w.WriteString("recipientSpecificity", m.RecipientPattern.Specificity.ToString());
                        w.WriteString("decidedBy", m.DecidedBy.ToString());
                        if (m.RunnerUp is not null)
                            w.WriteString("runnerUp", m.RunnerUp.Name);
                    }
                    w.WriteEndObject();
                }
            }
            w.WriteEndArray();
            w.WriteStartArray("asyncHooks");
            foreach (var h in results.SelectMany(r => r.Evaluation?.AsyncHooks ?? []))
            {
                w.WriteStartObject();
                w.WriteString("rule", h.Rule.Name);
                w.WriteString("url", h.Rule.Hook!.Url.ToString());
                w.WriteStartArray("recipients");
                foreach (var x in h.Recipients)
                    w.WriteStringValue(x);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
