using MailServer.Storage;
using MailServer.Storage.Crypto;
using MailServer.Storage.PostgreSql;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>
/// Key administration on both engines (issue 18 over issue 20's LiteDB tests): a master key rotation re-wraps every
/// mailbox, held and in-transit key under the new version and destroys the old one (everything opens with the new
/// version alone in a store opened afterwards); deleting a mailbox shreds it while the other recipient of a shared
/// message still reads it; the listings show owners and the shredding; a mailbox key rotation while deliveries run
/// loses no message, and a store opened afterwards reads everything with the new mailbox key alone.
/// </summary>
[TestFixture("LiteDb")]
[TestFixture("PostgreSql")]
public sealed class KeyAdministrationContractTests(string engine)
{
    private static readonly CancellationToken None = CancellationToken.None;
    private const string Org = StoreHarness.Org;
    private string _keyFile = null!;
    private StoreHarness? _lite;
    private string? _mail, _ledger;
    private readonly List<IAsyncDisposable> _open = [];

    [SetUp]
    public async Task OpenAsync()
    {
        if (engine == "LiteDb")
        {
            (_lite, _keyFile) = StoreHarness.CreateWithKeyFile();
            return;
        }
        _keyFile = Path.Combine(StoreHarness.NewTempDirectory(), "keys", "org-1.key");
        _mail = await PostgreSqlCluster.Instance.CreateDatabaseAsync();
        _ledger = await PostgreSqlCluster.Instance.CreateDatabaseAsync();
    }

    [TearDown]
    public async Task CloseAsync()
    {
        foreach (var store in _open)
            await store.DisposeAsync();
        _open.Clear();
        if (_lite is not null)
            await _lite.DisposeAsync();
    }

    private FileMasterKeyProvider Keys(bool createMissing) => new(new Dictionary<string, string> { [Org] = _keyFile }, createMissing);

    /// <summary>The store: the LiteDB harness's, or a PostgreSQL node; <paramref name="fresh"/> opens it again with no
    /// cached key and a provider that creates nothing (what a restart after the rotation reads with).</summary>
    private async Task<Admin> StoreAsync(bool fresh = false)
    {
        if (_lite is not null)
        {
            if (fresh)
                await _lite.ReopenAsync(Keys(createMissing: false));
            return new Admin(_lite.Store);
        }
        var node = await PostgreSqlMailStore.OpenAsync(ContractStore.PostgreSqlOptions(_mail!, _ledger!, Keys(createMissing: !fresh)), None)
            .WaitAsync(TimeSpan.FromSeconds(60));
        _open.Add(node);
        return new Admin(node);
    }

