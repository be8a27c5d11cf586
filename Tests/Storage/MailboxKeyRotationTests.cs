using System.Collections.Concurrent;
using System.Text;
using MailServer.Storage;
using MailServer.Storage.Crypto;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>
/// Issue 20, <c>keys rotate --mailbox</c> in the store: a mailbox gets a new key, every message key is re-wrapped
/// under it (bodies untouched), folder names and subscriptions follow, the old key's ledger secret is destroyed (a
/// copy of the database from before cannot open the mailbox any more); an interrupted rotation resumes; deliveries,
/// reads, folder operations and copies during the rotation lose nothing.
/// </summary>
[TestFixture]
public sealed class MailboxKeyRotationTests
{
    private static async Task<List<string>> FillAsync(StoreHarness h, string mailboxId, int count, string folder = "INBOX", string prefix = "m")
    {
        var ids = new List<string>();
        for (var i = 0; i < count; i++)
            ids.Add((await h.Store.DeliverAsync(StoreHarness.Message($"{prefix}{i}", $"body of {prefix}{i}"), DateTimeOffset.UtcNow,
                [new DeliveryTarget(mailboxId, folder)], CancellationToken.None))[0].EntryId);
        return ids;
    }

    private static async Task<string> BodyAsync(StoreHarness h, string mailboxId, string entryId) =>
        Encoding.ASCII.GetString(await h.Store.ReadMessageAsync(mailboxId, entryId, CancellationToken.None));

    [Test]
    public async Task A_mailbox_gets_a_new_key_its_messages_stay_readable_and_the_old_key_is_destroyed()
    {
        var (h, keyFile) = StoreHarness.CreateWithKeyFile();
        await using var _ = h;
        var alice = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.com", CancellationToken.None);
        var bob = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "bob@example.com", CancellationToken.None);
        await h.Store.CreateFolderAsync(alice.MailboxId, "Projects/2026", CancellationToken.None);
        await h.Store.SetSubscribedAsync(alice.MailboxId, "Not/a/folder", true, CancellationToken.None);
        var entries = await FillAsync(h, alice.MailboxId, 7);
        entries.AddRange(await FillAsync(h, alice.MailboxId, 2, "Projects/2026", "p"));
        var shared = await h.Store.DeliverAsync(StoreHarness.Message("shared", "for both"), DateTimeOffset.UtcNow,
            [new DeliveryTarget(alice.MailboxId, "INBOX"), new DeliveryTarget(bob.MailboxId, "INBOX")], CancellationToken.None);
        var copy = StoreHarness.NewTempDirectory();
        using (await h.Store.BeginBackupAsync(copy, CancellationToken.None))
            CopyDirectory(h.Store.BlobDirectory, Path.Combine(copy, "blobs"));
        var blobsBefore = h.BlobFiles().ToDictionary(f => f, File.ReadAllBytes);
        h.Store.RotationBatchSize = 4;
        var reports = new List<MailboxKeyRotationProgress>();

        var result = await h.Store.RotateMailboxKeyAsync(alice.MailboxId, new SyncProgress(reports.Add), CancellationToken.None);

        Assert.That(result.Generation, Is.EqualTo(1));
        Assert.That(result.Rewrapped, Is.EqualTo(10), "seven in INBOX, two in Projects/2026, the shared one");
        Assert.That(reports.Select(r => r.Done).Distinct(), Is.EqualTo(new long[] { 0, 4, 8, 10 }), "progress after each batch of four");
        Assert.That(h.BlobFiles().ToDictionary(f => f, File.ReadAllBytes), Is.EqualTo(blobsBefore), "bodies are not rewritten");
        var ledger = h.Store.Ledger(StoreHarness.Org);
        Assert.That(ledger.MailboxSecret(alice.MailboxId), Is.Null, "the secret of the old key is destroyed");
        Assert.That(ledger.MailboxSecret(KeyLedger.SecretId(alice.MailboxId, 1)), Is.Not.Null);
        Assert.That(ledger.MailboxSecret(bob.MailboxId), Is.Not.Null, "bob's key is not touched");
        Assert.That(ledger.Retired.Keys, Is.EqualTo(new[] { alice.MailboxId }));
        Assert.That(h.Store.MailboxKeyRotationsPending(StoreHarness.Org), Is.Empty);

