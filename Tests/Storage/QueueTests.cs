using System.Text;
using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>The outbound queue in the store: durable, encrypted (envelope included), per-recipient state, daily counts.</summary>
[TestFixture]
public sealed class QueueTests
{
    private static OutboundEnvelope Envelope(DateTimeOffset now, params string[] recipients) =>
        new(StoreHarness.Org, "alice@example.test", "alice@example.test", now, "ENV1", "HDRS",
            recipients.Select(r => new QueuedRecipient(r, QueuedRecipientState.Pending, 0, now)).ToList());

    [Test]
    public async Task A_queued_message_survives_a_reopen_and_nothing_of_it_is_in_clear()
    {
        await using var harness = StoreHarness.Create();
        var marker = "MARKER" + Guid.NewGuid().ToString("N");
        var now = DateTimeOffset.UtcNow;
        var body = StoreHarness.Message("subject " + marker, "body " + marker);

        var queued = await harness.Store.EnqueueAsync(Envelope(now, $"{marker}@remote.test"), body, "alice@example.test", CancellationToken.None);
        var store = await harness.ReopenAsync();

        var found = store.FindQueued(queued.QueueId)!;
        Assert.That(found.Envelope.Recipients.Single().Address, Is.EqualTo($"{marker}@remote.test"));
        Assert.That(found.Envelope.DsnEnvelopeId, Is.EqualTo("ENV1"));
        Assert.That(await store.ReadQueuedMessageAsync(queued.QueueId, CancellationToken.None), Is.EqualTo(body));
        var needle = Encoding.ASCII.GetBytes(marker);
        Assert.That(harness.Data.ToArray().AsSpan().IndexOf(needle), Is.EqualTo(-1), "database");
        Assert.That(harness.Log.ToArray().AsSpan().IndexOf(needle), Is.EqualTo(-1), "log");
        foreach (var file in harness.BlobFiles())
            Assert.That(File.ReadAllBytes(file).AsSpan().IndexOf(needle), Is.EqualTo(-1), file);
    }

    [Test]
    public async Task Due_entries_follow_the_next_attempt_and_a_settled_message_leaves_with_its_blob()
    {
        await using var harness = StoreHarness.Create();
        var store = harness.Store;
        var now = DateTimeOffset.UtcNow;
        var queued = await store.EnqueueAsync(Envelope(now, "a@remote.test", "b@remote.test"), StoreHarness.Message("s", "b"), null, CancellationToken.None);
        Assert.That(store.DueQueueEntries(now, 10).Select(m => m.QueueId), Is.EqualTo(new[] { queued.QueueId }));

        var later = now.AddMinutes(5);
        await store.UpdateQueuedAsync(queued.QueueId,
        [
            queued.Envelope.Recipients[0] with { State = QueuedRecipientState.Delivered, Attempts = 1 },
            queued.Envelope.Recipients[1] with { Attempts = 1, NextAttemptAt = later, LastError = "451 try later" },
        ], CancellationToken.None);
        Assert.That(store.DueQueueEntries(now.AddMinutes(1), 10), Is.Empty);
        Assert.That(store.DueQueueEntries(later, 10).Single().Envelope.Recipients[1].LastError, Is.EqualTo("451 try later"));
        Assert.That(harness.BlobFiles(), Has.Length.EqualTo(1));

        await store.UpdateQueuedAsync(queued.QueueId,
        [
            queued.Envelope.Recipients[0] with { State = QueuedRecipientState.Delivered },
            queued.Envelope.Recipients[1] with { State = QueuedRecipientState.Failed },
        ], CancellationToken.None);
        Assert.That(store.ListQueue(), Is.Empty);
        Assert.That(harness.BlobFiles(), Is.Empty);
    }

    [Test]
    public async Task Reindex_keeps_queued_blobs_and_delete_removes_them()
    {
        await using var harness = StoreHarness.Create();
        var store = harness.Store;
        var queued = await store.EnqueueAsync(Envelope(DateTimeOffset.UtcNow, "a@remote.test"), StoreHarness.Message("s", "b"), null, CancellationToken.None);

        var report = await store.ReindexAsync(CancellationToken.None);
        Assert.That(report.OrphanBlobsDeleted, Is.Zero);
        Assert.That(await store.ReadQueuedMessageAsync(queued.QueueId, CancellationToken.None), Is.Not.Empty);

        Assert.That(await store.DeleteQueuedAsync(queued.QueueId, CancellationToken.None), Is.True);
        Assert.That(await store.DeleteQueuedAsync(queued.QueueId, CancellationToken.None), Is.False);
        Assert.That(harness.BlobFiles(), Is.Empty);
    }

    [Test]
    public async Task External_recipients_are_counted_per_user_and_day_in_the_same_commit()
    {
        await using var harness = StoreHarness.Create();
        var store = harness.Store;
        var now = new DateTimeOffset(2026, 11, 28, 23, 0, 0, TimeSpan.Zero);
        await store.EnqueueAsync(Envelope(now, "a@remote.test", "b@remote.test"), StoreHarness.Message("s", "b"), "alice@example.test", CancellationToken.None);
        await store.EnqueueAsync(Envelope(now, "c@remote.test"), StoreHarness.Message("s", "b"), "Alice@Example.test", CancellationToken.None);
        await store.EnqueueAsync(Envelope(now, "d@remote.test"), StoreHarness.Message("s", "b"), null, CancellationToken.None);

        store = await harness.ReopenAsync();
        Assert.That(store.ExternalRecipientsOn(StoreHarness.Org, "alice@example.test", new DateOnly(2026, 11, 28)), Is.EqualTo(3));
        Assert.That(store.ExternalRecipientsOn(StoreHarness.Org, "alice@example.test", new DateOnly(2026, 11, 29)), Is.Zero);
        Assert.That(store.ExternalRecipientsOn(StoreHarness.Org, "bob@example.test", new DateOnly(2026, 11, 28)), Is.Zero);
    }
}
