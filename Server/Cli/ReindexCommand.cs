using MailServer.Server.Configuration;
using MailServer.Server.Hosting;
using MailServer.Storage;

namespace MailServer.Server.Cli;

/// <summary><c>mailserver reindex</c>: checks every stored message against its encrypted file and repairs metadata.</summary>
internal sealed class ReindexCommand : ICliCommand
{
    public IReadOnlyList<string> Name { get; } = ["reindex"];
    public string ArgumentSyntax => "";
    public int ArgumentCount => 0;
    public string Summary => "check every message file and rebuild the metadata derived from it";
    public string Details =>
        "Decrypts every stored message, rebuilds missing header summaries, corrects folder and mailbox counters,\n" +
        "removes message files that no mailbox refers to (left by a crash before the message was acknowledged)\n" +
        "and entries whose file is gone, then rebuilds the encrypted search index. Runs only while the server is\n" +
        "stopped: the server holds the database.";

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
        {
            await console.Error.WriteLineAsync($"mailserver: {arguments.ConfigPath} is invalid; run 'mailserver config check'.").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }

        try
        {
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
}
