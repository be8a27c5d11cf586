using System.Text.Json.Nodes;
using MailServer.Server.Configuration;
using NUnit.Framework;

namespace MailServer.Tests.Configuration;

/// <summary>Program writes into the config file: validated like a hand edit, applied live, never losing a concurrent edit.</summary>
[TestFixture]
public sealed class ConfigWriterTests
{
    private static readonly object[] Org = ["MailServer", "Organizations", 0];

    [Test]
    public async Task An_editors_save_between_planning_and_writing_is_kept_and_the_change_planned_again()
    {
        using var temp = new TempFolder();
        var path = temp.File("appsettings.json");
        await File.WriteAllTextAsync(path, ConfigFixtures.ValidJson);
        using var monitor = ConfigMonitor.Start(path, null, new ListLogger(), TimeSpan.FromHours(1));
        var writer = new ConfigWriter(monitor);
        var plans = 0;

        var result = await writer.UpdateAsync(doc =>
        {
            plans++;
            if (plans == 1)
            {
                // The administrator's editor saves a change while the API prepares its own.
                File.WriteAllText(path, File.ReadAllText(path).Replace("\"DisplayName\": \"Alice\"", "\"DisplayName\": \"Alice Liddell\""));
            }
            var users = doc.Config.Organizations[0].Users.Count;
            return new ConfigChange<int>([new JsonEdit.Append(Org, "Users", new JsonObject { ["Email"] = "carol@example.test" })], users);
        }, CancellationToken.None);

        Assert.That(plans, Is.EqualTo(2), "the first plan was made on content that changed under it");
        var file = await File.ReadAllTextAsync(path);
        Assert.That(file, Does.Contain("\"DisplayName\": \"Alice Liddell\""), "the editor's change is kept");
        Assert.That(file, Does.Contain("{ \"Email\": \"carol@example.test\" }"), "and so is the API's");
        Assert.That(result, Is.EqualTo(2));
        Assert.That(monitor.Current.FindUser("carol@example.test"), Is.Not.Null, "applied before UpdateAsync returns");
        Assert.That(monitor.Config.Organizations[0].Users[0].DisplayName, Is.EqualTo("Alice Liddell"));
    }

    [Test]
    public async Task Concurrent_writers_all_land()
    {
        using var temp = new TempFolder();
        var path = temp.File("appsettings.json");
        await File.WriteAllTextAsync(path, ConfigFixtures.ValidJson);
        using var monitor = ConfigMonitor.Start(path, null, new ListLogger(), TimeSpan.FromHours(1));
        var writer = new ConfigWriter(monitor);

        await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Task.Run(() => writer.UpdateAsync(
            _ => new ConfigChange<bool>([new JsonEdit.Append(Org, "Users", new JsonObject { ["Email"] = $"user{i}@example.test" })], true),
            CancellationToken.None))));

        var config = ConfigFixtures.LoadOk(JsonNode.Parse(await File.ReadAllTextAsync(path), documentOptions: new() { CommentHandling = System.Text.Json.JsonCommentHandling.Skip, AllowTrailingCommas = true })!);
        Assert.That(config.Organizations[0].Users.Select(u => u.Email), Is.SupersetOf(Enumerable.Range(0, 12).Select(i => $"user{i}@example.test")));
    }

    [Test]
    public async Task A_change_that_would_make_the_file_invalid_is_refused_with_its_path_and_nothing_is_written()
    {
        using var temp = new TempFolder();
        var path = temp.File("appsettings.json");
        await File.WriteAllTextAsync(path, ConfigFixtures.ValidJson);
        using var monitor = ConfigMonitor.Start(path, null, new ListLogger(), TimeSpan.FromHours(1));
        var writer = new ConfigWriter(monitor);

        var refused = Assert.ThrowsAsync<ConfigWriteRefusedException>(() => writer.UpdateAsync(
            _ => new ConfigChange<bool>([new JsonEdit.Set([.. Org, "Users", 0], "MailboxQuotaMiB", 999_999)], true), CancellationToken.None));

        Assert.That(refused!.Errors.Select(e => e.Path), Does.Contain("$.MailServer.Organizations[0].Users[0].MailboxQuotaMiB"));
        Assert.That(refused.FileWasInvalid, Is.False);
        Assert.That(await File.ReadAllTextAsync(path), Is.EqualTo(ConfigFixtures.ValidJson));
    }
}
