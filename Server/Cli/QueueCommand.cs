using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using MailServer.Server.Configuration;
using MailServer.Server.Delivery;
using MailServer.Server.Hosting;
using MailServer.Storage;

namespace MailServer.Server.Cli;

/// <summary>
/// The `mailserver queue` verbs: through the admin listener while the server runs (it holds the database),
/// straight on the store when it is stopped.
/// </summary>
internal static class QueueCommand
{
    public static readonly ICliCommand List = new QueueList();
    public static readonly ICliCommand Retry = new QueueRetry();
    public static readonly ICliCommand Delete = new QueueDelete();
    public static readonly ICliCommand Held = new QueueHeld();

    /// <summary>Runs <paramref name="online"/> against the running server, or <paramref name="offline"/> on the store.</summary>
    private static async Task<int> RunAsync(CliArguments arguments, CliConsole console,
        Func<AdminClient, Task<int>> online, Func<OfflineStore, Task<int>> offline)
    {
        if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
        {
            await console.Error.WriteLineAsync($"mailserver: {arguments.ConfigPath} is invalid; run 'mailserver config check'.").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        try
        {
            using (var admin = await AdminClient.TryCreateAsync(config, console.CancellationToken).ConfigureAwait(false))
                if (admin is not null)
                    return await online(admin).ConfigureAwait(false);
            await using var store = OfflineStore.Open(config);
            return await offline(store).ConfigureAwait(false);
        }
        catch (StoreLockedException e)
        {
            await console.Error.WriteLineAsync($"mailserver: {e.Message}, and its admin listener does not answer.").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (StoreUnavailableException e)
        {
            await console.Error.WriteLineAsync($"mailserver: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (HttpRequestException e)
        {
            await console.Error.WriteLineAsync($"mailserver: the server stopped answering: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }

    private sealed class QueueList : ICliCommand
    {
        public IReadOnlyList<string> Name { get; } = ["queue", "list"];
        public string ArgumentSyntax => "";
        public int ArgumentCount => 0;
        public string Summary => "list the outbound queue: id, sender, recipients, attempts, next try, last error";
        public string Details => "One block per queued message; each recipient with its state, attempts, next try and last error.";

        public Task<int> RunAsync(CliArguments arguments, CliConsole console) => QueueCommand.RunAsync(arguments, console,
            async admin =>
            {
                using var response = await admin.SendAsync(HttpMethod.Get, "admin/queue", null, console.CancellationToken).ConfigureAwait(false);
                response.EnsureSuccessStatusCode();
                var entries = await response.Content.ReadFromJsonAsync<List<QueueEntryView>>(console.CancellationToken).ConfigureAwait(false) ?? [];
                await PrintAsync(entries, console).ConfigureAwait(false);
                return ExitCodes.Ok;
            },
            async store =>
            {
                await PrintAsync(QueueAdministration.List(store.Queue), console).ConfigureAwait(false);
                return ExitCodes.Ok;
            });

        private static async Task PrintAsync(IReadOnlyList<QueueEntryView> entries, CliConsole console)
        {
            if (entries.Count == 0)
            {
                await console.Out.WriteLineAsync("the queue is empty").ConfigureAwait(false);
                return;
            }
            foreach (var entry in entries)
            {
                await console.Out.WriteLineAsync(FormattableString.Invariant(
                    $"{entry.Id}  {entry.Size} bytes  queued {entry.Queued:u}  from <{entry.Sender}>")).ConfigureAwait(false);
                foreach (var r in entry.Recipients)
                {
                    var next = r.NextAttempt is { } n ? n.ToString("u", CultureInfo.InvariantCulture) : "-";
                    var via = r.Gateway is { } g ? "  via " + g : "";
                    var error = r.LastError is { } e ? "  last error: " + e : "";
                    await console.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"    <{r.Address}>  {r.State}  attempts {r.Attempts}  next {next}{via}{error}")).ConfigureAwait(false);
                }
            }
            await console.Out.WriteLineAsync($"{entries.Count} message(s) queued").ConfigureAwait(false);
        }
    }

    private sealed class QueueRetry : ICliCommand
    {
        public IReadOnlyList<string> Name { get; } = ["queue", "retry"];
        public string ArgumentSyntax => "ID|--all";
        public int ArgumentCount => 1;
        public int MinArgumentCount => 0;
        public IReadOnlyList<CliOption> Options { get; } = [new("--all", null, "retry every queued message")];
        public string Summary => "try a queued message (or all with --all) again now";
        public string Details => "Makes the pending recipients due now; the running server tries them at once.";

        public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
        {
            var all = arguments.Flag("--all");
            if (all == (arguments.Arguments.Count == 1))
            {
                await console.Error.WriteLineAsync("mailserver: give a queue id or --all").ConfigureAwait(false);
                return ExitCodes.InvalidInput;
            }
            var id = all ? null : arguments.Arguments[0];
            return await QueueCommand.RunAsync(arguments, console,
                async admin =>
                {
                    using var response = await admin.SendAsync(HttpMethod.Post, id is null ? "admin/queue/retry" : $"admin/queue/{Uri.EscapeDataString(id)}/retry",
                        null, console.CancellationToken).ConfigureAwait(false);
                    return await ReportAsync(response.StatusCode == HttpStatusCode.NotFound ? 0
                        : (await response.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<RetryReply>(console.CancellationToken).ConfigureAwait(false))!.Retried).ConfigureAwait(false);
                },
                async store => await ReportAsync(await QueueAdministration.RetryAsync(store.Queue, id, DateTimeOffset.UtcNow, console.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false)).ConfigureAwait(false);

            async Task<int> ReportAsync(int retried)
            {
                if (retried == 0 && id is not null)
                {
                    await console.Error.WriteLineAsync($"mailserver: no queued message {id}").ConfigureAwait(false);
                    return ExitCodes.InvalidInput;
                }
                await console.Out.WriteLineAsync($"{retried} message(s) will be tried now").ConfigureAwait(false);
                return ExitCodes.Ok;
            }
        }

        private sealed record RetryReply(int Retried);
    }

    private sealed class QueueDelete : ICliCommand
    {
        public IReadOnlyList<string> Name { get; } = ["queue", "delete"];
        public string ArgumentSyntax => "ID";
        public int ArgumentCount => 1;
        public string Summary => "remove a message from the outbound queue without delivering it";
        public string Details => "The message is deleted for good; its sender is not notified.";

        public Task<int> RunAsync(CliArguments arguments, CliConsole console)
        {
            var id = arguments.Arguments[0];
            return QueueCommand.RunAsync(arguments, console,
                async admin =>
                {
                    using var response = await admin.SendAsync(HttpMethod.Delete, $"admin/queue/{Uri.EscapeDataString(id)}", null, console.CancellationToken).ConfigureAwait(false);
                    if (response.StatusCode != HttpStatusCode.NotFound)
                        response.EnsureSuccessStatusCode();
                    return await ReportAsync(response.StatusCode != HttpStatusCode.NotFound).ConfigureAwait(false);
                },
                async store => await ReportAsync(await QueueAdministration.DeleteAsync(store.Queue, id, console.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false));

            async Task<int> ReportAsync(bool deleted)
            {
                if (!deleted)
                {
                    await console.Error.WriteLineAsync($"mailserver: no queued message {id}").ConfigureAwait(false);
                    return ExitCodes.InvalidInput;
                }
                await console.Out.WriteLineAsync($"deleted {id}").ConfigureAwait(false);
                return ExitCodes.Ok;
            }
        }
    }

    private sealed class QueueHeld : ICliCommand
    {
        public IReadOnlyList<string> Name { get; } = ["queue", "held"];
        public string ArgumentSyntax => "";
        public int ArgumentCount => 0;
        public string Summary => "list messages held while a synchronous hook decides: id, organization, direction, rule, recipients, attempts";
        public string Details => "One block per held message: organization, direction, rule, attempts, next attempt, held since, the rule timeout's end, last error; then its recipients.";

        public Task<int> RunAsync(CliArguments arguments, CliConsole console) => QueueCommand.RunAsync(arguments, console,
            async admin =>
            {
                using var response = await admin.SendAsync(HttpMethod.Get, "admin/queue/held", null, console.CancellationToken).ConfigureAwait(false);
                response.EnsureSuccessStatusCode();
                var entries = await response.Content.ReadFromJsonAsync<List<HeldEntryView>>(console.CancellationToken).ConfigureAwait(false) ?? [];
                await PrintAsync(entries, console).ConfigureAwait(false);
                return ExitCodes.Ok;
            },
            async store =>
            {
                await PrintAsync(QueueAdministration.ListHeld(store.Held), console).ConfigureAwait(false);
                return ExitCodes.Ok;
            });

        private static async Task PrintAsync(IReadOnlyList<HeldEntryView> entries, CliConsole console)
        {
            foreach (var entry in entries)
            {
                var error = entry.LastError is { } e ? "  last error: " + e : "";
                await console.Out.WriteLineAsync(FormattableString.Invariant(
                    $"{entry.Id}  {entry.Organization}  {entry.Direction}  rule {entry.Rule}  attempts {entry.Attempts}  next {entry.NextAttempt:u}  held since {entry.HeldSince:u}  until {entry.Deadline:u}{error}")).ConfigureAwait(false);
                foreach (var r in entry.Recipients)
                    await console.Out.WriteLineAsync($"    <{r}>").ConfigureAwait(false);
            }
            await console.Out.WriteLineAsync($"{entries.Count} message(s) held").ConfigureAwait(false);
        }
    }
}
