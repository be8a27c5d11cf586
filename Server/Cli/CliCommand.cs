namespace MailServer.Server.Cli;

/// <summary>Process exit codes of every verb.</summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>Invalid input: bad arguments, an invalid configuration, a weak password, an unknown user.</summary>
    public const int InvalidInput = 1;

    /// <summary>Runtime failure: I/O errors, a server that failed to start.</summary>
    public const int Failure = 2;
}

/// <summary>The streams and cancellation a verb runs with (the process's own, or a test's).</summary>
public sealed record CliConsole(TextWriter Out, TextWriter Error, TextReader In, CancellationToken CancellationToken);

/// <summary>The parsed command line: options common to every verb and the verb's own words.</summary>
/// <param name="ConfigPath">The absolute config path (--config, else appsettings.json in the current directory, else next to the executable).</param>
/// <param name="DataDirectory">The --data option, or null.</param>
/// <param name="Arguments">Positional arguments after the verb's name.</param>
public sealed record CliArguments(string ConfigPath, string? DataDirectory, IReadOnlyList<string> Arguments);

/// <summary>One verb of the mailserver command line.</summary>
internal interface ICliCommand
{
    /// <summary>The words that select this verb, e.g. ["config", "check"].</summary>
    IReadOnlyList<string> Name { get; }

    /// <summary>The positional arguments, for usage text ("ADDRESS").</summary>
    string ArgumentSyntax { get; }

    /// <summary>How many positional arguments the verb takes.</summary>
    int ArgumentCount { get; }

    /// <summary>One line for the command list.</summary>
    string Summary { get; }

    /// <summary>The verb's help text after the usage line.</summary>
    string Details { get; }

    Task<int> RunAsync(CliArguments arguments, CliConsole console);
}
