using MailServer.Tests.Support;
using NUnit.Framework;
using static MailServer.Tests.Protocols.Imap.Commands.OtherUsersTests;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>The five ACL commands of RFC 4314 §3 as a read-only view of the configuration's Full Access grants:
/// MYRIGHTS, GETACL and LISTRIGHTS answer, SETACL and DELETEACL are refused with NOPERM.</summary>
[TestFixture]
public sealed class AclTests
{
    [Test]
    public async Task Rights_are_reported_and_cannot_be_changed_over_imap()
    {
        await using var server = await StartWithGrantAsync();
        await using var alice = await server.LoggedInAsync();
        Assert.That(await alice.CommandAsync("c", "CAPABILITY"), Has.Some.Contains(" ACL ").And.Some.Contains(" RIGHTS=kxte"));
        Assert.That(await alice.CommandAsync("r1", $"MYRIGHTS {BobInbox}"), Is.EqualTo(new[]
        {
            "* MYRIGHTS \"Other Users/bob@example.test/INBOX\" lrswipkxtea", "r1 OK MYRIGHTS completed",
        }));
        Assert.That(await alice.CommandAsync("r2", $"GETACL {BobInbox}"), Is.EqualTo(new[]
        {
            "* ACL \"Other Users/bob@example.test/INBOX\" bob@example.test lrswipkxtea alice@example.test lrswipkxtea", "r2 OK GETACL completed",
        }));
        Assert.That(await alice.CommandAsync("r3", "GETACL INBOX"), Is.EqualTo(new[] { "* ACL INBOX alice@example.test lrswipkxtea", "r3 OK GETACL completed" }));
        Assert.That(await alice.CommandAsync("r4", $"LISTRIGHTS {BobInbox} carol@example.test"), Is.EqualTo(new[]
        {
            "* LISTRIGHTS \"Other Users/bob@example.test/INBOX\" carol@example.test \"\" lrswipkxtea", "r4 OK LISTRIGHTS completed",
        }));
        Assert.That(await alice.CommandAsync("r5", $"SETACL {BobInbox} carol@example.test lr"), Is.EqualTo(new[]
        {
            "r5 NO [NOPERM] Mailbox permissions are set by the administrator in the configuration",
        }));
        Assert.That(await alice.CommandAsync("r6", "DELETEACL INBOX bob@example.test"), Is.EqualTo(new[]
        {
            "r6 NO [NOPERM] Mailbox permissions are set by the administrator in the configuration",
        }));

        // Without a grant the mailbox does not exist for the user (RFC 4314 §6).
        await using var bob = await server.LoggedInAsync("bob");
        Assert.That(await bob.CommandAsync("b1", "LIST \"\" \"Other Users*\""), Is.EqualTo(new[] { "b1 OK LIST completed" }));
        Assert.That(await bob.CommandAsync("b2", "SELECT \"Other Users/alice@example.test/INBOX\""), Is.EqualTo(new[] { "b2 NO [NONEXISTENT] No such mailbox" }));
        Assert.That(await bob.CommandAsync("b3", "MYRIGHTS \"Other Users/alice@example.test/INBOX\""), Is.EqualTo(new[] { "b3 NO [NONEXISTENT] No such mailbox" }));
    }

    [Test]
    public async Task Rfc_examples_on_the_users_own_folders()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("c", "CREATE Mail/saved");
        // RFC 4314 §3.3, §3.4, §3.5 examples, adapted: the owner alone holds every right.
        Assert.That(await client.CommandAsync("A002", "GETACL INBOX"), Is.EqualTo(new[] { "* ACL INBOX alice@example.test lrswipkxtea", "A002 OK GETACL completed" }));
        Assert.That(await client.CommandAsync("a", "LISTRIGHTS Mail/saved alice@example.test"), Is.EqualTo(new[]
        {
            "* LISTRIGHTS Mail/saved alice@example.test lrswipkxtea", "a OK LISTRIGHTS completed",
        }));
        Assert.That(await client.CommandAsync("b", "LISTRIGHTS Mail/saved smith"), Is.EqualTo(new[]
        {
            "* LISTRIGHTS Mail/saved smith \"\" lrswipkxtea", "b OK LISTRIGHTS completed",
        }));
        Assert.That(await client.CommandAsync("c", "MYRIGHTS \"Deleted Items\""), Is.EqualTo(new[]
        {
            "* MYRIGHTS \"Deleted Items\" lrswipkxtea", "c OK MYRIGHTS completed",
        }));
        Assert.That(await client.CommandAsync("A035", "SETACL INBOX Fred +rwipslxetad"), Is.EqualTo(new[]
        {
            "A035 NO [NOPERM] Mailbox permissions are set by the administrator in the configuration",
        }));
        Assert.That(await client.CommandAsync("A036", "DELETEACL INBOX Fred"), Is.EqualTo(new[]
        {
            "A036 NO [NOPERM] Mailbox permissions are set by the administrator in the configuration",
        }));
    }

    [Test]
    public async Task A_missing_folder_is_nonexistent_for_every_acl_command()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        foreach (var (tag, line) in new[]
                 {
                     ("m", "MYRIGHTS Nowhere"), ("g", "GETACL Nowhere"), ("l", "LISTRIGHTS Nowhere bob@example.test"),
                     ("s", "SETACL Nowhere bob@example.test lr"), ("d", "DELETEACL Nowhere bob@example.test"),
                 })
            Assert.That(await client.CommandAsync(tag, line), Is.EqualTo(new[] { $"{tag} NO [NONEXISTENT] No such mailbox" }), line);
    }

    [Test]
    public async Task Missing_arguments_are_bad_and_login_is_needed_first()
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        Assert.That(await client.CommandAsync("n1", "MYRIGHTS INBOX"), Is.EqualTo(new[] { "n1 BAD MYRIGHTS is not valid in the not authenticated state" }));
        Assert.That(await client.CommandAsync("n2", "GETACL INBOX"), Is.EqualTo(new[] { "n2 BAD GETACL is not valid in the not authenticated state" }));
        Assert.That(await client.CommandAsync("n3", "SETACL INBOX bob lr"), Is.EqualTo(new[] { "n3 BAD SETACL is not valid in the not authenticated state" }));
        Assert.That((await client.CommandAsync("l", $"LOGIN alice@example.test {ImapTestServer.Password}"))[^1], Does.StartWith("l OK "));
        foreach (var (tag, line) in new[] { ("b1", "MYRIGHTS"), ("b2", "GETACL"), ("b3", "LISTRIGHTS INBOX"), ("b4", "SETACL INBOX bob"), ("b5", "DELETEACL INBOX") })
        {
            var reply = await client.CommandAsync(tag, line);
            Assert.That(reply, Has.Count.EqualTo(1), line);
            Assert.That(reply[0], Does.StartWith(tag + " BAD "), line);
        }
        Assert.That(await client.CommandAsync("ok", "MYRIGHTS INBOX"), Is.EqualTo(new[] { "* MYRIGHTS INBOX lrswipkxtea", "ok OK MYRIGHTS completed" }));
    }
}
