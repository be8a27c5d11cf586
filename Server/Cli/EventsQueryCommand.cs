using System.Text.RegularExpressions;
using MailServer.Server.Configuration;
using MailServer.Server.Events;

namespace MailServer.Server.Cli;

/// <summary>
/// <c>mailserver events query [--event NAME] [--since ISO|7d] [--until ISO|1d] [--subject REGEX] [--trace ID] [--org ALIAS]</c>:
/// prints the matching lines of the email event log (§18), oldest first. Reads the files, so it works whether
/// the server runs or not.
/// </summary>
internal sealed class EventsQueryCommand : ICliCommand
{
    public IReadOnlyList<string> Name { get; } = ["events", "query"];
    public string ArgumentSyntax => "";
    public int ArgumentCount => 0;
    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("--event", "NAME", "only this event, e.g. ORGANIZATION_EMAIL_RECEIVED, MAILBOX_EMAIL_DELIVERED"),
        new("--since", "WHEN", "from this time: an ISO 8601 date or instant (UTC), or 7d, 12h, 30m ago (default 1d)"),
        new("--until", "WHEN", "before this time, same forms"),
        new("--subject", "REGEX", "only the events of messages whose subject matches (.NET regular expression)"),
        new("--trace", "ID", "only the events of one message (its traceId)"),
        new("--org", "ALIAS", "only this organization (alias or id)"),
    ];
    public string Summary => "print email events (received, delivered, bounced, ...) from the event log";
    public string Details =>
        "Prints the JSON lines of the email event log under <DataDirectory>/events/, oldest first. Reads the files,\n" +
        "so it works whether the server runs or not.";

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
            return await Invalid(console, $"{arguments.ConfigPath} is invalid; run 'mailserver config check'").ConfigureAwait(false);
        var now = DateTimeOffset.UtcNow;
        var since = EmailEventQuery.ParseTime(arguments.Value("--since") ?? "1d", now);
        if (since is null)
            return await Invalid(console, $"--since '{arguments.Value("--since")}' is neither an ISO 8601 time nor a duration like 7d").ConfigureAwait(false);
        DateTimeOffset? until = null;
        if (arguments.Value("--until") is { } untilText && (until = EmailEventQuery.ParseTime(untilText, now)) is null)
            return await Invalid(console, $"--until '{untilText}' is neither an ISO 8601 time nor a duration like 1d").ConfigureAwait(false);
        Regex? subject = null;
        if (arguments.Value("--subject") is { } pattern)
        {
            try
            {
                subject = new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                return await Invalid(console, $"--subject is not a valid regular expression: {e.Message}").ConfigureAwait(false);
            }
        }
        Guid? trace = null;
        if (arguments.Value("--trace") is { } traceText)
        {
            if (!Guid.TryParse(traceText, out var t))
                return await Invalid(console, $"--trace '{traceText}' is not a trace id").ConfigureAwait(false);
            trace = t;
        }
        var eventName = arguments.Value("--event");
        if (eventName is not null && !EmailEvent.Names.Contains(eventName, StringComparer.OrdinalIgnoreCase))
            return await Invalid(console, $"--event '{eventName}' is not an event name; the names are: {string.Join(", ", EmailEvent.Names)}").ConfigureAwait(false);
        string? orgId = null;
        if (arguments.Value("--org") is { } org)
        {
            orgId = config.Organizations.FirstOrDefault(o => o.Alias == org || o.Id == org)?.Id;
            if (orgId is null)
                return await Invalid(console, $"no organization has the alias or id '{org}'").ConfigureAwait(false);
        }

        try
        {
            var lines = EmailEventQuery.Run(EmailEventLog.FolderOf(config), orgId,
                new EmailEventFilter(eventName, since.Value, until, subject, trace), EventLogCipher.KeysFrom(config));
            foreach (var line in lines)
                await console.Out.WriteLineAsync(line).ConfigureAwait(false);
            return ExitCodes.Ok;
        }
        catch (RegexMatchTimeoutException)
        {
            return await Invalid(console, "--subject took too long to match; simplify the pattern").ConfigureAwait(false);
        }
        catch (IOException e)
        {
            await console.Error.WriteLineAsync($"mailserver: could not read the event log: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }

    private static async Task<int> Invalid(CliConsole console, string message)
    {
        await console.Error.WriteLineAsync($"mailserver: {message}").ConfigureAwait(false);
        return ExitCodes.InvalidInput;
    }
}
