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
}
