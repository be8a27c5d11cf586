using MailServer.Protocols.Imap;
using MailServer.Storage;
using MailServer.Tests.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap;

/// <summary>
/// \Recent across a restart (RFC 3501 §2.3.2: a message is \Recent in the first session told of it, in no other): the
/// mark a listener's tracker raises is kept in the store, so the tracker of the next listener (a restart) gives
/// \Recent to exactly the messages no session took, whatever their internal date. The store's mark only rises.
/// </summary>
[TestFixture]
public sealed class RecentTrackerTests
{
    [Test]
    public async Task A_restarted_tracker_continues_from_the_stored_mark()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var lastWeek = DateTimeOffset.UtcNow.AddDays(-7);
        var delivered = await h.Store.DeliverAsync(StoreHarness.Message("1", "x"), lastWeek, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        await h.Store.DeliverAsync(StoreHarness.Message("2", "y"), lastWeek, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        var inbox = delivered[0].FolderId;
        Assert.That(h.Store.ReadRecentMark(inbox), Is.EqualTo(0u), "a new folder starts with nothing taken");

        var first = new RecentTracker(DateTimeOffset.UtcNow, h.Store);
        var all = h.Store.ListMessages(inbox);
        Assert.That(first.Take(inbox, all.Take(1).ToList(), () => all), Is.EquivalentTo(new uint[] { 1 }));
        await WaitForMarkAsync(h.Store, inbox, 1);

        // A restart an hour later: message 2 (internal date last week) was never taken, so it is still \Recent.
        var store = await h.ReopenAsync();
        all = store.ListMessages(inbox);
        var second = new RecentTracker(DateTimeOffset.UtcNow.AddHours(1), store);
        Assert.That(second.Peek(inbox, all, () => all), Is.EquivalentTo(new uint[] { 2 }));
        Assert.That(second.Take(inbox, all, () => all), Is.EquivalentTo(new uint[] { 2 }));
        Assert.That(second.Take(inbox, all, () => all), Is.Empty, "taken once only");
        await WaitForMarkAsync(store, inbox, 2);

        await store.RaiseRecentMarkAsync(inbox, 1, CancellationToken.None);
        Assert.That(store.ReadRecentMark(inbox), Is.EqualTo(2u), "the mark never goes down");
    }

    private static async Task WaitForMarkAsync(MailStore store, string folderId, uint expected)
    {
        for (var i = 0; i < 200 && store.ReadRecentMark(folderId) != expected; i++)
            await Task.Delay(25);
        Assert.That(store.ReadRecentMark(folderId), Is.EqualTo(expected));
    }
}
