using NUnit.Framework;
using System.Text.Json.Nodes;
using MailServer.Server;
using MailServer.Server.Configuration;
using MailServer.Server.Security;
using MailServer.Tests.Configuration;

namespace MailServer.Tests.Cli;

[TestFixture]
public sealed class CliTests
{
    private sealed record Outcome(int ExitCode, string Out, string Error);

    private static async Task<Outcome> Run(string stdin, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Program.RunAsync(args, output, error, new StringReader(stdin));
        return new Outcome(code, output.ToString(), error.ToString());
    }

    private static string WriteConfig(TempFolder temp, JsonNode root)
    {
        var path = temp.File("appsettings.json");
        File.WriteAllText(path, root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    [Test]
    public async Task Config_check_prints_OK_and_a_summary_for_a_valid_file()
    {
        using var temp = new TempFolder();
        var path = WriteConfig(temp, ConfigFixtures.Valid());
        var result = await Run("", "config", "check", "--config", path);
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(0));
            Assert.That(result.Out, Does.StartWith($"OK {path}"));
            Assert.That(result.Out, Does.Contain("organization example (m-0123456789abcdef0123456789abcdef)"));
            Assert.That(result.Out, Does.Contain($"data directory: {temp.File("data")}"));
            Assert.That(result.Error, Is.Empty);
        });
    }

    [Test]
    public async Task Config_check_prints_every_error_with_its_path_and_exits_1()
    {
        using var temp = new TempFolder();
        var root = ConfigFixtures.Valid();
        root.Org()["Id"] = "m-1";
        root.User(1)["Emial"] = "x";
        var path = WriteConfig(temp, root);
        var result = await Run("", "config", "check", $"--config={path}");
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(1));
            Assert.That(result.Error, Does.Contain("$.MailServer.Organizations[0].Id: 'm-1' does not match"));
            Assert.That(result.Error, Does.Contain("$.MailServer.Organizations[0].Users[1].Emial: unknown key"));
            Assert.That(result.Error, Does.Contain("2 error(s)"));
            Assert.That(result.Out, Is.Empty);
        });
    }

    [Test]
    public async Task The_data_option_is_honoured()
    {
        using var temp = new TempFolder();
        var path = WriteConfig(temp, ConfigFixtures.Valid());
        var result = await Run("", "config", "check", "--config", path, "--data", temp.File("elsewhere"));
        Assert.That(result.Out, Does.Contain($"data directory: {temp.File("elsewhere")}"));
    }

    [Test]
    public async Task Hash_password_prints_a_verifiable_phc_hash()
    {
        var result = await Run("Correct-Horse-1\n", "hash-password");
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(0));
            Assert.That(result.Out, Does.StartWith("$pbkdf2-sha256$i=600000,l=32$"));
            Assert.That(PasswordHasher.VerifyUncached("Correct-Horse-1", result.Out.Trim()), Is.True);
        });
    }

    [Test]
    public async Task Hash_password_refuses_a_weak_password_with_the_reason()
    {
        var result = await Run("password\n", "hash-password");
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(1));
            Assert.That(result.Error, Does.Contain("password refused by the password policy"));
            Assert.That(result.Error, Does.Contain("1 of the 5 character classes"));
            Assert.That(result.Out, Is.Empty);
        });
    }

    [Test]
    public async Task Hash_password_without_input_exits_1()
    {
        var result = await Run("", "hash-password");
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Error, Does.Contain("no password on standard input"));
    }

    [Test]
    public async Task User_passwd_of_a_user_with_a_hash_in_the_config_file_changes_exactly_that_value_and_keeps_comments()
    {
        using var temp = new TempFolder();
        var path = temp.File("appsettings.json");
        var old = PasswordHasher.Hash("Old-Horse-1", iterations: 1000);
        var bobAt = ConfigFixtures.ValidJson.IndexOf("Bob@Example.test", StringComparison.Ordinal);
        var original = ConfigFixtures.ValidJson[..bobAt] + ConfigFixtures.ValidJson[bobAt..].Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{old}\"");
        File.WriteAllText(path, original);

        var result = await Run("Correct-Horse-1\n", "user", "passwd", "BOB@example.test", "--config", path);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.Error);
        var edited = File.ReadAllText(path);
        var config = ((ConfigLoadResult.Ok)ConfigLoader.Load(path)).Config;
        var hash = config.Organizations[0].Users[1].PasswordHash;
        Assert.Multiple(() =>
        {
            Assert.That(PasswordHasher.VerifyUncached("Correct-Horse-1", hash), Is.True);
            Assert.That(config.Organizations[0].Users[0].PasswordHash, Is.Null, "alice is untouched");
            // Putting the old hash back gives the original file byte for byte: only that value changed.
            Assert.That(edited.Replace($"\"{hash}\"", $"\"{old}\""), Is.EqualTo(original));
            Assert.That(File.Exists(temp.File(Path.Combine("data", "passwords.json"))), Is.False);
            Assert.That(result.Out, Does.Contain($"Password of bob@example.test updated in {path}"));
        });
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task User_passwd_of_a_user_without_a_hash_in_the_config_file_writes_the_data_folders_password_file(bool nullHash)
    {
        using var temp = new TempFolder();
        var root = ConfigFixtures.Valid();
        if (!nullHash)
            root.User(1).Remove("PasswordHash");
        var path = WriteConfig(temp, root);
        var before = File.ReadAllBytes(path);

        var result = await Run("Correct-Horse-1\n", "user", "passwd", "bob@example.test", "--config", path);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.Error);
        var passwords = temp.File(Path.Combine("data", "passwords.json"));
        var config = ((ConfigLoadResult.Ok)ConfigLoader.Load(path)).Config;
        Assert.Multiple(() =>
        {
            Assert.That(PasswordHasher.VerifyUncached("Correct-Horse-1", config.Organizations[0].Users[1].PasswordHash), Is.True);
            Assert.That(File.ReadAllBytes(path), Is.EqualTo(before), "the administrator's file is not rewritten");
            Assert.That(result.Out, Does.Contain($"Password of bob@example.test updated in {passwords}"));
            if (!OperatingSystem.IsWindows())
                Assert.That(File.GetUnixFileMode(passwords), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        });
    }

    [Test]
    public void A_bad_hash_in_the_password_file_is_refused_with_its_path()
    {
        using var temp = new TempFolder();
        var path = WriteConfig(temp, ConfigFixtures.Valid());
        Directory.CreateDirectory(temp.File("data"));
        File.WriteAllText(temp.File(Path.Combine("data", "passwords.json")), "{ \"PasswordHashes\": { \"bob@example.test\": \"plain\" } }");
        var errors = ((ConfigLoadResult.Invalid)ConfigLoader.Load(path)).Errors;
        Assert.That(errors.Single().Path, Does.EndWith("passwords.json:$.PasswordHashes['bob@example.test']"));
    }

    [Test]
    public async Task User_passwd_finds_a_user_by_alias_and_refuses_unknown_users_and_weak_passwords()
    {
        using var temp = new TempFolder();
        var path = WriteConfig(temp, ConfigFixtures.Valid());
        var before = File.ReadAllText(path);

        var unknown = await Run("Correct-Horse-1\n", "user", "passwd", "carol@example.test", "--config", path);
        var weak = await Run("short\n", "user", "passwd", "a@other.test", "--config", path);

        Assert.Multiple(() =>
        {
            Assert.That(unknown.ExitCode, Is.EqualTo(1));
            Assert.That(unknown.Error, Does.Contain("no user has the address 'carol@example.test'"));
            Assert.That(weak.ExitCode, Is.EqualTo(1));
            Assert.That(weak.Error, Does.Contain("at least 8 are needed"));
            Assert.That(File.ReadAllText(path), Is.EqualTo(before), "nothing was written");
        });
    }

    [Test]
    public async Task User_passwd_on_an_invalid_config_changes_nothing()
    {
        using var temp = new TempFolder();
        var root = ConfigFixtures.Valid();
        root.Org()["Id"] = "bad";
        var path = WriteConfig(temp, root);
        var before = File.ReadAllText(path);
        var result = await Run("Correct-Horse-1\n", "user", "passwd", "bob@example.test", "--config", path);
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Error, Does.Contain("$.MailServer.Organizations[0].Id"));
        Assert.That(File.ReadAllText(path), Is.EqualTo(before));
    }

    [TestCase("config check", "usage: mailserver config check [--config FILE] [--data DIR]")]
    [TestCase("hash-password", "usage: mailserver hash-password [--config FILE] [--data DIR]")]
    [TestCase("user passwd", "usage: mailserver user passwd ADDRESS [--config FILE] [--data DIR]")]
    [TestCase("run", "usage: mailserver run [--config FILE] [--data DIR]")]
    public async Task Every_verb_has_help(string verb, string usage)
    {
        var result = await Run("", [.. verb.Split(' '), "--help"]);
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(0));
            Assert.That(result.Out, Does.StartWith(usage));
            Assert.That(result.Out, Does.Contain("--data DIR"));
            Assert.That(result.Out, Does.Contain("Exit codes: 0 ok, 1 invalid input or configuration, 2 runtime failure."));
        });
    }

    [Test]
    public async Task Top_level_help_lists_the_verbs()
    {
        var result = await Run("", "--help");
        Assert.That(result.ExitCode, Is.EqualTo(0));
        Assert.That(result.Out, Does.Contain("config check").And.Contain("hash-password").And.Contain("user passwd ADDRESS"));
    }

    [TestCase(new[] { "frobnicate" }, "unknown command 'frobnicate'")]
    [TestCase(new[] { "config" }, "'config' needs a sub-command")]
    [TestCase(new[] { "config", "check", "--verbose" }, "unknown option '--verbose'")]
    [TestCase(new[] { "config", "check", "--config" }, "--config needs a value")]
    [TestCase(new[] { "user", "passwd" }, "'user passwd' takes ADDRESS")]
    public async Task Bad_command_lines_exit_1(string[] args, string message)
    {
        var result = await Run("", args);
        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Error, Does.Contain(message));
    }

    [Test]
    public async Task First_start_generates_prints_and_stores_passwords_once()
    {
        using var temp = new TempFolder();
        var path = temp.File("appsettings.json");
        File.WriteAllText(path, ConfigFixtures.ValidJson);
        var output = new StringWriter();

        var generated = await FirstStartPasswords.EnsureAsync(path, null, output, CancellationToken.None, iterations: 1000);
        var again = await FirstStartPasswords.EnsureAsync(path, null, new StringWriter(), CancellationToken.None, iterations: 1000);

        var users = ((ConfigLoadResult.Ok)ConfigLoader.Load(path)).Config.Organizations[0].Users;
        Assert.Multiple(() =>
        {
            Assert.That(generated.Select(g => g.Email), Is.EqualTo(new[] { "alice@example.test", "bob@example.test" }));
            Assert.That(output.ToString(), Is.EqualTo(
                $"Generated password for alice@example.test: {generated[0].Password}{Environment.NewLine}" +
                $"Generated password for bob@example.test: {generated[1].Password}{Environment.NewLine}"));
            Assert.That(PasswordHasher.VerifyUncached(generated[0].Password, users[0].PasswordHash), Is.True);
            Assert.That(PasswordHasher.VerifyUncached(generated[1].Password, users[1].PasswordHash), Is.True);
            Assert.That(PasswordPolicy.Check(generated[0].Password), Is.Empty);
            Assert.That(again, Is.Empty, "the second start generates nothing");
            Assert.That(File.ReadAllText(path), Is.EqualTo(ConfigFixtures.ValidJson), "appsettings.json is left as it was");
            Assert.That(File.Exists(temp.File(Path.Combine("data", "passwords.json"))), "the hashes live in the data folder");
        });
    }

    [Test]
    public async Task A_password_set_by_the_cli_reaches_a_running_monitor()
    {
        using var temp = new TempFolder();
        var path = WriteConfig(temp, ConfigFixtures.Valid());
        using var monitor = ConfigMonitor.Start(path, null, new ListLogger());

        var result = await Run("Correct-Horse-1\n", "user", "passwd", "alice@example.test", "--config", path);
        Assert.That(result.ExitCode, Is.EqualTo(0), result.Error);

        var until = DateTime.UtcNow.AddSeconds(10);
        while (monitor.Current.FindUser("alice@example.test")?.PasswordHash is null && DateTime.UtcNow < until)
            await Task.Delay(50);
        Assert.That(new PasswordHasher().Verify("Correct-Horse-1", monitor.Current.FindUser("alice@example.test")?.PasswordHash), Is.True);
    }
    [Test]
    public async Task Events_query_refuses_an_unknown_event_name_and_lists_the_valid_ones()
    {
        using var temp = new TempFolder();
        var path = WriteConfig(temp, ConfigFixtures.Valid());

        var result = await Run("", "events", "query", "--event", "NOPE", "--config", path);

        Assert.That(result.ExitCode, Is.EqualTo(1));
        Assert.That(result.Out, Is.Empty);
        Assert.That(result.Error, Does.Contain("--event 'NOPE' is not an event name; the names are: ORGANIZATION_EMAIL_RECEIVED, MAILBOX_EMAIL_DELIVERED")
            .And.Contain("DMARC_POLICY_APPLIED"));
        Assert.That((await Run("", "events", "query", "--event", "mailbox_email_delivered", "--config", path)).ExitCode, Is.Zero,
            "names compare case-insensitively, like the filter itself");
    }

    [Test]
    public void The_event_name_list_holds_every_event_the_server_writes()
    {
        var written = typeof(MailServer.Server.Events.EmailEvent).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(MailServer.Server.Events.EmailEvent)) && !t.IsAbstract)
            .Select(t => ((MailServer.Server.Events.EmailEvent)System.Runtime.CompilerServices.RuntimeHelpers.GetUninitializedObject(t)).EventName)
            .Distinct();

        Assert.That(MailServer.Server.Events.EmailEvent.Names, Is.EquivalentTo(written));
    }
}
