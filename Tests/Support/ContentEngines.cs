using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using NUnit.Framework;

namespace MailServer.Tests.Support;

/// <summary>
/// Private rspamd (with its redis-server) and clamd instances for the whole test run, started on first use on loopback
/// ports under a temporary folder, as the user running the tests, with the repository's rspamd config
/// (<c>contrib/rspamd/local.d</c>) plus a test overlay: no module that needs the network, GTUBE test patterns on,
/// Bayes answering after one learned message of each class. clamd gets a signature database written here (the EICAR
/// test file's hash and one marker string of our own) so it starts offline in a second. rspamd's compiled Hyperscan
/// databases are kept in a cache folder shared by runs (the first start on a machine compiles them: about a minute).
/// Stopped when the run ends (<see cref="ContentEnginesTeardown"/>).
/// </summary>
public sealed class ContentEngines
{
    /// <summary>GTUBE: rspamd's action for it is <c>reject</c> (with its test patterns on).</summary>
    public const string GtubeReject = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

    /// <summary>rspamd's GTUBE variant whose action is <c>add header</c>.</summary>
    public const string GtubeAddHeader = "YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

    /// <summary>rspamd's GTUBE variant whose action is <c>rewrite subject</c>.</summary>
    public const string GtubeRewriteSubject = "ZJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

    /// <summary>The EICAR anti-virus test file (68 bytes).</summary>
    public const string Eicar = @"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    /// <summary>The signature name clamd reports for <see cref="Eicar"/> (our database's; ".UNOFFICIAL" is appended by clamd).</summary>
    public const string EicarSignature = "Eicar-Test-Signature";

    /// <summary>The environment variable test.sh sets: the engines are installed, so a missing one fails the test instead of skipping it.</summary>
    public const string RequiredVariable = "MAILSERVER_TEST_ENGINES";

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static ContentEngines? _instance;
    private static Exception? _failure;

    private readonly List<Process> _processes = [];

    private ContentEngines(string root) => Root = root;

    /// <summary>The folder of this run's engines (configs, logs, the clamd database).</summary>
    public string Root { get; }

    /// <summary>rspamd's normal worker, for MailServer.ContentFiltering.RspamdUrl.</summary>
    public string RspamdUrl { get; private set; } = "";

    /// <summary>rspamd's controller, for RspamdControllerUrl.</summary>
    public string RspamdControllerUrl { get; private set; } = "";

    /// <summary>clamd's host:port, for ClamdAddress.</summary>
    public string ClamdAddress { get; private set; } = "";

