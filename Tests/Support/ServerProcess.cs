using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using MailServer.Storage;
using MailServer.Storage.Crypto;

namespace MailServer.Tests.Support;

/// <summary>
/// The real `mailserver` executable as a child process, on free loopback ports, with its own config
/// file and data folder under a temporary directory. For tests that must kill the process (kill -9)
/// or watch it from the outside.
/// </summary>
public sealed partial class ServerProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private Process? _process;

    private ServerProcess(string root, Ports ports)
    {
        Root = root;
        ListenerPorts = ports;
        ConfigPath = Path.Combine(root, "appsettings.json");
        DataDirectory = Path.Combine(root, "data");
    }

    /// <summary>The organization of <see cref="SampleConfig"/>.</summary>
    public const string OrganizationId = "m-0123456789abcdef0123456789abcdef";

    /// <summary>
    /// Opens the server's store in this process, as <c>mailserver reindex</c> would: only while the server
    /// is not running (the store's lock refuses otherwise). Dispose it before starting the server again.
    /// </summary>
    public MailStore OpenStore() => MailStore.Open(new MailStoreOptions
    {
        DataDirectory = DataDirectory,
        MasterKeys = new FileMasterKeyProvider(
            new Dictionary<string, string> { [OrganizationId] = Path.Combine(DataDirectory, "keys", "example.key") },
            createMissing: false),
    });

    /// <summary>The loopback ports this instance listens on.</summary>
    public sealed record Ports(int Smtp, int Submission, int Submissions, int Imap, int Imaps, int Admin, int Https);

    public string Root { get; }
    public string ConfigPath { get; }
    public string DataDirectory { get; }
    public Ports ListenerPorts { get; }
    public int ProcessId => _process?.Id ?? 0;

    /// <summary>
    /// A server executable to run instead of this build's <c>mailserver.dll</c> (a packaged launcher); it is started as
    /// the systemd unit starts it, <c>EXECUTABLE run --config CONFIG --data DATA</c>. Null: <c>dotnet mailserver.dll run --config CONFIG</c>.
    /// </summary>
    public string? Executable { get; set; }

    /// <summary>Environment variables the process starts with, beyond the test runner's own.</summary>
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    /// <summary>Everything the process wrote to stdout and stderr so far.</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>Creates the folder and the config file (from a typed <see cref="TestConfig"/>, given the ports); does not start the process.</summary>
    internal static ServerProcess Create(Func<Ports, TestConfig> config) => Create(ports => config(ports).Json());

    /// <summary>Creates the folder and the config file; does not start the process.</summary>
    public static ServerProcess Create(string? configJson = null) => Create(configJson is null ? null : _ => configJson);

    /// <summary>Creates the folder and the config file (its text made from the ports); does not start the process.</summary>
    public static ServerProcess Create(Func<Ports, string>? configJson)
    {
        var root = Path.Combine(Path.GetTempPath(), "mailserver-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root);
        // Seven distinct ports: each is held open until all are picked, so the system cannot hand one out twice.
        var free = FreePorts(7);
        var ports = new Ports(free[0], free[1], free[2], free[3], free[4], free[5], free[6]);
        var server = new ServerProcess(root, ports);
        File.WriteAllText(server.ConfigPath, configJson?.Invoke(ports) ?? SampleConfig(ports));
        return server;
    }

    private static readonly Lazy<LoopbackDnsServer> QuietDns = new(LoopbackDnsServer.Start);

    /// <summary>
    /// The resolver setting of <see cref="SampleConfig"/>: a DNS server on loopback with an empty zone, shared by every
    /// test server of the run, so sender checks of made-up domains get NXDOMAIN at once instead of waiting for the
    /// machine's resolver (which has no network here) to time out. A test with its own zone replaces this text.
    /// </summary>
    public static string DefaultDns => $$"""
        "Dns": { "Servers": [ "127.0.0.1" ], "Port": {{QuietDns.Value.Port}} }
        """;

    /// <summary>The sample organization of the default appsettings.json, on the given ports.</summary>
    public static string SampleConfig(Ports ports) => $$"""
        {
          "MailServer": {
            "ServerName": "mx.example.test",
            "DataDirectory": "data",
            {{DefaultDns}},
            "Listeners": { "BindAddress": "127.0.0.1", "Smtp": {{ports.Smtp}}, "Submission": {{ports.Submission}},
                           "Submissions": {{ports.Submissions}}, "Imap": {{ports.Imap}}, "Imaps": {{ports.Imaps}}, "Https": {{ports.Https}},
                           "Admin": "127.0.0.1:{{ports.Admin}}" },
            "Organizations": [ {
              "Id": "{{OrganizationId}}", "Alias": "example",
              "MasterKeyPath": "keys/example.key",
              "Domains": [ { "Name": "example.test", "Default": true } ],
              "Users": [
                { "Email": "alice@example.test", "DisplayName": "Alice", "Aliases": [ "a.liddell@example.test" ], "PasswordHash": null, "Enabled": true, "MailboxQuotaMiB": 51200 },
                { "Email": "bob@example.test", "DisplayName": "Bob", "Aliases": [], "PasswordHash": null, "Enabled": true, "MailboxQuotaMiB": 51200 }
              ],
              "Groups": [ { "Email": "team@example.test", "Members": [ "alice@example.test", "bob@example.test" ] } ],
              "AccessControlRules": [ { "Name": "default", "Effect": "Allow" } ]
            } ]
          }
        }
        """;

    /// <summary>Starts the process and waits (60 s unless told) until its SMTP and IMAP ports accept connections.</summary>
    /// <exception cref="TimeoutException">The server did not open its port in time; the output is in the message.</exception>
    public async Task StartAsync(TimeSpan? timeout = null)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "mailserver.dll");
        var info = new ProcessStartInfo(Executable ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = Root,
        };
        foreach (var arg in Executable is null ? new[] { dll, "run", "--config", ConfigPath } : ["run", "--config", ConfigPath, "--data", DataDirectory])
            info.ArgumentList.Add(arg);
        foreach (var (name, value) in Environment)
            info.Environment[name] = value;
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"mailserver exited with {process.ExitCode}:\n{Output}");
            try
            {
                // Listeners start one after the other: ready means SMTP, IMAP, the admin and the HTTPS listener accept connections.
                foreach (var port in new[] { ListenerPorts.Smtp, ListenerPorts.Imap, ListenerPorts.Admin, ListenerPorts.Https })
                {
                    using var probe = new TcpClient();
                    await probe.ConnectAsync(IPAddress.Loopback, port);
                }
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        throw new TimeoutException($"mailserver did not listen on {ListenerPorts.Smtp}, {ListenerPorts.Imap} and {ListenerPorts.Admin}:\n{Output}");
    }

    /// <summary>Waits until the process has written <paramref name="text"/> to its output; false when it did not within <paramref name="within"/>.</summary>
    public async Task<bool> WaitForOutputAsync(string text, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow >= deadline)
                return false;
            await Task.Delay(50);
        }
        return true;
    }

    /// <summary>kill -9: the process gets no chance to flush or close anything.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: false); // SIGKILL on Unix
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await p.WaitForExitAsync(grace.Token);
        }
    }

    /// <summary>SIGTERM, as systemd or Ctrl+C would stop it; returns the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        if (_process is not { HasExited: false } p)
            return _process?.ExitCode ?? 0;
        _ = SendSignal(p.Id, 15);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(cts.Token);
        return p.ExitCode;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);

    /// <summary><paramref name="count"/> distinct free loopback ports.</summary>
    public static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            foreach (var l in listeners)
                l.Start();
            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var l in listeners)
                l.Stop();
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
