using System.Security.Cryptography;
using NUnit.Framework;
using MailServer.Storage;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;

namespace MailServer.Tests.Storage;

/// <summary>
/// The segmented body format (64 KiB AES-256-GCM segments, index and final flag in the associated data): bodies of
/// every size round-trip, a range reads only its segments, and a segment altered, moved, dropped or cut from the end
/// is refused, never served as if whole; old one-box bodies still read.
/// </summary>
[TestFixture]
public sealed class SegmentedBlobTests
{
    private const int S = BlobStore.SegmentSize;
    private string _directory = null!;
    private BlobStore _blobs = null!;

    [SetUp]
    public void SetUp()
    {
        _directory = StoreHarness.NewTempDirectory();
        _blobs = new BlobStore(_directory);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_directory, recursive: true);

    private static byte[] Body(int length)
    {
        var body = new byte[length];
        new Random(length).NextBytes(body);
        return body;
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(S - 1)]
    [TestCase(S)]
    [TestCase(S + 1)]
    [TestCase(3 * S)]
    [TestCase(3 * S + 5)]
    [TestCase(17 * S + 100)] // more segments than one write batch
    public void A_body_written_from_memory_or_from_a_stream_reads_back_byte_for_byte(int length)
    {
        var body = Body(length);
        var key = Aead.NewKey();
        var fromMemory = BlobStore.NewBlobId();
        var fromStream = BlobStore.NewBlobId();
        _blobs.Write(fromMemory, "org", key, body);
        Assert.That(_blobs.Write(fromStream, "org", key, new MemoryStream(body)), Is.EqualTo(length));

        Assert.That(_blobs.Read(fromMemory, key), Is.EqualTo(body));
        Assert.That(_blobs.Read(fromStream, key), Is.EqualTo(body));
        Assert.That(File.ReadAllBytes(_blobs.PathOf(fromStream)).Length, Is.EqualTo(File.ReadAllBytes(_blobs.PathOf(fromMemory)).Length),
            "both writers lay the file out alike");
        using var stream = _blobs.OpenRead(fromStream, key);
        Assert.That(stream.Length, Is.EqualTo(length));
    }

    [Test]
    public void Ranges_across_segment_boundaries_read_exactly_those_bytes()
    {
        var body = Body(4 * S + 1234);
        var key = Aead.NewKey();
        var id = BlobStore.NewBlobId();
        _blobs.Write(id, "org", key, body);
        using var stream = _blobs.OpenRead(id, key);
        foreach (var (offset, count) in new[] { (0, 10), (S - 3, 6), (S, S), (2 * S - 1, S + 2), (4 * S, 1234), (4 * S + 1000, 1000), (3, 4 * S) })
        {
            stream.Position = offset;
            var buffer = new byte[count];
            var read = stream.ReadAtLeast(buffer, count, throwOnEndOfStream: false);
            var expected = body.AsSpan(offset, Math.Min(count, body.Length - offset)).ToArray();
            Assert.That(buffer.AsSpan(0, read).ToArray(), Is.EqualTo(expected), $"range {offset}+{count}");
        }
    }

    [Test]
    public void A_changed_byte_fails_its_segment_and_only_its_segment()
    {
        var body = Body(3 * S);
        var key = Aead.NewKey();
        var id = BlobStore.NewBlobId();
        _blobs.Write(id, "org", key, body);
        var path = _blobs.PathOf(id);
        var file = File.ReadAllBytes(path);
        var header = file.Length - 3 * BlobStore.SealedSegmentSize;
        file[header + BlobStore.SealedSegmentSize + 100] ^= 1; // inside segment 1's ciphertext
        File.WriteAllBytes(path, file);

        using var stream = _blobs.OpenRead(id, key);
        var first = new byte[S];
        stream.ReadExactly(first);
        Assert.That(first, Is.EqualTo(body.AsSpan(0, S).ToArray()), "segment 0 is intact and served");
        Assert.That(() => stream.ReadExactly(new byte[10]), Throws.InstanceOf<CryptographicException>().With.Message.Contains("segment 1"));
        Assert.That(() => _blobs.Read(id, key), Throws.InstanceOf<CryptographicException>());
    }

