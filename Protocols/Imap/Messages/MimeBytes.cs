using System.Buffers;

namespace MailServer.Protocols.Imap.Messages;

/// <summary>
/// The octets <see cref="MimeStructureScanner"/> reads: a message held in one array, or a message read from the store's
/// seekable decrypting stream a segment at a time. The scanner keeps every offset relative to the message; the header
/// fields it records point into <see cref="Headers"/> (the message array itself, or a copy of the header sections only).
/// </summary>
internal interface IMimeBytes
{
    /// <summary>The message length.</summary>
    int Length { get; }

    /// <summary>The octet at <paramref name="index"/>.</summary>
    byte this[int index] { get; }

    /// <summary>The first index of <paramref name="value"/> in <c>[from, end)</c>, or -1.</summary>
    int IndexOf(byte value, int from, int end);

    /// <summary>Whether the octets at <paramref name="position"/> are <paramref name="pattern"/> (the caller checks the length).</summary>
    bool Matches(int position, ReadOnlySpan<byte> pattern);

    /// <summary>Copies <c>destination.Length</c> octets from <paramref name="position"/>.</summary>
    void CopyTo(int position, Span<byte> destination);

    /// <summary>The number of LF octets in <c>[from, end)</c>.</summary>
    int CountLineFeeds(int from, int end);

    /// <summary>The array header fields point into.</summary>
    byte[] Headers { get; }

    /// <summary>Whether the octets come from a stream (only the header sections are kept).</summary>
    bool IsStreamed { get; }

    /// <summary>Keeps the header section <c>[start, end)</c> for the view; returns where it starts in <see cref="Headers"/>.</summary>
    /// <exception cref="MimeStructureTooLargeException">The header sections kept would pass the source's cap.</exception>
    int KeepHeader(int start, int end);
}

/// <summary>The header sections of a streamed message pass the cap on what a structure may keep: read the message whole
/// instead (the structure would not be small).</summary>
internal sealed class MimeStructureTooLargeException(string message) : Exception(message);

/// <summary>A message held in one array (the message octets are their own header arena).</summary>
internal sealed class ArrayMimeBytes(byte[] raw, int end) : IMimeBytes
{
    public int Length => end;
    public byte this[int index] => raw[index];
    public byte[] Headers => raw;
    public bool IsStreamed => false;

    public int IndexOf(byte value, int from, int end)
    {
        var index = raw.AsSpan(from, end - from).IndexOf(value);
        return index < 0 ? -1 : from + index;
    }

    public bool Matches(int position, ReadOnlySpan<byte> pattern) => raw.AsSpan(position, pattern.Length).SequenceEqual(pattern);
    public void CopyTo(int position, Span<byte> destination) => raw.AsSpan(position, destination.Length).CopyTo(destination);
    public int CountLineFeeds(int from, int end) => raw.AsSpan(from, end - from).Count((byte)'\n');
    public int KeepHeader(int start, int end) => start;
}

/// <summary>
/// A stored message read through its seekable decrypting stream (<c>IImapStore.OpenMessage</c>): a few 64 KiB windows
/// are held at a time, whatever the message size, and the line feeds of each window are counted once (BODYSTRUCTURE's
/// line counts then cost nothing more). Header sections are copied into an arena, capped at
/// <see cref="MaxHeaderBytes"/> in all. Dispose it to return the windows to the pool (the stream stays the caller's).
/// </summary>
internal sealed class StreamMimeBytes : IMimeBytes, IDisposable
{
    /// <summary>The window size: the store's segment size, so one window is one segment to authenticate.</summary>
    public const int WindowSize = 64 * 1024;

    /// <summary>Header octets a streamed structure keeps at most (all entities together); beyond it the message is read whole.</summary>
    public const int MaxHeaderBytes = 1024 * 1024;

    private const int Slots = 4;
    private readonly Stream _stream;
    private readonly CancellationToken _cancellationToken;
    private readonly int _windowSize;
    private readonly byte[]?[] _data = new byte[Slots][];
    private readonly int[] _window = [-1, -1, -1, -1];
    private readonly long[] _used = new long[Slots];
    private readonly int[] _lineFeeds;
    private long _clock;
    private byte[] _arena = new byte[4096];
    private int _arenaLength;

