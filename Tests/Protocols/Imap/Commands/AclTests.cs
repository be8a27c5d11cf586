using MailServer.Tests.Support;
using NUnit.Framework;
using static MailServer.Tests.Protocols.Imap.Commands.OtherUsersTests;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>The five ACL commands of RFC 4314 §3: rights from the configuration's Full Access (reported, never changed
/// over IMAP) and from the owner's sharing entries (SETACL / DELETEACL). Sharing end to end is in <see cref="FolderSharingTests"/>.</summary>
[TestFixture]
public sealed class AclTests
{
    [Test]
    public async Task Full_access_is_reported_without_administer_and_cannot_be_changed_over_imap()
    {
        await using var server = await StartWithGrantAsync();
        await using var alice = await server.LoggedInAsync();
        Assert.That(await alice.CommandAsync("c", "CAPABILITY"), Has.Some.Contains(" ACL ").And.Some.Contains(" RIGHTS=kxte"));
        // Full Access is every right but a (docs/decisions.md); c and d are the virtual rights RFC 4314 §2.1.1 requires.
        Assert.That(await alice.CommandAsync("r1", $"MYRIGHTS {BobInbox}"), Is.EqualTo(new[]
        {
            "* MYRIGHTS \"Other Users/bob@example.test/INBOX\" lrswipkxtecd", "r1 OK MYRIGHTS completed",
        }));
        // RFC 4314 §4: GETACL, LISTRIGHTS and SETACL need a.
        Assert.That(await alice.CommandAsync("r2", $"GETACL {BobInbox}"), Is.EqualTo(new[]
        {
            "r2 NO [NOPERM] You may not read the access control list in this mailbox (the a right is not yours)",
        }));
        Assert.That(await alice.CommandAsync("r4", $"LISTRIGHTS {BobInbox} carol@example.test"), Is.EqualTo(new[]
        {
            "r4 NO [NOPERM] You may not list rights in this mailbox (the a right is not yours)",
        }));
        Assert.That(await alice.CommandAsync("r5", $"SETACL {BobInbox} carol@example.test lr"), Is.EqualTo(new[]
        {
            "r5 NO [NOPERM] You may not share this folder in this mailbox (the a right is not yours)",
        }));
        Assert.That(await alice.CommandAsync("r3", "GETACL INBOX"), Is.EqualTo(new[] { "* ACL INBOX alice@example.test lrswipkxteacd", "r3 OK GETACL completed" }));

        // The owner sees the administrator's grantee in GETACL and cannot change that grant (docs/decisions.md).
        await using var bob = await server.LoggedInAsync("bob");
        Assert.That(await bob.CommandAsync("b1", "GETACL INBOX"), Is.EqualTo(new[]
        {
            "* ACL INBOX bob@example.test lrswipkxteacd alice@example.test lrswipkxtecd", "b1 OK GETACL completed",
        }));
        Assert.That(await bob.CommandAsync("b2", "LISTRIGHTS INBOX ali@example.test"), Is.EqualTo(new[]
        {
            "* LISTRIGHTS INBOX ali@example.test lrswipkxtecd", "b2 OK LISTRIGHTS completed",
        }));
        Assert.That(await bob.CommandAsync("b3", "SETACL INBOX alice@example.test lrs"), Is.EqualTo(new[]
        {
            "b3 NO [NOPERM] That user's rights are granted by the administrator",
        }));
        Assert.That(await bob.CommandAsync("b4", "DELETEACL INBOX alice@example.test"), Is.EqualTo(new[]
        {
            "b4 NO [NOPERM] That user's rights are granted by the administrator",
        }));

        // Without a grant the mailbox does not exist for the user (RFC 4314 §6).
        Assert.That(await bob.CommandAsync("b5", "LIST \"\" \"Other Users*\""), Is.EqualTo(new[] { "b5 OK LIST completed" }));
        Assert.That(await bob.CommandAsync("b6", "SELECT \"Other Users/alice@example.test/INBOX\""), Is.EqualTo(new[] { "b6 NO [NONEXISTENT] No such mailbox" }));
        Assert.That(await bob.CommandAsync("b7", "MYRIGHTS \"Other Users/alice@example.test/INBOX\""), Is.EqualTo(new[] { "b7 NO [NONEXISTENT] No such mailbox" }));
    }

    [Test]
    public async Task Rfc_examples_on_the_users_own_folders()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.MailboxIdAsync("bob");
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("c", "CREATE Mail/saved");
        // RFC 4314 §3.3, §3.4, §3.5 examples, adapted: the owner holds every right (with the virtual c and d, §2.1.1).
        Assert.That(await client.CommandAsync("A002", "GETACL INBOX"), Is.EqualTo(new[] { "* ACL INBOX alice@example.test lrswipkxteacd", "A002 OK GETACL completed" }));
        Assert.That(await client.CommandAsync("A003", "MYRIGHTS INBOX"), Is.EqualTo(new[] { "* MYRIGHTS INBOX lrswipkxteacd", "A003 OK MYRIGHTS completed" }));
        Assert.That(await client.CommandAsync("a", "LISTRIGHTS Mail/saved alice@example.test"), Is.EqualTo(new[]
        {
            "* LISTRIGHTS Mail/saved alice@example.test lrswipkxteacd", "a OK LISTRIGHTS completed",
        }));
        // §3.4/§3.7: a user of the organization can be given the roles' rights, tied as the roles tie them; the
        // identifier is answered as the client wrote it.
        Assert.That(await client.CommandAsync("b", "LISTRIGHTS Mail/saved BOB@example.test"), Is.EqualTo(new[]
        {
            "* LISTRIGHTS Mail/saved BOB@example.test \"\" lrs wi pkxtecd a", "b OK LISTRIGHTS completed",
        }));
        Assert.That(await client.CommandAsync("a005", "LISTRIGHTS Mail/saved anyone"), Is.EqualTo(new[]
        {
            "* LISTRIGHTS Mail/saved anyone \"\"", "a005 OK LISTRIGHTS completed",
        }));