    [Test]
    public void Reordered_dropped_or_cut_segments_are_refused()
    {
        var body = Body(3 * S + 500);
        var key = Aead.NewKey();
        var id = BlobStore.NewBlobId();
        _blobs.Write(id, "org", key, body);
        var path = _blobs.PathOf(id);
        var original = File.ReadAllBytes(path);
        var header = original.Length - 3 * BlobStore.SealedSegmentSize - (500 + Aead.Overhead);
        byte[] Segment(int i) => original.AsSpan(header + i * BlobStore.SealedSegmentSize, BlobStore.SealedSegmentSize).ToArray();
        var head = original.AsSpan(0, header).ToArray();
        var last = original.AsSpan(header + 3 * BlobStore.SealedSegmentSize).ToArray();

        var variants = new Dictionary<string, byte[]>
        {
            ["segments 0 and 1 swapped"] = [.. head, .. Segment(1), .. Segment(0), .. Segment(2), .. last],
            ["segment 1 dropped"] = [.. head, .. Segment(0), .. Segment(2), .. last],
            ["last segment cut off"] = [.. head, .. Segment(0), .. Segment(1), .. Segment(2)],
            ["cut inside the last segment"] = original.AsSpan(0, original.Length - 100).ToArray(),
            ["cut inside the last tag"] = [.. head, .. Segment(0), .. Segment(1), .. Segment(2), .. last.AsSpan(0, 20).ToArray()],
        };
        foreach (var (name, file) in variants)
        {
            File.WriteAllBytes(path, file);
            Assert.That(() => _blobs.Read(id, key), Throws.InstanceOf<CryptographicException>(), name);
        }
        File.WriteAllBytes(path, original);
        Assert.That(_blobs.Read(id, key), Is.EqualTo(body), "the original still reads");
    }

    [Test]
    public async Task A_body_stored_in_the_old_single_box_format_still_reads_whole_and_by_range()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var message = StoreHarness.Message("old format", "kept", padTo: 3 * S);
        var stored = await h.Store.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        // Rewrite its blob as a store before segmenting would have written it, under the same message key.
        var blobs = new BlobStore(h.Store.BlobDirectory);
        var blobId = Path.GetFileName(h.BlobFiles().Single());
        var key = MessageKey(h, stored[0].EntryId, box.MailboxId, blobId);
        blobs.WriteLegacy(blobId, StoreHarness.Org, key, message);
        Assert.That(File.ReadAllBytes(blobs.PathOf(blobId))[4], Is.EqualTo(1), "version byte 1 on disk");