    /// <summary>
    /// The engines of this run, started by the first caller. Where they are not installed: the test fails under test.sh
    /// (which installs them), and is skipped with the reason elsewhere.
    /// </summary>
    public static async Task<ContentEngines> GetAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_instance is not null)
                return _instance;
            if (_failure is not null)
                throw new InvalidOperationException("The content engines failed to start earlier in this run.", _failure);
            var missing = new[] { "rspamd", "redis-server", "clamd" }.Where(p => Which(p) is null).ToList();
            if (missing.Count > 0)
            {
                var reason = $"{string.Join(", ", missing)} not installed (./test.sh installs rspamd, redis-server and clamav-daemon with apt)";
                if (Environment.GetEnvironmentVariable(RequiredVariable) is not null)
                    Assert.Fail(reason);
                Assert.Ignore(reason);
            }
            var engines = new ContentEngines(Path.Combine(Path.GetTempPath(), "mailserver-engines-" + Guid.NewGuid().ToString("N")[..10]));
            try
            {
                await engines.StartAsync();
            }
            catch (Exception e)
            {
                _failure = e;
                engines.Stop();
                throw;
            }
            return _instance = engines;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>Stops the engines if this run started them.</summary>
    public static void StopIfStarted()
    {
        _instance?.Stop();
        _instance = null;
    }

    /// <summary>The repository's shipped rspamd config (copied next to the test assembly).</summary>
    public static string ShippedRspamdConfig => Path.Combine(AppContext.BaseDirectory, "contrib", "rspamd", "local.d");

    private async Task StartAsync()
    {
        Directory.CreateDirectory(Root);
        var ports = ServerProcess.FreePorts(4);
        int normal = ports[0], controller = ports[1], redis = ports[2], clamd = ports[3];

        // redis-server: in memory only, for rspamd's Bayes statistics.
        Start("redis-server", ["--port", redis.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", Root,
            "--logfile", Path.Combine(Root, "redis.log")]);

        // clamd with our own two-signature database: no freshclam, no network.
        var db = Path.Combine(Root, "clamav");
        Directory.CreateDirectory(db);
        var eicarMd5 = Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(Encoding.ASCII.GetBytes(Eicar)));
        File.WriteAllText(Path.Combine(db, "test.hdb"), $"{eicarMd5}:{Eicar.Length}:{EicarSignature}\n");
        File.WriteAllText(Path.Combine(db, "test.ndb"), $"Mailserver.Test.Marker:0:*:{Convert.ToHexStringLower(Encoding.ASCII.GetBytes("MAILSERVER-TEST-VIRUS-MARKER"))}\n");
        var clamdConf = Path.Combine(Root, "clamd.conf");
        File.WriteAllText(clamdConf, $"""
            DatabaseDirectory {db}
            TCPSocket {clamd}
            TCPAddr 127.0.0.1
            Foreground yes
            LogFile {Path.Combine(Root, "clamd.log")}
            StreamMaxLength 50M
            MaxThreads 8
            """);
        Start("clamd", ["-c", clamdConf]);

        // rspamd: Debian's /etc/rspamd with our local.d, and the test overlay in override.d (priority over local.d).
        var local = Path.Combine(Root, "rspamd");
        var localD = Path.Combine(local, "local.d");
        var overrideD = Path.Combine(local, "override.d");
        Directory.CreateDirectory(localD);
        Directory.CreateDirectory(overrideD);
        foreach (var file in Directory.GetFiles(ShippedRspamdConfig))
            File.Copy(file, Path.Combine(localD, Path.GetFileName(file)));
        var cache = Path.Combine(Path.GetTempPath(), "mailserver-rspamd-hs-cache");
        Directory.CreateDirectory(cache);
        File.WriteAllText(Path.Combine(overrideD, "worker-normal.inc"), $"bind_socket = \"127.0.0.1:{normal}\";\ncount = 2;\n");
        File.WriteAllText(Path.Combine(overrideD, "worker-controller.inc"), $"bind_socket = \"127.0.0.1:{controller}\";\n");
        File.WriteAllText(Path.Combine(overrideD, "worker-proxy.inc"), "enabled = false;\n");
        File.WriteAllText(Path.Combine(overrideD, "redis.conf"), $"servers = \"127.0.0.1:{redis}\";\n");
        File.WriteAllText(Path.Combine(overrideD, "options.inc"), $"enable_test_patterns = true;\nhs_cache_dir = \"{cache}/\";\n");
        // Bayes answers after one learned message of each class (rspamd's default is 200), so a test can teach it.
        File.WriteAllText(Path.Combine(overrideD, "classifier-bayes.conf"), "min_learns = 1;\nautolearn = false;\n");
        // No network here: modules that look things up in DNS or fetch maps from the Internet are off.
        foreach (var module in new[] { "rbl", "spf", "dkim", "dmarc", "arc", "asn", "fuzzy_check", "emails", "phishing", "reputation", "neural",
                     "hfilter", "mx_check", "dkim_signing", "rspamd_update", "url_redirector", "greylist", "history_redis", "whitelist" })
            File.WriteAllText(Path.Combine(overrideD, module + ".conf"), "enabled = false;\n");
        var run = Path.Combine(Root, "rspamd-run");
        Directory.CreateDirectory(run);
        var arguments = new List<string> { "-f", "-c", "/etc/rspamd/rspamd.conf", $"--var=LOCAL_CONFDIR={local}", $"--var=DBDIR={run}",
            $"--var=RUNDIR={run}", $"--var=LOGDIR={Root}" };
        if (Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root")
            arguments.Insert(0, "-i"); // rspamd refuses to run its workers as root without it; tests in containers run as root
        Start("rspamd", arguments);

        RspamdUrl = $"http://127.0.0.1:{normal}";
        RspamdControllerUrl = $"http://127.0.0.1:{controller}";
        ClamdAddress = $"127.0.0.1:{clamd}";
        // The first start on a machine compiles rspamd's Hyperscan databases (cached for later runs).
        await WaitForPortAsync("clamd", clamd, TimeSpan.FromSeconds(60));
        await WaitForPortAsync("rspamd", normal, TimeSpan.FromSeconds(240));
        await WaitForPortAsync("rspamd controller", controller, TimeSpan.FromSeconds(60));
    }

    private void Start(string program, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Root,
        };
        foreach (var a in arguments)
            info.ArgumentList.Add(a);
        var output = new StringBuilder();
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
        File.AppendAllText(Path.Combine(Root, "pids"), $"{program} {process.Id}\n");
    }

    private async Task WaitForPortAsync(string name, int port, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            if (_processes.FirstOrDefault(p => p.HasExited) is { } exited)
                throw new InvalidOperationException($"{exited.StartInfo.FileName} exited with {exited.ExitCode} before {name} listened; logs in {Root}");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync("127.0.0.1", port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }
        throw new TimeoutException($"{name} did not listen on 127.0.0.1:{port} within {within}; logs in {Root}");
    }

    private void Stop()
    {
        foreach (var process in _processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException)
            {
                // already gone
            }
            process.Dispose();
        }
        _processes.Clear();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // a log still being written: the folder is in the temp directory
        }
    }

    private static string? Which(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/usr/bin", "/sbin"])
            .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);
}
