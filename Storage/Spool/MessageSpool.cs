using System.Buffers;
using System.Security.Cryptography;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;
using Microsoft.Win32.SafeHandles;

namespace MailServer.Storage.Spool;

/// <summary>
/// A message being received, held until its transaction is decided: in memory while it is small, then in an encrypted
/// temporary file, so the memory a message in transit takes does not grow with its size. Written once, front to back
/// (<see cref="WriteAsync"/>, then <see cref="CompleteAsync"/>), then read as often as needed (<see cref="OpenRead"/>).
/// </summary>
/// <remarks>
/// <para>The file uses the segmented format of message bodies (<see cref="BlobStore"/>, version 2: 64 KiB segments,
/// each AES-256-GCM sealed with its index and a final flag in the associated data) under a key made for this spool
/// alone, which lives only in this object's memory: a spool file left behind (a crash) cannot be read by anyone, and
/// a segment altered, moved or cut off is reported on read, never served. The file is opened with delete-on-close and
/// removed when the spool is disposed; <see cref="Sweep"/> removes what a process that died left behind.</para>
/// <para>Not thread-safe: one writer, then readers one at a time (each <see cref="OpenRead"/> stream on its own is
/// independent, reading the file by offset).</para>
/// </remarks>
public sealed class MessageSpool : IDisposable
{
    /// <summary>The name every spool file ends with; <see cref="Sweep"/> removes only such files.</summary>
    public const string FileExtension = ".spool";

    private static ReadOnlySpan<byte> Magic => "MSSPOOL1"u8;

    private readonly string _directory;
    private readonly int _memoryThreshold;
    private byte[]? _memory;          // the message while it is small (pooled); null once spilled or disposed
    private int _memoryLength;
    private FileStream? _stream;     // owns the file; reads and writes go through its handle by offset
    private SafeFileHandle? _file;
    private string? _path;
    private byte[]? _key;
    private byte[]? _header;
    private SegmentSealer? _sealer;
    private byte[]? _segment;          // the plaintext segment being filled (pooled)
    private int _segmentLength;
    private byte[]? _sealed;           // one sealed segment on its way to the file (pooled)
    private long _segmentIndex;
    private long _fileLength;
    private bool _completed;
    private bool _disposed;

