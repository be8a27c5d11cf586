using System.Security.Cryptography;
using MailServer.Storage;
using MailServer.Storage.Crypto;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>
/// Issue 20 in the store: master key rotation by re-wrap (new version current at once, every mailbox key re-wrapped,
/// the old version destroyed, an interrupted rotation resumed) and crypto-shredding (a deleted mailbox cannot be
/// read from a copy of the database taken before, while the other recipient of a shared message still reads it).
/// </summary>
[TestFixture]
public sealed class KeyRotationTests
{
    [Test]
    public async Task A_rotation_rewraps_every_mailbox_key_under_a_new_version_and_destroys_the_old_one()
    {
        var (h, keyFile) = StoreHarness.CreateWithKeyFile();
        await using var _ = h;
        var boxes = new List<(MailboxInfo Box, string EntryId)>();
        for (var i = 0; i < 7; i++)
        {
            var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, $"user{i}@example.com", CancellationToken.None);
            var stored = await h.Store.DeliverAsync(StoreHarness.Message("s" + i, "body " + i), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
            boxes.Add((box, stored[0].EntryId));
        }
        var blobsBefore = h.BlobFiles().ToDictionary(f => f, File.ReadAllBytes);
        h.Store.RotationBatchSize = 3;
        var reports = new List<RotationProgress>();

        var result = await h.Store.RotateAsync(StoreHarness.Org, start: true, new SyncProgress(reports.Add), CancellationToken.None);

        Assert.That(result.Version, Is.EqualTo(2));
        Assert.That(result.Rewrapped, Is.EqualTo(7));
        Assert.That(reports.Select(r => r.Done), Is.EqualTo(new long[] { 3, 6, 7 }), "progress after each batch");
        Assert.That(File.Exists(keyFile), Is.False, "version 1 is destroyed once nothing refers to it");
        Assert.That(File.Exists(FileMasterKeyProvider.VersionPath(keyFile, 2)), Is.True);
        var status = h.Store.KeyStatusOf(StoreHarness.Org);
        Assert.That(status.MailboxesByVersion, Is.EqualTo(new Dictionary<int, long> { [2] = 7 }));
        Assert.That(status.RetiringVersions, Is.Empty);
        Assert.That(h.BlobFiles().ToDictionary(f => f, File.ReadAllBytes), Is.EqualTo(blobsBefore), "bodies are not rewritten");

        // A fresh process (no cached keys) reads everything with version 2 alone.
        await h.ReopenAsync(new FileMasterKeyProvider(new Dictionary<string, string> { [StoreHarness.Org] = keyFile }, createMissing: false));
        foreach (var (box, entryId) in boxes)
            Assert.That(await h.Store.ReadMessageAsync(box.MailboxId, entryId, CancellationToken.None), Is.Not.Empty);
        Assert.That(h.Store.FindMailbox(StoreHarness.Org, "user3@example.com")?.MailboxId, Is.EqualTo(boxes[3].Box.MailboxId), "owner lookups survive the rotation");
    }

    [Test]
    public async Task A_write_whose_wrap_was_computed_before_a_rotation_and_that_commits_after_its_last_pass_is_rewrapped_before_the_old_version_is_destroyed()
    {
        var (h, keyFile) = StoreHarness.CreateWithKeyFile();
        await using var _ = h;
        // The writer is held, so the in-transit copy below is wrapped under version 1 and waits in the queue while the
        // rotation begins and (an organization without mailboxes) finds nothing to re-wrap.
        using var gate = new ManualResetEventSlim();
        var blocker = h.Store.RunOnWriter(_ => gate.Wait(TimeSpan.FromSeconds(30)), [], CancellationToken.None);
        var message = StoreHarness.Message("in transit", "a body wrapped under version 1");
        var stored = h.Store.StoreInTransitAsync(StoreHarness.Org, MessageFlowContext.Incoming, message, updatable: false, CancellationToken.None);
        h.Store.Ledger(StoreHarness.Org).BeginRotation();
        var rotation = h.Store.RotateAsync(StoreHarness.Org, start: false, null, CancellationToken.None);
        await Task.Delay(200);
        Assert.That(File.Exists(keyFile), Is.True, "version 1 is not destroyed while a write that names it waits for the writer");

        gate.Set();
        await blocker;
        var id = await stored.WaitAsync(TimeSpan.FromSeconds(30));
        var result = await rotation.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(result.Rewrapped, Is.EqualTo(1), "the late write was found on the writer and re-wrapped");
        Assert.That(File.Exists(keyFile), Is.False, "version 1 is destroyed once nothing refers to it");
        Assert.That(h.Store.KeyStatusOf(StoreHarness.Org).TransitByVersion, Is.EqualTo(new Dictionary<int, long> { [2] = 1 }));
        await h.ReopenAsync(new FileMasterKeyProvider(new Dictionary<string, string> { [StoreHarness.Org] = keyFile }, createMissing: false));
        Assert.That(await h.Store.ReadInTransitAsync(id, CancellationToken.None), Is.EqualTo(message), "it still opens with version 2 alone");
    }

