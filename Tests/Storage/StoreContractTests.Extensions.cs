using System.Text;
using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

// IMAP REPLACE (RFC 8508) and METADATA (RFC 5464) on both engines.
public sealed partial class StoreContractTests
{
    [Test]
    public async Task Replace_stores_the_new_message_and_removes_the_old_one_in_one_commit_or_does_neither()
    {
        var box = await Delivery.EnsureMailboxAsync(ContractStore.Org, "drafter@example.test", None);
        var drafts = Imap.FindFolder(box.MailboxId, "Drafts")!;
        await Within(Imap.AppendAsync(box.MailboxId, "Drafts",
            [new AppendItem(StoreHarness.Message("draft v1", "first"), T0, MessageFlags.Draft, []),
             new AppendItem(StoreHarness.Message("other", "kept"), T0, MessageFlags.Seen, [])], None));
        using var subscription = Imap.Changes.Subscribe(box.MailboxId);
        var v2 = StoreHarness.Message("draft v2", "second");

        var stored = await Within(_store.Extensions.ReplaceAsync(box.MailboxId, "Drafts", new AppendItem(v2, T0, MessageFlags.Draft, ["$Edited"]),
            drafts.FolderId, 1, None));

        Assert.That(stored.Uid, Is.EqualTo(3u));
        var listed = Imap.ListMessages(drafts.FolderId);
        Assert.That(listed.Select(m => m.Uid), Is.EqualTo(new uint[] { 2, 3 }));
        Assert.That(listed[1].Keywords, Is.EqualTo(new[] { "$Edited" }));
        Assert.That(await Within(Imap.ReadMessageAsync(box.MailboxId, stored.EntryId, None)), Is.EqualTo(v2));
        var added = (MailboxChange.MessageAdded)await Within(subscription.Reader.ReadAsync().AsTask());
        var expunged = (MailboxChange.MessagesExpunged)await Within(subscription.Reader.ReadAsync().AsTask());
        Assert.That((added.Uid, expunged.Uids.Single()), Is.EqualTo((3u, 1u)));
        Assert.That(expunged.ModSeq, Is.GreaterThan(added.ModSeq), "the new message first, then the removal");
        Assert.That(Imap.ListExpungedSince(drafts.FolderId, added.ModSeq), Is.EqualTo(new uint[] { 1 }));
        var after = Imap.FindFolder(box.MailboxId, "Drafts")!;
        Assert.That((after.MessageCount, after.UidNext), Is.EqualTo((2, 4u)));

        // The message to replace is gone: nothing is stored.
        Assert.ThrowsAsync<KeyNotFoundException>(() => _store.Extensions.ReplaceAsync(box.MailboxId, "Drafts",
            new AppendItem(StoreHarness.Message("draft v3", "third"), T0, MessageFlags.Draft, []), drafts.FolderId, 1, None));
        var unchanged = Imap.FindFolder(box.MailboxId, "Drafts")!;
        Assert.That((unchanged.MessageCount, unchanged.UidNext, unchanged.HighestModSeq), Is.EqualTo((after.MessageCount, after.UidNext, after.HighestModSeq)));

        // Into another folder of the mailbox: the old copy leaves Drafts, the new one lands in INBOX.
        var moved = await Within(_store.Extensions.ReplaceAsync(box.MailboxId, "INBOX", new AppendItem(v2, T0, MessageFlags.None, []), drafts.FolderId, 3, None));
        Assert.That(Imap.ListMessages(Imap.FindFolder(box.MailboxId, "INBOX")!.FolderId).Single().EntryId, Is.EqualTo(moved.EntryId));
        Assert.That(Imap.ListMessages(drafts.FolderId).Select(m => m.Uid), Is.EqualTo(new uint[] { 2 }));
    }