        // A fresh process (no cached keys) reads everything under the new key; folder names and subscriptions followed.
        await h.ReopenAsync(new FileMasterKeyProvider(new Dictionary<string, string> { [StoreHarness.Org] = keyFile }, createMissing: false));
        for (var i = 0; i < 7; i++)
            Assert.That(await BodyAsync(h, alice.MailboxId, entries[i]), Does.Contain($"body of m{i}"));
        Assert.That(await BodyAsync(h, alice.MailboxId, entries[8]), Does.Contain("body of p1"));
        Assert.That(await BodyAsync(h, alice.MailboxId, shared[0].EntryId), Does.Contain("for both"));
        Assert.That(await BodyAsync(h, bob.MailboxId, shared[1].EntryId), Does.Contain("for both"));
        Assert.That(h.Store.FindFolder(alice.MailboxId, "Projects/2026")?.MessageCount, Is.EqualTo(2), "folder lookup by name under the new key");
        Assert.That(h.Store.ListFolders(alice.MailboxId).Select(f => f.Name), Does.Contain("Projects/2026"));
        Assert.That(h.Store.ListSubscriptions(alice.MailboxId), Does.Contain("Not/a/folder"));
        var delivered = await h.Store.DeliverAsync(StoreHarness.Message("after", "after the rotation"), DateTimeOffset.UtcNow,
            [new DeliveryTarget(alice.MailboxId, "Projects/2026")], CancellationToken.None);
        Assert.That(await BodyAsync(h, alice.MailboxId, delivered[0].EntryId), Does.Contain("after the rotation"));
        Assert.That((await h.Store.VerifyAsync(null, CancellationToken.None)).Failed, Is.EqualTo(0));

