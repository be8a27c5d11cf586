using System.Text;
using System.Text.Json.Nodes;
using MailServer.Server.Configuration;
using NUnit.Framework;

namespace MailServer.Tests.Configuration;

/// <summary>Structural edits of appsettings.json change only the bytes of the values concerned.</summary>
[TestFixture]
public sealed class JsonFileEditsTests
{
    private static readonly object[] Org = ["MailServer", "Organizations", 0];

    private static string Apply(string json, params JsonEdit[] edits) =>
        Encoding.UTF8.GetString(JsonFileEdits.Apply(Encoding.UTF8.GetBytes(json), edits));

    [Test]
    public void Appending_a_user_after_a_trailing_comma_keeps_comments_and_every_other_line()
    {
        var result = Apply(ConfigFixtures.ValidJson, new JsonEdit.Append(Org, "Users",
            new JsonObject { ["Email"] = "carol@example.test", ["DisplayName"] = "Carol", ["Aliases"] = new JsonArray() }));

        Assert.That(result, Does.Contain("// comments and trailing commas are allowed"));
        var bob = ConfigFixtures.ValidJson.Split('\n').Single(l => l.Contains("Bob@Example.test"));
        var indent = bob[..(bob.Length - bob.TrimStart().Length)];
        Assert.That(result, Does.Contain(bob + "\n" + indent + "{ \"Email\": \"carol@example.test\", \"DisplayName\": \"Carol\", \"Aliases\": [] },"),
            "one new line after Bob's, indented like it; the trailing comma is kept, not doubled");
        var removed = ConfigFixtures.ValidJson.Split('\n').Except(result.Split('\n'));
        Assert.That(removed, Is.Empty, "no line of the original disappears");
        Assert.That(ConfigLoader.Parse(result, "/srv/mail/appsettings.json"), Is.InstanceOf<ConfigLoadResult.Ok>());
    }

    [Test]
    public void Set_replaces_a_value_or_adds_the_property_and_Remove_takes_it_out()
    {
        const string json = "{ \"MailServer\": { \"A\": 1, \"B\": [ 1, 2 ] } }";
        Assert.That(Apply(json, new JsonEdit.Set(["MailServer"], "A", 2)), Is.EqualTo("{ \"MailServer\": { \"A\": 2, \"B\": [ 1, 2 ] } }"));
        Assert.That(Apply(json, new JsonEdit.Set(["MailServer"], "C", new JsonObject { ["D"] = true })),
            Is.EqualTo("{ \"MailServer\": { \"A\": 1, \"B\": [ 1, 2 ], \"C\": { \"D\": true } } }"));
        Assert.That(Apply(json, new JsonEdit.Remove(["MailServer"], "A")), Is.EqualTo("{ \"MailServer\": { \"B\": [ 1, 2 ] } }"));
        Assert.That(Apply(json, new JsonEdit.Remove(["MailServer"], "B")), Is.EqualTo("{ \"MailServer\": { \"A\": 1 } }"));
    }

    [Test]
    public void Items_are_appended_removed_and_replaced_in_place()
    {
        const string json = "{ \"L\": [ \"a\", \"b\", \"c\" ], \"E\": [], \"S\": [ \"x\" ] }";
        Assert.Multiple(() =>
        {
            Assert.That(Apply(json, new JsonEdit.RemoveItem(["L"], 1)), Is.EqualTo("{ \"L\": [ \"a\", \"c\" ], \"E\": [], \"S\": [ \"x\" ] }"));
            Assert.That(Apply(json, new JsonEdit.RemoveItem(["L"], 2)), Is.EqualTo("{ \"L\": [ \"a\", \"b\" ], \"E\": [], \"S\": [ \"x\" ] }"));
            Assert.That(Apply(json, new JsonEdit.RemoveItem(["S"], 0)), Is.EqualTo("{ \"L\": [ \"a\", \"b\", \"c\" ], \"E\": [], \"S\": [] }"));
            Assert.That(Apply(json, new JsonEdit.Append([], "E", "y")), Is.EqualTo("{ \"L\": [ \"a\", \"b\", \"c\" ], \"E\": [ \"y\" ], \"S\": [ \"x\" ] }"));
            Assert.That(Apply(json, new JsonEdit.Append([], "N", "z")), Is.EqualTo("{ \"L\": [ \"a\", \"b\", \"c\" ], \"E\": [], \"S\": [ \"x\" ], \"N\": [ \"z\" ] }"));
            Assert.That(Apply(json, new JsonEdit.ReplaceItem(["L"], 0, "A")), Is.EqualTo("{ \"L\": [ \"A\", \"b\", \"c\" ], \"E\": [], \"S\": [ \"x\" ] }"));
        });
    }

    [Test]
    public void A_new_item_of_a_multi_line_array_gets_its_own_line_with_the_siblings_indentation()
    {
        const string json = "{\n  \"L\": [\n    { \"a\": 1 },\n    { \"a\": 2 }\n  ]\n}";
        Assert.That(Apply(json, new JsonEdit.Append([], "L", new JsonObject { ["a"] = 3 })),
            Is.EqualTo("{\n  \"L\": [\n    { \"a\": 1 },\n    { \"a\": 2 },\n    { \"a\": 3 }\n  ]\n}"));
    }

    [Test]
    public void A_path_that_leads_nowhere_is_refused()
    {
        Assert.Throws<InvalidOperationException>(() => Apply("{ \"A\": 1 }", new JsonEdit.Append(["B"], "C", 1)));
        Assert.Throws<InvalidOperationException>(() => Apply("{ \"A\": [] }", new JsonEdit.RemoveItem(["A"], 0)));
    }
}
