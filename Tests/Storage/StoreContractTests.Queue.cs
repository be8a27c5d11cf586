using System.Text;
using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

// The contract of the outbound queue, its leases and daily counters, held messages, in-transit copies and retention,
// on both engines (docs/storage-contract.md). Lease times are given explicitly, so no test waits for a lease to run out.
public sealed partial class StoreContractTests
{
    private static readonly DateTimeOffset T0 = new(2026, 5, 4, 9, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    private static async Task Within(Task task) => await task.WaitAsync(TimeSpan.FromSeconds(30));

    private static OutboundEnvelope Envelope(DateTimeOffset due, params string[] recipients) =>
        new(ContractStore.Org, "alice@example.test", "alice@example.test", T0, "env-1", "HDRS",
            recipients.Select(r => new QueuedRecipient(r, QueuedRecipientState.Pending, 0, due, DsnNotify: "FAILURE")).ToList());

    private static HeldMessage Held(string id, DateTimeOffset due) =>
        new(id, ContractStore.Org, MessageFlowContext.Outgoing, "hold-for-review", "invocation-" + id, Guid.NewGuid(),
            ["carol@partner.test"], T0, T0 + TimeSpan.FromMinutes(30), 0, due, null, Encoding.UTF8.GetBytes("{\"transaction\":\"opaque\"}"));

    [Test]
    public async Task A_queued_message_keeps_its_envelope_and_body_and_counts_its_recipients_against_the_sender_for_the_day()
    {
        var trace = Guid.NewGuid();
        var message = StoreHarness.Message("to partners", "the queued body", padTo: 100_000);
        var queued = await Within(_store.Queue.EnqueueAsync(Envelope(T0, "carol@partner.test", "dave@partner.test") with { TraceId = trace, RequireTls = true },
            message, "alice@example.test", None));

        Assert.That(queued.QueueId, Is.EqualTo(trace.ToString("N")), "the trace id is the queue id");
        var found = _store.Queue.FindQueued(queued.QueueId)!;
        Assert.That(found.Envelope.Recipients.Select(r => (r.Address, r.State, r.DsnNotify)),
            Is.EqualTo(new[] { ("carol@partner.test", QueuedRecipientState.Pending, "FAILURE"), ("dave@partner.test", QueuedRecipientState.Pending, "FAILURE") }));
        Assert.That((found.Envelope.Sender, found.Envelope.DsnEnvelopeId, found.Envelope.RequireTls, found.Size), Is.EqualTo(("alice@example.test", "env-1", true, (long)message.Length)));
        Assert.That(await Within(_store.Queue.ReadQueuedMessageAsync(queued.QueueId, None)), Is.EqualTo(message));

        // A second part of the same message (a held recipient released later) gets an id of its own.
        var second = await Within(_store.Queue.EnqueueAsync(Envelope(T0, "erin@partner.test") with { TraceId = trace }, message, "ALICE@example.test", None));
        Assert.That(second.QueueId, Is.Not.EqualTo(queued.QueueId));
        Assert.That(_store.Queue.ListQueue().Select(q => q.QueueId), Is.EquivalentTo(new[] { queued.QueueId, second.QueueId }));

        var day = DateOnly.FromDateTime(T0.UtcDateTime);
        Assert.That(_store.Queue.ExternalRecipientsOn(ContractStore.Org, "alice@example.test", day), Is.EqualTo(3));
        Assert.That(_store.Queue.ExternalRecipientsOn(ContractStore.Org, "alice@example.test", day.AddDays(1)), Is.Zero);
        Assert.That(_store.Queue.ExternalRecipientsOn(ContractStore.Org, "bob@example.test", day), Is.Zero);
    }

    [Test]
    public async Task A_message_stays_queued_while_a_recipient_is_pending_and_leaves_with_its_body_when_none_is()
    {
        var message = StoreHarness.Message("two recipients", "body");
        var queued = await Within(_store.Queue.EnqueueAsync(Envelope(T0, "carol@partner.test", "dave@partner.test"), message, null, None));
        var recipients = queued.Envelope.Recipients;

        await Within(_store.Queue.UpdateQueuedAsync(queued.QueueId,
            [recipients[0] with { State = QueuedRecipientState.Delivered, Attempts = 1, Status = "2.0.0" },
             recipients[1] with { Attempts = 1, NextAttemptAt = T0 + TimeSpan.FromMinutes(10), LastError = "451 try later" }], None));
        var after = _store.Queue.FindQueued(queued.QueueId)!;
        Assert.That(after.Envelope.Recipients.Select(r => (r.State, r.LastError)),
            Is.EqualTo(new[] { (QueuedRecipientState.Delivered, (string?)null), (QueuedRecipientState.Pending, "451 try later") }));
        Assert.That(after.NextAttemptAt, Is.EqualTo(T0 + TimeSpan.FromMinutes(10)));
        Assert.That(_store.Queue.DueQueueIds(T0, 10), Is.Empty, "the pending recipient is not due yet");
        Assert.That(_store.Queue.DueQueueIds(T0 + TimeSpan.FromMinutes(10), 10), Is.EqualTo(new[] { queued.QueueId }));

        await Within(_store.Queue.UpdateQueuedAsync(queued.QueueId,
            [after.Envelope.Recipients[0], after.Envelope.Recipients[1] with { State = QueuedRecipientState.Failed, Status = "5.1.1" }], None));
        Assert.That(_store.Queue.FindQueued(queued.QueueId), Is.Null);
        Assert.ThrowsAsync<KeyNotFoundException>(() => _store.Queue.ReadQueuedMessageAsync(queued.QueueId, None));
        Assert.ThrowsAsync<KeyNotFoundException>(() => _store.Queue.UpdateQueuedAsync(queued.QueueId, recipients, None));

        var other = await Within(_store.Queue.EnqueueAsync(Envelope(T0, "frank@partner.test"), message, null, None));
        Assert.That(await Within(_store.Queue.DeleteQueuedAsync(other.QueueId, None)), Is.True);
        Assert.That(await Within(_store.Queue.DeleteQueuedAsync(other.QueueId, None)), Is.False);
        Assert.That(_store.Queue.ListQueue(), Is.Empty);
    }

    [Test]
    public async Task Claims_never_hold_one_message_twice_and_a_lease_that_ran_out_or_ended_is_claimable_again()
    {
        var message = StoreHarness.Message("claimed", "body");
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
            ids.Add((await Within(_store.Queue.EnqueueAsync(Envelope(T0 + TimeSpan.FromSeconds(i), $"r{i}@partner.test"), message, null, None))).QueueId);
        var notYetDue = await Within(_store.Queue.EnqueueAsync(Envelope(T0 + TimeSpan.FromHours(1), "later@partner.test"), message, null, None));
        var now = T0 + TimeSpan.FromSeconds(10);

        var first = await Within(_store.Queue.ClaimDueQueueAsync(now, 3, Lease, None));
        var second = await Within(_store.Queue.ClaimDueQueueAsync(now, 10, Lease, None));
        Assert.That(first, Is.EqualTo(ids.Take(3)), "earliest due first");
        Assert.That(second, Is.EquivalentTo(ids.Skip(3)), "the rest, none of the first claim's");
        Assert.That(await Within(_store.Queue.ClaimDueQueueAsync(now + Lease - TimeSpan.FromSeconds(1), 10, Lease, None)), Is.Empty, "every lease lives");
        Assert.That(second, Does.Not.Contain(notYetDue.QueueId));

        // Writing an outcome ends the lease: a recipient still due is claimable at once.
        var queued = _store.Queue.FindQueued(ids[0])!;
        await Within(_store.Queue.UpdateQueuedAsync(ids[0], queued.Envelope.Recipients.Select(r => r with { Attempts = 1 }).ToList(), None)
            );
        Assert.That(await Within(_store.Queue.ClaimDueQueueAsync(now, 10, Lease, None)), Is.EqualTo(new[] { ids[0] }));

        // A renewed lease outlives the first expiry; the others run out and are taken over.
        Assert.That(await Within(_store.Queue.RenewQueueLeaseAsync(ids[1], now + TimeSpan.FromMinutes(4), Lease, None)), Is.True);
        var takenOver = await Within(_store.Queue.ClaimDueQueueAsync(now + Lease + TimeSpan.FromSeconds(1), 10, Lease, None));
        Assert.That(takenOver, Is.EquivalentTo(ids.Except([ids[1]])));
        Assert.That(await Within(_store.Queue.ClaimDueQueueAsync(now + TimeSpan.FromMinutes(9) + TimeSpan.FromSeconds(1), 10, Lease, None)),
            Is.EqualTo(new[] { ids[1] }));

        Assert.That(await Within(_store.Queue.DeleteQueuedAsync(ids[2], None)), Is.True);
        Assert.That(await Within(_store.Queue.RenewQueueLeaseAsync(ids[2], now, Lease, None)), Is.False, "no lease on a message that is gone");
        Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _store.Queue.ClaimDueQueueAsync(now, 0, Lease, None));
        Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _store.Queue.ClaimDueQueueAsync(now, 1, TimeSpan.Zero, None));
    }

    [Test]
    public async Task An_update_expecting_a_version_the_message_has_left_is_refused_and_writes_nothing()
    {
        var queued = await Within(_store.Queue.EnqueueAsync(Envelope(T0, "carol@partner.test"), StoreHarness.Message("versioned", "body"), null, None));
        var read = _store.Queue.FindQueued(queued.QueueId)!;
        Assert.That(read.Version, Is.Zero);

        // Another claimer records an attempt after this caller read the message...
        await Within(_store.Queue.UpdateQueuedAsync(queued.QueueId, [read.Envelope.Recipients[0] with { Attempts = 1, LastError = "451 busy" }], None));
        Assert.That(_store.Queue.FindQueued(queued.QueueId)!.Version, Is.EqualTo(1));

        // ...so the caller's write, decided on what it read, is refused.
        var refused = Assert.ThrowsAsync<QueuedMessageChangedException>(() => _store.Queue.UpdateQueuedAsync(queued.QueueId,
            [read.Envelope.Recipients[0] with { NextAttemptAt = T0 }], read.Version, None));
        Assert.That(StoreErrors.Classify(refused!), Is.EqualTo(StoreError.Conflict));
        var after = _store.Queue.FindQueued(queued.QueueId)!;
        Assert.That((after.Version, after.Envelope.Recipients[0].Attempts, after.Envelope.Recipients[0].LastError), Is.EqualTo((1L, 1, "451 busy")));

        // Read again, it goes through.
        await Within(_store.Queue.UpdateQueuedAsync(queued.QueueId, [after.Envelope.Recipients[0] with { NextAttemptAt = T0 }], after.Version, None));
        Assert.That(_store.Queue.FindQueued(queued.QueueId)!.Version, Is.EqualTo(2));
    }

    [Test]
    public async Task Held_messages_are_claimed_with_leases_retried_and_released_with_their_body()
    {
        var message = StoreHarness.Message("held for review", "the held body");
        var held = Held("0123456789abcdef0123456789abcdef", T0);
        await Within(_store.Held.HoldAsync(held, message, None));
        await Within(_store.Held.HoldAsync(Held("fedcba9876543210fedcba9876543210", T0 + TimeSpan.FromHours(1)), message, None)
            );

        var listed = _store.Held.ListHeld();
        Assert.That(listed.Select(h => h.HeldId), Is.EquivalentTo(new[] { held.HeldId, "fedcba9876543210fedcba9876543210" }));
        var read = listed.Single(h => h.HeldId == held.HeldId);
        Assert.That((read.Rule, read.InvocationId, read.MessageFlowId, read.Direction, read.Deadline), Is.EqualTo((held.Rule, held.InvocationId, held.MessageFlowId, held.Direction, held.Deadline)));
        Assert.That(read.Recipients, Is.EqualTo(held.Recipients));
        Assert.That(read.Envelope, Is.EqualTo(held.Envelope));
        Assert.That(await Within(_store.Held.ReadHeldMessageAsync(held.HeldId, None)), Is.EqualTo(message));

        var claimed = await Within(_store.Held.ClaimDueHeldAsync(T0, 10, Lease, None));
        Assert.That(claimed.Select(h => h.HeldId), Is.EqualTo(new[] { held.HeldId }), "only the due one");
        Assert.That(await Within(_store.Held.ClaimDueHeldAsync(T0, 10, Lease, None)), Is.Empty, "claimed already");

        await Within(_store.Held.RecordHeldAttemptAsync(held.HeldId, 1, T0 + TimeSpan.FromMinutes(1), "hook timed out", None)
            );
        Assert.That(await Within(_store.Held.ClaimDueHeldAsync(T0, 10, Lease, None)), Is.Empty, "not due before its next attempt");
        var retried = (await Within(_store.Held.ClaimDueHeldAsync(T0 + TimeSpan.FromMinutes(1), 10, Lease, None))).Single();
        Assert.That((retried.Attempts, retried.LastError, retried.NextAttemptAt), Is.EqualTo((1, "hook timed out", T0 + TimeSpan.FromMinutes(1))));

        Assert.That(await Within(_store.Held.ReleaseHeldAsync(held.HeldId, None)), Is.True);
        Assert.That(await Within(_store.Held.ReleaseHeldAsync(held.HeldId, None)), Is.False);
        Assert.ThrowsAsync<KeyNotFoundException>(() => _store.Held.ReadHeldMessageAsync(held.HeldId, None));
        Assert.ThrowsAsync<KeyNotFoundException>(() => _store.Held.RecordHeldAttemptAsync(held.HeldId, 2, T0, "gone", None));
        Assert.That(_store.Held.ListHeld().Select(h => h.HeldId), Is.EqualTo(new[] { "fedcba9876543210fedcba9876543210" }));
    }

    [Test]
    public async Task In_transit_copies_are_replaced_while_updatable_and_are_gone_after_24_hours()
    {
        var clock = new ManualClock();
        await using var store = await ContractStore.OpenAsync(engine, clock);
        var original = StoreHarness.Message("in transit", "original body");
        var replaced = StoreHarness.Message("in transit", "rewritten by the hook");

        var id = await Within(store.Flow.StoreInTransitAsync(ContractStore.Org, MessageFlowContext.Incoming, original, updatable: true, None));
        var found = store.Flow.FindInTransit(id)!;
        Assert.That((found.OrganizationId, found.Context, found.Updatable), Is.EqualTo((ContractStore.Org, MessageFlowContext.Incoming, true)));
        Assert.That(await Within(store.Flow.ReadInTransitAsync(id, None)), Is.EqualTo(original));

        Assert.That(await Within(store.Flow.ReplaceInTransitAsync(id, replaced, None)), Is.True);
        Assert.That(await Within(store.Flow.ReadInTransitAsync(id, None)), Is.EqualTo(replaced));
        Assert.That(await Within(store.Flow.SealInTransitAsync(id, None)), Is.True);
        Assert.That(await Within(store.Flow.ReplaceInTransitAsync(id, original, None)), Is.False, "sealed: the hook decided");
        Assert.That(await Within(store.Flow.ReadInTransitAsync(id, None)), Is.EqualTo(replaced));
        Assert.That(await Within(store.Flow.SealInTransitAsync(Guid.NewGuid(), None)), Is.False);

        clock.Advance(TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1));
        Assert.That(store.Flow.FindInTransit(id), Is.Null, "outside the 24-hour window");
        Assert.That(await Within(store.Flow.ReadInTransitAsync(id, None)), Is.Null);
        Assert.That(await Within(store.Flow.PurgeInTransitAsync(None)), Is.EqualTo(1));
        Assert.That(await Within(store.Flow.PurgeInTransitAsync(None)), Is.Zero);
    }

    [Test]
    public async Task Retention_removes_messages_whatever_their_flags_in_one_change_and_leaves_a_tombstone()
    {
        var box = await Delivery.EnsureMailboxAsync(ContractStore.Org, "retained@example.test", None);
        var items = Enumerable.Range(0, 4).Select(i => new AppendItem(StoreHarness.Message($"old {i}", "body"), T0, i == 0 ? MessageFlags.Deleted : MessageFlags.Seen, [])).ToList();
        var stored = await Within(Imap.AppendAsync(box.MailboxId, "INBOX", items, None));
        var inbox = Imap.FindFolder(box.MailboxId, "INBOX")!;
        using var subscription = Imap.Changes.Subscribe(box.MailboxId);

        var removed = await Within(_store.Retention.PermanentlyDeleteAsync(inbox.FolderId, [1, 3, 99], None));

        Assert.That(removed, Is.EqualTo(new uint[] { 1, 3 }), "a \\Deleted one and a \\Seen one; an unknown UID ignored");
        Assert.That(Imap.ListMessages(inbox.FolderId).Select(m => m.Uid), Is.EqualTo(new uint[] { 2, 4 }));
        var change = await Within(subscription.Reader.ReadAsync(None).AsTask());
        Assert.That(change, Is.TypeOf<MailboxChange.MessagesExpunged>());
        var expunged = (MailboxChange.MessagesExpunged)change;
        Assert.That(expunged.Uids, Is.EqualTo(new uint[] { 1, 3 }));
        Assert.That(Imap.ListExpungedSince(inbox.FolderId, stored[^1].ModSeq), Is.EqualTo(new uint[] { 1, 3 }));
        Assert.That(Delivery.FindMailbox(ContractStore.Org, "retained@example.test")!.MessageCount, Is.EqualTo(2));
        Assert.That(await Within(_store.Retention.PermanentlyDeleteAsync(inbox.FolderId, [1], None)), Is.Empty);
        Assert.ThrowsAsync<KeyNotFoundException>(() => _store.Retention.PermanentlyDeleteAsync("no-such-folder", [1], None));
    }

    [Test]
    public async Task Nothing_of_a_queued_held_or_in_transit_message_is_readable_in_the_stored_bytes()
    {
        var message = StoreHarness.Message("Acquisition of Globex", "the outbound text nobody may read");
        await Within(_store.Queue.EnqueueAsync(Envelope(T0, "ceo@globex.test"), message, "alice@example.test", None));
        await Within(_store.Held.HoldAsync(Held("00112233445566778899aabbccddeeff", T0), message, None));
        await Within(_store.Flow.StoreInTransitAsync(ContractStore.Org, MessageFlowContext.Outgoing, message, updatable: false, None));

        var dump = await _store.RawDumpAsync();
        foreach (var secret in new[] { "Acquisition of Globex", "the outbound text nobody may read", "ceo@globex.test", "alice@example.test",
                     "carol@partner.test", "hold-for-review", "alice@example.com" })
        {
            Assert.That(Contains(dump, Encoding.UTF8.GetBytes(secret)), Is.False, $"'{secret}' in clear");
            Assert.That(Contains(dump, Encoding.ASCII.GetBytes(Convert.ToHexStringLower(Encoding.UTF8.GetBytes(secret)))), Is.False, $"'{secret}' in hex");
        }
        Assert.That(dump.Length, Is.GreaterThan(1000), "the dump holds the store");
    }
}
