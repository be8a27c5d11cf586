using System.Net.Http.Json;
using System.Text.Json;
using MailServer.Server.Configuration;
using MailServer.Server.Hosting;
using MailServer.Server.Retention;
using MailServer.Storage;

namespace MailServer.Server.Cli;

/// <summary>
/// <c>mailserver retention run [--dry-run]</c>: applies the retention policies once (§16). With the server stopped it
/// opens the store directly; while the server runs it asks it over the admin listener.
/// </summary>
internal sealed class RetentionCommand : ICliCommand
{
    public IReadOnlyList<string> Name { get; } = ["retention", "run"];
    public string ArgumentSyntax => "";
    public int ArgumentCount => 0;
    public IReadOnlyList<CliOption> Options { get; } = [new("--dry-run", null, "print what would be done and change nothing")];
    public string Summary => "apply the retention policies now";
    public string Details =>
        "Applies each organization's RetentionPolicy once: in each folder with a policy, messages not created,\n" +
        "changed or moved for more than its Days are moved to Deleted Items (Delete) or removed for good\n" +
        "(PermanentlyDelete; Delete in Deleted Items is permanent too). The server does this daily by itself.";

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
        {
            await console.Error.WriteLineAsync($"mailserver: {arguments.ConfigPath} is invalid; run 'mailserver config check'.").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        var dryRun = arguments.Flag("--dry-run");
        try
        {
            // The running server holds the store: ask it. Stopped: open the store here.
            using var admin = await AdminClient.TryCreateAsync(config, console.CancellationToken).ConfigureAwait(false);
            var report = admin is null
                ? await ServerHost.RunRetentionAsync(config, dryRun, console.CancellationToken).ConfigureAwait(false)
                : await RunOnServerAsync(admin, dryRun, console.CancellationToken).ConfigureAwait(false);
            await Print(console, report).ConfigureAwait(false);
            return ExitCodes.Ok;
        }
        catch (HttpRequestException e)
        {
            await console.Error.WriteLineAsync($"mailserver: the running server did not complete the retention run: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (StoreLockedException e)
        {
            await console.Error.WriteLineAsync($"mailserver: {e.Message}, and it did not answer on its admin listener.").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (StoreUnavailableException e)
        {
            await console.Error.WriteLineAsync($"mailserver: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }

    private static async Task<RetentionReport> RunOnServerAsync(AdminClient admin, bool dryRun, CancellationToken cancellationToken)
    {
        using var response = await admin.SendAsync(HttpMethod.Post, $"admin/retention/run?dryRun={(dryRun ? "true" : "false")}", null, cancellationToken)
            .ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<RetentionReport>(new JsonSerializerOptions(JsonSerializerDefaults.Web), cancellationToken)
                   .ConfigureAwait(false)
               ?? throw new HttpRequestException("The server answered an empty retention report.");
    }

    internal static async Task Print(CliConsole console, RetentionReport report)
    {
        foreach (var f in report.Folders)
            await console.Out.WriteLineAsync(
                $"{f.Mailbox}  {f.Folder}: {f.Count} message(s) {(report.DryRun ? "would be " : "")}" +
                (f.Action == RetentionAction.Delete && !string.Equals(f.Folder, WellKnownFolders.DeletedItems, StringComparison.OrdinalIgnoreCase)
                    ? "moved to Deleted Items" : "permanently deleted")).ConfigureAwait(false);
        await console.Out.WriteLineAsync(
            $"{(report.DryRun ? "dry run: " : "")}{report.MailboxesChecked} mailbox(es) checked, {report.Moved} message(s) " +
            $"{(report.DryRun ? "would be " : "")}moved to Deleted Items, {report.Deleted} {(report.DryRun ? "would be " : "")}permanently deleted")
            .ConfigureAwait(false);
    }
}
