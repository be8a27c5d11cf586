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
/// <param name="Options">The verb's own options as given: name (with dashes) → values in order; a flag has one empty value.</param>
public sealed record CliArguments(string ConfigPath, string? DataDirectory, IReadOnlyList<string> Arguments,
    IReadOnlyDictionary<string, IReadOnlyList<string>>? Options = null)
{
    /// <summary>True when the flag <paramref name="name"/> (e.g. "--all") was given.</summary>
    public bool Flag(string name) => Options?.ContainsKey(name) == true;

    /// <summary>The last value of option <paramref name="name"/>, or null when absent.</summary>
    public string? Value(string name) => Options?.GetValueOrDefault(name) is { Count: > 0 } v ? v[^1] : null;

    /// <summary>Every value of a repeatable option, in order (empty when absent).</summary>
    public IReadOnlyList<string> Values(string name) => Options?.GetValueOrDefault(name) ?? [];
}

/// <summary>
/// An option of one verb. <paramref name="ValueName"/> null makes it a flag (no value); <paramref name="Repeatable"/>
/// lets it appear several times (e.g. --recipient).
/// </summary>
public sealed record CliOption(string Name, string? ValueName, string Help, bool Repeatable = false);

/// <summary>One verb of the mailserver command line.</summary>
internal interface ICliCommand
{
    /// <summary>The words that select this verb, e.g. ["config", "check"].</summary>
    IReadOnlyList<string> Name { get; }

    /// <summary>The positional arguments, for usage text ("ADDRESS").</summary>
    string ArgumentSyntax { get; }

    /// <summary>How many positional arguments the verb takes (at most).</summary>
    int ArgumentCount { get; }

    /// <summary>The fewest positional arguments the verb accepts; by default exactly <see cref="ArgumentCount"/>.</summary>
    int MinArgumentCount => ArgumentCount;

    /// <summary>The verb's own options, beyond --config, --data and --help.</summary>
    IReadOnlyList<CliOption> Options => [];

    /// <summary>One line for the command list.</summary>
    string Summary { get; }

    /// <summary>The verb's help text after the usage line.</summary>
    string Details { get; }

    Task<int> RunAsync(CliArguments arguments, CliConsole console);
}
