using MailKit.Net.Imap;
using MailKit.Security;
using NUnit.Framework;

namespace MailServer.Tests.Support;

/// <summary>
/// The real Dovecot (Debian's dovecot-imapd) the import tests pull from: one per test run. <c>test.sh</c> starts it
/// with <c>Tests/Support/dovecot.sh</c> and passes DOVECOT_DIR and DOVECOT_IMAP_PORT; a run without them (a filtered
/// <c>dotnet test</c>) starts its own with the same script on first use and stops it when the run ends. Each test
/// makes its own user, so tests never share a mailbox.
/// </summary>
public sealed class Dovecot
{
    /// <summary>The master user of the test instance (logs in as any user with SASL PLAIN's authorization identity).</summary>
    public const string MasterUser = "importadmin";
    public const string MasterPassword = "import-admin-password";

    private static readonly Lazy<Dovecot> Shared = new(Start);

    private Dovecot(string directory, int port)
    {
        Directory = directory;
        Port = port;
    }

    /// <summary>The instance's folder (config, log, mail).</summary>
    public string Directory { get; }

    /// <summary>Its IMAP port on 127.0.0.1 (plain text; STARTTLS is not offered).</summary>
    public int Port { get; }

    /// <summary>The run's Dovecot.</summary>
    public static Dovecot Instance => Shared.Value;

    private static Dovecot Start()
    {
        if (Environment.GetEnvironmentVariable("DOVECOT_DIR") is { Length: > 0 } dir
            && int.TryParse(Environment.GetEnvironmentVariable("DOVECOT_IMAP_PORT"), out var given))
            return new Dovecot(dir, given);
        if (!File.Exists("/usr/sbin/dovecot"))
            Assert.Ignore("dovecot-imapd is not installed (test.sh installs it)");
        var directory = Path.Combine(Path.GetTempPath(), "mailserver-dovecot-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(directory);
        var script = Path.Combine(AppContext.BaseDirectory, "Support", "dovecot.sh");
        var result = ExternalProgram.RunAsync("bash", [script, "start", directory], TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
        if (result.ExitCode != 0 || !int.TryParse(result.StandardOutput.Trim(), out var port))
            throw new InvalidOperationException($"Dovecot did not start: {result}");
        return new Dovecot(directory, port) { _ownedScript = script };
    }

    private string? _ownedScript;

    /// <summary>Stops the instance if this run started it (not test.sh's); the import tests' set-up fixture calls it at the end.</summary>
    public static void StopIfOwned()
    {
        if (Shared.IsValueCreated && Shared.Value._ownedScript is { } script)
            ExternalProgram.RunAsync("bash", [script, "stop", Shared.Value.Directory], TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
    }

    private static readonly object UsersLock = new();

    /// <summary>Adds a user with an empty mailbox; returns its name (unique per call).</summary>
    public string CreateUser(string password)
    {
        var name = "u" + Guid.NewGuid().ToString("N")[..10];
        lock (UsersLock)
            File.AppendAllText(Path.Combine(Directory, "users"), $"{name}:{{PLAIN}}{password}\n");
        return name;
    }

    /// <summary>A MailKit client logged in as <paramref name="user"/>.</summary>
    public async Task<ImapClient> ConnectAsync(string user, string password)
    {
        var client = new ImapClient();
        await client.ConnectAsync("127.0.0.1", Port, SecureSocketOptions.None);
        await client.AuthenticateAsync(user, password);
        return client;
    }
}
