namespace MailServer.Server.Hosting;

/// <summary>Builds and runs the generic host: store, listeners, background services.</summary>
public static class ServerHost
{
    /// <summary>
    /// Runs the server until <paramref name="cancellationToken"/> fires or the process is asked to stop.
    /// Returns the process exit code: 0 after a clean stop, non-zero when start-up failed.
    /// </summary>
    /// <param name="configPath">The appsettings.json to load and watch.</param>
    /// <param name="dataDirectoryOverride">The --data option, overriding MailServer:DataDirectory.</param>
    /// <param name="cancellationToken">Stops the server gracefully.</param>
    public static Task<int> RunAsync(string configPath, string? dataDirectoryOverride, CancellationToken cancellationToken)
    {
        // Composition arrives with the integration commit; until then refuse to pretend to run.
        Console.Error.WriteLine("mailserver: the host is not composed in this build.");
        return Task.FromResult(2);
    }
}
