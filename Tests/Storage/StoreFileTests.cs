using NUnit.Framework;
using MailServer.Storage;

namespace MailServer.Tests.Storage;

[TestFixture]
public sealed class StoreFileTests
{
    private string _directory = null!;
    private FixedKeys _keys = null!;

    [SetUp]
    public void SetUp()
    {
        _directory = StoreHarness.NewTempDirectory();
        _keys = FixedKeys.Random(StoreHarness.Org);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_directory, recursive: true);

    private MailStoreOptions Options => new() { DataDirectory = _directory, MasterKeys = _keys };

    [Test]
    public async Task Everything_survives_closing_and_reopening_the_files()
    {
        StoredMessage stored;
        var message = StoreHarness.Message("persist", "me");
        await using (var store = MailStore.Open(Options))
        {
            var box = await store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
            stored = (await store.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "Drafts", MessageFlags.Draft)], CancellationToken.None))[0];
        }

        await using (var store = MailStore.Open(Options))
        {
            var box = store.FindMailbox(StoreHarness.Org, "a@example.com");
            Assert.That(box?.MailboxId, Is.EqualTo(stored.MailboxId));
            Assert.That(box!.UsedBytes, Is.EqualTo(message.Length));
            Assert.That(await store.ReadMessageAsync(stored.MailboxId, stored.EntryId, CancellationToken.None), Is.EqualTo(message));
            var drafts = store.FindFolder(stored.MailboxId, "Drafts")!;
            Assert.That((drafts.UidNext, drafts.HighestModSeq), Is.EqualTo((2u, stored.ModSeq)));
            var next = await store.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(stored.MailboxId, "Drafts")], CancellationToken.None);
            Assert.That(next[0].Uid, Is.EqualTo(2u), "UIDs are never reused across restarts");
            Assert.That(next[0].ModSeq, Is.GreaterThan(stored.ModSeq));
        }
    }

    [Test]
    public async Task A_second_open_of_a_held_directory_is_refused_with_the_holder_pid()
    {
        await using var first = MailStore.Open(Options);

        var refused = Assert.Throws<StoreLockedException>(() => MailStore.Open(Options));

        Assert.That(refused!.Message, Is.EqualTo($"the database in {Path.GetFullPath(_directory)} is held by another mailserver process (pid {Environment.ProcessId})"));
        await first.DisposeAsync();
        await using var again = MailStore.Open(Options);
        Assert.That(await again.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None), Is.Not.Null,
            "the directory is free again once the holder closed");
    }

    [Test]
    public async Task The_log_is_fsynced_once_per_group_commit()
    {
        await using var store = MailStore.Open(Options);
        var box = await store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var before = (store.LogFsyncs, store.Batches);

        await store.DeliverAsync(StoreHarness.Message("x", "y"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);

        Assert.That(store.Batches - before.Batches, Is.EqualTo(1));
        Assert.That(store.LogFsyncs - before.LogFsyncs, Is.EqualTo(1), "LiteDB never fsyncs; the store must (pitfalls: LiteDB #2818)");
    }
}
