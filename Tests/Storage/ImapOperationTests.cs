using NUnit.Framework;
using MailServer.Storage;

namespace MailServer.Tests.Storage;

[TestFixture]
public sealed class ImapOperationTests
{
    [Test]
    public async Task Listing_returns_the_same_metadata_as_the_write_that_made_it()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var one = await h.Store.DeliverAsync(StoreHarness.Message("1", "x"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        await h.Store.DeliverAsync(StoreHarness.Message("2", "y"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        var inbox = one[0].FolderId;
        var written = await h.Store.SetFlagsAsync(inbox, [1, 2], FlagOperation.Add, MessageFlags.Flagged, ["$Important", "Work"], CancellationToken.None);

        // The listing reads only the metadata fields of each entry; every one of them must come back.
        var listed = h.Store.ListMessages(inbox);
        Assert.That(listed.Select(m => (m.EntryId, m.FolderId, m.Uid, m.ModSeq, m.Flags, string.Join(' ', m.Keywords), m.InternalDate, m.Size, m.LastActionAt)),
            Is.EqualTo(written.Select(m => (m.EntryId, m.FolderId, m.Uid, m.ModSeq, m.Flags, string.Join(' ', m.Keywords), m.InternalDate, m.Size, m.LastActionAt))));
        Assert.That(listed[1].Keywords, Is.EqualTo(new[] { "$Important", "Work" }));
        Assert.That(h.Store.ListMessages(inbox, 2).Select(m => m.Uid), Is.EqualTo(new uint[] { 2 }));
    }

    [Test]
    public async Task Store_flags_bumps_modseq_only_for_messages_that_change_and_tracks_unseen()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var one = await h.Store.DeliverAsync(StoreHarness.Message("1", "x"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        await h.Store.DeliverAsync(StoreHarness.Message("2", "x"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX", MessageFlags.Seen)], CancellationToken.None);
        var inbox = one[0].FolderId;
        using var subscription = h.Store.Changes.Subscribe(box.MailboxId);

        var after = await h.Store.SetFlagsAsync(inbox, [1, 2, 99], FlagOperation.Add, MessageFlags.Seen, ["$Important"], CancellationToken.None);

        Assert.That(after.Select(m => m.Uid), Is.EqualTo(new uint[] { 1, 2 }), "UID 99 does not exist and is ignored");
        Assert.That(after, Has.All.Matches<MessageMeta>(m => m.Flags.HasFlag(MessageFlags.Seen) && m.Keywords.Contains("$Important")));
        Assert.That(after[1].ModSeq, Is.GreaterThan(after[0].ModSeq));
        var folder = h.Store.GetFolder(inbox)!;
        Assert.That((folder.UnseenCount, folder.HighestModSeq), Is.EqualTo((0, after[1].ModSeq)));
        // The feed may still hand over the two deliveries' MessageAdded (published after their commit); skip them.
        MailboxChange? change;
        while (subscription.Reader.TryRead(out change) && change is MailboxChange.MessageAdded) { }
        Assert.That(change, Is.InstanceOf<MailboxChange.FlagsChanged>());

        var unchanged = await h.Store.SetFlagsAsync(inbox, [1], FlagOperation.Add, MessageFlags.Seen, [], CancellationToken.None);
        Assert.That(unchanged[0].ModSeq, Is.EqualTo(after[0].ModSeq), "no change, no new MODSEQ");
        var removed = await h.Store.SetFlagsAsync(inbox, [1], FlagOperation.Remove, MessageFlags.Seen, ["$important"], CancellationToken.None);
        Assert.That((removed[0].Flags, removed[0].Keywords.Count), Is.EqualTo((MessageFlags.None, 0)));
        Assert.That(h.Store.GetFolder(inbox)!.UnseenCount, Is.EqualTo(1));
    }

    [Test]
    public async Task Expunge_removes_deleted_messages_and_the_shared_blob_goes_with_the_last_entry()
    {
        await using var h = StoreHarness.Create();
        var a = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var b = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "b@example.com", CancellationToken.None);
        var shared = await h.Store.DeliverAsync(StoreHarness.Message("shared", "x"), DateTimeOffset.UtcNow,
            [new DeliveryTarget(a.MailboxId, "INBOX"), new DeliveryTarget(b.MailboxId, "INBOX")], CancellationToken.None);

        await h.Store.SetFlagsAsync(shared[0].FolderId, [1], FlagOperation.Add, MessageFlags.Deleted, [], CancellationToken.None);
        var expunged = await h.Store.ExpungeAsync(shared[0].FolderId, null, CancellationToken.None);

        Assert.That(expunged, Is.EqualTo(new uint[] { 1 }));
        Assert.That(h.Store.ListMessages(shared[0].FolderId), Is.Empty);
        Assert.That(h.Store.GetMailbox(a.MailboxId)!.UsedBytes, Is.Zero);
        Assert.That(h.BlobFiles(), Has.Length.EqualTo(1), "b still holds the message");
        Assert.That(await h.Store.ReadMessageAsync(b.MailboxId, shared[1].EntryId, CancellationToken.None), Is.Not.Empty);

        await h.Store.SetFlagsAsync(shared[1].FolderId, [1], FlagOperation.Add, MessageFlags.Deleted, [], CancellationToken.None);
        Assert.That(await h.Store.ExpungeAsync(shared[1].FolderId, [5], CancellationToken.None), Is.Empty, "UID EXPUNGE only touches the given UIDs");
        await h.Store.ExpungeAsync(shared[1].FolderId, [1], CancellationToken.None);
        Assert.That(h.BlobFiles(), Is.Empty);
        Assert.That(h.Store.FindFolder(b.MailboxId, "INBOX")!.UidNext, Is.EqualTo(2u), "UIDs are never reused");
    }

    [Test]
    public async Task Copy_and_move_give_new_uids_in_the_destination_and_share_the_blob()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var message = StoreHarness.Message("copy me", "x");
        var stored = await h.Store.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        var archive = await h.Store.CreateFolderAsync(box.MailboxId, "Archive", CancellationToken.None);
        var trash = h.Store.FindFolder(box.MailboxId, "Deleted Items")!;

        var copied = await h.Store.CopyAsync(stored[0].FolderId, [1], archive.FolderId, CancellationToken.None);
        var moved = await h.Store.MoveAsync(stored[0].FolderId, [1], trash.FolderId, CancellationToken.None);

        Assert.That(copied, Is.EqualTo(new[] { new CopiedMessage(1, 1, copied[0].DestinationEntryId) }));
        Assert.That(moved.Single().DestinationUid, Is.EqualTo(1u));
        Assert.That(h.Store.ListMessages(stored[0].FolderId), Is.Empty, "MOVE expunged the source");
        Assert.That(await h.Store.ReadMessageAsync(box.MailboxId, copied[0].DestinationEntryId, CancellationToken.None), Is.EqualTo(message));
        Assert.That(await h.Store.ReadMessageAsync(box.MailboxId, moved[0].DestinationEntryId, CancellationToken.None), Is.EqualTo(message));
        Assert.That(h.BlobFiles(), Has.Length.EqualTo(1));
        Assert.That(h.Store.GetMailbox(box.MailboxId)!.MessageCount, Is.EqualTo(2));
    }

    [Test]
    public async Task Folders_are_created_renamed_with_their_children_and_deleted()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var parent = await h.Store.CreateFolderAsync(box.MailboxId, "Work", CancellationToken.None);
        var child = await h.Store.CreateFolderAsync(box.MailboxId, "Work/2026", CancellationToken.None);
        await h.Store.DeliverAsync(StoreHarness.Message("m", "x"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "Work/2026")], CancellationToken.None);

        var exists = Assert.ThrowsAsync<FolderOperationException>(() => h.Store.CreateFolderAsync(box.MailboxId, "Work", CancellationToken.None));
        Assert.That(exists!.Refusal, Is.EqualTo(FolderRefusal.AlreadyExists));
        await h.Store.RenameFolderAsync(box.MailboxId, "Work", "Jobs", CancellationToken.None);

        Assert.That(h.Store.FindFolder(box.MailboxId, "Work"), Is.Null);
        var renamedChild = h.Store.FindFolder(box.MailboxId, "Jobs/2026");
        Assert.That(renamedChild?.FolderId, Is.EqualTo(child.FolderId));
        Assert.That(renamedChild!.UidValidity, Is.EqualTo(child.UidValidity));
        Assert.That(renamedChild.MessageCount, Is.EqualTo(1));
        Assert.That(h.Store.FindFolder(box.MailboxId, "Jobs")?.FolderId, Is.EqualTo(parent.FolderId));

        Assert.That(Assert.ThrowsAsync<FolderOperationException>(() => h.Store.DeleteFolderAsync(box.MailboxId, "Jobs", CancellationToken.None))!.Refusal, Is.EqualTo(FolderRefusal.Cannot));
        Assert.That(Assert.ThrowsAsync<FolderOperationException>(() => h.Store.DeleteFolderAsync(box.MailboxId, "inbox", CancellationToken.None))!.Refusal, Is.EqualTo(FolderRefusal.Cannot));
        await h.Store.DeleteFolderAsync(box.MailboxId, "Jobs/2026", CancellationToken.None);
        Assert.That(h.Store.FindFolder(box.MailboxId, "Jobs/2026"), Is.Null);
        Assert.That(h.BlobFiles(), Is.Empty, "the deleted folder's only message went with it");
        Assert.That(h.Store.GetMailbox(box.MailboxId)!.MessageCount, Is.Zero);
        var recreated = await h.Store.CreateFolderAsync(box.MailboxId, "Jobs/2026", CancellationToken.None);
        Assert.That(recreated.UidValidity, Is.Not.EqualTo(child.UidValidity), "a new folder under an old name gets a new UIDVALIDITY");
    }
}
