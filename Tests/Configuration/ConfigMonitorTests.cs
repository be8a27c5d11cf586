using NUnit.Framework;
using System.Text.Json.Nodes;
using MailServer.Server.Configuration;

namespace MailServer.Tests.Configuration;

[TestFixture]
public sealed class ConfigMonitorTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private static async Task<bool> Eventually(Func<bool> condition)
    {
        var until = DateTime.UtcNow + Deadline;
        while (DateTime.UtcNow < until)
        {
            if (condition())
                return true;
            await Task.Delay(50);
        }
        return condition();
    }

    private static void Write(string path, JsonNode root) => File.WriteAllText(path, root.ToJsonString());

    [Test]
    public async Task A_valid_edit_is_picked_up_and_raises_the_change_signals()
    {
        using var temp = new TempFolder();
        var path = temp.File("appsettings.json");
        var root = ConfigFixtures.Valid();
        Write(path, root);
        var logger = new ListLogger();
        using var monitor = ConfigMonitor.Start(path, null, logger);
        var token = monitor.GetReloadToken();
        ConfigSnapshot? raised = null;
        monitor.Changed += s => raised = s;
        Assert.That(monitor.Current.FindUser("carol@example.test"), Is.Null);

        root.Org()["Users"]!.AsArray().Add(new JsonObject { ["Email"] = "carol@example.test", ["MailboxQuotaMiB"] = 1 });
        Write(path, root);

        Assert.That(await Eventually(() => monitor.Current.FindUser("carol@example.test") is not null), Is.True,
            "the new user should appear after the edit");
        // The snapshot is published first, then the signals fire: a reader woken by a signal finds the new config.
        Assert.That(await Eventually(() => token.HasChanged && raised is not null), Is.True, "the change signals fire after the snapshot");
        Assert.Multiple(() =>
        {
            Assert.That(monitor.Current.FindUser("carol@example.test")!.MailboxQuotaBytes, Is.EqualTo(1024L * 1024));
            Assert.That(monitor.Snapshot.Generation, Is.EqualTo(2));
            Assert.That(token.HasChanged, Is.True);
            Assert.That(raised?.Generation, Is.EqualTo(2));
            Assert.That(logger.Entries.Select(e => e.Id.Id), Does.Contain(1001));
        });
    }

    [Test]
    public async Task A_replaced_file_is_picked_up_like_an_editor_save()
    {
        using var temp = new TempFolder();
        var path = temp.File("appsettings.json");
        var root = ConfigFixtures.Valid();
        Write(path, root);
        using var monitor = ConfigMonitor.Start(path, null, new ListLogger());

        root.User(1)["Enabled"] = false;
        var swap = temp.File("appsettings.json.swp");
        Write(swap, root);
        File.Move(swap, path, overwrite: true);

        Assert.That(await Eventually(() => monitor.Current.FindUser("bob@example.test") is { Enabled: false }), Is.True);
    }

    [Test]
    public async Task An_invalid_edit_is_refused_whole_and_every_error_logged_with_its_path()
    {
        using var temp = new TempFolder();
        var path = temp.File("appsettings.json");
        var root = ConfigFixtures.Valid();
        Write(path, root);
        var logger = new ListLogger();
        using var monitor = ConfigMonitor.Start(path, null, logger);
        var before = monitor.Snapshot;

        root.Org()["Users"]!.AsArray().Add(new JsonObject { ["Email"] = "carol@example.test" });
        root.User(0)["MailboxQuotaMiB"] = 0;
        Write(path, root);

        Assert.That(await Eventually(() => logger.Entries.Any(e => e.Id.Id == 1003)), Is.True, "the refusal should be logged");
        var logged = logger.Entries.Where(e => e.Id.Id == 1003)
            .Select(e => e.State.Single(kv => kv.Key == "JsonPath").Value as string).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(logged, Does.Contain("$.MailServer.Organizations[0].Users[0].MailboxQuotaMiB"));
            Assert.That(monitor.Snapshot, Is.SameAs(before), "the last good configuration stays");
            Assert.That(monitor.Current.FindUser("carol@example.test"), Is.Null, "nothing of the invalid edit is applied");
            Assert.That(logger.Entries.Single(e => e.Id.Id == 1002).Level, Is.EqualTo(Microsoft.Extensions.Logging.LogLevel.Error));
        });
    }

    [Test]
    public async Task Restart_only_values_keep_their_running_value_while_the_rest_applies()
    {
        using var temp = new TempFolder();
        var path = temp.File("appsettings.json");
        var root = ConfigFixtures.Valid();
        Write(path, root);
        var logger = new ListLogger();
        using var monitor = ConfigMonitor.Start(path, null, logger);

        root.MailServer()["Listeners"]!["Smtp"] = 2626;
        root.MailServer()["DataDirectory"] = "other-data";
        root.User(1)["DisplayName"] = "Robert";
        Write(path, root);

        Assert.That(await Eventually(() => monitor.Current.FindUser("bob@example.test")?.DisplayName == "Robert"), Is.True);
        var restartPaths = logger.Entries.Where(e => e.Id.Id == 1004)
            .Select(e => e.State.Single(kv => kv.Key == "JsonPath").Value as string).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(monitor.Config.Listeners.Smtp, Is.EqualTo(2525));
            Assert.That(monitor.Config.DataDirectory, Is.EqualTo(temp.File("data")));
            Assert.That(restartPaths, Is.EquivalentTo(new[] { "$.MailServer.Listeners", "$.MailServer.DataDirectory" }));
        });
    }

    [Test]
    public void Start_on_an_invalid_file_throws_with_every_error()
    {
        using var temp = new TempFolder();
        var path = temp.File("appsettings.json");
        var root = ConfigFixtures.Valid();
        root.Org()["Id"] = "x";
        Write(path, root);
        var logger = new ListLogger();
        var e = Assert.Throws<ConfigInvalidException>(() => ConfigMonitor.Start(path, null, logger));
        Assert.That(e!.Errors.Select(x => x.Path), Does.Contain("$.MailServer.Organizations[0].Id"));
        Assert.That(logger.Entries.Any(x => x.Id.Id == 1003), Is.True);
    }
}
