using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>IMailStore.ReplaceAsync (IMAP REPLACE, RFC 8508 §3.3): the new message and the removal of the old one are
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
