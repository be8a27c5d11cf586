using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using MailServer.Storage.Crypto;

namespace MailServer.Storage.Blobs;

/// <summary>
/// Encrypted message bodies as files outside the database, under <c>&lt;root&gt;/xx/&lt;blobId&gt;</c> (xx = the
/// first two hex digits of the id). One blob holds one delivery, shared by every recipient.
/// </summary>
/// <remarks>
/// <para>Durability: a blob is written at its final name and is not fsync'd here. The store's writer fsyncs the file
/// and its directory (<see cref="SyncPaths"/>), concurrently, before it commits the entries that refer to the blob,
/// so the database never refers to a body that is not whole on disk. A file written when the process died before
/// that commit is referred to by nothing: <c>reindex</c> removes it as an orphan. Nobody reads a blob before its
/// commit (the id is random and first published by the commit), so the temporary name and rename that Maildir uses
/// to make a file appear whole would only add a directory operation and an fsync to every message's wait. Stores
/// written before this may hold <c>.tmp-</c> files; <c>reindex</c> removes those too.</para>
/// <para>File layout, version 2 (written since bounded memory for big messages): magic "MSBL" | version (2) | blob id
/// length (1) | blob id (ASCII) | organization id length (2, BE) | organization id (UTF-8) | segment size (4, BE),
/// then the body in segments of <see cref="SegmentSize"/> plaintext bytes (the last one shorter, possibly empty),
/// each sealed on its own as nonce (12) | tag (16) | AES-256-GCM ciphertext under the message key. A segment's
/// associated data is the file header, its index (8, BE) and a final flag (1): a segment moved, dropped, or cut from
/// the end (the new last one was not sealed as final) fails to open, as does an edited header or a file renamed to
/// another blob id. Reading a range decrypts only the segments it covers, so memory stays at one segment per reader
/// whatever the message size.</para>
/// <para>Version 1 (still read): the same header without the segment size, then one nonce | tag | ciphertext over the
/// whole body, the header being its associated data. <see cref="RewriteLegacy"/> (<c>reindex --rewrite-bodies</c>)
/// rewrites such a file in version 2 under a temporary name and renames it over the old one.</para>
/// </remarks>
public sealed class BlobStore
{
    private static ReadOnlySpan<byte> Magic => "MSBL"u8;
    private const byte LegacyVersion = 1;
    private const byte SegmentedVersion = 2;

    /// <summary>Plaintext bytes per sealed segment (64 KiB).</summary>
    public const int SegmentSize = 64 * 1024;

    /// <summary>Bytes a sealed segment occupies on disk: its plaintext plus nonce and tag.</summary>
    internal const int SealedSegmentSize = SegmentSize + Aead.Overhead;

    /// <summary>Segments sealed into one buffer before it is written (one write(2) per megabyte).</summary>
    private const int SegmentsPerWrite = 16;
    internal const string TempPrefix = ".tmp-";
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _knownDirectories = new(StringComparer.Ordinal);

    /// <param name="root">The blob directory; created when missing.</param>
    public BlobStore(string root)
    {
        Root = Path.GetFullPath(root);
        Directory.CreateDirectory(Root);
    }

    /// <summary>The blob directory.</summary>
    public string Root { get; }

    /// <summary>The path of a blob file.</summary>
    public string PathOf(string blobId) => Path.Combine(DirectoryOf(blobId), blobId);

    /// <summary>The directory that holds a blob file (whose entry must be fsync'd after a rename).</summary>
    public string DirectoryOf(string blobId)
    {
        if (blobId.Length < 3 || !blobId.All(char.IsAsciiHexDigitLower))
            throw new ArgumentException($"'{blobId}' is not a blob id.", nameof(blobId));
        return Path.Combine(Root, blobId[..2]);
    }

