using NUnit.Framework;
using MailServer.Storage;

namespace MailServer.Tests.Storage;

[TestFixture]
public sealed class WriterTests
{
    [Test]
    public async Task Every_write_runs_on_the_one_writer_thread_and_never_two_at_once()
    {
        await using var h = StoreHarness.Create();
        var boxes = await Task.WhenAll(Enumerable.Range(0, 10).Select(i =>
            Task.Run(() => h.Store.EnsureMailboxAsync(StoreHarness.Org, $"user{i}@example.com", CancellationToken.None))));
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() =>
            h.Store.DeliverAsync(StoreHarness.Message($"m{i}", "b"), DateTimeOffset.UtcNow,
                [new DeliveryTarget(boxes[i % 10].MailboxId, "INBOX")], CancellationToken.None))));

        Assert.That(h.Store.WritesOffWriterThread, Is.Zero);
        Assert.That(h.Store.MaxConcurrentWriters, Is.EqualTo(1));
        Assert.That(h.Store.WriterThreadId, Is.Not.EqualTo(Environment.CurrentManagedThreadId));
    }

    [Test]
    public async Task A_write_attempted_off_the_writer_thread_is_refused_and_counted()
    {
        await using var h = StoreHarness.Create();
        MailStore.WriterContext? leaked = null;
        await h.Store.RunOnWriter(ctx => leaked = ctx, [], CancellationToken.None);

        Assert.Throws<InvalidOperationException>(() => leaked!.Insert(Schema.Meta, new LiteDB.BsonDocument { ["_id"] = "rogue" }));
        Assert.That(h.Store.WritesOffWriterThread, Is.EqualTo(1));
    }

    [Test]
    public async Task Requests_queued_while_the_writer_is_busy_commit_together_with_one_log_fsync()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        using var gate = new ManualResetEventSlim();
        var blocker = h.Store.RunOnWriter(_ => gate.Wait(TimeSpan.FromSeconds(30)), [], CancellationToken.None);
        var batchesBefore = h.Store.Batches;

        var deliveries = Enumerable.Range(0, 12).Select(i => h.Store.DeliverAsync(StoreHarness.Message($"m{i}", "b"),
            DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None)).ToList();
        while (h.Store.PendingWrites < 12)
            await Task.Delay(5);
        gate.Set();
        await Task.WhenAll(deliveries);
        await blocker;

        Assert.That(h.Store.Batches - batchesBefore, Is.EqualTo(2), "the blocking request, then all twelve deliveries in one commit");
        Assert.That(h.Store.ListMessages(h.Store.FindFolder(box.MailboxId, "INBOX")!.FolderId), Has.Count.EqualTo(12));
    }

    [Test]
    public async Task A_request_failing_after_it_wrote_does_not_take_the_rest_of_its_batch_down()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        using var gate = new ManualResetEventSlim();
        var blocker = h.Store.RunOnWriter(_ => gate.Wait(TimeSpan.FromSeconds(30)), [], CancellationToken.None);

        var good = h.Store.DeliverAsync(StoreHarness.Message("good", "b"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        var bad = h.Store.RunOnWriter<bool>(ctx =>
        {
            ctx.Insert(Schema.Meta, new LiteDB.BsonDocument { ["_id"] = "half-written" });
            throw new InvalidDataException("failed after writing");
        }, [], CancellationToken.None);
        while (h.Store.PendingWrites < 2)
            await Task.Delay(5);
        gate.Set();
        await blocker;

        Assert.ThrowsAsync<InvalidDataException>(() => bad);
        var stored = await good;
        Assert.That(stored[0].Uid, Is.EqualTo(1u));
        Assert.That(h.Store.ListMessages(stored[0].FolderId), Has.Count.EqualTo(1));
        Assert.That(await h.Store.RunOnWriter(ctx => ctx.Read(Schema.Meta).FindById("half-written") is null, [], CancellationToken.None), Is.True,
            "the failed request's write was rolled back");
        await h.ReopenAsync();
        Assert.That(h.Store.ListMessages(stored[0].FolderId), Has.Count.EqualTo(1), "the good request was committed");
    }
}

[TestFixture]
public sealed class ConcurrentReadTests
{
    [Test]
    public async Task Readers_running_beside_the_writer_see_only_whole_commits()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var inbox = h.Store.FindFolder(box.MailboxId, "INBOX")!.FolderId;
        using var done = new CancellationTokenSource();
        var problems = new System.Collections.Concurrent.ConcurrentBag<string>();

        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
        {
            var last = 0;
            while (!done.IsCancellationRequested)
            {
                var uids = h.Store.ListMessages(inbox).Select(m => m.Uid).ToList();
                if (!uids.SequenceEqual(Enumerable.Range(1, uids.Count).Select(i => (uint)i)))
                    problems.Add($"UIDs not a prefix: {string.Join(',', uids)}");
                if (uids.Count < last)
                    problems.Add($"count went back from {last} to {uids.Count}");
                last = uids.Count;
                var folder = h.Store.FindFolder(box.MailboxId, "inbox")!;
                if (folder.UidNext <= (uint)last)
                    problems.Add($"UIDNEXT {folder.UidNext} behind {last} listed messages");
            }
        })).ToList();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
        {
            for (var i = 0; i < 25; i++)
                await h.Store.DeliverAsync(StoreHarness.Message($"{t}/{i}", "x"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        })));
        done.Cancel();
        await Task.WhenAll(readers);

        Assert.That(problems, Is.Empty);
        Assert.That(h.Store.ListMessages(inbox), Has.Count.EqualTo(200));
    }
}
