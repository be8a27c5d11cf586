using System.IO.Compression;

namespace MailServer.Protocols.Imap;

/// <summary>
/// COMPRESS=DEFLATE (RFC 4978): raw deflate (RFC 1951, no zlib header) in both directions over the connection
/// stream (plain or TLS). <see cref="FlushAsync(CancellationToken)"/> ends each burst of responses with a sync flush
/// (.NET's <see cref="DeflateStream.Flush()"/> is Z_SYNC_FLUSH), so the client can decode every reply at once.
/// Owns <paramref name="inner"/> and disposes it.
/// </summary>
internal sealed class ImapDeflateStream(Stream inner) : Stream
{
    private readonly DeflateStream _reader = new(inner, CompressionMode.Decompress, leaveOpen: true);
    private readonly DeflateStream _writer = new(inner, CompressionLevel.Fastest, leaveOpen: true);

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => _reader.Read(buffer, offset, count);
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _reader.ReadAsync(buffer, cancellationToken);
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _reader.ReadAsync(buffer, offset, count, cancellationToken);
    public override void Write(byte[] buffer, int offset, int count) => _writer.Write(buffer, offset, count);
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => _writer.WriteAsync(buffer, cancellationToken);
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _writer.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Flush()
    {
        _writer.Flush();
        inner.Flush();
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        await _writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            DisposeQuietly(_writer);
            _reader.Dispose();
            inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        try
        {
            await _writer.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The peer is gone; the final deflate block cannot be sent.
        }
        await _reader.DisposeAsync().ConfigureAwait(false);
        await inner.DisposeAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    private static void DisposeQuietly(Stream stream)
    {
        try
        {
            stream.Dispose();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The peer is gone; the final deflate block cannot be sent.
        }
    }
}
