using NUnit.Framework;
using MailServer.Storage;
using MailServer.Storage.Blobs;

namespace MailServer.Tests.Storage;

[TestFixture]
public sealed class ReindexTests
{
    [Test]
    public async Task Reindex_deletes_an_orphan_blob_and_a_temp_file_and_reports_them()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var kept = await h.Store.DeliverAsync(StoreHarness.Message("kept", "b"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        // A crash between blob write and commit leaves a blob no entry refers to.
        var blobs = new BlobStore(h.Store.BlobDirectory);
        var orphan = BlobStore.NewBlobId();
        blobs.Write(orphan, StoreHarness.Org, MailServer.Storage.Crypto.Aead.NewKey(), StoreHarness.Message("lost", "never acknowledged"));
        var temp = Path.Combine(blobs.DirectoryOf(orphan), BlobStore.TempPrefix + BlobStore.NewBlobId() + "-abcd1234");
        await File.WriteAllBytesAsync(temp, [1, 2, 3]);

        var report = await h.Store.ReindexAsync(CancellationToken.None);

        Assert.That(report, Is.EqualTo(new ReindexReport(1, 0, 0, 0, 1, 1, 0, 0)));
        Assert.That(blobs.Exists(orphan), Is.False);
        Assert.That(File.Exists(temp), Is.False);
        Assert.That(await h.Store.ReadMessageAsync(box.MailboxId, kept[0].EntryId, CancellationToken.None), Is.Not.Empty);
    }

    [Test]
    public async Task Reindex_removes_entries_whose_blob_is_gone_and_corrects_the_counters()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var lost = await h.Store.DeliverAsync(StoreHarness.Message("lost", "b"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        var kept = await h.Store.DeliverAsync(StoreHarness.Message("kept", "b"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        var blobs = new BlobStore(h.Store.BlobDirectory);
        var lostBlob = h.BlobFiles().Single(f => !f.EndsWith(ReadBlobId(h, kept[0]), StringComparison.Ordinal));
        File.Delete(lostBlob);
        using var subscription = h.Store.Changes.Subscribe(box.MailboxId);

        var report = await h.Store.ReindexAsync(CancellationToken.None);

        Assert.That((report.EntriesChecked, report.EntriesRemovedBlobMissing, report.FoldersCorrected, report.MailboxesCorrected), Is.EqualTo((2, 1, 1, 1)));
        var inbox = h.Store.FindFolder(box.MailboxId, "INBOX")!;
        Assert.That(h.Store.ListMessages(inbox.FolderId).Select(m => m.Uid), Is.EqualTo(new uint[] { 2 }));
        Assert.That((inbox.MessageCount, inbox.UidNext), Is.EqualTo((1, 3u)), "UIDNEXT never goes back");
        Assert.That(inbox.HighestModSeq, Is.GreaterThan(kept[0].ModSeq));
        Assert.That(h.Store.GetMailbox(box.MailboxId)!.MessageCount, Is.EqualTo(1));
        Assert.That(subscription.Reader.TryRead(out var change) ? change : null,
            Is.InstanceOf<MailboxChange.MessagesExpunged>().With.Property("Uids").EqualTo(new uint[] { lost[0].Uid }));
        Assert.That(blobs.EnumerateBlobIds().Count(), Is.EqualTo(1));
    }

    private static string ReadBlobId(StoreHarness h, StoredMessage stored) =>
        h.Store.RunOnWriter(ctx => ctx.Read(Schema.Entries).FindById(stored.EntryId)[Schema.EntryFields.BlobId].AsString, [], CancellationToken.None).Result;
}
