using NUnit.Framework;
using System.Security.Cryptography;
using System.Text;
using MailServer.Storage;
using MailServer.Storage.Crypto;

namespace MailServer.Tests.Storage;

[TestFixture]
public sealed class EncryptionTests
{
    [Test]
    public async Task A_unique_marker_never_reaches_the_database_files_or_blob_files_in_clear()
    {
        var directory = StoreHarness.NewTempDirectory();
        try
        {
            var marker = "Zebra" + Guid.NewGuid().ToString("N");
            var keys = new FileMasterKeyProvider(new Dictionary<string, string> { [StoreHarness.Org] = Path.Combine(directory, "keys", "org-1.key") });
            await using (var store = MailStore.Open(new MailStoreOptions { DataDirectory = directory, MasterKeys = keys }))
            {
                var box = await store.EnsureMailboxAsync(StoreHarness.Org, marker + "-owner@example.com", CancellationToken.None);
                for (var i = 0; i < 20; i++)
                    await store.DeliverAsync(StoreHarness.Message("Subject " + marker, "Body " + marker, 4096), DateTimeOffset.UtcNow,
                        [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
                // Folder names are sealed too.
                var folder = await store.CreateFolderAsync(box.MailboxId, "Projects/" + marker, CancellationToken.None);
                await store.DeliverAsync(StoreHarness.Message("in folder", "x"), DateTimeOffset.UtcNow,
                    [new DeliveryTarget(box.MailboxId, folder.Name)], CancellationToken.None);
                Assert.That(store.ListFolders(box.MailboxId).Select(f => f.Name), Does.Contain("Junk E-mail").And.Contain("Projects/" + marker));
                var text = Encoding.ASCII.GetString(store.ReadHeaderSection(box.MailboxId, store.ListMessages(store.FindFolder(box.MailboxId, "INBOX")!.FolderId)[0].EntryId));
                Assert.That(text, Does.Contain(marker), "the store itself can read it back");
            }

            var files = Directory.GetFiles(directory, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(".key", StringComparison.Ordinal)).ToList();
            Assert.That(files.Select(Path.GetFileName), Does.Contain("mail.db"));
            Assert.That(files.Count(f => f.Contains($"{Path.DirectorySeparatorChar}blobs{Path.DirectorySeparatorChar}")), Is.EqualTo(21));
            foreach (var needle in new[] { marker, "Junk E-mail", "Sent Items", "Deleted Items", "Lorem ipsum", "alice@example.com" })
                foreach (var file in files)
                {
                    var bytes = await File.ReadAllBytesAsync(file);
                    Assert.That(Contains(bytes, Encoding.UTF8.GetBytes(needle)), Is.False, $"'{needle}' in clear in {Path.GetFileName(file)}");
                    Assert.That(Contains(bytes, Encoding.Unicode.GetBytes(needle)), Is.False, $"'{needle}' (UTF-16) in {Path.GetFileName(file)}");
                }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public async Task A_changed_blob_byte_fails_authentication()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var stored = await h.Store.DeliverAsync(StoreHarness.Message("s", "b"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        var blob = h.BlobFiles().Single();
        var bytes = await File.ReadAllBytesAsync(blob);
        bytes[^10] ^= 0x01;
        await File.WriteAllBytesAsync(blob, bytes);

        Assert.That(() => h.Store.ReadMessageAsync(box.MailboxId, stored[0].EntryId, CancellationToken.None),
            Throws.InstanceOf<CryptographicException>());
    }

    [Test]
    public async Task A_blob_renamed_to_another_id_is_refused()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var first = await h.Store.DeliverAsync(StoreHarness.Message("one", "b"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        var before = h.BlobFiles();
        await h.Store.DeliverAsync(StoreHarness.Message("two", "b"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        var firstBlob = before.Single();
        var secondBlob = h.BlobFiles().Except(before).Single();
        File.Copy(secondBlob, firstBlob, overwrite: true);

        Assert.That(() => h.Store.ReadMessageAsync(box.MailboxId, first[0].EntryId, CancellationToken.None),
            Throws.InstanceOf<CryptographicException>());
    }

    [Test]
    public async Task A_wrong_organization_master_key_cannot_open_the_mailbox()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var stored = await h.Store.DeliverAsync(StoreHarness.Message("s", "b"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);

        await h.ReopenAsync(FixedKeys.Random(StoreHarness.Org));

        Assert.That(() => h.Store.ReadMessageAsync(box.MailboxId, stored[0].EntryId, CancellationToken.None), Throws.InstanceOf<CryptographicException>());
        Assert.That(() => h.Store.ListFolders(box.MailboxId), Throws.InstanceOf<CryptographicException>());
        Assert.That(() => h.Store.FindMailbox(StoreHarness.Org, "a@example.com"), Throws.InstanceOf<CryptographicException>(),
            "the owner lookup key is in the key ledger, sealed under the master key: a wrong key is refused, never taken for an empty store");

        await h.ReopenAsync(h.Keys);
        Assert.That(await h.Store.ReadMessageAsync(box.MailboxId, stored[0].EntryId, CancellationToken.None), Is.Not.Empty);
    }

    [Test]
    public void A_wrapped_mailbox_key_is_bound_to_its_organization_and_mailbox()
    {
        var master = RandomNumberGenerator.GetBytes(32);
        var key = Aead.NewKey();
        var wrapped = KeyHierarchy.WrapMailboxKey(master, "org-1", "mbx-1", key);

        Assert.That(KeyHierarchy.UnwrapMailboxKey(master, "org-1", "mbx-1", wrapped), Is.EqualTo(key));
        Assert.That(() => KeyHierarchy.UnwrapMailboxKey(master, "org-1", "mbx-2", wrapped), Throws.InstanceOf<CryptographicException>());
        Assert.That(() => KeyHierarchy.UnwrapMailboxKey(master, "org-2", "mbx-1", wrapped), Throws.InstanceOf<CryptographicException>());
        Assert.That(Encoding.UTF8.GetString(KeyHierarchy.MailboxKeyContext("org-1", "mbx-1")), Is.EqualTo("urn:mailserver:organization/org-1/mailbox/mbx-1"));
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;
}
