using System.Collections.Concurrent;
using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

// Leases across nodes: two store instances on one database (two nodes) claim the outbound queue and held messages.
// Claims give a "now" explicitly, so a lease running out is shown without waiting for it.
public sealed partial class PostgreSqlStoreTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    private static OutboundEnvelope DueEnvelope(DateTimeOffset due, string recipient) =>
        new(StoreHarness.Org, "alice@example.test", "alice@example.test", due, null, null,
            [new QueuedRecipient(recipient, QueuedRecipientState.Pending, 0, due)]);

    [Test]
    public async Task Two_nodes_claiming_the_queue_at_once_never_get_the_same_message()
    {
        var nodeA = await OpenNodeAsync();
        var nodeB = await OpenNodeAsync();
        var now = DateTimeOffset.UtcNow;
        const int messages = 60;
        var message = StoreHarness.Message("claimed once", "body");
        for (var i = 0; i < messages; i++)
            await nodeA.EnqueueAsync(DueEnvelope(now - TimeSpan.FromSeconds(i % 7), $"r{i}@partner.test"), message, null, None);

        // Three claimers per node, each taking a few at a time until nothing is left: they race on the same due rows.
        var claims = new ConcurrentBag<(string Node, string Id)>();
        var claimers = new[] { ("A", nodeA), ("B", nodeB) }.SelectMany(n => Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            for (var round = 0; round < messages; round++)
            {
                var got = await n.Item2.ClaimDueQueueAsync(now, 4, Lease, None);
                if (got.Count == 0)
                    return;
                foreach (var id in got)
                    claims.Add((n.Item1, id));
            }
        }))).ToList();
        await Task.WhenAll(claimers).WaitAsync(TimeSpan.FromSeconds(60));

        var ids = claims.Select(c => c.Id).ToList();
        Assert.That(ids, Is.Unique, "a message claimed twice");
        Assert.That(ids, Is.EquivalentTo(nodeB.ListQueue().Select(q => q.QueueId)), "every due message claimed");
        TestContext.Out.WriteLine($"node A claimed {claims.Count(c => c.Node == "A")}, node B {claims.Count(c => c.Node == "B")}");
        Assert.That(await nodeA.ClaimDueQueueAsync(now, messages, Lease, None), Is.Empty);
        Assert.That(await nodeB.ClaimDueQueueAsync(now, messages, Lease, None), Is.Empty);
    }

    [Test]
    public async Task A_dead_nodes_queue_and_held_messages_are_taken_over_after_its_lease()
    {
        var nodeA = await OpenNodeAsync();
        var nodeB = await OpenNodeAsync();
        var now = DateTimeOffset.UtcNow;
        var message = StoreHarness.Message("taken over", "body");
        var queued = await nodeA.EnqueueAsync(DueEnvelope(now, "carol@partner.test"), message, null, None);
        var held = new HeldMessage("0123456789abcdef0123456789abcdef", StoreHarness.Org, MessageFlowContext.Incoming, "review", "inv-1", Guid.NewGuid(),
            ["bob@example.test"], now, now + TimeSpan.FromHours(1), 0, now, null, [1, 2, 3]);
        await nodeA.HoldAsync(held, message, None);

        Assert.That(await nodeA.ClaimDueQueueAsync(now, 10, Lease, None), Is.EqualTo(new[] { queued.QueueId }));
        Assert.That((await nodeA.ClaimDueHeldAsync(now, 10, Lease, None)).Select(h => h.HeldId), Is.EqualTo(new[] { held.HeldId }));
        // Node A dies holding both: it never writes again (a clean stop would hand them back, below).

        Assert.That(await nodeB.ClaimDueQueueAsync(now + Lease - TimeSpan.FromSeconds(1), 10, Lease, None), Is.Empty, "A's lease still lives");
        Assert.That(await nodeB.ClaimDueHeldAsync(now + Lease - TimeSpan.FromSeconds(1), 10, Lease, None), Is.Empty);
        var after = now + Lease + TimeSpan.FromSeconds(1);
        Assert.That(await nodeB.ClaimDueQueueAsync(after, 10, Lease, None), Is.EqualTo(new[] { queued.QueueId }));
        Assert.That((await nodeB.ClaimDueHeldAsync(after, 10, Lease, None)).Select(h => h.HeldId), Is.EqualTo(new[] { held.HeldId }));

        // B finishes A's work: the recipient delivered, the held message decided.
        await nodeB.UpdateQueuedAsync(queued.QueueId, [queued.Envelope.Recipients[0] with { State = QueuedRecipientState.Delivered, Attempts = 1 }], None);
        Assert.That(await nodeB.ReleaseHeldAsync(held.HeldId, None), Is.True);
        Assert.That(nodeB.ListQueue(), Is.Empty);
        Assert.That(nodeB.ListHeld(), Is.Empty);
    }

    [Test]
    public async Task A_stalled_node_whose_lease_was_taken_over_cannot_write_its_outcome()
    {
        var nodeA = await OpenNodeAsync();
        var nodeB = await OpenNodeAsync();
        var now = DateTimeOffset.UtcNow;
        var queued = await nodeA.EnqueueAsync(DueEnvelope(now - Lease - Lease, "carol@partner.test"), StoreHarness.Message("stalled", "body"), null, None);
        var held = new HeldMessage("fedcba9876543210fedcba9876543210", StoreHarness.Org, MessageFlowContext.Outgoing, "review", "inv-2", Guid.NewGuid(),
            ["carol@partner.test"], now, now + TimeSpan.FromHours(1), 0, now - Lease - Lease, null, [1]);
        await nodeA.HoldAsync(held, StoreHarness.Message("held", "body"), None);

        // A claimed long ago (its lease ran out while it stalled); B takes over now, with a lease that lives.
        Assert.That(await nodeA.ClaimDueQueueAsync(now - Lease - Lease, 1, Lease, None), Has.Count.EqualTo(1));
        Assert.That(await nodeA.ClaimDueHeldAsync(now - Lease - Lease, 1, Lease, None), Has.Count.EqualTo(1));
        Assert.That(await nodeB.ClaimDueQueueAsync(now, 1, Lease, None), Is.EqualTo(new[] { queued.QueueId }));
        Assert.That(await nodeB.ClaimDueHeldAsync(now, 1, Lease, None), Has.Count.EqualTo(1));

        var delivered = queued.Envelope.Recipients.Select(r => r with { State = QueuedRecipientState.Delivered }).ToList();
        Assert.ThrowsAsync<LeaseHeldElsewhereException>(() => nodeA.UpdateQueuedAsync(queued.QueueId, delivered, None));
        Assert.That(await nodeA.RenewQueueLeaseAsync(queued.QueueId, now, Lease, None), Is.False, "A's lease is gone");
        Assert.ThrowsAsync<LeaseHeldElsewhereException>(() => nodeA.RecordHeldAttemptAsync(held.HeldId, 1, now, "late", None));
        Assert.That(StoreErrors.Classify(new LeaseHeldElsewhereException("x")), Is.EqualTo(StoreError.Conflict));
        Assert.That(nodeB.FindQueued(queued.QueueId)!.Envelope.Recipients.Single().State, Is.EqualTo(QueuedRecipientState.Pending), "A wrote nothing");
        Assert.That(nodeB.ListHeld().Single().Attempts, Is.Zero);

        Assert.That(await nodeB.RenewQueueLeaseAsync(queued.QueueId, now, Lease, None), Is.True);
        await nodeB.UpdateQueuedAsync(queued.QueueId, delivered, None);
        Assert.That(nodeA.FindQueued(queued.QueueId), Is.Null);
    }

    [Test]
    public async Task A_node_that_stops_cleanly_hands_its_leases_back_at_once()
    {
        var nodeA = await OpenNodeAsync();
        var nodeB = await OpenNodeAsync();
        var now = DateTimeOffset.UtcNow;
        await nodeA.EnqueueAsync(DueEnvelope(now, "carol@partner.test"), StoreHarness.Message("one", "body"), null, None);
        await nodeA.EnqueueAsync(DueEnvelope(now, "dave@partner.test"), StoreHarness.Message("two", "body"), null, None);
        var onB = (await nodeB.ClaimDueQueueAsync(now, 1, Lease, None)).Single();
        var onA = (await nodeA.ClaimDueQueueAsync(now, 10, Lease, None)).Single();
        Assert.That(await nodeB.ClaimDueQueueAsync(now, 10, Lease, None), Is.Empty, "both are claimed");

        await nodeA.DisposeAsync();

        Assert.That(await nodeB.ClaimDueQueueAsync(now, 10, Lease, None), Is.EqualTo(new[] { onA }),
            "A's message at once, without waiting for its lease; B's own stays claimed");
        Assert.That(onB, Is.Not.EqualTo(onA));
    }
}