    /// <summary>Creates an empty spool.</summary>
    /// <param name="directory">Where a spool file is made once the message outgrows <paramref name="memoryThreshold"/>;
    /// created when missing.</param>
    /// <param name="memoryThreshold">Bytes kept in memory before the message goes to a file (0: straight to a file).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="memoryThreshold"/> is negative.</exception>
    public MessageSpool(string directory, int memoryThreshold)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentOutOfRangeException.ThrowIfNegative(memoryThreshold);
        _directory = directory;
        _memoryThreshold = memoryThreshold;
    }

    /// <summary>Bytes written so far (the whole message once <see cref="CompleteAsync"/> was called).</summary>
    public long Length { get; private set; }

    /// <summary>True while the message is held in memory (it has not outgrown the threshold).</summary>
    public bool InMemory => _file is null;

    /// <summary>The spool file's path once the message went to a file; null while it is in memory.</summary>
    public string? FilePath => _path;

    /// <summary>Appends <paramref name="data"/> to the message.</summary>
    /// <exception cref="InvalidOperationException">The spool was completed.</exception>
    /// <exception cref="ObjectDisposedException">The spool was disposed.</exception>
    /// <exception cref="IOException">The spool file could not be created or written (disk full).</exception>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
            throw new InvalidOperationException("The spool was completed.");
        if (data.IsEmpty)
            return;
        Length += data.Length;
        if (_file is null && _memoryLength + (long)data.Length <= _memoryThreshold)
        {
            if (_memory is null || _memory.Length < _memoryLength + data.Length)
            {
                var grown = ArrayPool<byte>.Shared.Rent(Math.Min(_memoryThreshold, Math.Max(_memoryLength + data.Length, 2 * (_memory?.Length ?? 4096))));
                var held = _memoryLength;
                _memory?.AsSpan(0, held).CopyTo(grown);
                ReturnMemory();
                (_memory, _memoryLength) = (grown, held);
            }
            data.Span.CopyTo(_memory.AsSpan(_memoryLength));
            _memoryLength += data.Length;
            return;
        }
        if (_file is null)
            await SpillAsync(cancellationToken).ConfigureAwait(false);
        await AppendToFileAsync(data, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Ends the message: the last segment is sealed as final. Reading is possible from here on.</summary>
    /// <exception cref="ObjectDisposedException">The spool was disposed.</exception>
    /// <exception cref="IOException">The spool file could not be written.</exception>
    public async ValueTask CompleteAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
            return;
        if (_file is not null)
            await SealSegmentAsync(final: true, cancellationToken).ConfigureAwait(false);
        _completed = true;
    }

    /// <summary>
    /// The whole message as a read-only, seekable stream; a file-backed one decrypts a segment at a time (one segment
    /// in memory whatever the size). Dispose it before the spool.
    /// </summary>
    /// <exception cref="InvalidOperationException">The spool was not completed.</exception>
    /// <exception cref="ObjectDisposedException">The spool was disposed.</exception>
    /// <exception cref="CryptographicException">The spool file was altered (read errors of a segment surface from the
    /// stream's reads).</exception>
    public Stream OpenRead()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_completed)
            throw new InvalidOperationException("The spool is still being written.");
        if (_file is null)
            return _memory is null ? new MemoryStream([], writable: false) : new MemoryStream(_memory, 0, _memoryLength, writable: false);
        var handle = _file;
        return new SegmentedBlobStream("spool", (buffer, offset) => RandomAccess.Read(handle, buffer, offset), NoOwnership.Instance,
            _key!, _header!, _fileLength);
    }

    /// <summary>Copies the whole message into <paramref name="destination"/>, which must be <see cref="Length"/> bytes.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is not <see cref="Length"/> bytes long.</exception>
    /// <exception cref="InvalidOperationException">The spool was not completed.</exception>
    /// <exception cref="CryptographicException">The spool file was altered.</exception>
    public void CopyTo(Span<byte> destination)
    {
        if (destination.Length != Length)
            throw new ArgumentException($"The destination holds {destination.Length} bytes, the message {Length}.", nameof(destination));
        using var stream = OpenRead();
        stream.ReadExactly(destination);
    }

    /// <summary>
    /// Removes the spool files in <paramref name="directory"/> (those a process that died left behind; their keys died
    /// with it). Run it once at start, before any listener accepts a message. A missing directory is nothing to do.
    /// </summary>
    /// <returns>The number of files removed.</returns>
    /// <exception cref="IOException">A file could not be removed.</exception>
    /// <exception cref="UnauthorizedAccessException">The directory or a file is not ours to remove.</exception>
    public static int Sweep(string directory)
    {
        if (!Directory.Exists(directory))
            return 0;
        var removed = 0;
        foreach (var file in Directory.EnumerateFiles(directory, "*" + FileExtension))
        {
            File.Delete(file);
            removed++;
        }
        return removed;
    }

    private async ValueTask SpillAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_directory);
        _path = Path.Combine(_directory, Guid.NewGuid().ToString("N") + FileExtension);
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.Read, // sealed bytes only; the file is 0600
            Options = FileOptions.DeleteOnClose,
        };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        _stream = new FileStream(_path, options);
        _file = _stream.SafeFileHandle;
        _key = RandomNumberGenerator.GetBytes(Aead.KeySize);
        _header = new byte[Magic.Length + 16];
        Magic.CopyTo(_header);
        RandomNumberGenerator.Fill(_header.AsSpan(Magic.Length));
        _sealer = new SegmentSealer(_key, _header);
        _segment = ArrayPool<byte>.Shared.Rent(BlobStore.SegmentSize);
        _sealed = ArrayPool<byte>.Shared.Rent(BlobStore.SealedSegmentSize);
        await RandomAccess.WriteAsync(_file, _header, 0, cancellationToken).ConfigureAwait(false);
        _fileLength = _header.Length;
        if (_memory is not null)
        {
            var held = _memory.AsMemory(0, _memoryLength);
            await AppendToFileAsync(held, cancellationToken).ConfigureAwait(false);
            ReturnMemory();
        }
    }

    /// <summary>Fills segments; a full one is sealed only when more bytes follow it, so the last one is sealed as final.</summary>
    private async ValueTask AppendToFileAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            if (_segmentLength == BlobStore.SegmentSize)
                await SealSegmentAsync(final: false, cancellationToken).ConfigureAwait(false);
            var count = Math.Min(data.Length, BlobStore.SegmentSize - _segmentLength);
            data.Span[..count].CopyTo(_segment.AsSpan(_segmentLength));
            _segmentLength += count;
            data = data[count..];
        }
    }

    private async ValueTask SealSegmentAsync(bool final, CancellationToken cancellationToken)
    {
        var written = _sealer!.Seal(_segmentIndex, final, _segment.AsSpan(0, _segmentLength), _sealed);
        await RandomAccess.WriteAsync(_file!, _sealed.AsMemory(0, written), _fileLength, cancellationToken).ConfigureAwait(false);
        _fileLength += written;
        _segmentIndex++;
        _segmentLength = 0;
    }

    private void ReturnMemory()
    {
        if (_memory is not null)
            ArrayPool<byte>.Shared.Return(_memory);
        _memory = null;
        _memoryLength = 0;
    }

    /// <summary>Drops the message: the file (if any) is closed and removed, the key forgotten.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        ReturnMemory();
        _sealer?.Dispose();
        if (_segment is not null)
            ArrayPool<byte>.Shared.Return(_segment, clearArray: true);
        if (_sealed is not null)
            ArrayPool<byte>.Shared.Return(_sealed);
        _segment = _sealed = null;
        if (_key is not null)
            CryptographicOperations.ZeroMemory(_key);
        _stream?.Dispose(); // delete-on-close removes the file
        if (_path is not null && File.Exists(_path))
            File.Delete(_path);
    }

    /// <summary>The readers share the spool's handle; the spool closes it.</summary>
    private sealed class NoOwnership : IDisposable
    {
        public static readonly NoOwnership Instance = new();
        public void Dispose() { }
    }
}