        Assert.That(await h.Store.ReadMessageAsync(box.MailboxId, stored[0].EntryId, CancellationToken.None), Is.EqualTo(message));
        using var stream = h.Store.OpenMessage(box.MailboxId, stored[0].EntryId);
        stream.Position = S + 7;
        var range = new byte[100];
        stream.ReadExactly(range);
        Assert.That(range, Is.EqualTo(message.AsSpan(S + 7, 100).ToArray()));
        var report = await h.Store.ReindexAsync(CancellationToken.None);
        Assert.That(report.EntriesUndecryptable, Is.Zero);
    }

    [Test]
    public async Task Reindex_reports_a_stored_body_whose_last_segment_was_cut_off()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var message = StoreHarness.Message("cut", "body", padTo: 2 * S + 10);
        var stored = await h.Store.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
        Assert.That(message.Length, Is.InRange(2 * S + 1, 3 * S - 1));
        var path = h.BlobFiles().Single();
        using (var file = File.OpenWrite(path))
            file.SetLength(file.Length - (message.Length - 2 * S + Aead.Overhead)); // exactly the last segment gone: the file still looks whole

        using (var stream = h.Store.OpenMessage(box.MailboxId, stored[0].EntryId))
        {
            Assert.That(stream.Length, Is.EqualTo(2 * S), "the length the cut file claims");
            Assert.That(() => stream.CopyTo(Stream.Null), Throws.InstanceOf<CryptographicException>());
        }
        var report = await h.Store.ReindexAsync(CancellationToken.None);
        Assert.That(report.EntriesUndecryptable, Is.EqualTo(1));
    }

    [Test]
    public async Task Rewriting_old_format_bodies_makes_them_segmented_with_the_same_content_once_per_shared_file_and_a_second_run_has_nothing_to_do()
    {
        await using var h = StoreHarness.Create();
        var a = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var b = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "b@example.com", CancellationToken.None);
        var shared = StoreHarness.Message("two recipients", "one file", padTo: 3 * S + 5);
        var single = StoreHarness.Message("one recipient", "small", padTo: 100);
        var modern = StoreHarness.Message("written segmented", "new", padTo: 2 * S);
        var toBoth = await h.Store.DeliverAsync(shared, DateTimeOffset.UtcNow,
            [new DeliveryTarget(a.MailboxId, "INBOX"), new DeliveryTarget(b.MailboxId, "INBOX")], CancellationToken.None);
        var toA = await h.Store.DeliverAsync(single, DateTimeOffset.UtcNow, [new DeliveryTarget(a.MailboxId, "INBOX")], CancellationToken.None);
        var blobs = new BlobStore(h.Store.BlobDirectory);
        var legacy = new List<string>();
        foreach (var (stored, message) in new[] { (toBoth[0], shared), (toA[0], single) })
        {
            var blobId = h.Store.OpenEntry(a.MailboxId, stored.EntryId).Entry["blobId"].AsString;
            blobs.WriteLegacy(blobId, StoreHarness.Org, MessageKey(h, stored.EntryId, a.MailboxId, blobId), message);
            legacy.Add(blobId);
        }
        await h.Store.DeliverAsync(modern, DateTimeOffset.UtcNow, [new DeliveryTarget(b.MailboxId, "INBOX")], CancellationToken.None);
        Assert.That(legacy.Select(blobs.FormatVersion), Is.All.EqualTo(1));

        var report = await h.Store.RewriteLegacyBodiesAsync(null, CancellationToken.None);

        Assert.That(report, Is.EqualTo(new RewriteBodiesReport(BodiesChecked: 3, BodiesRewritten: 2, BodiesAlreadySegmented: 1, BodiesFailed: 0)));
        Assert.That(legacy.Select(blobs.FormatVersion), Is.All.EqualTo(2));
        Assert.That(await h.Store.ReadMessageAsync(a.MailboxId, toBoth[0].EntryId, CancellationToken.None), Is.EqualTo(shared));
        Assert.That(await h.Store.ReadMessageAsync(b.MailboxId, toBoth[1].EntryId, CancellationToken.None), Is.EqualTo(shared), "the other recipient's entry reads the same file");
        Assert.That(await h.Store.ReadMessageAsync(a.MailboxId, toA[0].EntryId, CancellationToken.None), Is.EqualTo(single));
        using (var stream = h.Store.OpenMessage(a.MailboxId, toBoth[0].EntryId))
        {
            stream.Position = 3 * S - 2;
            var range = new byte[9];
            stream.ReadExactly(range);
            Assert.That(range, Is.EqualTo(shared.AsSpan(3 * S - 2, 9).ToArray()), "a range across the last segment boundary");
        }
        Assert.That(h.Store.BlobDirectory, Does.Exist);
        Assert.That(blobs.EnumerateTempFiles(), Is.Empty, "no temporary file left");
        Assert.That((await h.Store.ReindexAsync(CancellationToken.None)).EntriesUndecryptable, Is.Zero);
        Assert.That(await h.Store.RewriteLegacyBodiesAsync(null, CancellationToken.None),
            Is.EqualTo(new RewriteBodiesReport(3, 0, 3, 0)), "a second run finds nothing left to do");
    }

    [Test]
    public async Task An_old_format_body_that_does_not_decrypt_is_left_as_it_is_and_the_others_are_rewritten()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var good = StoreHarness.Message("good", "body", padTo: S + 1);
        var bad = StoreHarness.Message("bad", "body", padTo: S + 1);
        var stored = new List<(string EntryId, string BlobId, byte[] Message)>();
        var blobs = new BlobStore(h.Store.BlobDirectory);
        foreach (var message in new[] { bad, good })
        {
            var entryId = (await h.Store.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None))[0].EntryId;
            var blobId = h.Store.OpenEntry(box.MailboxId, entryId).Entry["blobId"].AsString;
            blobs.WriteLegacy(blobId, StoreHarness.Org, MessageKey(h, entryId, box.MailboxId, blobId), message);
            stored.Add((entryId, blobId, message));
        }
        var damagedPath = blobs.PathOf(stored[0].BlobId);
        var damaged = File.ReadAllBytes(damagedPath);
        damaged[^10] ^= 0x01; // one bit of the sealed box
        File.WriteAllBytes(damagedPath, damaged);

        var report = await h.Store.RewriteLegacyBodiesAsync(null, CancellationToken.None);

        Assert.That((report.BodiesRewritten, report.BodiesFailed), Is.EqualTo((1, 1)));
        Assert.That(File.ReadAllBytes(damagedPath), Is.EqualTo(damaged), "the damaged file is kept byte for byte, for investigation");
        Assert.That(blobs.FormatVersion(stored[1].BlobId), Is.EqualTo(2));
        Assert.That(await h.Store.ReadMessageAsync(box.MailboxId, stored[1].EntryId, CancellationToken.None), Is.EqualTo(good));
        Assert.That(blobs.EnumerateTempFiles(), Is.Empty);
        Assert.That((await h.Store.ReindexAsync(CancellationToken.None)).EntriesUndecryptable, Is.EqualTo(1), "reindex still reports it");
    }

    [Test]
    public async Task A_rewrite_cut_off_before_its_rename_leaves_the_old_body_readable_and_the_next_run_finishes_it()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var message = StoreHarness.Message("crash", "body", padTo: 2 * S + 3);
        var entryId = (await h.Store.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None))[0].EntryId;
        var blobs = new BlobStore(h.Store.BlobDirectory);
        var blobId = h.Store.OpenEntry(box.MailboxId, entryId).Entry["blobId"].AsString;
        var key = MessageKey(h, entryId, box.MailboxId, blobId);
        blobs.WriteLegacy(blobId, StoreHarness.Org, key, message);
        var old = File.ReadAllBytes(blobs.PathOf(blobId));
        // What a kill -9 between writing the new file and renaming it leaves: the old file, and a half-written temporary one.
        var temp = Path.Combine(blobs.DirectoryOf(blobId), ".tmp-" + blobId + "-deadbeef");
        File.WriteAllBytes(temp, old.AsSpan(0, old.Length / 2).ToArray());

        Assert.That(await h.Store.ReadMessageAsync(box.MailboxId, entryId, CancellationToken.None), Is.EqualTo(message), "the old body still reads");
        var report = await h.Store.RewriteLegacyBodiesAsync(null, CancellationToken.None);

        Assert.That(report.BodiesRewritten, Is.EqualTo(1));
        Assert.That(blobs.FormatVersion(blobId), Is.EqualTo(2));
        Assert.That(await h.Store.ReadMessageAsync(box.MailboxId, entryId, CancellationToken.None), Is.EqualTo(message));
        Assert.That((await h.Store.ReindexAsync(CancellationToken.None)).TempFilesDeleted, Is.EqualTo(1), "reindex removes the leftover");
    }

    private static byte[] MessageKey(StoreHarness h, string entryId, string mailboxId, string blobId) =>
        h.Store.OpenEntry(mailboxId, entryId).MessageKey;
}