        // §3.1: SETACL replaces, "+" adds, "-" removes; the result is put onto a role (viewer lrs, contributor lrswi,
        // co-owner lrswipkxte, owner lrswipkxtea).
        Assert.That(await client.CommandAsync("A001", "SETACL Mail/saved bob@example.test lrswi"), Is.EqualTo(new[] { "A001 OK SETACL completed" }));
        Assert.That(await client.CommandAsync("A002", "SETACL Mail/saved bob@example.test +cda"), Is.EqualTo(new[] { "A002 OK SETACL completed" }));
        Assert.That(await client.CommandAsync("A003", "GETACL Mail/saved"), Is.EqualTo(new[]
        {
            "* ACL Mail/saved alice@example.test lrswipkxteacd bob@example.test lrswipkxteacd", "A003 OK GETACL completed",
        }));
        Assert.That(await client.CommandAsync("A004", "SETACL Mail/saved bob@example.test -a"), Is.EqualTo(new[] { "A004 OK SETACL completed" }));
        Assert.That(await client.CommandAsync("A005", "GETACL Mail/saved"), Is.EqualTo(new[]
        {
            "* ACL Mail/saved alice@example.test lrswipkxteacd bob@example.test lrswipkxtecd", "A005 OK GETACL completed",
        }));
        Assert.That(await client.CommandAsync("A006", "SETACL Mail/saved bob@example.test -w"), Is.EqualTo(new[] { "A006 OK SETACL completed" }));
        Assert.That(await client.CommandAsync("A007", "GETACL Mail/saved"), Is.EqualTo(new[]
        {
            "* ACL Mail/saved alice@example.test lrswipkxteacd bob@example.test lrs", "A007 OK GETACL completed",
        }), "removing w from a co-owner leaves the largest role without it");
        // An address of the user (alias or any case) is stored as the primary address (§3.3 MAY canonicalise).
        Assert.That(await client.CommandAsync("A008", "SETACL Mail/saved Bob@Example.Test l"), Is.EqualTo(new[] { "A008 OK SETACL completed" }));
        Assert.That(await client.CommandAsync("A009", "GETACL Mail/saved"), Is.EqualTo(new[]
        {
            "* ACL Mail/saved alice@example.test lrswipkxteacd bob@example.test lrs", "A009 OK GETACL completed",
        }), "l alone is raised to the viewer role");

        // §3.1 examples: an unrecognized right MUST be BAD, whatever the identifier.
        Assert.That(await client.CommandAsync("A035", "SETACL Mail/saved John lrQswicda"), Is.EqualTo(new[] { "A035 BAD Uppercase rights are not allowed" }));
        Assert.That(await client.CommandAsync("A036", "SETACL Mail/saved John lrqswicda"), Is.EqualTo(new[] { "A036 BAD The q right is not supported" }));
        Assert.That(await client.CommandAsync("A037", "SETACL Mail/saved bob@example.test +0"), Is.EqualTo(new[] { "A037 BAD The 0 right is not supported" }));

        // §2: "anyone" and negative rights are refused, and so are identifiers outside the organization and the owner.
        Assert.That(await client.CommandAsync("n1", "SETACL Mail/saved anyone lr"), Is.EqualTo(new[]
        {
            "n1 NO [CANNOT] Folders are shared with users and groups of the organization, not with anyone",
        }));
        Assert.That(await client.CommandAsync("n2", "SETACL Mail/saved -bob@example.test w"), Is.EqualTo(new[] { "n2 NO [CANNOT] Negative rights are not offered" }));
        Assert.That(await client.CommandAsync("n3", "SETACL Mail/saved Fred lr"), Is.EqualTo(new[] { "n3 NO [NONEXISTENT] No such user or group in the organization" }));
        Assert.That(await client.CommandAsync("n4", "SETACL Mail/saved ali@example.test lr"), Is.EqualTo(new[] { "n4 NO [CANNOT] The owner always holds every right" }));

        // §3.2: DELETEACL removes the pair; removing an absent one is no error.
        Assert.That(await client.CommandAsync("B002", "DeleteAcl Mail/saved bob@example.test"), Is.EqualTo(new[] { "B002 OK DELETEACL completed" }));
        Assert.That(await client.CommandAsync("B003", "GETACL Mail/saved"), Is.EqualTo(new[]
        {
            "* ACL Mail/saved alice@example.test lrswipkxteacd", "B003 OK GETACL completed",
        }));
        Assert.That(await client.CommandAsync("B004", "DELETEACL Mail/saved bob@example.test"), Is.EqualTo(new[] { "B004 OK DELETEACL completed" }));
        // SETACL with no rights is a removal too.
        Assert.That(await client.CommandAsync("B005", "SETACL Mail/saved bob@example.test lrs"), Is.EqualTo(new[] { "B005 OK SETACL completed" }));
        Assert.That(await client.CommandAsync("B006", "SETACL Mail/saved bob@example.test \"\""), Is.EqualTo(new[] { "B006 OK SETACL completed" }));
        Assert.That(await client.CommandAsync("B007", "GETACL Mail/saved"), Is.EqualTo(new[]
        {
            "* ACL Mail/saved alice@example.test lrswipkxteacd", "B007 OK GETACL completed",
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
        Assert.That(await client.CommandAsync("ok", "MYRIGHTS INBOX"), Is.EqualTo(new[] { "* MYRIGHTS INBOX lrswipkxteacd", "ok OK MYRIGHTS completed" }));
    }
}
