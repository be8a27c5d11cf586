using MailServer.Server.Configuration;
using MailServer.Server.Import;

namespace MailServer.Server.Cli;

/// <summary>
/// <c>mailserver import status [JOBID]</c> (every import job, or one with its folders and errors; from the running
/// server, or from the checkpoint files when it is stopped) and <c>mailserver import cancel JOBID</c> (the server's
/// job stops after the message in hand; the same import command resumes it).
/// </summary>
internal sealed class ImportJobsCommand : ICliCommand
{
    private readonly bool _cancel;

    private ImportJobsCommand(bool cancel) => _cancel = cancel;

    public static ICliCommand Status { get; } = new ImportJobsCommand(cancel: false);
    public static ICliCommand Cancel { get; } = new ImportJobsCommand(cancel: true);

    public IReadOnlyList<string> Name => _cancel ? ["import", "cancel"] : ["import", "status"];
    public string ArgumentSyntax => _cancel ? "JOBID" : "[JOBID]";
    public int ArgumentCount => 1;
    public int MinArgumentCount => _cancel ? 1 : 0;
    public string Summary => _cancel ? "cancel a running mailbox import" : "mailbox import jobs and their progress";
    public string Details => _cancel
        ? "The job stops after the message in hand and keeps its checkpoint: the same import command resumes it."
        : "Without JOBID: one line per job (state, counts, source). With it: per folder, and the messages not imported.";

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
        {
            await console.Error.WriteLineAsync($"mailserver: {arguments.ConfigPath} is invalid; run 'mailserver config check'.").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        var id = arguments.Arguments.Count > 0 ? arguments.Arguments[0] : null;
        using var admin = await AdminClient.TryCreateAsync(config, console.CancellationToken).ConfigureAwait(false);
        if (_cancel)
        {
            if (admin is null)
            {
                await console.Error.WriteLineAsync("mailserver: the server is not running, so no import runs in it (an import in another 'mailserver import' process stops with Ctrl+C).").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
            using var response = await admin.SendAsync(HttpMethod.Post, $"admin/imports/{Uri.EscapeDataString(id!)}/cancel", null, console.CancellationToken).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(console.CancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                await console.Error.WriteLineAsync($"mailserver: {ImportMailboxCommand.ErrorOf(body)}").ConfigureAwait(false);
                return ExitCodes.InvalidInput;
            }
            await console.Out.WriteLineAsync($"Import {id} cancelled.").ConfigureAwait(false);
            return ExitCodes.Ok;
        }
        IReadOnlyList<ImportJobRecord> jobs;
        if (admin is null)
            jobs = id is null ? ImportJobRecord.LoadAll(config.DataDirectory) : ImportJobRecord.Load(config.DataDirectory, id) is { } one ? [one] : [];
        else
        {
            using var response = await admin.SendAsync(HttpMethod.Get, id is null ? "admin/imports" : $"admin/imports/{Uri.EscapeDataString(id)}", null,
                console.CancellationToken).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(console.CancellationToken).ConfigureAwait(false);
            jobs = !response.IsSuccessStatusCode ? []
                : id is null ? System.Text.Json.JsonDocument.Parse(body).RootElement.EnumerateArray().Select(e => ImportJobRecord.FromJson(e.GetRawText())).ToList()
                : [ImportJobRecord.FromJson(body)];
        }
        if (id is not null && jobs.Count == 0)
        {
            await console.Error.WriteLineAsync($"mailserver: no import job {id}").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        foreach (var job in jobs)
        {
            await console.Out.WriteLineAsync($"{job.JobId}  {job.State.ToString().ToUpperInvariant(),-11}  {job.User}  {job.Imported:N0} imported, " +
                $"{job.Duplicates:N0} already there, {job.Failed:N0} failed, {job.Bytes / 1048576.0:N1} MB  from {job.Source}" +
                (job.Error is null ? "" : $"  ({job.Error})")).ConfigureAwait(false);
            if (id is null)
                continue;
            foreach (var folder in job.Folders)
                await console.Out.WriteLineAsync($"  {folder.Source} -> {folder.Target}: {folder.Imported:N0} imported, {folder.Duplicates:N0} already there, " +
                    $"{folder.Failed:N0} failed{(folder.Done ? "" : " (not finished)")}").ConfigureAwait(false);
            foreach (var error in job.Errors)
                await console.Out.WriteLineAsync($"  not imported: {error.Message}: {error.Error}").ConfigureAwait(false);
        }
        return ExitCodes.Ok;
    }
}
