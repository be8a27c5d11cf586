using MailServer.Server.Hosting;

namespace MailServer.Server.Cli;

/// <summary><c>mailserver [run]</c>: runs the server until stopped.</summary>
internal sealed class RunCommand : ICliCommand
{
    public IReadOnlyList<string> Name { get; } = ["run"];
    public string ArgumentSyntax => "";
    public int ArgumentCount => 0;
    public string Summary => "run the server (the default when no command is given)";
    public string Details =>
        "Starts the SMTP, IMAP and admin listeners and serves until interrupted (Ctrl+C or SIGTERM).\n" +
        "Configuration edits apply live within a second; listener ports and DataDirectory need a restart.";

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        try
        {
            return await ServerHost.RunAsync(arguments.ConfigPath, arguments.DataDirectory, console.CancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (console.CancellationToken.IsCancellationRequested)
        {
            return ExitCodes.Ok;
        }
        catch (Exception e)
        {
            await console.Error.WriteLineAsync($"mailserver: the server failed: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }
}
