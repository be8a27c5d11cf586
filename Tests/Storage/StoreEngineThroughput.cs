using System.Diagnostics;
using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>
/// A measurement, not a check (run it by name): deliveries per second on each engine, one writer and sixteen at once,
/// small messages to sixteen mailboxes. LiteDB on a MemoryStream with body files on disk; PostgreSQL on the run's
/// private cluster (fsync and synchronous_commit on).
/// </summary>
[TestFixture("LiteDb")]
[TestFixture("PostgreSql")]
[Explicit("a measurement; run by name")]
public sealed class StoreEngineThroughput(string engine)
{
    [TestCase(1, 300)]
    [TestCase(16, 1600)]
    public async Task Deliveries_per_second(int writers, int messages)
    {
        await using var store = await ContractStore.OpenAsync(engine);
        var boxes = new List<MailboxInfo>();
        for (var i = 0; i < 16; i++)
            boxes.Add(await store.Delivery.EnsureMailboxAsync(ContractStore.Org, $"user{i}@example.test", CancellationToken.None));
        var message = StoreHarness.Message("throughput", "a small message", padTo: 4000);
        var next = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
        {
            int n;
            while ((n = Interlocked.Increment(ref next)) <= messages)
                await store.Delivery.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(boxes[n % 16].MailboxId, "INBOX")], CancellationToken.None);
        }))).WaitAsync(TimeSpan.FromMinutes(5));
        clock.Stop();
        TestContext.Out.WriteLine($"{engine}: {writers} writer(s), {messages} deliveries of {message.Length} bytes: {messages / clock.Elapsed.TotalSeconds:F0} msg/s");
        Assert.That(boxes.Sum(b => store.Delivery.FindMailbox(ContractStore.Org, $"user{boxes.IndexOf(b)}@example.test")!.MessageCount), Is.EqualTo(messages));
    }

    /// <summary>The outbound queue's own cost: messages enqueued, then claimed (batches of eight, with a lease) and settled
    /// (every recipient delivered, the message leaves with its body) by <paramref name="claimers"/> claimers at once.</summary>
    [TestCase(1, 400)]
    [TestCase(8, 800)]
    public async Task Queue_messages_claimed_and_settled_per_second(int claimers, int messages)
    {
        await using var store = await ContractStore.OpenAsync(engine);
        var message = StoreHarness.Message("queued", "a small message", padTo: 4000);
        var due = DateTimeOffset.UtcNow;
        var enqueue = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, claimers).Select(c => Task.Run(async () =>
        {
            for (var i = c; i < messages; i += claimers)
                await store.Queue.EnqueueAsync(new OutboundEnvelope(ContractStore.Org, "alice@example.test", "alice@example.test", due, null, null,
                    [new QueuedRecipient($"r{i}@partner.test", QueuedRecipientState.Pending, 0, due)]), message, "alice@example.test", CancellationToken.None);
        }))).WaitAsync(TimeSpan.FromMinutes(5));
        enqueue.Stop();
        var settled = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, claimers).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                var claimed = await store.Queue.ClaimDueQueueAsync(due, 8, TimeSpan.FromMinutes(5), CancellationToken.None);
                if (claimed.Count == 0)
                    return;
                foreach (var id in claimed)
                {
                    var queued = store.Queue.FindQueued(id)!;
                    await store.Queue.UpdateQueuedAsync(id, queued.Envelope.Recipients.Select(r => r with { State = QueuedRecipientState.Delivered }).ToList(),
                        CancellationToken.None);
                    Interlocked.Increment(ref settled);
                }
            }
        }))).WaitAsync(TimeSpan.FromMinutes(5));
        clock.Stop();
        TestContext.Out.WriteLine($"{engine}: {claimers} claimer(s), {messages} messages: enqueued {messages / enqueue.Elapsed.TotalSeconds:F0}/s, " +
                                  $"claimed and settled {messages / clock.Elapsed.TotalSeconds:F0}/s");
        Assert.That((settled, store.Queue.ListQueue().Count), Is.EqualTo((messages, 0)));
    }
}
