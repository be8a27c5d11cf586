using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Server.Configuration;
using MailServer.Tests.Configuration;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Packaging;

/// <summary>
/// Issue 19, "run it for real": the self-contained publish and the Debian package built from it. One
/// <c>dotnet publish -r linux-x64 --self-contained</c> per run (the fixture's set-up; incremental when nothing changed),
/// packaged by packaging/build-deb.sh with dpkg-deb and read back with dpkg-deb. The tests check the files, the control
/// data and the systemd unit (<c>systemd-analyze verify</c> when the machine has it); start the packaged launcher from
/// the extracted package with the packaged config (moved to loopback ports and a temporary state folder, nothing else
/// changed) and receive a message over SMTP and read it over IMAPS as the generated first-start password's user; and run
/// the maintainer scripts with every command they call replaced by a recorder, so no user is added and no folder of the
/// machine is touched (no systemd either: the scripts only call systemctl where /run/systemd/system exists).
/// </summary>
[TestFixture, NonParallelizable]
public sealed class DebianPackageTests
{
    private static readonly TimeSpan Budget = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan PublishBudget = TimeSpan.FromMinutes(8);

    private string _work = "";
    private string _deb = "";
    private string _extracted = "";
    private string _control = "";
    private string _buildOutput = "";

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, program)));

    private static async Task<ExternalProgramResult> RunAsync(string program, params string[] arguments) =>
        await ExternalProgram.RunAsync(program, arguments, Budget);

    /// <summary>The run's one self-contained publish, packaged and extracted once for every test of the fixture.</summary>
    [OneTimeSetUp]
    public async Task PublishAndPackageOnce()
    {
        if (!OnPath("dpkg-deb"))
            Assert.Ignore("dpkg-deb is not installed");
        var root = ConfigFixtures.RepositoryRoot();
        _work = Path.Combine(Path.GetTempPath(), "deb-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_work);
        // The publish folder inside the repository's build output (bin/ is ignored by git): a second run only copies
        // what changed. --disable-build-servers: no compiler or MSBuild server outlives the test.
        _buildOutput = Path.Combine(root, "Server", "bin", "Release", "net10.0", "linux-x64", "publish");
        var published = await ExternalProgram.RunAsync("dotnet",
            ["publish", Path.Combine(root, "Server", "MailServer.Server.csproj"), "-c", "Release", "-r", "linux-x64", "--self-contained",
             "-p:UseAppHost=true", "--disable-build-servers", "-nologo", "-v", "q", "-o", _buildOutput],
            PublishBudget, workingDirectory: root);
        Assert.That(published.ExitCode, Is.Zero, published.ToString());

        var built = await ExternalProgram.RunAsync("sh",
            [Path.Combine(root, "packaging", "build-deb.sh"), "--from", _buildOutput, "--version", "1.2.3", "--output", _work], Budget);
        Assert.That(built.ExitCode, Is.Zero, built.ToString());
        _deb = Path.Combine(_work, "mailserver_1.2.3_amd64.deb");
        Assert.That(File.Exists(_deb), built.ToString());
        _extracted = Path.Combine(_work, "root");
        Assert.That((await RunAsync("dpkg-deb", "-x", _deb, _extracted)).ExitCode, Is.Zero);
        _control = Path.Combine(_work, "control");
        Assert.That((await RunAsync("dpkg-deb", "-e", _deb, _control)).ExitCode, Is.Zero);
    }

    [OneTimeTearDown]
    public void RemoveWork()
    {
        if (_work.Length > 0 && Directory.Exists(_work))
            Directory.Delete(_work, recursive: true);
    }

    private string Launcher => Path.Combine(_extracted, "usr", "lib", "mailserver", "mailserver");

    [Test]
    public async Task The_package_holds_the_self_contained_server_its_hardened_unit_and_a_valid_config_on_the_standard_ports()
    {
        var info = (await RunAsync("dpkg-deb", "--info", _deb)).StandardOutput;
        Assert.That(info, Does.Contain("Package: mailserver").And.Contain("Version: 1.2.3").And.Contain("Architecture: amd64")
            .And.Contain("Depends: adduser, libc6, libgcc-s1, libstdc++6, libssl3 | libssl3t64"));
        Assert.That(info, Does.Not.Contain("aspnetcore-runtime"), "self-contained: no .NET install needed on the target");
        var contents = (await RunAsync("dpkg-deb", "--contents", _deb)).StandardOutput;
        Assert.That(contents, Does.Contain("./usr/lib/mailserver/mailserver.dll").And.Contain("./usr/lib/mailserver/mailserver\n")
            .And.Contain("./usr/lib/mailserver/libcoreclr.so").And.Contain("./usr/lib/mailserver/Microsoft.AspNetCore.Server.Kestrel.dll")
            .And.Contain("./usr/bin/mailserver").And.Contain("./etc/mailserver/appsettings.json")
            .And.Contain("./lib/systemd/system/mailserver.service").And.Contain("./usr/share/doc/mailserver/README.md"));
        Assert.That(contents, Does.Not.Contain("/data/").And.Not.Contain(".pdb").And.Not.Contain("usr/lib/mailserver/appsettings.json"),
            "nothing of a developer's run is packaged");
        Assert.That(contents.Split('\n')[0], Does.StartWith("drwxr-xr-x root/root"), "the package's root is 0755, owned by root");

        // The runtime it runs on is the one inside the package (includedFrameworks), not one looked up on the machine.
        using (var runtimeConfig = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_extracted, "usr", "lib", "mailserver", "mailserver.runtimeconfig.json"))))
        {
            var options = runtimeConfig.RootElement.GetProperty("runtimeOptions");
            Assert.That(options.TryGetProperty("includedFrameworks", out var included), runtimeConfig.RootElement.ToString());
            Assert.That(included.EnumerateArray().Select(f => f.GetProperty("name").GetString()),
                Is.SupersetOf(new[] { "Microsoft.NETCore.App", "Microsoft.AspNetCore.App" }));
            Assert.That(options.TryGetProperty("framework", out _) || options.TryGetProperty("frameworks", out _), Is.False);
        }

        Assert.That(File.ReadAllText(Path.Combine(_control, "conffiles")).Trim(), Is.EqualTo("/etc/mailserver/appsettings.json"));
        Assert.That(File.ReadAllText(Path.Combine(_control, "postinst")), Does.Contain("adduser --system --group"));
        Assert.That(File.ReadAllText(Path.Combine(_extracted, "usr", "bin", "mailserver")),
            Does.Contain("exec /usr/lib/mailserver/mailserver \"$@\" --config /etc/mailserver/appsettings.json"));

        var unit = File.ReadAllText(Path.Combine(_extracted, "lib", "systemd", "system", "mailserver.service"));
        foreach (var line in new[]
                 {
                     "User=mailserver", "StateDirectory=mailserver", "ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes",
                     "AmbientCapabilities=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "PrivateTmp=yes",
                     "ReadWritePaths=/etc/mailserver",
                     "ExecStart=/usr/lib/mailserver/mailserver run --config /etc/mailserver/appsettings.json --data /var/lib/mailserver",
                 })
            Assert.That(unit, Does.Contain("\n" + line + "\n"), line);

        if (OnPath("systemd-analyze"))
        {
            // The unit as installed, its ExecStart pointed at the extracted server (verify wants an existing executable).
            var units = Path.Combine(_work, "units");
            Directory.CreateDirectory(units);
            File.WriteAllText(Path.Combine(units, "mailserver.service"),
                unit.Replace("ExecStart=/usr/lib/mailserver/", $"ExecStart={_extracted}/usr/lib/mailserver/", StringComparison.Ordinal));
            var verified = await RunAsync("systemd-analyze", "verify", "--man=no", "--generators=no", "--recursive-errors=no",
                Path.Combine(units, "mailserver.service"));
            Assert.That(verified.ExitCode, Is.Zero, verified.ToString());
            Assert.That((verified.StandardOutput + verified.StandardError).Trim(), Is.Empty, "no warning about the unit");
        }

        // The packaged config: valid, standard ports, state in /var/lib/mailserver.
        var config = Path.Combine(_extracted, "etc", "mailserver", "appsettings.json");
        var loaded = ConfigLoader.Load(config);
        Assert.That(loaded, Is.TypeOf<ConfigLoadResult.Ok>(), loaded is ConfigLoadResult.Invalid i ? string.Join("\n", i.Errors) : "");
        var ok = ((ConfigLoadResult.Ok)loaded).Config;
        Assert.That(ok.DataDirectory, Is.EqualTo("/var/lib/mailserver"));
        Assert.That((ok.Listeners.Smtp, ok.Listeners.Submission, ok.Listeners.Submissions, ok.Listeners.Imap, ok.Listeners.Imaps, ok.Listeners.Https),
            Is.EqualTo((25, 587, 465, 143, 993, 443)));

        // The packaged launcher runs on its own runtime: its config check accepts the packaged config.
        var check = await ExternalProgram.RunAsync(Launcher, ["config", "check", "--config", config, "--data", Path.Combine(_work, "check-state")], Budget,
            environment: new Dictionary<string, string> { ["DOTNET_ROOT"] = Path.Combine(_work, "no-dotnet-here") });
        Assert.That(check.ExitCode, Is.Zero, check.ToString());
        Assert.That(check.StandardOutput, Does.Contain("smtp 25, submission 587, submissions 465, imap 143, imaps 993"));
    }

    [Test]
    public async Task The_packaged_server_starts_from_the_package_receives_a_message_and_serves_it_over_IMAPS()
    {
        await using var dns = LoopbackDnsServer.Start();
        var files = FilesUnder(_extracted);
        // The packaged config as an admin gets it, with only what a test machine needs changed: loopback and free ports
        // instead of 0.0.0.0 and the standard ones, and the run's empty DNS zone instead of the machine's resolver.
        var packaged = await File.ReadAllTextAsync(Path.Combine(_extracted, "etc", "mailserver", "appsettings.json"));
        await using var server = ServerProcess.Create(ports => Rewritten(packaged, ports, dns.Port));
        server.Executable = Launcher; // started as the unit starts it: run --config ... --data ...
        server.Environment["DOTNET_ROOT"] = Path.Combine(_work, "no-dotnet-here");
        await server.StartAsync(TimeSpan.FromSeconds(60));
        try
        {
            // First start: a password for each user without one, printed once (the packaged config has none).
            var generated = Regex.Match(server.Output, @"Generated password for alice@example\.test: (\S+)");
            Assert.That(generated.Success, server.Output);
            var fingerprint = Regex.Match(server.Output, @"TLS certificate .* SHA-256 fingerprint ([0-9A-F:]+)");
            Assert.That(fingerprint.Success, server.Output);

            var marker = "packaged-" + Guid.NewGuid().ToString("N")[..12];
            using (var mx = new SmtpClient { Timeout = 30_000 })
            {
                await mx.ConnectAsync("127.0.0.1", server.ListenerPorts.Smtp, SecureSocketOptions.None);
                var message = new MimeMessage();
                message.From.Add(MailboxAddress.Parse("someone@elsewhere.test"));
                message.To.Add(MailboxAddress.Parse("alice@example.test"));
                message.Subject = marker;
                message.Body = new TextPart("plain") { Text = "from the package" };
                await mx.SendAsync(message);
                await mx.DisconnectAsync(true);
            }

            X509Certificate2? presented = null;
            using var imap = new ImapClient { Timeout = 30_000 };
            imap.ServerCertificateValidationCallback = (_, certificate, _, _) =>
            {
                presented = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                return true; // the self-signed certificate: checked by its fingerprint below, as the README tells users to
            };
            await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
            Assert.That(presented, Is.Not.Null);
            Assert.That(Convert.ToHexString(SHA256.HashData(presented!.RawData)), Is.EqualTo(fingerprint.Groups[1].Value.Replace(":", "", StringComparison.Ordinal)),
                "IMAPS presents the certificate whose fingerprint the start-up log printed");
            await imap.AuthenticateAsync("alice@example.test", generated.Groups[1].Value);
            await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (imap.Inbox.Count == 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
                await imap.NoOpAsync();
            }
            Assert.That(imap.Inbox.Count, Is.EqualTo(1), "the message reached alice's Inbox");
            Assert.That((await imap.Inbox.GetMessageAsync(0)).Subject, Is.EqualTo(marker));
            await imap.DisconnectAsync(true);
        }
        finally
        {
            Assert.That(await server.StopAsync(), Is.Zero, "SIGTERM (systemctl stop) ends it cleanly:\n" + server.Output);
        }

        // ProtectSystem=strict makes /usr and the package's files read-only: the server wrote nothing beside itself,
        // and its state is in the data folder it was given.
        Assert.That(FilesUnder(_extracted), Is.EquivalentTo(files), "the server wrote into the package's folders");
        Assert.That(File.Exists(Path.Combine(server.DataDirectory, "passwords.json")));
        Assert.That(Directory.EnumerateFiles(Path.Combine(server.DataDirectory, "keys")), Is.Not.Empty);
    }

    /// <summary>The packaged config text with loopback, the given ports and the given DNS server; comments dropped.</summary>
    private static string Rewritten(string packaged, ServerProcess.Ports ports, int dnsPort)
    {
        var root = JsonNode.Parse(packaged, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true })!;
        var server = root["MailServer"]!;
        var listeners = server["Listeners"]!;
        listeners["BindAddress"] = "127.0.0.1";
        listeners["Smtp"] = ports.Smtp;
        listeners["Submission"] = ports.Submission;
        listeners["Submissions"] = ports.Submissions;
        listeners["Imap"] = ports.Imap;
        listeners["Imaps"] = ports.Imaps;
        listeners["Https"] = ports.Https;
        listeners["Admin"] = $"127.0.0.1:{ports.Admin}";
        server["Dns"] = new JsonObject { ["Servers"] = new JsonArray("127.0.0.1"), ["Port"] = dnsPort };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static List<string> FilesUnder(string folder) =>
        Directory.EnumerateFileSystemEntries(folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(folder, f)).Order(StringComparer.Ordinal).ToList();

    [Test, System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task The_maintainer_scripts_add_the_user_and_folders_keep_them_on_remove_and_purge_them_with_every_command_recorded_not_run()
    {
        foreach (var script in new[] { "postinst", "prerm", "postrm" })
        {
            var syntax = await RunAsync("sh", "-n", Path.Combine(_control, script));
            Assert.That(syntax.ExitCode, Is.Zero, $"{script}: {syntax}");
        }

        // Every program the scripts may call is a recorder on a PATH that holds nothing else: a command the test did
        // not foresee fails the script (set -e) instead of running on this machine.
        var shims = Path.Combine(_work, "shims");
        Directory.CreateDirectory(shims);
        var log = Path.Combine(_work, "calls.log");
        foreach (var program in new[] { "getent", "adduser", "deluser", "install", "chown", "chmod", "rm", "systemctl" })
        {
            var path = Path.Combine(shims, program);
            var status = program == "getent" ? "${GETENT_STATUS:-2}" : "0";
            File.WriteAllText(path, $"#!/bin/sh\nprintf '%s\\n' \"${{0##*/}} $*\" >> \"$CALLS\"\nexit {status}\n");
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var systemd = Directory.Exists("/run/systemd/system");

        async Task<string[]> Maintain(string script, string argument, bool userExists)
        {
            File.WriteAllText(log, "");
            var ran = await ExternalProgram.RunAsync("/bin/sh", [Path.Combine(_control, script), argument], Budget, workingDirectory: _work,
                environment: new Dictionary<string, string> { ["PATH"] = shims, ["CALLS"] = log, ["GETENT_STATUS"] = userExists ? "0" : "2" });
            Assert.That(ran.ExitCode, Is.Zero, $"{script} {argument}: {ran}");
            return File.ReadAllLines(log).Where(l => !l.StartsWith("systemctl ", StringComparison.Ordinal)).ToArray();
        }

        // Install: the system user, then the state folder and the config's owner and modes.
        Assert.That(await Maintain("postinst", "configure", userExists: false), Is.EqualTo(new[]
        {
            "getent passwd mailserver",
            "adduser --system --group --home /var/lib/mailserver --no-create-home --gecos mailserver mailserver",
            "install -d -o mailserver -g mailserver -m 0750 /var/lib/mailserver",
            "chown mailserver:mailserver /etc/mailserver",
            "chmod 0750 /etc/mailserver",
            "chown mailserver:mailserver /etc/mailserver/appsettings.json",
            "chmod 0640 /etc/mailserver/appsettings.json",
        }));
        // Upgrade: the user exists, it is not added again.
        Assert.That(await Maintain("postinst", "configure", userExists: true), Does.Not.Contain(
            "adduser --system --group --home /var/lib/mailserver --no-create-home --gecos mailserver mailserver").And.Contains("getent passwd mailserver"));
        // Remove keeps the state and the user; purge removes both.
        Assert.That(await Maintain("prerm", "remove", userExists: true), Is.Empty);
        Assert.That(await Maintain("postrm", "remove", userExists: true), Is.Empty);
        Assert.That(await Maintain("postrm", "purge", userExists: true), Is.EqualTo(new[]
        {
            "rm -rf /var/lib/mailserver",
            "getent passwd mailserver",
            "deluser --system mailserver",
        }));
        if (systemd)
        {
            // With systemd running, postinst enables and restarts the unit (not checked where there is none).
            await Maintain("postinst", "configure", userExists: true);
            Assert.That(File.ReadAllLines(log), Does.Contain("systemctl enable mailserver.service").And.Contains("systemctl restart mailserver.service"));
        }
    }
}
