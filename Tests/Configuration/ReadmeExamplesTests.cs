using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MailServer.Server;
using NUnit.Framework;

namespace MailServer.Tests.Configuration;

/// <summary>
/// Every JSON example of the README is pasted into the repository's sample appsettings.json, as an administrator
/// would (server-wide sections into <c>MailServer</c>, organization keys into the organization, <c>MailboxRules</c>
/// into its first user), and must pass
/// <c>mailserver config check</c>: an example that fails as pasted is a documentation bug.
/// </summary>
[TestFixture]
public sealed class ReadmeExamplesTests
{
    private static readonly JsonDocumentOptions Lenient = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>The README's <c>```jsonc</c> blocks, named by their first key.</summary>
    public static IEnumerable<TestCaseData> Examples()
    {
        var readme = File.ReadAllText(Path.Combine(ConfigFixtures.RepositoryRoot(), "README.md"));
        foreach (Match block in Regex.Matches(readme, "^```jsonc\\n(.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline))
        {
            var text = block.Groups[1].Value;
            var key = Regex.Match(text, "\"([A-Za-z]+)\"").Groups[1].Value;
            yield return new TestCaseData(text).SetName($"README_{key}_example_passes_config_check_when_pasted_into_the_sample");
        }
    }

    [Test]
    public void The_README_has_a_FlowRules_example()
    {
        Assert.That(Examples().Select(e => e.TestName), Has.Some.Contains("FlowRules"));
    }

    [TestCaseSource(nameof(Examples))]
    public async Task Example(string text)
    {
        var fragment = JsonNode.Parse("{" + text + "}", documentOptions: Lenient)!.AsObject();
        var sample = JsonNode.Parse(File.ReadAllText(Path.Combine(ConfigFixtures.RepositoryRoot(), "appsettings.json")), documentOptions: Lenient)!.AsObject();
        var organization = sample["MailServer"]!["Organizations"]![0]!.AsObject();
        foreach (var (key, value) in fragment.ToList())
        {
            fragment.Remove(key);
            // Server-wide sections (Tls, Listeners, Delivery, Dns) go into MailServer, the rest into the organization.
            var target = key == "MailboxRules" ? organization["Users"]![0]!.AsObject()
                : key is "Tls" or "Listeners" or "Delivery" or "Dns" ? sample["MailServer"]!.AsObject()
                : organization;
            target[key] = value;
        }
        using var temp = new TempFolder();
        var path = temp.File("appsettings.json");
        File.WriteAllText(path, sample.ToJsonString());

        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Program.RunAsync(["config", "check", "--config", path], output, error, new StringReader(""));

        Assert.That(code, Is.Zero, $"{text}\n{output}{error}");
    }
}
