using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>
/// ListFolders answers from memory between writes (every login, LIST and STATUS asks), yet after each kind of
/// write a reader sees exactly what LiteDB holds: counts, UIDNEXT, MODSEQ, names, subscriptions, deletions.
/// </summary>
[TestFixture]
public sealed class FolderListCacheTests
{
    [Test]
    public async Task The_folder_list_follows_every_kind_of_write_exactly()
    {
        await using var harness = StoreHarness.Create();
        var store = harness.Store;
        var mailbox = await store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.test", CancellationToken.None);
        var id = mailbox.MailboxId;
        void AssertCurrent(string after) =>
            Assert.That(store.ListFolders(id), Is.EqualTo(store.ListFoldersFromDatabase(id)), "after " + after);

        AssertCurrent("creating the mailbox");
        var first = store.ListFolders(id);
        Assert.That(store.ListFolders(id), Is.SameAs(first), "the second listing comes from memory");
        await store.CreateFolderAsync(id, "Work", CancellationToken.None);
        AssertCurrent("CREATE");
        await store.DeliverAsync(StoreHarness.Message("s", "b"), DateTimeOffset.UtcNow, [new DeliveryTarget(id, "INBOX")], CancellationToken.None);
        Assert.That(store.ListFolders(id).Single(f => f.Name == "INBOX").MessageCount, Is.EqualTo(1));
        AssertCurrent("a delivery");
        var inbox = store.FindFolder(id, "INBOX")!;
        await store.SetFlagsAsync(inbox.FolderId, [1u], FlagOperation.Add, MessageFlags.Seen | MessageFlags.Deleted, [], CancellationToken.None);
        Assert.That(store.ListFolders(id).Single(f => f.Name == "INBOX").UnseenCount, Is.Zero);
        AssertCurrent("STORE");
        await store.AppendAsync(id, "Work", [new AppendItem(StoreHarness.Message("a", "b"), DateTimeOffset.UtcNow, MessageFlags.None, [])], CancellationToken.None);
        AssertCurrent("APPEND");
        await store.CopyAsync(inbox.FolderId, [1u], store.FindFolder(id, "Work")!.FolderId, CancellationToken.None);
        AssertCurrent("COPY");
        await store.ExpungeAsync(inbox.FolderId, null, CancellationToken.None);
        AssertCurrent("EXPUNGE");
        await store.RenameFolderAsync(id, "Work", "Projects", CancellationToken.None);
        Assert.That(store.ListFolders(id).Select(f => f.Name), Does.Contain("Projects").And.Not.Contain("Work"));
        AssertCurrent("RENAME");
        await store.SetSubscribedAsync(id, "Projects", false, CancellationToken.None);
        AssertCurrent("UNSUBSCRIBE");
        await store.DeleteFolderAsync(id, "Projects", CancellationToken.None);
        Assert.That(store.ListFolders(id).Select(f => f.Name), Does.Not.Contain("Projects"));
        AssertCurrent("DELETE");
    }

    [Test]
    public async Task Listings_racing_with_deliveries_never_keep_a_stale_list()
    {
        await using var harness = StoreHarness.Create();
        var store = harness.Store;
        var mailbox = await store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.test", CancellationToken.None);
        using var stop = new CancellationTokenSource();
        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
                store.ListFolders(mailbox.MailboxId);
        })).ToList();
        for (var i = 0; i < 60; i++)
        {
            await store.DeliverAsync(StoreHarness.Message("s" + i, "b"), DateTimeOffset.UtcNow, [new DeliveryTarget(mailbox.MailboxId, "INBOX")], CancellationToken.None);
            Assert.That(store.ListFolders(mailbox.MailboxId).Single(f => f.Name == "INBOX").MessageCount, Is.EqualTo(i + 1),
                "a listing after the 250 counts the message");
        }
        await stop.CancelAsync();
        await Task.WhenAll(readers);
        Assert.That(store.ListFolders(mailbox.MailboxId), Is.EqualTo(store.ListFoldersFromDatabase(mailbox.MailboxId)));
    }
}