        // The copy from before, opened with today's keys and ledger: alice's old key cannot be unwrapped any more, bob's can.
        var copiedLedger = KeyLedger.PathFor(copy, StoreHarness.Org);
        Directory.CreateDirectory(Path.GetDirectoryName(copiedLedger)!);
        File.Copy(KeyLedger.PathFor(h.Directory, StoreHarness.Org), copiedLedger);
        await using var old = MailStore.Open(new MailStoreOptions
        {
            DataDirectory = copy,
            MasterKeys = new FileMasterKeyProvider(new Dictionary<string, string> { [StoreHarness.Org] = keyFile }, createMissing: false),
        });
        Assert.That(async () => await old.ReadMessageAsync(alice.MailboxId, entries[0], CancellationToken.None), Throws.InstanceOf<System.Security.Cryptography.CryptographicException>());
        Assert.That(Encoding.ASCII.GetString(await old.ReadMessageAsync(bob.MailboxId, shared[1].EntryId, CancellationToken.None)), Does.Contain("for both"));
    }

    [Test]
    public async Task An_interrupted_mailbox_rotation_reads_both_generations_and_resumes_where_it_stopped()
    {
        var (h, keyFile) = StoreHarness.CreateWithKeyFile();
        await using var _ = h;
        var alice = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.com", CancellationToken.None);
        var entries = await FillAsync(h, alice.MailboxId, 10);
        h.Store.RotationBatchSize = 3;
        using var stop = new CancellationTokenSource();
        Assert.That(async () => await h.Store.RotateMailboxKeyAsync(alice.MailboxId, new SyncProgress(p => { if (p.Done >= 3) stop.Cancel(); }), stop.Token),
            Throws.InstanceOf<OperationCanceledException>());

        await h.ReopenAsync(new FileMasterKeyProvider(new Dictionary<string, string> { [StoreHarness.Org] = keyFile }, createMissing: false));
        Assert.That(h.Store.MailboxKeyRotationsPending(StoreHarness.Org), Is.EqualTo(new[] { alice.MailboxId }), "the document remembers the rotation");
        Assert.That(h.Store.Ledger(StoreHarness.Org).MailboxSecret(alice.MailboxId), Is.Not.Null, "the old key stays while entries need it");
        for (var i = 0; i < 10; i++)
            Assert.That(await BodyAsync(h, alice.MailboxId, entries[i]), Does.Contain($"body of m{i}"), "re-wrapped and not yet re-wrapped entries both open");
        Assert.That(h.Store.FindFolder(alice.MailboxId, "INBOX"), Is.Not.Null);

        var results = await h.Store.ResumeMailboxKeyRotationsAsync(StoreHarness.Org, null, CancellationToken.None);

        Assert.That(results, Has.Count.EqualTo(1));
        Assert.That(results[0].Resumed, Is.True);
        Assert.That(results[0].Rewrapped, Is.EqualTo(7), "three were done before the interruption");
        Assert.That(h.Store.Ledger(StoreHarness.Org).MailboxSecret(alice.MailboxId), Is.Null);
        Assert.That(h.Store.MailboxKeyRotationsPending(StoreHarness.Org), Is.Empty);
        for (var i = 0; i < 10; i++)
            Assert.That(await BodyAsync(h, alice.MailboxId, entries[i]), Does.Contain($"body of m{i}"));

        // A second rotation: generation 2, generation 1's secret destroyed.
        var second = await h.Store.RotateMailboxKeyAsync(alice.MailboxId, null, CancellationToken.None);
        Assert.That((second.Generation, second.Rewrapped), Is.EqualTo((2, 10L)));
        Assert.That(h.Store.Ledger(StoreHarness.Org).MailboxSecret(KeyLedger.SecretId(alice.MailboxId, 1)), Is.Null);
        Assert.That(await BodyAsync(h, alice.MailboxId, entries[9]), Does.Contain("body of m9"));
    }

    [Test]
    public async Task Deliveries_reads_copies_and_folder_changes_during_a_mailbox_rotation_lose_nothing()
    {
        var (h, _) = StoreHarness.CreateWithKeyFile();
        await using var __ = h;
        var alice = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.com", CancellationToken.None);
        var archive = await h.Store.CreateFolderAsync(alice.MailboxId, "Archive", CancellationToken.None);
        var inbox = h.Store.FindFolder(alice.MailboxId, "INBOX")!;
        await FillAsync(h, alice.MailboxId, 300, prefix: "old");
        h.Store.RotationBatchSize = 10;
        using var stop = new CancellationTokenSource();
        var errors = new ConcurrentBag<string>();
        var delivered = new ConcurrentBag<string>();
        var writer = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                try
                {
                    delivered.Add((await h.Store.DeliverAsync(StoreHarness.Message($"new{i}", $"body of new{i}"), DateTimeOffset.UtcNow,
                        [new DeliveryTarget(alice.MailboxId, i % 2 == 0 ? "INBOX" : "Archive")], CancellationToken.None))[0].EntryId);
                    if (i % 10 == 0)
                        await h.Store.CopyAsync(inbox.FolderId, [(uint)(i / 10 + 1)], archive.FolderId, CancellationToken.None);
                    if (i % 25 == 0)
                        await h.Store.CreateFolderAsync(alice.MailboxId, $"Made during {i}", CancellationToken.None);
                }
                catch (Exception e)
                {
                    errors.Add("write: " + e.Message);
                }
            }
        });
        var reader = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    foreach (var folder in h.Store.ListFolders(alice.MailboxId))
                        foreach (var meta in h.Store.ListMessages(folder.FolderId).TakeLast(5))
                            if (!Encoding.ASCII.GetString(await h.Store.ReadMessageAsync(alice.MailboxId, meta.EntryId, CancellationToken.None)).Contains("body of", StringComparison.Ordinal))
                                errors.Add("read: wrong body");
                    if (h.Store.FindFolder(alice.MailboxId, "Archive") is null)
                        errors.Add("read: Archive not found by name");
                }
                catch (Exception e)
                {
                    errors.Add("read: " + e.Message);
                }
            }
        });
        await Task.Delay(100);

        var result = await h.Store.RotateMailboxKeyAsync(alice.MailboxId, null, CancellationToken.None);

        await Task.Delay(100);
        stop.Cancel();
        await Task.WhenAll(writer, reader);
        Assert.That(errors, Is.Empty);
        Assert.That(result.Rewrapped, Is.GreaterThanOrEqualTo(300));
        Assert.That(delivered, Is.Not.Empty);
        Assert.That(h.Store.Ledger(StoreHarness.Org).MailboxSecret(alice.MailboxId), Is.Null, "the old key is destroyed");
        var verify = await h.Store.VerifyAsync(null, CancellationToken.None);
        Assert.That((verify.Failed, verify.Ok), Is.EqualTo((0L, verify.Checked)), "every message, copies included, decrypts under the new key");
        Assert.That(h.Store.ListFolders(alice.MailboxId).Select(f => f.Name), Does.Contain("Made during 0"));
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    private sealed class SyncProgress(Action<MailboxKeyRotationProgress> report) : IProgress<MailboxKeyRotationProgress>
    {
        public void Report(MailboxKeyRotationProgress value) => report(value);
    }
}
