using MailKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class CreateTests
{
    [Test]
    public async Task Create_rename_delete_and_their_refusals()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("c1", "CREATE Projects/"), Has.Count.EqualTo(1).And.All.Matches(@"^c1 OK \[MAILBOXID \(F[0-9a-f]{32}\)\] CREATE completed$"));
        Assert.That(await client.CommandAsync("c2", "CREATE Projects/Alpha"), Has.Count.EqualTo(1).And.All.Matches(@"^c2 OK \[MAILBOXID \(F[0-9a-f]{32}\)\] CREATE completed$"));
        Assert.That(await client.CommandAsync("c3", "CREATE projects/alpha"), Has.Count.EqualTo(1).And.All.Matches(@"^c3 OK \[MAILBOXID \(F[0-9a-f]{32}\)\] CREATE completed$").Or.EqualTo(new[] { "c3 NO [ALREADYEXISTS] A folder with that name exists already." }));
        Assert.That(await client.CommandAsync("c4", "CREATE Projects"), Is.EqualTo(new[] { "c4 NO [ALREADYEXISTS] A folder with that name exists already." }));
        Assert.That(await client.CommandAsync("c5", "CREATE inbox"), Is.EqualTo(new[] { "c5 NO [ALREADYEXISTS] INBOX exists already" }));
        Assert.That(await client.CommandAsync("l1", "LIST \"\" Projects*"), Does.Contain("* LIST (\\HasChildren) \"/\" Projects").And.Contain("* LIST (\\HasNoChildren) \"/\" Projects/Alpha"));

        Assert.That(await client.CommandAsync("r1", "RENAME Projects Work"), Is.EqualTo(new[] { "r1 OK RENAME completed" }));
        Assert.That(await client.CommandAsync("l2", "LIST \"\" Work/%"), Is.EqualTo(new[] { "* LIST (\\HasNoChildren) \"/\" Work/Alpha", "l2 OK LIST completed" }));
        Assert.That(await client.CommandAsync("d1", "DELETE Work"), Is.EqualTo(new[] { "d1 NO [CANNOT] The folder has children; delete them first." }));
        Assert.That(await client.CommandAsync("d2", "DELETE Work/Alpha"), Is.EqualTo(new[] { "d2 OK DELETE completed" }));
        Assert.That(await client.CommandAsync("d3", "DELETE Work/Alpha"), Is.EqualTo(new[] { "d3 NO [NONEXISTENT] No folder with that name." }));
        Assert.That(await client.CommandAsync("d4", "DELETE INBOX"), Is.EqualTo(new[] { "d4 NO [CANNOT] INBOX cannot be deleted." }));
    }

    [Test]
    public async Task MailKit_creates_renames_and_deletes_a_folder()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.MailKitAsync();
        var root = client.GetFolder(client.PersonalNamespaces[0])!;
        var folder = (await root.CreateAsync("Receipts", true))!;
        await folder.RenameAsync(root, "Invoices");
        Assert.That((await root.GetSubfoldersAsync()).Select(f => f.FullName), Does.Contain("Invoices").And.Not.Contain("Receipts"));
        await folder.DeleteAsync();
        Assert.That((await root.GetSubfoldersAsync()).Select(f => f.FullName), Does.Not.Contain("Invoices"));
        await client.DisconnectAsync(true);
    }

    /// <summary>RFC 6154 §3 and §5.3 (CREATE-SPECIAL-USE): advertised; <c>(USE (\Archive))</c> creates a folder LIST shows
    /// as \Archive (also with LIST (SPECIAL-USE)); a use another folder has, two uses, a virtual or unknown use are
    /// <c>NO [USEATTR]</c> and nothing is created; after Drafts is deleted a new \Drafts folder can be made.</summary>
    [Test]
    public async Task Create_special_use_archive_and_the_refusals_with_useattr()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That((await client.CommandAsync("c", "CAPABILITY"))[0], Does.Contain(" CREATE-SPECIAL-USE "));
        Assert.That(await client.CommandAsync("t1", "CREATE Archive (USE (\\Archive))"), Has.Count.EqualTo(1).And.All.Matches(@"^t1 OK \[MAILBOXID .*\] CREATE completed$"));
        Assert.That(await client.CommandAsync("t2", "LIST \"\" Archive"), Is.EqualTo(new[] { "* LIST (\\HasNoChildren \\Archive) \"/\" Archive", "t2 OK LIST completed" }));
        Assert.That(await client.CommandAsync("t3", "LIST (SPECIAL-USE) \"\" *"), Has.Some.EqualTo("* LIST (\\HasNoChildren \\Archive) \"/\" Archive"));

        Assert.That(await client.CommandAsync("t4", "CREATE MySpecial (USE (\\Drafts \\Sent))"), Is.EqualTo(new[] { "t4 NO [USEATTR] A folder has at most one special use here" }));
        Assert.That(await client.CommandAsync("t5", "CREATE MySpecial (USE (\\Drafts))"), Is.EqualTo(new[] { "t5 NO [USEATTR] \\Drafts is the use of another folder" }));
        Assert.That(await client.CommandAsync("t6", "CREATE Everything (USE (\\All))"), Is.EqualTo(new[] { "t6 NO [USEATTR] \\All mailboxes are not offered" }));
        Assert.That(await client.CommandAsync("t7", "CREATE \"Important Messages\" (USE (\\Important))"), Is.EqualTo(new[] { "t7 NO [USEATTR] \\Important is not a special use" }));
        Assert.That(await client.CommandAsync("t8", "LIST \"\" %Special"), Is.EqualTo(new[] { "t8 OK LIST completed" }), "nothing was created");

        Assert.That(await client.CommandAsync("t9", "DELETE Drafts"), Is.EqualTo(new[] { "t9 OK DELETE completed" }));
        Assert.That(await client.CommandAsync("t10", "CREATE Entw&APw-rfe (USE (\\Drafts))"), Has.Count.EqualTo(1).And.All.StartsWith("t10 OK "));
        Assert.That(await client.CommandAsync("t11", "LIST \"\" Entw*"), Has.Some.EqualTo("* LIST (\\HasNoChildren \\Drafts) \"/\" Entw&APw-rfe"));
    }
}
