using System.Text;
using MailKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>UTF8=ACCEPT (RFC 6855): ENABLE, UTF-8 mailbox names both ways, APPEND with the UTF8 data extension.</summary>
[TestFixture]
public sealed class Utf8AcceptTests
{
    [Test]
    public async Task Enabled_client_uses_utf8_names_while_others_see_modified_utf7()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        await using var legacy = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("c0", "CAPABILITY"), Has.Some.Contains(" UTF8=ACCEPT"));
        Assert.That(await client.CommandAsync("e1", "ENABLE UTF8=ACCEPT"), Is.EqualTo(new[] { "* ENABLED UTF8=ACCEPT", "e1 OK ENABLE completed" }));

        Assert.That(await client.CommandAsync("c1", "CREATE \"Répertoire/日本\""), Has.Count.EqualTo(1).And.All.Matches(@"^c1 OK \[MAILBOXID \(F[0-9a-f]{32}\)\] CREATE completed$"));
        Assert.That(await client.CommandAsync("l1", "LIST \"\" \"Répertoire*\""), Is.EqualTo(new[]
        {
            "* LIST (\\HasChildren) \"/\" \"Répertoire\"", // the superior level CREATE made (RFC 9051 §6.3.4)
            "* LIST (\\HasNoChildren) \"/\" \"Répertoire/日本\"",
            "l1 OK LIST completed",
        }));
        // RFC 6855 §3: a client that did not enable UTF-8 keeps modified UTF-7 (RFC 3501 §5.1.3).
        Assert.That(await legacy.CommandAsync("l2", "LIST \"\" \"R*\""), Is.EqualTo(new[]
        {
            "* LIST (\\HasChildren) \"/\" R&AOk-pertoire",
            "* LIST (\\HasNoChildren) \"/\" R&AOk-pertoire/&ZeVnLA-",
            "l2 OK LIST completed",
        }));

        // RFC 6855 §4: APPEND ... UTF8 (literal8) with an internationalised header.
        var folder = server.Store.FindFolder(await server.MailboxIdAsync("alice"), "Répertoire/日本")!;
        var message = Encoding.UTF8.GetBytes("From: Jörg <jörg@example.test>\r\nSubject: Grüße\r\n\r\nHallo\r\n");
        await client.SendRawAsync(Encoding.UTF8.GetBytes($"a1 APPEND \"Répertoire/日本\" UTF8 (~{{{message.Length}+}}\r\n")
            .Concat(message).Concat(")\r\n"u8.ToArray()).ToArray());
        Assert.That(await client.ReadUntilTaggedAsync("a1"), Is.EqualTo(new[] { $"a1 OK [APPENDUID {folder.UidValidity} 1] APPEND completed" }));
        Assert.That(await client.CommandAsync("s1", "SELECT \"Répertoire/日本\""), Does.Contain("* 1 EXISTS"));
        Assert.That(await client.CommandAsync("f1", "FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]"), Has.Some.Contains("Subject: Grüße"));

        // Without ENABLE UTF8=ACCEPT the UTF8 form is refused.
        Assert.That(await legacy.CommandAsync("a2", "APPEND INBOX UTF8 (~{3+}\r\nabc)"), Is.EqualTo(new[] { "a2 BAD APPEND UTF8 needs ENABLE UTF8=ACCEPT" }));
    }

    [Test]
    public async Task MailKit_with_utf8_enabled_creates_and_lists_unicode_folders()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.MailKitAsync();
        Assert.That(client.Capabilities.HasFlag(MailKit.Net.Imap.ImapCapabilities.UTF8Accept), Is.True);
        await client.EnableUTF8Async();
        var personal = client.GetFolder(client.PersonalNamespaces[0]);
        await personal.CreateAsync("Ελληνικά", true);
        var names = (await personal.GetSubfoldersAsync()).Select(f => f.Name).ToList();
        Assert.That(names, Does.Contain("Ελληνικά"));
        Assert.That(server.Store.FindFolder(await server.MailboxIdAsync("alice"), "Ελληνικά"), Is.Not.Null);
        await client.DisconnectAsync(true);
    }
}