    /// <param name="stream">The message: seekable, <see cref="Stream.Length"/> its size.</param>
    /// <param name="cancellationToken">Checked before each window is read.</param>
    /// <param name="windowSize">Octets per window: the store's segment size (tests use odd sizes to put every
    /// boundary of a message across windows).</param>
    /// <exception cref="MimeStructureTooLargeException">The stream is longer than an int can index.</exception>
    public StreamMimeBytes(Stream stream, CancellationToken cancellationToken = default, int windowSize = WindowSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(windowSize, 1);
        _stream = stream;
        _cancellationToken = cancellationToken;
        _windowSize = windowSize;
        if (stream.Length > int.MaxValue)
            throw new MimeStructureTooLargeException("The message is too long to scan.");
        Length = (int)stream.Length;
        _lineFeeds = new int[(int)(((long)Length + _windowSize - 1) / _windowSize)];
        Array.Fill(_lineFeeds, -1);
    }

    public int Length { get; }
    public byte[] Headers => _arena;
    public bool IsStreamed => true;

    /// <summary>The header arena trimmed to what was kept.</summary>
    public byte[] TakeHeaders() => _arena.AsSpan(0, _arenaLength).ToArray();

    public byte this[int index] => Window(index / _windowSize)[index % _windowSize];

    public int IndexOf(byte value, int from, int end)
    {
        while (from < end)
        {
            var window = Window(from / _windowSize);
            var offset = from % _windowSize;
            var n = Math.Min(end - from, window.Length - offset);
            var found = window.Slice(offset, n).IndexOf(value);
            if (found >= 0)
                return from + found;
            from += n;
        }
        return -1;
    }

    public bool Matches(int position, ReadOnlySpan<byte> pattern)
    {
        while (!pattern.IsEmpty)
        {
            var window = Window(position / _windowSize);
            var offset = position % _windowSize;
            var n = Math.Min(pattern.Length, window.Length - offset);
            if (!window.Slice(offset, n).SequenceEqual(pattern[..n]))
                return false;
            pattern = pattern[n..];
            position += n;
        }
        return true;
    }

    public void CopyTo(int position, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            var window = Window(position / _windowSize);
            var offset = position % _windowSize;
            var n = Math.Min(destination.Length, window.Length - offset);
            window.Slice(offset, n).CopyTo(destination);
            destination = destination[n..];
            position += n;
        }
    }

    public int CountLineFeeds(int from, int end)
    {
        var count = 0;
        while (from < end)
        {
            var index = from / _windowSize;
            var offset = from % _windowSize;
            var windowLength = Math.Min(_windowSize, Length - index * _windowSize);
            var n = Math.Min(end - from, windowLength - offset);
            if (offset == 0 && n == windowLength && _lineFeeds[index] >= 0)
                count += _lineFeeds[index];
            else
                count += Window(index).Slice(offset, n).Count((byte)'\n');
            from += n;
        }
        return count;
    }

    public int KeepHeader(int start, int end)
    {
        var length = end - start;
        if (_arenaLength + length > MaxHeaderBytes)
            throw new MimeStructureTooLargeException($"The header sections pass {MaxHeaderBytes} octets.");
        if (_arenaLength + length > _arena.Length)
            Array.Resize(ref _arena, Math.Max(_arena.Length * 2, _arenaLength + length));
        CopyTo(start, _arena.AsSpan(_arenaLength, length));
        var at = _arenaLength;
        _arenaLength += length;
        return at;
    }

    /// <summary>The decrypted window <paramref name="index"/>, read (and authenticated) by the stream when not held.</summary>
    private ReadOnlySpan<byte> Window(int index)
    {
        var length = Math.Min(_windowSize, Length - index * _windowSize);
        var victim = 0;
        for (var i = 0; i < Slots; i++)
        {
            if (_window[i] == index)
            {
                _used[i] = ++_clock;
                return _data[i].AsSpan(0, length);
            }
            if (_used[i] < _used[victim])
                victim = i;
        }
        _cancellationToken.ThrowIfCancellationRequested();
        var buffer = _data[victim] ??= ArrayPool<byte>.Shared.Rent(_windowSize);
        _window[victim] = -1;
        _stream.Position = (long)index * _windowSize;
        _stream.ReadExactly(buffer, 0, length);
        _window[victim] = index;
        _used[victim] = ++_clock;
        if (_lineFeeds[index] < 0)
            _lineFeeds[index] = buffer.AsSpan(0, length).Count((byte)'\n');
        return buffer.AsSpan(0, length);
    }

    public void Dispose()
    {
        for (var i = 0; i < Slots; i++)
        {
            if (_data[i] is { } buffer)
                ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
            _data[i] = null;
            _window[i] = -1;
        }
    }
}