    [Test]
    public async Task A_rotation_rewraps_every_mailbox_held_and_in_transit_key_and_destroys_the_old_version()
    {
        var store = await StoreAsync();
        var boxes = new List<(MailboxInfo Box, string EntryId, byte[] Message)>();
        for (var i = 0; i < 5; i++)
        {
            var box = await store.Delivery.EnsureMailboxAsync(Org, $"user{i}@example.com", None);
            var message = StoreHarness.Message("s" + i, "body " + i);
            var stored = await store.Delivery.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], None);
            boxes.Add((box, stored[0].EntryId, message));
        }
        var transit = StoreHarness.Message("in transit", "kept for a hook");
        var transitId = await store.Flow.StoreInTransitAsync(Org, MessageFlowContext.Incoming, transit, updatable: false, None);
        var held = new HeldMessage("0123456789abcdef0123456789abcdef", Org, MessageFlowContext.Incoming, "review", "inv-1", Guid.NewGuid(),
            ["user0@example.com"], DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1), 0, DateTimeOffset.UtcNow, null, [1, 2, 3]);
        var heldBody = StoreHarness.Message("held", "waiting for review");
        await store.Held.HoldAsync(held, heldBody, None);
        Assert.That(store.Status().MailboxesByVersion, Is.EqualTo(new Dictionary<int, long> { [1] = 5 }));

        var result = await store.RotateAsync(start: true, batchSize: 3);

        Assert.That((result.Version, result.Rewrapped), Is.EqualTo((2, 7L)), "five mailboxes, one held, one in transit");
        Assert.That(File.Exists(_keyFile), Is.False, "version 1 is destroyed once nothing refers to it");
        var status = store.Status();
        Assert.That(status.MailboxesByVersion, Is.EqualTo(new Dictionary<int, long> { [2] = 5 }));
        Assert.That(status.TransitByVersion, Is.EqualTo(new Dictionary<int, long> { [2] = 2 }));
        Assert.That((status.CurrentVersion, status.RetiringVersions.Count), Is.EqualTo((2, 0)));

        var after = await StoreAsync(fresh: true);
        foreach (var (box, entryId, message) in boxes)
            Assert.That(await after.Imap.ReadMessageAsync(box.MailboxId, entryId, None), Is.EqualTo(message));
        Assert.That(await after.Flow.ReadInTransitAsync(transitId, None), Is.EqualTo(transit));
        Assert.That(await after.Held.ReadHeldMessageAsync(held.HeldId, None), Is.EqualTo(heldBody));
        Assert.That(after.Delivery.FindMailbox(Org, "user3@example.com")?.MailboxId, Is.EqualTo(boxes[3].Box.MailboxId), "owner lookups survive the rotation");
        var again = await after.RotateAsync(start: false, batchSize: 3);
        Assert.That((again.Version, again.Rewrapped), Is.EqualTo((2, 0L)), "nothing to resume");
    }

    [Test]
    public async Task Deleting_a_mailbox_shreds_it_while_the_other_recipient_still_reads_the_shared_message()
    {
        var store = await StoreAsync();
        var alice = await store.Delivery.EnsureMailboxAsync(Org, "alice@example.com", None);
        var bob = await store.Delivery.EnsureMailboxAsync(Org, "bob@example.com", None);
        var message = StoreHarness.Message("shared", "for both");
        var stored = await store.Delivery.DeliverAsync(message, DateTimeOffset.UtcNow,
            [new DeliveryTarget(alice.MailboxId, "INBOX"), new DeliveryTarget(bob.MailboxId, "INBOX")], None);
        Assert.That(store.List().Select(m => m.Owner).Order(), Is.EqualTo(new[] { "alice@example.com", "bob@example.com" }));
        Assert.That(store.Get(alice.MailboxId)?.Owner, Is.EqualTo("alice@example.com"));

        var deleted = await store.DeleteAsync("alice@example.com");

        Assert.That((deleted!.MailboxId, deleted.Messages, deleted.FilesDeleted), Is.EqualTo((alice.MailboxId, 1, 0)), "the body is shared with bob");
        Assert.That(await store.DeleteAsync("alice@example.com"), Is.Null, "nothing left to delete");
        Assert.That(store.Delivery.FindMailbox(Org, "alice@example.com"), Is.Null);
        Assert.That(store.Get(alice.MailboxId), Is.Null);
        Assert.That(store.List().Select(m => m.Owner), Is.EqualTo(new[] { "bob@example.com" }));
        Assert.That(store.Status().ShreddedMailboxes, Is.EqualTo(1));
        Assert.That(await store.Imap.ReadMessageAsync(bob.MailboxId, stored[1].EntryId, None), Is.EqualTo(message));
        var bobOnly = await store.DeleteAsync("bob@example.com");
        Assert.That(bobOnly!.FilesDeleted, Is.EqualTo(1), "the last reference to the body is gone");
    }

    [Test]
    public async Task A_mailbox_key_rotation_while_deliveries_run_loses_nothing_and_the_store_reopens_with_the_new_key_alone()
    {
        var store = await StoreAsync();
        var alice = await store.Delivery.EnsureMailboxAsync(Org, "alice@example.com", None);
        await store.Imap.CreateFolderAsync(alice.MailboxId, "Projects/2026", None);
        await store.Imap.SetSubscribedAsync(alice.MailboxId, "Later", true, None);
        await ((IImapExtensionStore)store.Imap).SetMetadataAsync(alice.MailboxId, null,
            [new KeyValuePair<string, byte[]?>("/private/comment", "kept across the rotation"u8.ToArray())], 10, None);
        var delivered = new List<(string EntryId, byte[] Message)>();
        for (var i = 0; i < 12; i++)
        {
            var message = StoreHarness.Message("before " + i, "body " + i);
            delivered.Add(((await store.Delivery.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(alice.MailboxId, "INBOX")], None))[0].EntryId, message));
        }

        // Deliveries to INBOX and to the new folder keep running until the rotation has ended.
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var rotationDone = new TaskCompletionSource();
        var during = Task.Run(async () =>
        {
            var mine = new List<(string EntryId, byte[] Message)>();
            for (var i = 0; !rotationDone.Task.IsCompleted || i < 5; i++)
            {
                stop.Token.ThrowIfCancellationRequested();
                var message = StoreHarness.Message("during " + i, "body during " + i);
                var folder = i % 2 == 0 ? "INBOX" : "Projects/2026";
                mine.Add(((await store.Delivery.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(alice.MailboxId, folder)], None))[0].EntryId, message));
            }
            return mine;
        });
        var result = await store.RotateMailboxAsync(alice.MailboxId, batchSize: 3);
        rotationDone.SetResult();
        delivered.AddRange(await during.WaitAsync(TimeSpan.FromSeconds(60)));

        Assert.That((result.Generation, result.Resumed), Is.EqualTo((1, false)));
        Assert.That(result.Rewrapped, Is.GreaterThanOrEqualTo(12), "every message delivered before the switch was re-wrapped");
        Assert.That(store.Keys.MailboxKeyRotationsPending(Org), Is.Empty);

        // Another process (no cached key), after the old key's secret was destroyed: everything opens with the new key.
        var after = await StoreAsync(fresh: true);
        foreach (var (entryId, message) in delivered)
            Assert.That(await after.Imap.ReadMessageAsync(alice.MailboxId, entryId, None), Is.EqualTo(message));
        Assert.That(after.Imap.ListFolders(alice.MailboxId).Sum(f => f.MessageCount), Is.EqualTo(delivered.Count), "nothing lost, nothing doubled");
        Assert.That(after.Imap.FindFolder(alice.MailboxId, "Projects/2026"), Is.Not.Null, "folder names and lookups re-sealed");
        Assert.That(after.Imap.ListSubscriptions(alice.MailboxId), Does.Contain("Later"));
        Assert.That(((IImapExtensionStore)after.Imap).ReadMetadata(alice.MailboxId, null)["/private/comment"], Is.EqualTo("kept across the rotation"u8.ToArray()));
        var again = await after.RotateMailboxAsync(alice.MailboxId, batchSize: 3);
        Assert.That((again.Generation, again.Rewrapped), Is.EqualTo((2, (long)delivered.Count)), "a second rotation starts from the new key");
    }

    [Test]
    public async Task An_interrupted_mailbox_key_rotation_is_finished_by_a_resume_in_another_process()
    {
        var store = await StoreAsync();
        var alice = await store.Delivery.EnsureMailboxAsync(Org, "alice@example.com", None);
        var delivered = new List<(string EntryId, byte[] Message)>();
        for (var i = 0; i < 9; i++)
        {
            var message = StoreHarness.Message("message " + i, "body " + i);
            delivered.Add(((await store.Delivery.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(alice.MailboxId, "INBOX")], None))[0].EntryId, message));
        }
        using var interrupt = new CancellationTokenSource();
        if (store.Keys is MailStore lite)
            lite.RotationBatchSize = 3;
        else
            ((PostgreSqlMailStore)store.Keys).RotationBatchSize = 3;

        Assert.That(async () => await store.Keys.RotateMailboxKeyAsync(alice.MailboxId, new CancelAfterFirstBatch(interrupt), interrupt.Token),
            Throws.InstanceOf<OperationCanceledException>());
        Assert.That(store.Keys.MailboxKeyRotationsPending(Org), Is.EqualTo(new[] { alice.MailboxId }));

        var after = await StoreAsync(fresh: true);
        var resumed = await after.Keys.ResumeMailboxKeyRotationsAsync(Org, null, None);

        Assert.That(resumed.Select(r => (r.MailboxId, r.Generation, r.Resumed)), Is.EqualTo(new[] { (alice.MailboxId, 1, true) }));
        Assert.That(resumed[0].Rewrapped, Is.EqualTo(6), "the first batch of three was done before the interruption");
        Assert.That(after.Keys.MailboxKeyRotationsPending(Org), Is.Empty);
        foreach (var (entryId, message) in delivered)
            Assert.That(await after.Imap.ReadMessageAsync(alice.MailboxId, entryId, None), Is.EqualTo(message));
    }

    /// <summary>Cancels the rotation once its first batch is done (told synchronously, unlike <see cref="Progress{T}"/>).</summary>
    private sealed class CancelAfterFirstBatch(CancellationTokenSource source) : IProgress<MailboxKeyRotationProgress>
    {
        public void Report(MailboxKeyRotationProgress value)
        {
            if (value.Done > 0)
                source.Cancel();
        }
    }

    /// <summary>The key administration both engines offer, over either.</summary>
    private sealed class Admin(object store)
    {
        public IDeliveryStore Delivery => (IDeliveryStore)store;
        public IImapSessionStore Imap => (IImapSessionStore)store;
        public IMessageFlowStore Flow => (IMessageFlowStore)store;
        public IHeldMessageStore Held => (IHeldMessageStore)store;
        public IKeyAdministrationStore Keys => (IKeyAdministrationStore)store;

        public Task<MailboxKeyRotationResult> RotateMailboxAsync(string mailboxId, int batchSize)
        {
            if (store is MailStore lite)
                lite.RotationBatchSize = batchSize;
            else
                ((PostgreSqlMailStore)store).RotationBatchSize = batchSize;
            return Keys.RotateMailboxKeyAsync(mailboxId, null, None);
        }

        public Task<RotationResult> RotateAsync(bool start, int batchSize)
        {
            if (store is MailStore lite)
            {
                lite.RotationBatchSize = batchSize;
                return lite.RotateAsync(Org, start, null, None);
            }
            var pg = (PostgreSqlMailStore)store;
            pg.RotationBatchSize = batchSize;
            return pg.RotateAsync(Org, start, null, None);
        }

        public KeyStatus Status() => store is MailStore lite ? lite.KeyStatusOf(Org) : ((PostgreSqlMailStore)store).KeyStatusOf(Org);

        public Task<DeleteMailboxResult?> DeleteAsync(string owner) =>
            store is MailStore lite ? lite.DeleteMailboxAsync(Org, owner, None) : ((PostgreSqlMailStore)store).DeleteMailboxAsync(Org, owner, None);

        public IReadOnlyList<MailboxInfo> List() => store is MailStore lite ? lite.ListMailboxes(Org) : ((PostgreSqlMailStore)store).ListMailboxes(Org);

        public MailboxInfo? Get(string id) => store is MailStore lite ? lite.GetMailbox(id) : ((PostgreSqlMailStore)store).GetMailbox(id);
    }
}
