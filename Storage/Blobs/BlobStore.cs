using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using MailServer.Storage.Crypto;

namespace MailServer.Storage.Blobs;

/// <summary>
/// Encrypted message bodies as files outside the database, under <c>&lt;root&gt;/xx/&lt;blobId&gt;</c> (xx = the
/// first two hex digits of the id). A file is written to a temporary name, fsync'd, renamed into place, and its
/// directory fsync'd (the Maildir/Postfix discipline, dependency-pitfalls.md "LiteDB"): after a crash a blob
/// is either whole or absent. One blob holds one delivery, shared by every recipient.
/// </summary>
/// <remarks>
/// File layout: magic "MSBL" | version (1) | blob id length (1) | blob id (ASCII) | organization id length (2, BE)
/// | organization id (UTF-8) | nonce (12) | tag (16) | AES-256-GCM ciphertext. Everything before the nonce is
/// the associated data, so a header cannot be edited or a file renamed to another blob id unnoticed.
/// </remarks>
public sealed class BlobStore
{
    private static ReadOnlySpan<byte> Magic => "MSBL"u8;
    private const byte Version = 1;
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
    /// Encrypts <paramref name="plaintext"/> under <paramref name="messageKey"/> and writes it durably under a
    /// temporary name, then renames it into place. The rename is durable only after
    /// <see cref="Durability.FsyncDirectory"/> on <see cref="DirectoryOf"/> (the store's writer batches those).
    /// </summary>
    /// <exception cref="IOException">The file could not be written.</exception>
    public void Write(string blobId, string organizationId, byte[] messageKey, ReadOnlySpan<byte> plaintext)
    {
        var header = BuildHeader(blobId, organizationId);
        var file = new byte[header.Length + Aead.Overhead + plaintext.Length];
        header.CopyTo(file, 0);
        var nonce = file.AsSpan(header.Length, Aead.NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using (var gcm = new AesGcm(messageKey, Aead.TagSize))
            gcm.Encrypt(nonce, plaintext, file.AsSpan(header.Length + Aead.Overhead),
                file.AsSpan(header.Length + Aead.NonceSize, Aead.TagSize), header);

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
        var temp = Path.Combine(directory, TempPrefix + blobId + "-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            // The temporary name is unique, so no advisory lock is needed (FileShare.None costs a flock);
            // the blob id has 120 random bits, so a plain rename(2) (overwrite: true) cannot clobber another
            // blob, and avoids the link+unlink .NET uses to refuse overwriting.
            using (var handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite))
            {
                RandomAccess.Write(handle, file, 0);
                RandomAccess.FlushToDisk(handle);
            }
            File.Move(temp, PathOf(blobId), overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Reads and decrypts a blob.</summary>
    /// <exception cref="FileNotFoundException">No such blob.</exception>
    /// <exception cref="CryptographicException">Wrong key, or the file was altered, truncated or renamed.</exception>
    public async Task<byte[]> ReadAsync(string blobId, byte[] messageKey, CancellationToken cancellationToken)
    {
        var file = await File.ReadAllBytesAsync(PathOf(blobId), cancellationToken).ConfigureAwait(false);
        return Decrypt(blobId, messageKey, file);
    }

    /// <summary>Reads and decrypts a blob synchronously (reindex).</summary>
    public byte[] Read(string blobId, byte[] messageKey) => Decrypt(blobId, messageKey, File.ReadAllBytes(PathOf(blobId)));

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

    /// <summary>Temporary files left by a crash mid-write.</summary>
    public IEnumerable<string> EnumerateTempFiles() =>
        Directory.EnumerateDirectories(Root).SelectMany(d => Directory.EnumerateFiles(d, TempPrefix + "*"));

    private static byte[] BuildHeader(string blobId, string organizationId)
    {
        var id = Encoding.ASCII.GetBytes(blobId);
        var org = Encoding.UTF8.GetBytes(organizationId);
        if (id.Length > byte.MaxValue || org.Length > ushort.MaxValue)
            throw new ArgumentException("Blob or organization id too long.");
        var header = new byte[Magic.Length + 1 + 1 + id.Length + 2 + org.Length];
        var span = header.AsSpan();
        Magic.CopyTo(span);
        span[4] = Version;
        span[5] = (byte)id.Length;
        id.CopyTo(span[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(span[(6 + id.Length)..], (ushort)org.Length);
        org.CopyTo(span[(8 + id.Length)..]);
        return header;
    }

    private static byte[] Decrypt(string blobId, byte[] messageKey, byte[] file)
    {
        var span = file.AsSpan();
        if (span.Length < 8 || !span[..4].SequenceEqual(Magic) || span[4] != Version)
            throw new CryptographicException($"Blob {blobId} has no valid header.");
        int idLength = span[5];
        if (span.Length < 8 + idLength)
            throw new CryptographicException($"Blob {blobId} is truncated.");
        if (!span.Slice(6, idLength).SequenceEqual(Encoding.ASCII.GetBytes(blobId)))
            throw new CryptographicException($"Blob file {blobId} holds another blob.");
        int orgLength = BinaryPrimitives.ReadUInt16BigEndian(span[(6 + idLength)..]);
        var headerLength = 8 + idLength + orgLength;
        if (span.Length < headerLength + Aead.Overhead)
            throw new CryptographicException($"Blob {blobId} is truncated.");
        var plaintext = new byte[span.Length - headerLength - Aead.Overhead];
        using var gcm = new AesGcm(messageKey, Aead.TagSize);
        gcm.Decrypt(span.Slice(headerLength, Aead.NonceSize), span[(headerLength + Aead.Overhead)..],
            span.Slice(headerLength + Aead.NonceSize, Aead.TagSize), plaintext, span[..headerLength]);
        return plaintext;
    }
}