    /// <summary>
    /// A new blob id: 32 lower-case hex digits, 120 of its bits random. The first two digits (the directory)
    /// are the current second modulo 256, so the blobs of one group commit share a directory and the writer
    /// fsyncs one directory per batch instead of one per message, while over four minutes every directory is used.
    /// </summary>
    public static string NewBlobId(DateTimeOffset now) =>
        (now.ToUnixTimeSeconds() & 0xff).ToString("x2", System.Globalization.CultureInfo.InvariantCulture)
        + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(15));

    /// <summary>A new blob id for the current time (see <see cref="NewBlobId(DateTimeOffset)"/>).</summary>
    public static string NewBlobId() => NewBlobId(DateTimeOffset.UtcNow);

    /// <summary>
    /// Encrypts <paramref name="plaintext"/> under <paramref name="messageKey"/> in segments and writes it at the
    /// blob's name; it is durable once the paths of <see cref="SyncPaths"/> are fsync'd (the store's writer does that
    /// before its commit). A body of one segment (the common small message) is written with one write(2).
    /// </summary>
    /// <exception cref="IOException">The file could not be written (nothing is left behind).</exception>
    public void Write(string blobId, string organizationId, byte[] messageKey, ReadOnlySpan<byte> plaintext)
    {
        var header = BuildHeader(blobId, organizationId);
        var segments = Math.Max(1, (plaintext.Length + SegmentSize - 1) / SegmentSize);
        var batch = Math.Min(segments, SegmentsPerWrite);
        var buffer = ArrayPool<byte>.Shared.Rent(header.Length + batch * SealedSegmentSize);
        try
        {
            using var file = CreateBlobFile(blobId);
            using (var sealer = new SegmentSealer(messageKey, header))
            {
                header.CopyTo(buffer, 0);
                var filled = header.Length;
                long fileOffset = 0;
                for (var index = 0; index < segments; index++)
                {
                    var start = index * SegmentSize;
                    var chunk = plaintext.Slice(start, Math.Min(SegmentSize, plaintext.Length - start));
                    filled += sealer.Seal(index, index == segments - 1, chunk, buffer.AsSpan(filled));
                    if (filled + SealedSegmentSize > buffer.Length || index == segments - 1)
                    {
                        RandomAccess.Write(file.Handle, buffer.AsSpan(0, filled), fileOffset);
                        fileOffset += filled;
                        filled = 0;
                    }
                }
            }
            file.Complete();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Encrypts what <paramref name="plaintext"/> gives until its end, segment by segment (memory: two segments
    /// whatever the body's size), and writes it as <see cref="Write(string, string, byte[], ReadOnlySpan{byte})"/> does.
    /// </summary>
    /// <returns>The number of plaintext bytes written.</returns>
    /// <exception cref="IOException">The file could not be written, or <paramref name="plaintext"/> failed.</exception>
    public long Write(string blobId, string organizationId, byte[] messageKey, Stream plaintext)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        var header = BuildHeader(blobId, organizationId);
        var current = ArrayPool<byte>.Shared.Rent(SegmentSize);
        var next = ArrayPool<byte>.Shared.Rent(SegmentSize);
        var sealedBuffer = ArrayPool<byte>.Shared.Rent(Math.Max(header.Length, SealedSegmentSize));
        long total = 0;
        try
        {
            using var file = CreateBlobFile(blobId);
            using (var sealer = new SegmentSealer(messageKey, header))
            {
                RandomAccess.Write(file.Handle, header, 0);
                long fileOffset = header.Length;
                var length = ReadFully(plaintext, current.AsSpan(0, SegmentSize));
                for (long index = 0; ; index++)
                {
                    // A full segment is final only when nothing follows it: read ahead one segment to know.
                    var nextLength = length == SegmentSize ? ReadFully(plaintext, next.AsSpan(0, SegmentSize)) : 0;
                    var final = nextLength == 0;
                    var written = sealer.Seal(index, final, current.AsSpan(0, length), sealedBuffer);
                    RandomAccess.Write(file.Handle, sealedBuffer.AsSpan(0, written), fileOffset);
                    fileOffset += written;
                    total += length;
                    if (final)
                        break;
                    (current, next) = (next, current);
                    length = nextLength;
                }
            }
            file.Complete();
            return total;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(current, clearArray: true); // plaintext
            ArrayPool<byte>.Shared.Return(next, clearArray: true);
            ArrayPool<byte>.Shared.Return(sealedBuffer);
        }
    }

    /// <summary>The paths to fsync, in any order, before a commit refers to the blob: the file and its directory.</summary>
    public string[] SyncPaths(string blobId) => [PathOf(blobId), DirectoryOf(blobId)];

    /// <summary>Creates a blob's file at its final name; disposed before <see cref="BlobFile.Complete"/>, it is deleted.</summary>
    private BlobFile CreateBlobFile(string blobId)
    {
        var directory = DirectoryOf(blobId);
        if (!_knownDirectories.ContainsKey(directory))
        {
            if (!Directory.Exists(directory))
            {
                Directory.CreateDirectory(directory);
                Durability.FsyncDirectory(Root);
            }
            _knownDirectories.TryAdd(directory, 0);
        }
        var path = PathOf(blobId);
        // The id has 120 random bits: CreateNew never meets another blob. No advisory lock (FileShare.None costs a flock).
        return new BlobFile(File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite), path);
    }

    /// <summary>A blob file being written; disposed without <see cref="Complete"/> (a write failed), it is deleted.</summary>
    private sealed class BlobFile(Microsoft.Win32.SafeHandles.SafeFileHandle handle, string path) : IDisposable
    {
        private bool _complete;

        public Microsoft.Win32.SafeHandles.SafeFileHandle Handle => handle;

        /// <summary>Every byte is written: the file stays.</summary>
        public void Complete() => _complete = true;

        public void Dispose()
        {
            handle.Dispose();
            if (!_complete)
                File.Delete(path);
        }
    }

    /// <summary>
    /// The new file that replaces an existing blob (<see cref="RewriteLegacy"/>): written under a temporary name beside
    /// it, so the old file stays whole until <see cref="Commit"/> renames the new one over it (rename(2) is atomic);
    /// disposed without <see cref="Commit"/>, the temporary file is deleted, and one left by a crash is removed by
    /// <c>reindex</c> (<see cref="EnumerateTempFiles"/>). New blobs do not need this: nothing refers to them before
    /// the writer's commit.
    /// </summary>
    private sealed class ReplacementFile(Microsoft.Win32.SafeHandles.SafeFileHandle handle, string temp, string final) : IDisposable
    {
        private bool _committed;

        public static ReplacementFile Create(string directory, string final)
        {
            var temp = Path.Combine(directory, TempPrefix + Path.GetFileName(final) + "-" + Guid.NewGuid().ToString("N")[..8]);
            return new ReplacementFile(File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite), temp, final);
        }

        public Microsoft.Win32.SafeHandles.SafeFileHandle Handle => handle;

        /// <summary>The temporary file's path (to read it back before <see cref="Commit"/>).</summary>
        public string TempPath => temp;

        /// <summary>fsync, then rename over the old file; durable once the directory is fsync'd.</summary>
        public void Commit()
        {
            RandomAccess.FlushToDisk(handle);
            handle.Dispose();
            File.Move(temp, final, overwrite: true);
            _committed = true;
        }

        public void Dispose()
        {
            handle.Dispose();
            if (!_committed)
                File.Delete(temp);
        }
    }

    private static int ReadFully(Stream source, Span<byte> buffer)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = source.Read(buffer[filled..]);
            if (read == 0)
                break;
            filled += read;
        }
        return filled;
    }

    /// <summary>Reads and decrypts a whole blob.</summary>
    /// <exception cref="FileNotFoundException">No such blob.</exception>
    /// <exception cref="CryptographicException">Wrong key, or the file was altered, truncated, reordered or renamed.</exception>
    public async Task<byte[]> ReadAsync(string blobId, byte[] messageKey, CancellationToken cancellationToken)
    {
        await using var stream = OpenRead(blobId, messageKey);
        var plaintext = new byte[stream.Length];
        await stream.ReadExactlyAsync(plaintext, cancellationToken).ConfigureAwait(false);
        return plaintext;
    }

    /// <summary>Reads and decrypts a whole blob synchronously.</summary>
    /// <exception cref="FileNotFoundException">No such blob.</exception>
    /// <exception cref="CryptographicException">Wrong key, or the file was altered, truncated, reordered or renamed.</exception>
    public byte[] Read(string blobId, byte[] messageKey)
    {
        using var stream = OpenRead(blobId, messageKey);
        var plaintext = new byte[stream.Length];
        stream.ReadExactly(plaintext);
        return plaintext;
    }

    /// <summary>
    /// Opens a blob for reading: a seekable stream of the plaintext that decrypts one segment at a time as it is
    /// read (a version 1 blob is decrypted whole at open). <see cref="Stream.Length"/> is the plaintext length.
    /// The stream keeps its own copy of the key and wipes it when disposed.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such blob.</exception>
    /// <exception cref="CryptographicException">The header is invalid or names another blob, or the file is cut
    /// inside its last segment; on read, a segment that was altered, moved, dropped or cut from the end.</exception>
    public Stream OpenRead(string blobId, byte[] messageKey)
    {
        var handle = File.OpenHandle(PathOf(blobId), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        try
        {
            var fileLength = RandomAccess.GetLength(handle);
            Span<byte> start = stackalloc byte[6];
            if (fileLength < 8 || RandomAccess.Read(handle, start, 0) < 6 || !start[..4].SequenceEqual(Magic))
                throw new CryptographicException($"Blob {blobId} has no valid header.");
            var version = start[4];
            int idLength = start[5];
            if (version is not (LegacyVersion or SegmentedVersion))
                throw new CryptographicException($"Blob {blobId} has an unknown format version {version}.");
            var prefixLength = 8 + idLength;
            if (fileLength < prefixLength)
                throw new CryptographicException($"Blob {blobId} is truncated.");
            var prefix = new byte[prefixLength];
            RandomAccess.Read(handle, prefix, 0);
            if (!prefix.AsSpan(6, idLength).SequenceEqual(Encoding.ASCII.GetBytes(blobId)))
                throw new CryptographicException($"Blob file {blobId} holds another blob.");
            int orgLength = BinaryPrimitives.ReadUInt16BigEndian(prefix.AsSpan(6 + idLength));
            var headerLength = prefixLength + orgLength + (version == SegmentedVersion ? 4 : 0);
            if (fileLength < headerLength + Aead.Overhead)
                throw new CryptographicException($"Blob {blobId} is truncated.");
            var header = new byte[headerLength];
            RandomAccess.Read(handle, header, 0);
            if (version == LegacyVersion)
            {
                using (handle)
                    return new MemoryStream(DecryptLegacy(blobId, messageKey, handle, header, fileLength), writable: false);
            }
            if (BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(headerLength - 4)) != SegmentSize)
                throw new CryptographicException($"Blob {blobId} has an unsupported segment size.");
            return new SegmentedBlobStream(blobId, handle, messageKey, header, fileLength);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static byte[] DecryptLegacy(string blobId, byte[] messageKey, Microsoft.Win32.SafeHandles.SafeFileHandle handle, byte[] header, long fileLength)
    {
        var box = new byte[fileLength - header.Length];
        if (RandomAccess.Read(handle, box, header.Length) != box.Length)
            throw new CryptographicException($"Blob {blobId} is truncated.");
        var plaintext = new byte[box.Length - Aead.Overhead];
        using var gcm = new AesGcm(messageKey, Aead.TagSize);
        gcm.Decrypt(box.AsSpan(0, Aead.NonceSize), box.AsSpan(Aead.Overhead), box.AsSpan(Aead.NonceSize, Aead.TagSize), plaintext, header);
        return plaintext;
    }

    /// <summary>The format version of a blob file (1: one sealed box; 2: segmented), read from its first bytes.</summary>
    /// <exception cref="FileNotFoundException">No such blob.</exception>
    /// <exception cref="CryptographicException">The file has no valid header.</exception>
    public int FormatVersion(string blobId)
    {
        using var handle = File.OpenHandle(PathOf(blobId), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        Span<byte> start = stackalloc byte[5];
        if (RandomAccess.Read(handle, start, 0) < 5 || !start[..4].SequenceEqual(Magic))
            throw new CryptographicException($"Blob {blobId} has no valid header.");
        return start[4];
    }

    /// <summary>
    /// Rewrites a version 1 blob (one sealed box) in the segmented format under the same blob id, organization and
    /// message key, so nothing that refers to it changes. The old body is decrypted (its tag checked: a damaged file
    /// is never rewritten), the new one written to a temporary name, fsync'd, read back and compared with the old
    /// plaintext, and only then renamed over the old file: after a crash at any point the blob is the old file or the
    /// new one, whole, and both read the same. The rename is durable after <see cref="Durability.FsyncDirectory"/> on
    /// <see cref="DirectoryOf"/>. Memory: the whole body once (version 1 cannot be read in parts), wiped afterwards.
    /// </summary>
    /// <returns>False when the blob was already segmented (nothing written).</returns>
    /// <exception cref="FileNotFoundException">No such blob.</exception>
    /// <exception cref="CryptographicException">Wrong key, or the old file was altered or truncated; it is left as it is.</exception>
    /// <exception cref="IOException">The new file could not be written; the old one is left as it is.</exception>
    public bool RewriteLegacy(string blobId, byte[] messageKey)
    {
        byte[] plaintext;
        string organizationId;
        using (var handle = File.OpenHandle(PathOf(blobId), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            var fileLength = RandomAccess.GetLength(handle);
            Span<byte> start = stackalloc byte[6];
            if (fileLength < 8 || RandomAccess.Read(handle, start, 0) < 6 || !start[..4].SequenceEqual(Magic))
                throw new CryptographicException($"Blob {blobId} has no valid header.");
            if (start[4] != LegacyVersion)
                return false;
            var prefix = new byte[8 + start[5]];
            if (RandomAccess.Read(handle, prefix, 0) < prefix.Length || !prefix.AsSpan(6, start[5]).SequenceEqual(Encoding.ASCII.GetBytes(blobId)))
                throw new CryptographicException($"Blob file {blobId} holds another blob.");
            var header = new byte[prefix.Length + BinaryPrimitives.ReadUInt16BigEndian(prefix.AsSpan(6 + start[5]))];
            if (fileLength < header.Length + Aead.Overhead || RandomAccess.Read(handle, header, 0) < header.Length)
                throw new CryptographicException($"Blob {blobId} is truncated.");
            organizationId = Encoding.UTF8.GetString(header.AsSpan(prefix.Length));
            plaintext = DecryptLegacy(blobId, messageKey, handle, header, fileLength);
        }
        try
        {
            var expected = SHA256.HashData(plaintext);
            var newHeader = BuildHeader(blobId, organizationId);
            using var temp = ReplacementFile.Create(DirectoryOf(blobId), PathOf(blobId));
            var fileLength = SealSegments(temp.Handle, newHeader, messageKey, plaintext);
            // Read the new file back through the reader every later FETCH uses before the old one is replaced.
            using (var check = new SegmentedBlobStream(blobId,
                       File.OpenHandle(temp.TempPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete),
                       messageKey, newHeader, fileLength))
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                var buffer = ArrayPool<byte>.Shared.Rent(SegmentSize);
                try
                {
                    int read;
                    while ((read = check.Read(buffer, 0, SegmentSize)) > 0)
                        hash.AppendData(buffer, 0, read);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
                }
                if (!hash.GetHashAndReset().AsSpan().SequenceEqual(expected))
                    throw new IOException($"Blob {blobId} did not read back as written; the old file is kept.");
            }
            temp.Commit();
            return true;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>Writes the header and the sealed segments of <paramref name="plaintext"/> to a temporary blob file.</summary>
    /// <returns>The file's length.</returns>
    private static long SealSegments(Microsoft.Win32.SafeHandles.SafeFileHandle handle, byte[] header, byte[] messageKey, ReadOnlySpan<byte> plaintext)
    {
        var segments = Math.Max(1, (plaintext.Length + SegmentSize - 1) / SegmentSize);
        var buffer = ArrayPool<byte>.Shared.Rent(SealedSegmentSize);
        try
        {
            using var sealer = new SegmentSealer(messageKey, header);
            RandomAccess.Write(handle, header, 0);
            long fileOffset = header.Length;
            for (var index = 0; index < segments; index++)
            {
                var start = index * SegmentSize;
                var written = sealer.Seal(index, index == segments - 1, plaintext.Slice(start, Math.Min(SegmentSize, plaintext.Length - start)), buffer);
                RandomAccess.Write(handle, buffer.AsSpan(0, written), fileOffset);
                fileOffset += written;
            }
            return fileOffset;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>True when the blob file exists.</summary>
    public bool Exists(string blobId) => File.Exists(PathOf(blobId));

    /// <summary>Deletes a blob file if present.</summary>
    public void Delete(string blobId) => File.Delete(PathOf(blobId));

    /// <summary>Every blob id present on disk (finished files only).</summary>
    public IEnumerable<string> EnumerateBlobIds()
    {
        foreach (var dir in Directory.EnumerateDirectories(Root))
            foreach (var file in Directory.EnumerateFiles(dir))
            {
                var name = Path.GetFileName(file);
                if (!name.StartsWith(TempPrefix, StringComparison.Ordinal))
                    yield return name;
            }
    }

    /// <summary>Temporary files left by a crash mid-write in stores written before blobs were written at their final
    /// name.</summary>
    public IEnumerable<string> EnumerateTempFiles() =>
        Directory.EnumerateDirectories(Root).SelectMany(d => Directory.EnumerateFiles(d, TempPrefix + "*"));

    /// <summary>Writes a blob in the version 1 layout (one sealed box), as stores before segmenting did: for tests
    /// that show old bodies still read.</summary>
    internal void WriteLegacy(string blobId, string organizationId, byte[] messageKey, ReadOnlySpan<byte> plaintext)
    {
        var header = BuildHeader(blobId, organizationId, LegacyVersion);
        var file = new byte[header.Length + Aead.Overhead + plaintext.Length];
        header.CopyTo(file, 0);
        var nonce = file.AsSpan(header.Length, Aead.NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using (var gcm = new AesGcm(messageKey, Aead.TagSize))
            gcm.Encrypt(nonce, plaintext, file.AsSpan(header.Length + Aead.Overhead),
                file.AsSpan(header.Length + Aead.NonceSize, Aead.TagSize), header);
        Delete(blobId); // the tests put an old-format body in place of a stored one
        using var blob = CreateBlobFile(blobId);
        RandomAccess.Write(blob.Handle, file, 0);
        blob.Complete();
    }

    /// <summary>
    /// Seals <paramref name="plaintext"/> in the version 2 layout without writing it anywhere: the header and each sealed
    /// segment (nonce | tag | ciphertext), for engines that keep bodies elsewhere than in files (PostgreSQL).
    /// </summary>
    internal static SealedBody Seal(string blobId, string organizationId, byte[] messageKey, ReadOnlySpan<byte> plaintext)
    {
        var header = BuildHeader(blobId, organizationId);
        var count = Math.Max(1, (plaintext.Length + SegmentSize - 1) / SegmentSize);
        var segments = new byte[count][];
        using var sealer = new SegmentSealer(messageKey, header);
        for (var index = 0; index < count; index++)
        {
            var start = index * SegmentSize;
            var chunk = plaintext.Slice(start, Math.Min(SegmentSize, plaintext.Length - start));
            segments[index] = new byte[chunk.Length + Aead.Overhead];
            sealer.Seal(index, index == count - 1, chunk, segments[index]);
        }
        return new SealedBody(blobId, organizationId, header, segments, plaintext.Length);
    }

    /// <summary>Checks that <paramref name="header"/> is a version 2 header of <paramref name="blobId"/> (a body stored
    /// under another id, or an altered header, is refused before any segment is opened).</summary>
    /// <exception cref="CryptographicException">It is not.</exception>
    internal static void CheckHeader(string blobId, byte[] header)
    {
        var id = Encoding.ASCII.GetBytes(blobId);
        if (header.Length < 12 + id.Length || !header.AsSpan(0, 4).SequenceEqual(Magic) || header[4] != SegmentedVersion || header[5] != id.Length
            || !header.AsSpan(6, id.Length).SequenceEqual(id) || BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(header.Length - 4)) != SegmentSize)
            throw new CryptographicException($"Body {blobId} has no valid header.");
    }

    private static byte[] BuildHeader(string blobId, string organizationId, byte version = SegmentedVersion)
    {
        var id = Encoding.ASCII.GetBytes(blobId);
        var org = Encoding.UTF8.GetBytes(organizationId);
        if (id.Length > byte.MaxValue || org.Length > ushort.MaxValue)
            throw new ArgumentException("Blob or organization id too long.");
        var header = new byte[Magic.Length + 1 + 1 + id.Length + 2 + org.Length + (version == SegmentedVersion ? 4 : 0)];
        var span = header.AsSpan();
        Magic.CopyTo(span);
        span[4] = version;
        span[5] = (byte)id.Length;
        id.CopyTo(span[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(span[(6 + id.Length)..], (ushort)org.Length);
        org.CopyTo(span[(8 + id.Length)..]);
        if (version == SegmentedVersion)
            BinaryPrimitives.WriteInt32BigEndian(span[^4..], SegmentSize);
        return header;
    }
}

/// <summary>A body sealed in the version 2 layout of <see cref="BlobStore"/>: its header and its sealed segments, in order.</summary>
/// <param name="BlobId">The body's id (bound into the header, so into every segment's associated data).</param>
/// <param name="OrganizationId">The organization whose key hierarchy the message key belongs to.</param>
/// <param name="Header">The header bytes.</param>
/// <param name="Segments">Each segment as nonce | tag | ciphertext; all but the last hold <see cref="BlobStore.SegmentSize"/> plaintext bytes.</param>
/// <param name="Length">The plaintext length.</param>
public sealed record SealedBody(string BlobId, string OrganizationId, byte[] Header, IReadOnlyList<byte[]> Segments, long Length)
{
    /// <summary>The sealed length: header plus every segment (what a file of the body would hold).</summary>
    public long SealedLength => Header.Length + Segments.Sum(s => (long)s.Length);
}
