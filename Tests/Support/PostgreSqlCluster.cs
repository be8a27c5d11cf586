using Npgsql;
using NUnit.Framework;

namespace MailServer.Tests.Support;

/// <summary>
/// The real PostgreSQL (Debian's postgresql) the store tests run the PostgreSQL engine on: one private cluster per test
/// run. <c>test.sh</c> starts it with <c>Tests/Support/postgres.sh</c> and passes MAILSERVER_TEST_PG (its connection
/// string); a run without it (a filtered <c>dotnet test</c>) starts its own with the same script on first use and
/// stops it when the run ends (<see cref="RunWideDaemons"/>). Each test gets a database of its own.
/// </summary>
public sealed class PostgreSqlCluster
{
    private static readonly Lazy<PostgreSqlCluster> Shared = new(Start);
    private string? _ownedScript;
    private string? _ownedDirectory;

    private PostgreSqlCluster(string connectionString) => ConnectionString = connectionString;

    /// <summary>The cluster's administrative connection string (user postgres, database postgres).</summary>
    public string ConnectionString { get; }

    /// <summary>The run's cluster.</summary>
    public static PostgreSqlCluster Instance => Shared.Value;

    private static PostgreSqlCluster Start()
    {
        if (Environment.GetEnvironmentVariable("MAILSERVER_TEST_PG") is { Length: > 0 } given)
            return new PostgreSqlCluster(given);
        if (!System.IO.Directory.EnumerateDirectories("/usr/lib/postgresql").Any(d => File.Exists(Path.Combine(d, "bin", "initdb"))))
            Assert.Fail("PostgreSQL is not installed (test.sh installs the postgresql package)");
        var directory = Path.Combine(Path.GetTempPath(), "mailserver-pg-" + Guid.NewGuid().ToString("N")[..8]);
        var script = Path.Combine(AppContext.BaseDirectory, "Support", "postgres.sh");
        var result = ExternalProgram.RunAsync("bash", [script, "start", directory], TimeSpan.FromSeconds(90)).GetAwaiter().GetResult();
        if (result.ExitCode != 0 || !result.StandardOutput.Trim().StartsWith("Host=", StringComparison.Ordinal))
            throw new InvalidOperationException($"PostgreSQL did not start: {result}");
        return new PostgreSqlCluster(result.StandardOutput.Trim()) { _ownedScript = script, _ownedDirectory = directory };
    }

    /// <summary>Stops the cluster if this run started it (not test.sh's).</summary>
    public static void StopIfOwned()
    {
        if (Shared.IsValueCreated && Shared.Value._ownedScript is { } script)
            ExternalProgram.RunAsync("bash", [script, "stop", Shared.Value._ownedDirectory!], TimeSpan.FromSeconds(40)).GetAwaiter().GetResult();
    }

    /// <summary>Creates an empty database and returns its connection string (pooling off: every test's connections end with it).</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "t_" + Guid.NewGuid().ToString("N")[..16];
        await using (var connection = new NpgsqlConnection(ConnectionString + ";Timeout=15;Command Timeout=30"))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }
        return new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name, Timeout = 15, CommandTimeout = 30 }.ConnectionString;
    }
}
