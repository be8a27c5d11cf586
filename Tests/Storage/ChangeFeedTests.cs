using NUnit.Framework;
using MailServer.Storage;

namespace MailServer.Tests.Storage;

[TestFixture]
public sealed class ChangeFeedTests
{
    [Test]
    public async Task A_subscriber_hears_MessageAdded_for_its_mailbox_only()
    {
        await using var h = StoreHarness.Create();
        var a = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var b = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "b@example.com", CancellationToken.None);
        using var subscription = h.Store.Changes.Subscribe(a.MailboxId);

        await h.Store.DeliverAsync(StoreHarness.Message("for b", "x"), DateTimeOffset.UtcNow, [new DeliveryTarget(b.MailboxId, "INBOX")], CancellationToken.None);
        var stored = await h.Store.DeliverAsync(StoreHarness.Message("for a", "x"), DateTimeOffset.UtcNow, [new DeliveryTarget(a.MailboxId, "INBOX")], CancellationToken.None);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var change = await subscription.Reader.ReadAsync(timeout.Token);
        Assert.That(change, Is.EqualTo(new MailboxChange.MessageAdded(a.MailboxId, stored[0].FolderId, stored[0].ModSeq, 1)));
        Assert.That(subscription.Reader.TryRead(out _), Is.False, "nothing from mailbox b");
        Assert.That(subscription.Overflowed, Is.False);
    }

    [Test]
    public async Task A_subscriber_that_falls_behind_is_marked_overflowed_and_the_writer_carries_on()
    {
        await using var h = StoreHarness.Create(feedCapacity: 5);
        var a = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var feed = (ChangeFeed)h.Store.Changes;
        using var subscription = feed.Subscribe(a.MailboxId);

        for (var i = 0; i < feed.Capacity + 3; i++)
            await h.Store.DeliverAsync(StoreHarness.Message($"m{i}", "x"), DateTimeOffset.UtcNow, [new DeliveryTarget(a.MailboxId, "INBOX")], CancellationToken.None);

        Assert.That(subscription.Overflowed, Is.True);
        Assert.That(subscription.Reader.Count, Is.EqualTo(feed.Capacity));
        Assert.That(h.Store.FindFolder(a.MailboxId, "INBOX")!.MessageCount, Is.EqualTo(feed.Capacity + 3));
    }

    [Test]
    public void A_disposed_subscription_completes_and_stops_receiving()
    {
        var feed = new ChangeFeed(capacity: 4);
        var subscription = feed.Subscribe("m1");
        subscription.Dispose();

        feed.Publish([new MailboxChange.MessageAdded("m1", "f1", 2, 1)]);

        Assert.That(subscription.Reader.Completion.IsCompleted, Is.True);
        Assert.That(subscription.Reader.TryRead(out _), Is.False);
    }
}
