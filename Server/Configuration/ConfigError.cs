namespace MailServer.Server.Configuration;

/// <summary>One configuration problem: the JSON path of the offending value and what is wrong with it.</summary>
/// <param name="Path">A JSONPath such as <c>$.MailServer.Organizations[0].Users[1].Email</c>.</param>
/// <param name="Message">What is wrong, for an administrator.</param>
public sealed record ConfigError(string Path, string Message)
{
    /// <summary>"path: message", the form the CLI and the log print.</summary>
    public override string ToString() => $"{Path}: {Message}";
}

/// <summary>The outcome of loading a configuration file. A closed set.</summary>
public abstract record ConfigLoadResult
{
    private ConfigLoadResult() { }

    /// <summary>The file is valid.</summary>
    public sealed record Ok(ServerConfig Config) : ConfigLoadResult;

    /// <summary>The file is refused as a whole; <see cref="Errors"/> lists every problem found.</summary>
    public sealed record Invalid(IReadOnlyList<ConfigError> Errors) : ConfigLoadResult;
}
