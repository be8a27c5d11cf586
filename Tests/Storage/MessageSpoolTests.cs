using System.Security.Cryptography;
using MailServer.Storage.Blobs;
using MailServer.Storage.Spool;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>
/// The spool a message in transit waits in (Storage/Spool/MessageSpool.cs): in memory up to its threshold, then an
/// encrypted file in the segmented body format; read back whole and by position across segment boundaries; removed
/// when disposed; what a dead process left behind is swept.
/// </summary>
[TestFixture]
public sealed class MessageSpoolTests
{
    private string _directory = null!;

    [SetUp]
    public void MakeDirectory() => _directory = Path.Combine(Path.GetTempPath(), "spool-test-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public void RemoveDirectory()
    {
        if (Directory.Exists(_directory))
            Directory.Delete(_directory, recursive: true);
    }

    private const int Threshold = 100_000;

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(Threshold)]
    [TestCase(Threshold + 1)]
    [TestCase(3 * BlobStore.SegmentSize)]
    [TestCase(3 * BlobStore.SegmentSize + 1)]
    [TestCase(1024 * 1024 + 17)]
    public async Task What_is_written_in_pieces_reads_back_whole_and_from_any_position(int length)
    {
        var message = RandomNumberGenerator.GetBytes(length);
        using var spool = new MessageSpool(_directory, Threshold);
        for (var at = 0; at < length; )
        {
            var piece = Math.Min(length - at, at % 3 == 0 ? 70_001 : 999);
            await spool.WriteAsync(message.AsMemory(at, piece), CancellationToken.None);
            at += piece;
        }
        await spool.CompleteAsync(CancellationToken.None);

        Assert.That(spool.Length, Is.EqualTo(length));
        Assert.That(spool.InMemory, Is.EqualTo(length <= Threshold), "memory up to the threshold, a file beyond it");
        var copy = new byte[length];
        spool.CopyTo(copy);
        Assert.That(copy, Is.EqualTo(message));
        using var stream = spool.OpenRead();
        foreach (var offset in new[] { 0L, BlobStore.SegmentSize - 1, BlobStore.SegmentSize, 2L * BlobStore.SegmentSize + 5, length - 1 })
        {
            if (offset < 0 || offset >= length)
                continue;
            stream.Position = offset;
            var part = new byte[Math.Min(10, length - (int)offset)];
            stream.ReadExactly(part);
            Assert.That(part, Is.EqualTo(message.AsSpan((int)offset, part.Length).ToArray()), $"at {offset}");
        }
    }

    [TestCase(65_536, 356 * 1024)]
    [TestCase(65_536, 2 * 1024 * 1024)]
    [TestCase(16_384, 300_000)]
    public async Task Reads_the_size_of_a_connection_read_spill_at_the_framing_threshold(int piece, int length)
    {
        var message = RandomNumberGenerator.GetBytes(length);
        using var spool = new MessageSpool(_directory, 256 * 1024);
        for (var at = 0; at < length; at += piece)
            await spool.WriteAsync(message.AsMemory(at, Math.Min(piece, length - at)), CancellationToken.None);
        await spool.CompleteAsync(CancellationToken.None);

        var copy = new byte[length];
        spool.CopyTo(copy);
        Assert.That(copy, Is.EqualTo(message));
    }

    [Test]
    public async Task A_spilled_message_is_ciphertext_on_disk_and_its_file_goes_with_the_spool()
    {
        var message = new byte[400_000];
        message.AsSpan().Fill((byte)'m');
        string path;
        using (var spool = new MessageSpool(_directory, Threshold))
        {
            await spool.WriteAsync(message, CancellationToken.None);
            await spool.CompleteAsync(CancellationToken.None);
            path = spool.FilePath!;
            Assert.That(Path.GetDirectoryName(path), Is.EqualTo(_directory));
            Assert.That(path, Does.EndWith(MessageSpool.FileExtension));
            Assert.That(new FileInfo(path).Length, Is.GreaterThan(message.Length), "the whole message, sealed");
            var onDisk = File.ReadAllBytes(path);
            Assert.That(onDisk.AsSpan().IndexOf(message.AsSpan(0, 64)), Is.EqualTo(-1), "no run of the plaintext on disk");
        }
        Assert.That(File.Exists(path), Is.False);
    }

    [Test]
    public async Task A_spool_not_completed_cannot_be_read()
    {
        using var spool = new MessageSpool(_directory, 0);
        await spool.WriteAsync(new byte[10], CancellationToken.None);
        Assert.Throws<InvalidOperationException>(() => spool.OpenRead());
    }

    [Test]
    public void Sweep_removes_spool_files_left_behind_and_nothing_else()
    {
        Directory.CreateDirectory(_directory);
        File.WriteAllText(Path.Combine(_directory, "0123" + MessageSpool.FileExtension), "left by a crash");
        File.WriteAllText(Path.Combine(_directory, "notes.txt"), "not ours");

        var removed = MessageSpool.Sweep(_directory);

        Assert.That(removed, Is.EqualTo(1));
        Assert.That(Directory.GetFiles(_directory).Select(Path.GetFileName), Is.EqualTo(new[] { "notes.txt" }));
        Assert.That(MessageSpool.Sweep(Path.Combine(_directory, "missing")), Is.Zero, "a missing directory is nothing to do");
    }
}
