using MailServer.Server.Cli;

namespace MailServer.Server;

/// <summary>
/// The mailserver executable: parses the command line and runs one verb (see <c>Cli/</c>). Running the server is
/// <see cref="Hosting.ServerHost.RunAsync"/>'s job; everything else here is the administrator's tooling.
/// </summary>
public static class Program
{
    /// <summary>The process entry point. Exit codes: 0 ok, 1 invalid input or configuration, 2 runtime failure.</summary>
    public static Task<int> Main(string[] args) =>
        RunAsync(args, Console.Out, Console.Error, Console.In, CancellationToken.None);

    /// <summary>Runs one command with the given streams; the entry tests use to run verbs in-process.</summary>
    /// <param name="args">The command line, without the program name.</param>
    /// <param name="output">Standard output.</param>
    /// <param name="error">Standard error.</param>
    /// <param name="input">Standard input (passwords are read from it).</param>
    /// <param name="cancellationToken">Stops a running server; the generic host also handles Ctrl+C and SIGTERM itself.</param>
    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, TextReader input,
        CancellationToken cancellationToken = default) =>
        CommandLine.RunAsync(args, new CliConsole(output, error, input, cancellationToken));
}
