using MailServer.Server.Configuration;
using MailServer.Server.Hosting;
using MailServer.Storage;

namespace MailServer.Server.Cli;

/// <summary><c>mailserver reindex [--rewrite-bodies]</c>: checks every stored message against its encrypted file and repairs
/// metadata; with <c>--rewrite-bodies</c> it first rewrites message files still in the version 1 layout in the segmented one.</summary>
internal sealed class ReindexCommand : ICliCommand
{
    public IReadOnlyList<string> Name { get; } = ["reindex"];
    public string ArgumentSyntax => "";
    public int ArgumentCount => 0;
    public IReadOnlyList<CliOption> Options { get; } =
        [new("--rewrite-bodies", null, "first rewrite message files of the old single-box format in the segmented one")];
    public string Summary => "check every message file and rebuild the metadata derived from it";
    public string Details =>
        "Decrypts every stored message, rebuilds missing header summaries, corrects folder and mailbox counters,\n" +
        "removes message files that no mailbox refers to (left by a crash before the message was acknowledged)\n" +
        "and entries whose file is gone, then rebuilds the encrypted search index. Runs only while the server is\n" +
        "stopped: the server holds the database.\n" +
        "--rewrite-bodies first rewrites each message file stored before segmented encryption (which must be\n" +
        "decrypted whole to read any part) in 64 KiB segments, one file at a time, replacing the old file only once\n" +
        "the new one is on disk and reads back the same; stopped at any point, run it again to go on.";

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
        {
            await console.Error.WriteLineAsync($"mailserver: {arguments.ConfigPath} is invalid; run 'mailserver config check'.").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }

        if (config.Storage.Engine == StorageEngine.PostgreSql)
            return await RunOnPostgreSqlAsync(arguments, console, config).ConfigureAwait(false);
        try
        {
            if (arguments.Flag("--rewrite-bodies"))
            {
                var w = await ServerHost.RewriteBodiesAsync(config, console.CancellationToken).ConfigureAwait(false);
                await console.Out.WriteLineAsync(
                    $"rewrote {w.BodiesRewritten} of {w.BodiesChecked} message file(s) in the segmented format: " +
                    $"{w.BodiesAlreadySegmented} already segmented, {w.BodiesFailed} left as they were (the check below reports those that do not decrypt)").ConfigureAwait(false);
            }
            var r = await ServerHost.ReindexAsync(config, console.CancellationToken).ConfigureAwait(false);
            await console.Out.WriteLineAsync(
                $"checked {r.EntriesChecked} message(s): {r.EntriesUndecryptable} undecryptable, " +
                $"{r.EntriesRemovedBlobMissing} removed (file missing), {r.SummariesRebuilt} summaries rebuilt, " +
                $"{r.OrphanBlobsDeleted} orphan file(s) and {r.TempFilesDeleted} temporary file(s) deleted, " +
                $"{r.FoldersCorrected} folder(s) and {r.MailboxesCorrected} mailbox(es) corrected; " +
                $"search index rebuilt ({r.SearchIndexMessages} message(s))").ConfigureAwait(false);
            return r.EntriesUndecryptable == 0 ? ExitCodes.Ok : ExitCodes.Failure;
        }
        catch (StoreLockedException e)
        {
            await console.Error.WriteLineAsync($"mailserver: {e.Message}; stop the server before reindexing.").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }

    /// <summary>On PostgreSQL only the search index is derived data to rebuild (README "Running on PostgreSQL").</summary>
    private static async Task<int> RunOnPostgreSqlAsync(CliArguments arguments, CliConsole console, ServerConfig config)
    {
        if (arguments.Flag("--rewrite-bodies"))
        {
            await console.Error.WriteLineAsync("mailserver: --rewrite-bodies rewrites LiteDB message files; PostgreSQL stores every body in 64 KiB segments already.").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        try
        {
            var indexed = await ServerHost.RebuildSearchIndexAsync(config, console.CancellationToken).ConfigureAwait(false);
            await console.Out.WriteLineAsync($"search index rebuilt ({indexed} message(s))").ConfigureAwait(false);
            return ExitCodes.Ok;
        }
        catch (StoreUnavailableException e)
        {
            await console.Error.WriteLineAsync($"mailserver: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }
}
