namespace MailServer.Storage;

/// <summary>
/// The stream LiteDB reads and writes its data or log file through, so the store can fsync it
/// (LiteDB 5.0.21 never does, docs/dependencies.md, "LiteDB", upstream #2818). A log stream is linked to its
/// data stream: before the log is truncated (a checkpoint has copied it into the data file) the data file is
/// fsync'd, so a power loss cannot lose pages that are in neither file.
/// </summary>
/// <remarks>LiteDB's ConcurrentStream locks on this object around each positioned access; fsync takes the same lock.</remarks>
internal sealed class DurableStream(Stream inner, DurableStream? dataStreamToSyncBeforeTruncate) : Stream
{
    private volatile bool _dirty;
    private long _fsyncs;

    /// <summary>How many times the stream was flushed to disk.</summary>
    public long Fsyncs => Interlocked.Read(ref _fsyncs);

    public Stream Inner => inner;

    /// <summary>fsync(2) when anything was written since the last one.</summary>
    public void FlushToDisk()
    {
        lock (this)
        {
            if (!_dirty)
                return;
            if (inner is FileStream file)
                file.Flush(flushToDisk: true);
            else
                inner.Flush();
            _dirty = false;
            Interlocked.Increment(ref _fsyncs);
        }
    }

    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => inner.CanWrite;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => inner.Position = value; }
    public override void Flush() => inner.Flush();
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

    public override void SetLength(long value)
    {
        if (dataStreamToSyncBeforeTruncate is not null && value < inner.Length)
            dataStreamToSyncBeforeTruncate.FlushToDisk();
        inner.SetLength(value);
        _dirty = true;
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        inner.Write(buffer, offset, count);
        _dirty = true;
    }

    protected override void Dispose(bool disposing)
    {
        // The store disposes the inner stream itself (or leaves a caller-owned test stream alone).
        base.Dispose(disposing);
    }
}
