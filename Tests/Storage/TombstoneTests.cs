using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

[TestFixture]
public sealed class TombstoneTests
{
    [Test]
    public async Task Expunged_uids_are_remembered_with_their_modseq_until_the_folder_is_deleted()
    {
        await using var harness = StoreHarness.Create();
        var store = harness.Store;
        var mailbox = await store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.test", CancellationToken.None);
        var folder = await store.CreateFolderAsync(mailbox.MailboxId, "Work", CancellationToken.None);
        for (var i = 0; i < 4; i++)
            await store.DeliverAsync("Subject: x\r\n\r\nx\r\n"u8.ToArray(), DateTimeOffset.UtcNow,
                [new DeliveryTarget(mailbox.MailboxId, "Work", MessageFlags.Deleted)], CancellationToken.None);
        var before = store.GetFolder(folder.FolderId)!.HighestModSeq;

        await store.ExpungeAsync(folder.FolderId, [2u], CancellationToken.None);
        var middle = store.GetFolder(folder.FolderId)!.HighestModSeq;
        await store.ExpungeAsync(folder.FolderId, [1u, 4u], CancellationToken.None);

        Assert.That(store.ListExpungedSince(folder.FolderId, before), Is.EqualTo(new[] { 1u, 2u, 4u }));
        Assert.That(store.ListExpungedSince(folder.FolderId, middle), Is.EqualTo(new[] { 1u, 4u }));
        Assert.That(store.ListExpungedSince(folder.FolderId, store.GetFolder(folder.FolderId)!.HighestModSeq), Is.Empty);

        await store.DeleteFolderAsync(mailbox.MailboxId, "Work", CancellationToken.None);
        Assert.That(store.ListExpungedSince(folder.FolderId, 0), Is.Empty);
    }
}