    [Test]
    public async Task Metadata_is_kept_per_folder_and_mailbox_sealed_limited_and_dropped_with_its_folder()
    {
        var box = await Delivery.EnsureMailboxAsync(ContractStore.Org, "annotated@example.test", None);
        var project = await Within(Imap.CreateFolderAsync(box.MailboxId, "Project", None));
        var secret = Encoding.UTF8.GetBytes("Nightingale acquisition notes");

        await Within(_store.Extensions.SetMetadataAsync(box.MailboxId, null, [new("/private/Comment", secret)], 10, None));
        await Within(_store.Extensions.SetMetadataAsync(box.MailboxId, project.FolderId,
            [new("/shared/Comment", Encoding.UTF8.GetBytes("team folder")), new("/private/Color", Encoding.UTF8.GetBytes("blue"))], 10, None));

        Assert.That(_store.Extensions.ReadMetadata(box.MailboxId, null)["/private/comment"], Is.EqualTo(secret), "names are case-insensitive, kept lower-cased");
        Assert.That(_store.Extensions.ReadMetadata(box.MailboxId, project.FolderId).Keys, Is.EquivalentTo(new[] { "/shared/comment", "/private/color" }));
        Assert.That(_store.Extensions.ReadMetadata(box.MailboxId, Imap.FindFolder(box.MailboxId, "INBOX")!.FolderId), Is.Empty);

        Assert.Throws<MetadataLimitException>(() => _store.Extensions.SetMetadataAsync(box.MailboxId, project.FolderId,
            [new("/private/a", [1]), new("/private/b", [2])], 3, None).GetAwaiter().GetResult());
        Assert.That(_store.Extensions.ReadMetadata(box.MailboxId, project.FolderId), Has.Count.EqualTo(2), "nothing changed");
        await Within(_store.Extensions.SetMetadataAsync(box.MailboxId, project.FolderId, [new("/private/Color", null)], 10, None));
        Assert.That(_store.Extensions.ReadMetadata(box.MailboxId, project.FolderId).Keys, Is.EqualTo(new[] { "/shared/comment" }));

        var dump = await _store.RawDumpAsync();
        Assert.That(Contains(dump, secret), Is.False, "an annotation in clear");
        Assert.That(Contains(dump, Encoding.ASCII.GetBytes(Convert.ToHexStringLower(secret))), Is.False, "an annotation in hex");

        await Within(Imap.DeleteFolderAsync(box.MailboxId, "Project", None));
        Assert.That(_store.Extensions.ReadMetadata(box.MailboxId, project.FolderId), Is.Empty, "a deleted folder's annotations are gone");
        Assert.ThrowsAsync<KeyNotFoundException>(() => _store.Extensions.SetMetadataAsync(box.MailboxId, project.FolderId, [new("/private/x", [1])], 10, None));
        Assert.That(_store.Extensions.ReadMetadata(box.MailboxId, null)["/private/comment"], Is.EqualTo(secret));
    }

    [Test]
    public async Task Folder_sharing_entries_are_sealed_follow_rename_go_with_delete_and_are_published()
    {
        var box = await Delivery.EnsureMailboxAsync(ContractStore.Org, "sharer@example.test", None);
        var project = await Within(Imap.CreateFolderAsync(box.MailboxId, "Project", None));
        var inbox = Imap.FindFolder(box.MailboxId, "INBOX")!;
        const string grantee = "nightingale-sharee@example.test";
        await Within(_store.Extensions.SetMetadataAsync(box.MailboxId, project.FolderId, [new("/shared/comment", [1])], 1, None));
        using var subscription = Imap.Changes.Subscribe(box.MailboxId);

        await Within(_store.Extensions.SetFolderAclAsync(box.MailboxId, project.FolderId, grantee, "lrs", None));
        await Within(_store.Extensions.SetFolderAclAsync(box.MailboxId, inbox.FolderId, "team@example.test", "lrswi", None));

        var acl = _store.Extensions.ReadFolderAcl(box.MailboxId);
        Assert.That(acl[project.FolderId], Is.EquivalentTo(new Dictionary<string, string> { [grantee] = "lrs" }));
        Assert.That(acl[inbox.FolderId], Is.EquivalentTo(new Dictionary<string, string> { ["team@example.test"] = "lrswi" }));
        var published = await Within(subscription.Reader.ReadAsync().AsTask());
        Assert.That(published, Is.EqualTo(new MailboxChange.FoldersChanged(box.MailboxId, project.FolderId, 0)), "sessions re-check their rights");
        Assert.That(_store.Extensions.ReadMetadata(box.MailboxId, project.FolderId).Keys, Is.EqualTo(new[] { "/shared/comment" }),
            "sharing entries are no annotations");
        await Within(_store.Extensions.SetMetadataAsync(box.MailboxId, project.FolderId, [new("/shared/comment", [2])], 1, None)); // nor count against the limit

        var dump = await _store.RawDumpAsync();
        Assert.That(Contains(dump, Encoding.ASCII.GetBytes(grantee)), Is.False, "a grantee's address in clear");

        await Within(Imap.RenameFolderAsync(box.MailboxId, "Project", "Shared Project", None));
        Assert.That(_store.Extensions.ReadFolderAcl(box.MailboxId)[project.FolderId][grantee], Is.EqualTo("lrs"), "follows RENAME");
        await Within(_store.Extensions.SetFolderAclAsync(box.MailboxId, project.FolderId, grantee, "lrswi", None));
        Assert.That(_store.Extensions.ReadFolderAcl(box.MailboxId)[project.FolderId][grantee], Is.EqualTo("lrswi"), "replaced");
        await Within(_store.Extensions.SetFolderAclAsync(box.MailboxId, inbox.FolderId, "team@example.test", null, None));
        Assert.That(_store.Extensions.ReadFolderAcl(box.MailboxId).Keys, Is.EqualTo(new[] { project.FolderId }), "DELETEACL leaves no empty entry");

        await Within(Imap.DeleteFolderAsync(box.MailboxId, "Shared Project", None));
        Assert.That(_store.Extensions.ReadFolderAcl(box.MailboxId), Is.Empty, "a deleted folder's entries are gone");
        Assert.ThrowsAsync<KeyNotFoundException>(() => _store.Extensions.SetFolderAclAsync(box.MailboxId, project.FolderId, grantee, "lr", None));
    }
}
