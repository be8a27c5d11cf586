using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>IImapExtensionStore.ReplaceAsync (IMAP REPLACE, RFC 8508 §3.3): the new message and the removal of the old one are
/// one transaction; when the old one is gone nothing is stored.</summary>
[TestFixture]
public sealed class ReplaceStoreTests
{
    [Test]
    public async Task Replace_appends_and_expunges_in_one_commit_or_does_nothing()
    {
        await using var harness = StoreHarness.Create();
        var store = harness.Store;
        var mailbox = await store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.test", CancellationToken.None);
        var id = mailbox.MailboxId;
        await store.AppendAsync(id, "Drafts", [new AppendItem(StoreHarness.Message("v1", "first"), DateTimeOffset.UtcNow, MessageFlags.Draft, [])], CancellationToken.None);
        var drafts = store.FindFolder(id, "Drafts")!;
        using var feed = store.Changes.Subscribe(id);

        var stored = await store.ReplaceAsync(id, "Drafts", new AppendItem(StoreHarness.Message("v2", "second"), DateTimeOffset.UtcNow, MessageFlags.Draft, ["$Todo"]),
            drafts.FolderId, 1, CancellationToken.None);

        Assert.That(stored.Uid, Is.EqualTo(2u));
        var messages = store.ListMessages(drafts.FolderId);
        Assert.That(messages.Select(m => (m.Uid, m.Flags)), Is.EqualTo(new[] { (2u, MessageFlags.Draft) }));
        Assert.That(messages[0].Keywords, Is.EqualTo(new[] { "$Todo" }));
        var changes = new List<MailboxChange>();
        while (feed.Reader.TryRead(out var change))
            changes.Add(change);
        Assert.That(changes.OfType<MailboxChange.MessageAdded>().Select(c => c.Uid), Is.EqualTo(new[] { 2u }));
        Assert.That(changes.OfType<MailboxChange.MessagesExpunged>().Single().Uids, Is.EqualTo(new[] { 1u }));
        Assert.That(changes.Select(c => c.ModSeq).Distinct().Count(), Is.LessThanOrEqualTo(2), "one commit");
        Assert.That(store.ListExpungedSince(drafts.FolderId, 0), Is.EqualTo(new[] { 1u }), "QRESYNC tombstone");
        Assert.That(store.FindMailbox(StoreHarness.Org, "alice@example.test")!.MessageCount, Is.EqualTo(1));

        // The message to replace is gone: nothing is appended, nothing else changes.
        Assert.ThrowsAsync<KeyNotFoundException>(() => store.ReplaceAsync(id, "Drafts",
            new AppendItem(StoreHarness.Message("v3", "third"), DateTimeOffset.UtcNow, MessageFlags.Draft, []), drafts.FolderId, 1, CancellationToken.None));
        Assert.That(store.ListMessages(drafts.FolderId).Select(m => m.Uid), Is.EqualTo(new[] { 2u }));
        Assert.That(store.GetFolder(drafts.FolderId)!.UidNext, Is.EqualTo(3u), "no UID was used up");
    }
}

/// <summary>Annotations (IMAP METADATA, RFC 5464) in the store: per folder and per mailbox, sealed under the mailbox key,
/// readable after a mailbox key rotation, dropped with their folder, limited.</summary>
[TestFixture]
public sealed class MetadataStoreTests
{
    [Test]
    public async Task Annotations_survive_a_mailbox_key_rotation_and_go_with_their_folder()
    {
        await using var harness = StoreHarness.Create();
        var store = harness.Store;
        var mailbox = await store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.test", CancellationToken.None);
        var id = mailbox.MailboxId;
        var work = await store.CreateFolderAsync(id, "Work", CancellationToken.None);
        await store.SetMetadataAsync(id, work.FolderId, [new("/shared/comment", "work"u8.ToArray())], 10, CancellationToken.None);
        await store.SetMetadataAsync(id, null, [new("/private/vendor/x", "server"u8.ToArray())], 10, CancellationToken.None);

        await store.RotateMailboxKeyAsync(id, null, CancellationToken.None);

        Assert.That(store.ReadMetadata(id, work.FolderId)["/shared/comment"], Is.EqualTo("work"u8.ToArray()));
        Assert.That(store.ReadMetadata(id, null)["/private/vendor/x"], Is.EqualTo("server"u8.ToArray()));
        Assert.ThrowsAsync<MetadataLimitException>(() => store.SetMetadataAsync(id, null,
            [new("/private/a", [1]), new("/private/b", [2])], 2, CancellationToken.None));
        Assert.That(store.ReadMetadata(id, null).Keys, Is.EqualTo(new[] { "/private/vendor/x" }), "nothing changed");
        await store.DeleteFolderAsync(id, "Work", CancellationToken.None);
        Assert.That(store.ReadMetadata(id, work.FolderId), Is.Empty);
    }
}
