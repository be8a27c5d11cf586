using MailKit;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>METADATA (RFC 5464): server and mailbox annotations, private and shared, kept sealed in the store; the RFC's
/// examples for SETMETADATA / GETMETADATA with DEPTH and MAXSIZE, and the refusals.</summary>
[TestFixture]
public sealed class MetadataTests
{
    [Test]
    public async Task Rfc_examples_set_and_get_server_and_mailbox_entries()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("c", "CAPABILITY"), Has.Some.Contains(" METADATA "));

        // RFC 5464 §4.3 examples: a shared comment on INBOX, then removing it with NIL; a private server entry.
        Assert.That(await client.CommandAsync("a", "SETMETADATA INBOX (/shared/comment \"My new comment\")"), Is.EqualTo(new[] { "a OK SETMETADATA completed" }));
        Assert.That(await client.CommandAsync("b", "SETMETADATA INBOX (/private/comment {14+}\r\nMy own comment /private/vendor/x/a \"1\" /private/vendor/x/b/c \"2\")"),
            Is.EqualTo(new[] { "b OK SETMETADATA completed" }));
        Assert.That(await client.CommandAsync("s", "SETMETADATA \"\" (/private/vendor/client/theme \"dark\")"), Is.EqualTo(new[] { "s OK SETMETADATA completed" }));

        // RFC 5464 §4.2 examples: one entry, several, a missing one is NIL; names are case-insensitive.
        Assert.That(await client.CommandAsync("g1", "GETMETADATA INBOX /shared/Comment"),
            Is.EqualTo(new[] { "* METADATA INBOX (/shared/comment \"My new comment\")", "g1 OK GETMETADATA completed" }));
        Assert.That(await client.CommandAsync("g2", "GETMETADATA INBOX (/shared/comment /private/comment /shared/missing)"), Is.EqualTo(new[]
        {
            "* METADATA INBOX (/private/comment \"My own comment\" /shared/comment \"My new comment\" /shared/missing NIL)", "g2 OK GETMETADATA completed",
        }));
        // DEPTH 1 / infinity (§4.2.2) and MAXSIZE with LONGENTRIES (§4.2.1).
        Assert.That(await client.CommandAsync("g3", "GETMETADATA (DEPTH 1) INBOX /private/vendor/x"), Is.EqualTo(new[]
        {
            "* METADATA INBOX (/private/vendor/x NIL /private/vendor/x/a \"1\")", "g3 OK GETMETADATA completed",
        }));
        Assert.That(await client.CommandAsync("g4", "GETMETADATA (DEPTH infinity) INBOX /private"), Is.EqualTo(new[]
        {
            "* METADATA INBOX (/private/comment \"My own comment\" /private/vendor/x/a \"1\" /private/vendor/x/b/c \"2\")", "g4 OK GETMETADATA completed",
        }));
        Assert.That(await client.CommandAsync("g5", "GETMETADATA (MAXSIZE 5 DEPTH infinity) INBOX /private"), Is.EqualTo(new[]
        {
            "* METADATA INBOX (/private/vendor/x/a \"1\" /private/vendor/x/b/c \"2\")", "g5 OK [METADATA LONGENTRIES 14] GETMETADATA completed",
        }));
        Assert.That(await client.CommandAsync("g6", "GETMETADATA \"\" /private/vendor/client/theme"), Is.EqualTo(new[]
        {
            "* METADATA \"\" (/private/vendor/client/theme \"dark\")", "g6 OK GETMETADATA completed",
        }));
        Assert.That(await client.CommandAsync("d", "SETMETADATA INBOX (/shared/comment NIL)"), Is.EqualTo(new[] { "d OK SETMETADATA completed" }));
        Assert.That(await client.CommandAsync("g7", "GETMETADATA INBOX /shared/comment"),
            Is.EqualTo(new[] { "* METADATA INBOX (/shared/comment NIL)", "g7 OK GETMETADATA completed" }));

        // Kept across RENAME (the folder's annotations follow it), gone with DELETE.
        await client.CommandAsync("cr", "CREATE Projects");
        await client.CommandAsync("p", "SETMETADATA Projects (/shared/comment \"work\")");
        await client.CommandAsync("rn", "RENAME Projects Work");
        Assert.That(await client.CommandAsync("g8", "GETMETADATA Work /shared/comment"), Has.Some.EqualTo("* METADATA Work (/shared/comment \"work\")"));
        await client.CommandAsync("dl", "DELETE Work");
        await client.CommandAsync("cr2", "CREATE Work");
        Assert.That(await client.CommandAsync("g9", "GETMETADATA Work /shared/comment"), Has.Some.EqualTo("* METADATA Work (/shared/comment NIL)"));

        // Stored sealed: the value is not in the database file as plain text.
        await server.Store.DisposeAsync();
        var files = Directory.GetFiles(server.DataDirectory, "*", SearchOption.AllDirectories);
        Assert.That(files.Any(f => File.ReadAllText(f, System.Text.Encoding.Latin1).Contains("My own comment", StringComparison.Ordinal)), Is.False);
    }

    [Test]
    public async Task Refusals_bad_names_too_large_too_many_noprivate_and_shared_server_entries()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        foreach (var bad in new[] { "/comment", "/shared/", "/shared//x", "/shared/a*", "/private", "shared/x" })
            Assert.That((await client.CommandAsync("b", $"SETMETADATA INBOX ({bad} \"x\")"))[^1], Does.StartWith("b BAD "), bad);
        Assert.That((await client.CommandAsync("b2", "GETMETADATA INBOX /shared/%"))[^1], Does.StartWith("b2 BAD "));
        Assert.That((await client.CommandAsync("b3", "GETMETADATA (DEPTH 2) INBOX /shared"))[^1], Does.StartWith("b3 BAD "));
        var big = new string('x', 16 * 1024 + 1);
        Assert.That(await client.CommandAsync("m", $"SETMETADATA INBOX (/shared/big {{{big.Length}+}}\r\n{big})"),
            Is.EqualTo(new[] { "m NO [METADATA MAXSIZE 16384] The value is too large" }));
        var many = string.Join(' ', Enumerable.Range(1, 51).Select(i => $"/private/n{i} \"v\""));
        Assert.That(await client.CommandAsync("t", $"SETMETADATA INBOX ({many})"), Is.EqualTo(new[] { "t NO [METADATA TOOMANY] Too many annotations" }));
        Assert.That(await client.CommandAsync("g", "GETMETADATA INBOX /private/n1"), Has.Some.EqualTo("* METADATA INBOX (/private/n1 NIL)"), "nothing was set");
        Assert.That(await client.CommandAsync("sv", "SETMETADATA \"\" (/shared/admin \"mailto:me@example.test\")"),
            Is.EqualTo(new[] { "sv NO [NOPERM] Shared server annotations are the administrator's" }));
        Assert.That(await client.CommandAsync("nx", "SETMETADATA Nowhere (/shared/comment \"x\")"), Is.EqualTo(new[] { "nx NO [NONEXISTENT] No such mailbox" }));

        // Another user's folder through Full Access: shared entries both ways, private ones refused.
        server.SetPermissions(new MailServer.Rules.Directory.DirectoryPermission("bob@example.test", "alice@example.test", MailServer.Rules.Directory.MailboxRights.FullAccess));
        await using var bob = await server.LoggedInAsync("bob");
        await bob.CommandAsync("b1", "SETMETADATA INBOX (/shared/comment \"bob's inbox\" /private/comment \"mine\")");
        Assert.That(await client.CommandAsync("o1", "GETMETADATA \"Other Users/bob@example.test/INBOX\" (/shared/comment /private/comment)"), Is.EqualTo(new[]
        {
            "* METADATA \"Other Users/bob@example.test/INBOX\" (/private/comment NIL /shared/comment \"bob's inbox\")", "o1 OK GETMETADATA completed",
        }));
        Assert.That(await client.CommandAsync("o2", "SETMETADATA \"Other Users/bob@example.test/INBOX\" (/private/comment \"x\")"),
            Is.EqualTo(new[] { "o2 NO [METADATA NOPRIVATE] Private annotations are kept on one's own mailboxes only" }));
    }

    [Test]
    public async Task MailKit_sets_and_reads_mailbox_and_server_annotations()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.MailKitAsync();
        Assert.That(client.Capabilities.HasFlag(MailKit.Net.Imap.ImapCapabilities.Metadata), Is.True);
        await client.Inbox.SetMetadataAsync(new MetadataCollection { new Metadata(MetadataTag.SharedComment, "team inbox"), new Metadata(MetadataTag.PrivateComment, "mine") });
        Assert.That(await client.Inbox.GetMetadataAsync(MetadataTag.SharedComment), Is.EqualTo("team inbox"));
        Assert.That(await client.Inbox.GetMetadataAsync(MetadataTag.PrivateComment), Is.EqualTo("mine"));
        await client.SetMetadataAsync(new MetadataCollection { new Metadata(new MetadataTag("/private/vendor/test/theme"), "dark") });
        Assert.That(await client.GetMetadataAsync(new MetadataTag("/private/vendor/test/theme")), Is.EqualTo("dark"));
        await client.DisconnectAsync(true);
    }
}
