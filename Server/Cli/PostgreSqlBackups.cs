using MailServer.Server.Configuration;

namespace MailServer.Server.Cli;

/// <summary>
/// <c>mailserver backup</c> and <c>restore</c> copy the LiteDB database and its message files. On PostgreSQL the database
/// is backed up with PostgreSQL's own tools (pg_dump, pg_basebackup and WAL archiving), which see a consistent state
/// across every node, and the key files beside them; the verbs refuse and say where the README explains it.
/// </summary>
internal static class PostgreSqlBackups
{
    /// <summary>The README section an operator of a PostgreSQL store reads instead.</summary>
    public const string ReadmeSection = "README \"Running on PostgreSQL\", \"Backups on PostgreSQL\"";

    /// <summary>Writes the refusal and returns true when the configuration names the PostgreSQL engine.</summary>
    public static async Task<bool> RefuseAsync(CliArguments arguments, CliConsole console, string verb)
    {
        if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config.Storage.Engine: StorageEngine.PostgreSql })
            return false;
        await console.Error.WriteLineAsync(
            $"mailserver: '{verb}' copies a LiteDB store; this server stores its mail in PostgreSQL. Back up the database with " +
            $"pg_dump or pg_basebackup (and WAL archiving) and the master keys and key ledgers with them: see {ReadmeSection}.").ConfigureAwait(false);
        return true;
    }
}
