using System.Diagnostics;
using MailServer.Server.Configuration;
using MailServer.Tests.Configuration;
using NUnit.Framework;

namespace MailServer.Tests.Packaging;

/// <summary>
/// Issue 19: the Debian package. packaging/build-deb.sh packages the server's build output with dpkg-deb (no network);
/// the test reads the package back with dpkg-deb, checks the files, the control data and the systemd unit
/// (<c>systemd-analyze verify</c> when the machine has it), loads the packaged config and runs the packaged server's
/// <c>config check</c> on it.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class DebianPackageTests
{
    private static readonly TimeSpan Budget = TimeSpan.FromMinutes(5);

    private static (int Code, string Output) Run(string program, params string[] arguments)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Budget))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{program} did not finish within {Budget}");
        }
        process.WaitForExit(); // the output readers' end
        return (process.ExitCode, output.Result + error.Result);
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, program)));

    [Test]
    public void The_package_holds_the_server_its_hardened_unit_and_a_valid_config_on_the_standard_ports()
    {
        if (!OnPath("dpkg-deb"))
            Assert.Ignore("dpkg-deb is not installed");
        var root = ConfigFixtures.RepositoryRoot();
        var build = Path.Combine(root, "Server", "bin", "Release", "net10.0");
        Assert.That(File.Exists(Path.Combine(build, "mailserver.dll")), "build the solution in Release first");
        var work = Path.Combine(Path.GetTempPath(), "deb-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        try
        {
            var (code, output) = Run("sh", Path.Combine(root, "packaging", "build-deb.sh"), "--from", build, "--version", "1.2.3", "--output", work);
            Assert.That(code, Is.Zero, output);
            var deb = Path.Combine(work, "mailserver_1.2.3_amd64.deb");
            Assert.That(File.Exists(deb), output);

            var (_, info) = Run("dpkg-deb", "--info", deb);
            Assert.That(info, Does.Contain("Package: mailserver").And.Contain("Version: 1.2.3").And.Contain("Architecture: amd64")
                .And.Contain("Depends: aspnetcore-runtime-10.0, adduser"));
            var (_, contents) = Run("dpkg-deb", "--contents", deb);
            Assert.That(contents, Does.Contain("./usr/lib/mailserver/mailserver.dll").And.Contain("./usr/lib/mailserver/mailserver\n")
                .And.Contain("./usr/bin/mailserver").And.Contain("./etc/mailserver/appsettings.json")
                .And.Contain("./lib/systemd/system/mailserver.service").And.Contain("./usr/share/doc/mailserver/README.md"));
            Assert.That(contents, Does.Not.Contain("/data/").And.Not.Contain(".pdb").And.Not.Contain("usr/lib/mailserver/appsettings.json"),
                "nothing of a developer's run is packaged");
            Assert.That(contents.Split('\n')[0], Does.StartWith("drwxr-xr-x root/root"), "the package's root is 0755, owned by root");

            var extracted = Path.Combine(work, "root");
            Assert.That(Run("dpkg-deb", "-x", deb, extracted).Code, Is.Zero);
            var control = Path.Combine(work, "control");
            Assert.That(Run("dpkg-deb", "-e", deb, control).Code, Is.Zero);
            Assert.That(File.ReadAllText(Path.Combine(control, "conffiles")).Trim(), Is.EqualTo("/etc/mailserver/appsettings.json"));
            Assert.That(File.ReadAllText(Path.Combine(control, "postinst")), Does.Contain("adduser --system --group"));

            var unit = File.ReadAllText(Path.Combine(extracted, "lib", "systemd", "system", "mailserver.service"));
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
                var units = Path.Combine(work, "units");
                Directory.CreateDirectory(units);
                File.WriteAllText(Path.Combine(units, "mailserver.service"),
                    unit.Replace("ExecStart=/usr/lib/mailserver/", $"ExecStart={extracted}/usr/lib/mailserver/", StringComparison.Ordinal));
                var (verified, said) = Run("systemd-analyze", "verify", "--man=no", "--generators=no", "--recursive-errors=no",
                    Path.Combine(units, "mailserver.service"));
                Assert.That(verified, Is.Zero, said);
                Assert.That(said.Trim(), Is.Empty, "no warning about the unit");
            }

            // The packaged config: valid, standard ports, state in /var/lib/mailserver.
            var config = Path.Combine(extracted, "etc", "mailserver", "appsettings.json");
            var loaded = ConfigLoader.Load(config);
            Assert.That(loaded, Is.TypeOf<ConfigLoadResult.Ok>(), loaded is ConfigLoadResult.Invalid i ? string.Join("\n", i.Errors) : "");
            var ok = ((ConfigLoadResult.Ok)loaded).Config;
            Assert.That(ok.DataDirectory, Is.EqualTo("/var/lib/mailserver"));
            Assert.That((ok.Listeners.Smtp, ok.Listeners.Submission, ok.Listeners.Submissions, ok.Listeners.Imap, ok.Listeners.Imaps),
                Is.EqualTo((25, 587, 465, 143, 993)));

            // The packaged server runs: its config check accepts the packaged config.
            var (checkedCode, report) = Run("dotnet", Path.Combine(extracted, "usr", "lib", "mailserver", "mailserver.dll"), "config", "check",
                "--config", config, "--data", Path.Combine(work, "state"));
            Assert.That(checkedCode, Is.Zero, report);
            Assert.That(report, Does.Contain("smtp 25, submission 587, submissions 465, imap 143, imaps 993"));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
