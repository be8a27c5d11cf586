using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>
/// What IMAP's SAVEDATE (RFC 8514) and EMAILID (RFC 8474) are built on: <see cref="MessageMeta.SavedAt"/> is when a
/// message entered its folder (delivery, APPEND, COPY, MOVE; not a flag change), and <see cref="MessageMeta.ContentKey"/>
/// is shared by every copy of one message in a mailbox and by nothing else; both survive a reopen.
/// </summary>
[TestFixture]
public sealed class MessageIdentityTests
{
    [Test]
    public async Task Saved_date_follows_save_operations_and_content_key_follows_the_message()
    {
        var clock = new ManualClock();
        var folder = StoreHarness.NewTempDirectory();
        await using var store = MailStore.OpenOnStreams(new MailStoreOptions { DataDirectory = folder, MasterKeys = FixedKeys.Random(StoreHarness.Org), TimeProvider = clock },
            new MemoryStream(), new MemoryStream());
        var box = await store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var archive = await store.CreateFolderAsync(box.MailboxId, "Archive", CancellationToken.None);
        var t0 = clock.GetUtcNow();
        var internalDate = new DateTimeOffset(2020, 5, 1, 12, 0, 0, TimeSpan.FromHours(2));
        var delivered = await store.DeliverAsync(StoreHarness.Message("1", "x"), internalDate, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        await store.DeliverAsync(StoreHarness.Message("2", "y"), internalDate, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        var inbox = delivered[0].FolderId;

        clock.Advance(TimeSpan.FromHours(1));
        await store.SetFlagsAsync(inbox, [1], FlagOperation.Add, MessageFlags.Seen, [], CancellationToken.None);
        var first = store.ListMessages(inbox);
        Assert.That(first.Select(m => m.SavedAt), Is.EqualTo(new[] { t0, t0 }), "delivery saves; a flag change does not");
        Assert.That(first[0].ContentKey, Is.Not.EqualTo(UInt128.Zero));
        Assert.That(first[0].ContentKey, Is.Not.EqualTo(first[1].ContentKey), "two messages, two keys");

        clock.Advance(TimeSpan.FromHours(1));
        var copied = await store.CopyAsync(inbox, [1], archive.FolderId, CancellationToken.None);
        clock.Advance(TimeSpan.FromHours(1));
        await store.MoveAsync(inbox, [2], archive.FolderId, CancellationToken.None);
        var appended = await store.AppendAsync(box.MailboxId, "Archive", [new AppendItem(StoreHarness.Message("3", "z"), internalDate, MessageFlags.None, [])], CancellationToken.None);

        var inArchive = store.ListMessages(archive.FolderId);
        Assert.That(inArchive.Select(m => m.SavedAt), Is.EqualTo(new[] { t0 + TimeSpan.FromHours(2), t0 + TimeSpan.FromHours(3), t0 + TimeSpan.FromHours(3) }));
        Assert.That(inArchive[0].ContentKey, Is.EqualTo(first[0].ContentKey), "a copy is the same message");
        Assert.That(inArchive[1].ContentKey, Is.EqualTo(first[1].ContentKey), "a moved message is the same message");
        Assert.That(inArchive[2].ContentKey, Is.Not.AnyOf(first[0].ContentKey, first[1].ContentKey));
        Assert.That(inArchive[2].InternalDate, Is.EqualTo(internalDate), "APPEND keeps the client's internal date apart from the save date");
        Assert.That(copied[0].DestinationUid, Is.EqualTo(inArchive[0].Uid));
        Assert.That(appended[0].Uid, Is.EqualTo(inArchive[2].Uid));
    }

    [Test]
    public async Task Saved_date_and_content_key_survive_a_reopen()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var delivered = await h.Store.DeliverAsync(StoreHarness.Message("1", "x"), DateTimeOffset.UtcNow.AddDays(-3), [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        var before = h.Store.ListMessages(delivered[0].FolderId).Single();
        var store = await h.ReopenAsync();
        var after = store.ListMessages(delivered[0].FolderId).Single();
        Assert.That((after.SavedAt, after.ContentKey), Is.EqualTo((before.SavedAt, before.ContentKey)));
        Assert.That(after.SavedAt, Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(5)));
    }

    [TestCase("0a0123456789abcdef0123456789abcd")]
    [TestCase("blob-of-another-form")]
    public void Content_key_of_a_blob_id_is_stable_and_not_zero(string blobId)
    {
        var key = MailStore.ContentKeyOf(blobId);
        Assert.That(MailStore.ContentKeyOf(new string(blobId.ToCharArray())), Is.EqualTo(key).And.Not.EqualTo(UInt128.Zero));
        Assert.That(MailStore.ContentKeyOf(blobId), Is.Not.EqualTo(MailStore.ContentKeyOf(blobId + "0")));
    }
}
