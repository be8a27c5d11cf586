using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using MailServer.Storage.Crypto;
using Microsoft.Win32.SafeHandles;

namespace MailServer.Storage.Blobs;

/// <summary>
/// Seals the segments of a version 2 blob (<see cref="BlobStore"/>): each one AES-256-GCM under the message key with a
/// fresh random nonce, its associated data the file header, the segment's index (8 bytes, big-endian) and a final
/// flag (1 byte).
/// </summary>
internal sealed class SegmentSealer : IDisposable
{
    private readonly AesGcm _gcm;
    private readonly byte[] _associatedData;
    private readonly int _headerLength;

    public SegmentSealer(byte[] messageKey, byte[] header)
    {
        _gcm = new AesGcm(messageKey, Aead.TagSize);
        _headerLength = header.Length;
        _associatedData = new byte[header.Length + 9];
        header.CopyTo(_associatedData, 0);
    }

    /// <summary>Seals one segment into <paramref name="output"/> as nonce | tag | ciphertext.</summary>
    /// <returns>The bytes written: the plaintext's length plus <see cref="Aead.Overhead"/>.</returns>
    public int Seal(long index, bool final, ReadOnlySpan<byte> plaintext, Span<byte> output)
    {
        var associated = SegmentAssociatedData(_associatedData, _headerLength, index, final);
        var nonce = output[..Aead.NonceSize];
        RandomNumberGenerator.Fill(nonce);
        _gcm.Encrypt(nonce, plaintext, output.Slice(Aead.Overhead, plaintext.Length), output.Slice(Aead.NonceSize, Aead.TagSize), associated);
        return Aead.Overhead + plaintext.Length;
    }

    /// <summary>Fills in the index and final flag after the header in <paramref name="buffer"/>.</summary>
    internal static ReadOnlySpan<byte> SegmentAssociatedData(byte[] buffer, int headerLength, long index, bool final)
    {
        BinaryPrimitives.WriteInt64BigEndian(buffer.AsSpan(headerLength, 8), index);
        buffer[headerLength + 8] = final ? (byte)1 : (byte)0;
        return buffer;
    }

    public void Dispose() => _gcm.Dispose();
}

/// <summary>
/// The plaintext of a version 2 blob as a read-only, seekable stream: a read decrypts (and authenticates) only the
/// segments it covers, holding one segment in memory. Positioned reads after a seek (IMAP partial FETCH) cost one
/// segment each, whatever the message size.
/// </summary>
internal sealed class SegmentedBlobStream : Stream
{
    /// <summary>Reads sealed bytes of the blob at <paramref name="offset"/> (from the start of the header) into
    /// <paramref name="buffer"/>; returns how many, 0 at the end.</summary>
    internal delegate int ReadAt(Span<byte> buffer, long offset);

    private readonly string _blobId;
    private readonly ReadAt _readAt;
    private readonly IDisposable _source;
    private readonly AesGcm _gcm;
    private readonly byte[] _associatedData;
    private readonly int _headerLength;
    private readonly long _segments;
    private readonly int _lastSegmentLength;
    private readonly long _length;
    private byte[]? _plain;
    private byte[]? _sealed;
    private long _cachedSegment = -1;
    private int _cachedLength;
    private long _position;

    /// <exception cref="CryptographicException">The file ends inside the nonce or tag of its last segment.</exception>
    public SegmentedBlobStream(string blobId, SafeFileHandle handle, byte[] messageKey, byte[] header, long fileLength)
        : this(blobId, (buffer, offset) => RandomAccess.Read(handle, buffer, offset), handle, messageKey, header, fileLength)
    {
    }

    /// <summary>A blob whose sealed bytes come from <paramref name="readAt"/> (a database, an object store);
    /// <paramref name="source"/> is disposed with the stream.</summary>
    /// <exception cref="CryptographicException">The sealed length ends inside the nonce or tag of the last segment.</exception>
    public SegmentedBlobStream(string blobId, ReadAt readAt, IDisposable source, byte[] messageKey, byte[] header, long fileLength)
    {
        var body = fileLength - header.Length;
        var segments = (body + BlobStore.SealedSegmentSize - 1) / BlobStore.SealedSegmentSize;
        var last = body - (segments - 1) * BlobStore.SealedSegmentSize - Aead.Overhead;
        if (segments < 1 || last < 0)
            throw new CryptographicException($"Blob {blobId} is truncated inside its last segment.");
        _blobId = blobId;
        _readAt = readAt;
        _source = source;
        _segments = segments;
        _lastSegmentLength = (int)last;
        _length = (segments - 1) * BlobStore.SegmentSize + last;
        _headerLength = header.Length;
        _associatedData = new byte[header.Length + 9];
        header.CopyTo(_associatedData, 0);
        _gcm = new AesGcm(messageKey, Aead.TagSize);
        _plain = ArrayPool<byte>.Shared.Rent(BlobStore.SegmentSize);
        _sealed = ArrayPool<byte>.Shared.Rent(BlobStore.SealedSegmentSize);
    }

    public override bool CanRead => _plain is not null;
    public override bool CanSeek => _plain is not null;
    public override bool CanWrite => false;
    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => _position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }

    /// <exception cref="CryptographicException">A segment was altered, moved, dropped, or cut from the end of the file.</exception>
    public override int Read(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_plain is null, this);
        var total = 0;
        while (buffer.Length > 0 && _position < _length)
        {
            var index = _position / BlobStore.SegmentSize;
            if (index != _cachedSegment)
                Load(index);
            var offset = (int)(_position - index * BlobStore.SegmentSize);
            var count = Math.Min(buffer.Length, _cachedLength - offset);
            _plain.AsSpan(offset, count).CopyTo(buffer);
            buffer = buffer[count..];
            _position += count;
            total += count;
        }
        return total;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // A local file read plus a decryption of at most a few segments: done in place, like FileStream's small reads.
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private void Load(long index)
    {
        var final = index == _segments - 1;
        var plainLength = final ? _lastSegmentLength : BlobStore.SegmentSize;
        var sealedLength = plainLength + Aead.Overhead;
        var box = _sealed.AsSpan(0, sealedLength);
        var fileOffset = _headerLength + index * BlobStore.SealedSegmentSize;
        var read = 0;
        while (read < sealedLength)
        {
            var n = _readAt(box[read..], fileOffset + read);
            if (n == 0)
                throw new CryptographicException($"Blob {_blobId} is truncated.");
            read += n;
        }
        _cachedSegment = -1;
        try
        {
            _gcm.Decrypt(box[..Aead.NonceSize], box[Aead.Overhead..], box.Slice(Aead.NonceSize, Aead.TagSize), _plain.AsSpan(0, plainLength),
                SegmentSealer.SegmentAssociatedData(_associatedData, _headerLength, index, final));
        }
        catch (CryptographicException e)
        {
            throw new CryptographicException(
                $"Blob {_blobId}: segment {index} of {_segments} does not open (altered, moved, dropped, or cut from the end).", e);
        }
        _cachedSegment = index;
        _cachedLength = plainLength;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        return _position;
    }

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && _plain is not null)
        {
            ArrayPool<byte>.Shared.Return(_plain, clearArray: true);
            ArrayPool<byte>.Shared.Return(_sealed!);
            _plain = null;
            _sealed = null;
            _gcm.Dispose();
            _source.Dispose();
        }
        base.Dispose(disposing);
    }
}