    [Test]
    public async Task An_interrupted_rotation_is_resumed_and_keeps_both_versions_until_it_ends()
    {
        var (h, keyFile) = StoreHarness.CreateWithKeyFile();
        await using var _ = h;
        var ids = new List<string>();
        for (var i = 0; i < 10; i++)
            ids.Add((await h.Store.EnsureMailboxAsync(StoreHarness.Org, $"user{i}@example.com", CancellationToken.None)).MailboxId);
        h.Store.RotationBatchSize = 2;
        using var stop = new CancellationTokenSource();
        Assert.That(async () => await h.Store.RotateAsync(StoreHarness.Org, start: true, new SyncProgress(p => { if (p.Done >= 4) stop.Cancel(); }), stop.Token),
            Throws.InstanceOf<OperationCanceledException>());

        await h.ReopenAsync(new FileMasterKeyProvider(new Dictionary<string, string> { [StoreHarness.Org] = keyFile }, createMissing: false));
        var status = h.Store.KeyStatusOf(StoreHarness.Org);
        Assert.That(status.CurrentVersion, Is.EqualTo(2));
        Assert.That(status.RetiringVersions, Is.EqualTo(new[] { 1 }));
        Assert.That(status.MailboxesByVersion[1], Is.EqualTo(6), "four were re-wrapped before the interruption");
        Assert.That(File.Exists(keyFile), Is.True, "version 1 stays while mailboxes refer to it");
        Assert.That(h.Store.ListMailboxes(StoreHarness.Org), Has.Count.EqualTo(10), "every mailbox opens mid-rotation");

        var result = await h.Store.RotateAsync(StoreHarness.Org, start: false, null, CancellationToken.None);

        Assert.That(result.Version, Is.EqualTo(2), "resumed, not a new rotation");
        Assert.That(h.Store.KeyStatusOf(StoreHarness.Org).MailboxesByVersion, Is.EqualTo(new Dictionary<int, long> { [2] = 10 }));
        Assert.That(File.Exists(keyFile), Is.False);
    }

    [Test]
    public async Task A_shredded_mailbox_cannot_be_read_from_a_copy_taken_before_while_the_other_recipient_still_reads_the_shared_message()
    {
        var (h, keyFile) = StoreHarness.CreateWithKeyFile();
        await using var _ = h;
        var alice = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.com", CancellationToken.None);
        var bob = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "bob@example.com", CancellationToken.None);
        var stored = await h.Store.DeliverAsync(StoreHarness.Message("shared", "for both"), DateTimeOffset.UtcNow,
            [new DeliveryTarget(alice.MailboxId, "INBOX"), new DeliveryTarget(bob.MailboxId, "INBOX")], CancellationToken.None);
        var copy = StoreHarness.NewTempDirectory();
        using (await h.Store.BeginBackupAsync(copy, CancellationToken.None))
            CopyDirectory(h.Store.BlobDirectory, Path.Combine(copy, "blobs"));

        Assert.That(h.Store.FindMailbox(StoreHarness.Org, "alice@example.com")?.MailboxId, Is.EqualTo(alice.MailboxId)); // remembered by the store
        var deleted = await h.Store.DeleteMailboxAsync(StoreHarness.Org, "alice@example.com", CancellationToken.None);

        Assert.That(deleted!.Messages, Is.EqualTo(1));
        Assert.That(deleted.FilesDeleted, Is.EqualTo(0), "the body is shared with bob");
        Assert.That(h.Store.FindMailbox(StoreHarness.Org, "alice@example.com"), Is.Null, "a remembered id of a deleted mailbox is not trusted");
        Assert.That(System.Text.Encoding.ASCII.GetString(await h.Store.ReadMessageAsync(bob.MailboxId, stored[1].EntryId, CancellationToken.None)),
            Does.Contain("for both"));

        // The copy from before, opened with today's keys and ledger: alice's key cannot be unwrapped any more.
        var ledger = KeyLedger.PathFor(copy, StoreHarness.Org);
        Directory.CreateDirectory(Path.GetDirectoryName(ledger)!);
        File.Copy(KeyLedger.PathFor(h.Directory, StoreHarness.Org), ledger);
        await using var old = MailStore.Open(new MailStoreOptions
        {
            DataDirectory = copy,
            MasterKeys = new FileMasterKeyProvider(new Dictionary<string, string> { [StoreHarness.Org] = keyFile }, createMissing: false),
        });
        Assert.That(async () => await old.ReadMessageAsync(alice.MailboxId, stored[0].EntryId, CancellationToken.None), Throws.InstanceOf<MailboxShreddedException>());
        Assert.That(await old.ReadMessageAsync(bob.MailboxId, stored[1].EntryId, CancellationToken.None), Is.Not.Empty);
        var report = await old.VerifyAsync(null, CancellationToken.None);
        Assert.That((report.Ok, report.Shredded, report.Failed), Is.EqualTo((1L, 1L, 0L)));

        var again = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.com", CancellationToken.None);
        Assert.That(h.Store.FindMailbox(StoreHarness.Org, "alice@example.com")?.MailboxId, Is.EqualTo(again.MailboxId).And.Not.EqualTo(alice.MailboxId),
            "a new mailbox of the same owner is found, not the one remembered");
    }

    [Test]
    public async Task The_master_key_never_reaches_the_ledger_or_the_database()
    {
        var (h, keyFile) = StoreHarness.CreateWithKeyFile();
        await using var _ = h;
        await h.Store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.com", CancellationToken.None);
        await h.Store.RotateAsync(StoreHarness.Org, start: true, null, CancellationToken.None);
        var master = File.ReadAllBytes(FileMasterKeyProvider.VersionPath(keyFile, 2));
        var ledger = File.ReadAllBytes(KeyLedger.PathFor(h.Directory, StoreHarness.Org));
        await h.ReopenAsync(new FileMasterKeyProvider(new Dictionary<string, string> { [StoreHarness.Org] = keyFile }, createMissing: false));
        Assert.That(Contains(ledger, master) || Contains(h.Data.ToArray(), master) || Contains(h.Log.ToArray(), master), Is.False);
        Assert.That(Contains(ledger, System.Text.Encoding.ASCII.GetBytes(Convert.ToBase64String(master))), Is.False);
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    private static void CopyDirectory(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    private sealed class SyncProgress(Action<RotationProgress> report) : IProgress<RotationProgress>
    {
        public void Report(RotationProgress value) => report(value);
    }
}
