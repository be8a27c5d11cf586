using System.Buffers;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.IO.Pipelines;
using MailServer.Protocols.Net;
using MailServer.Protocols.Tls;
using MailServer.Storage.Spool;
using SmtpServer.IO;
using SmtpServer.Protocol;

namespace MailServer.Protocols.Smtp;

/// <summary>Why a guarded connection was ended by the guard itself.</summary>
internal enum GuardVerdict
{
    None,
    CommandLineTooLong,
    MessageTooLong,
    IdleTimeout,
    ShuttingDown,
}

/// <summary>
/// The byte-counting stream under SmtpServer's pipes (SmtpServer 11.1.0 has no input caps: it buffers a
/// command line or a DATA section in memory until it sees CRLF or CRLF.CRLF, see docs/dependencies.md, "SmtpServer").
/// It sits above TLS, so it counts the SMTP bytes themselves, and it:
/// - in command mode ends the connection when more than MaxCommandLineBytes arrive without an LF;
/// - reads the DATA section itself once the package has answered 354 (<see cref="FrameDataAsync"/>): dot-unstuffed
///   into a <see cref="MessageSpool"/> (memory for a small message, an encrypted file for a big one), handed to the
///   transaction as <see cref="SpooledData"/>, while the package is fed a fixed, tiny section; so the package never
///   buffers a message (it would hold the whole DATA section in memory until CRLF.CRLF);
/// - ends the connection when the DATA section exceeds MaxMessageBytes plus a small slack
///   (dot-stuffing and the terminator): past the cap nothing more is kept, past the slack the client is cut off;
/// - ends it when no byte arrives within the idle timeout;
/// - on shutdown writes a last reply and then reports end-of-stream to SmtpServer, which ends the session.
/// A read that ends the connection returns 0 (end of stream), which SmtpServer treats as the client leaving.
/// After the guard has written its final reply every later write is discarded, so SmtpServer cannot add
/// anything behind it.
/// </summary>
internal sealed class ConnectionGuard : Stream
{
    /// <summary>Room over MaxMessageBytes for dot-stuffing and CRLF.CRLF before the connection is cut.</summary>
    public const int DataSlackBytes = 64 * 1024;

    private readonly SmtpLimits _limits;
    private readonly CancellationTokenSource _closing = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private Stream _inner;
    private readonly System.Net.Sockets.Socket? _socket; // the TCP socket under any TLS layer, for TcpQuickAck
    private volatile bool _dataMode;
    private long _dataBytes;
    private long _lineBytes;
    private bool _writesClosed;
    private int _verdict;

    private readonly string _spoolDirectory;
    private volatile bool _frameNext;   // the package answered 354: its next read gets the DATA section framed by us
    private SpooledData? _spooled;      // the framed section, until the transaction's DataReceiver takes it
    private byte[]? _unread;            // bytes read from the transport and not consumed yet (after DATA, after CRLF.CRLF)
    private int _unreadOffset;

    /// <param name="inner">The transport (plain TCP, or TLS after <see cref="SetInner"/>).</param>
    /// <param name="limits">The caps enforced.</param>
    /// <param name="spoolDirectory">Where a big DATA section is spooled (an encrypted temporary file per message).</param>
    public ConnectionGuard(Stream inner, SmtpLimits limits, string spoolDirectory)
    {
        _inner = inner;
        _spoolDirectory = spoolDirectory;
        _socket = (inner as System.Net.Sockets.NetworkStream)?.Socket;
        _limits = limits;
    }

    /// <summary>Why the guard ended the connection, or <see cref="GuardVerdict.None"/>.</summary>
    public GuardVerdict Verdict => (GuardVerdict)Volatile.Read(ref _verdict);

    /// <summary>Raised once when the guard ends the connection because of a cap or timeout.</summary>
    public event Action<GuardVerdict>? Tripped;

    /// <summary>
    /// Swaps the transport under the guard (after a TLS handshake); counters are kept. Bytes read in plaintext and not
    /// consumed yet are dropped with the old transport (RFC 3207 §6: nothing sent before the handshake may be taken as
    /// sent under TLS).
    /// </summary>
    public void SetInner(Stream inner)
    {
        _unread = null;
        _carry = null;
        _pending = null;
        _atLineStart = true;
        _inner = inner;
    }

    /// <summary>SmtpServer is about to read a DATA section.</summary>
    public void EnterDataMode()
    {
        Interlocked.Exchange(ref _dataBytes, 0);
        _dataMode = true;
    }

    /// <summary>The DATA command has finished; back to command lines.</summary>
    public void EnterCommandMode()
    {
        _frameNext = false;
        Interlocked.Exchange(ref _spooled, null)?.Dispose(); // a section no transaction took (its DATA failed)
        Interlocked.Exchange(ref _lineBytes, 0);
        _dataMode = false;
    }

    /// <summary>
    /// Writes <paramref name="finalReply"/> (unless the guard already wrote one), stops all further
    /// writes and makes the pending and every later read return end-of-stream.
    /// </summary>
    public async Task CloseWithReplyAsync(SmtpResponse finalReply, GuardVerdict verdict)
    {
        if (Interlocked.CompareExchange(ref _verdict, (int)verdict, (int)GuardVerdict.None) != (int)GuardVerdict.None)
            return;
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!_writesClosed)
            {
                _writesClosed = true;
                var line = Encoding.ASCII.GetBytes($"{(int)finalReply.ReplyCode} {finalReply.Message}\r\n");
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await _inner.WriteAsync(line, timeout.Token).ConfigureAwait(false);
                    await _inner.FlushAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
                {
                    // The client is gone or not reading; closing is all that is left to do.
                }
            }
        }
        finally
        {
            _writeLock.Release();
        }
        if (verdict != GuardVerdict.ShuttingDown)
            Tripped?.Invoke(verdict);
        try { _closing.Cancel(); } catch (ObjectDisposedException) { }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_closing.IsCancellationRequested)
            return 0;
        if (_pending is not null)
            return TakePending(buffer.Span);
        if (_frameNext)
        {
            _frameNext = false;
            if (!await FrameDataAsync(cancellationToken).ConfigureAwait(false))
                return 0;
            (_pending, _pendingOffset) = (SpooledData.PackageSection.ToArray(), 0);
            return TakePending(buffer.Span);
        }
        while (true)
        {
            if (_carry is not null && (_dataMode || buffer.Length <= _carry.Length))
            {
                // Not a command line after all (or no room to complete it here): pass it on as it is.
                (_pending, _pendingOffset, _carry) = (_carry, 0, null);
                return TakePending(buffer.Span);
            }
            // An incomplete RCPT line held back from the last read goes first; the new bytes complete it.
            var carried = _carry?.Length ?? 0;
            _carry?.CopyTo(buffer.Span);
            _carry = null;
            if (_dataMode || !_atLineStart || carried > 0)
                TcpQuickAck.Request(_socket); // mid-message or mid-line: a Nagle client holds the rest until we ACK
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
            linked.CancelAfter(_limits.SessionTimeout);
            int read;
            try
            {
                read = await ReadInnerAsync(buffer[carried..], linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                if (!_closing.IsCancellationRequested)
                    await CloseWithReplyAsync(SmtpReplies.IdleTimeout, GuardVerdict.IdleTimeout).ConfigureAwait(false);
                return 0;
            }
            catch (Exception e) when (_closing.IsCancellationRequested && e is IOException or ObjectDisposedException)
            {
                return 0;
            }
            if (read == 0 || _closing.IsCancellationRequested)
                return 0;
            if (!_dataMode && EndOfDataLine(buffer.Span.Slice(carried, read), carried == 0 && _atLineStart) is var end and >= 0 && end < read)
            {
                // RFC 2920 §3.1: DATA ends a pipelined group; what follows it is the message, sent (too early) before our
                // 354. It waits here for the framing, out of the package's buffer.
                PushUnread(buffer.Span.Slice(carried + end, read - end));
                read = end;
            }

            if (Inspect(buffer.Span.Slice(carried, read)) is { } tripped)
            {
                var reply = tripped == GuardVerdict.CommandLineTooLong ? SmtpReplies.LineTooLong : SmtpReplies.MessageTooBig;
                await CloseWithReplyAsync(reply, tripped).ConfigureAwait(false);
                return 0;
            }
            if (_dataMode || RcptParameterSink is null)
                return TrackLineStart(buffer.Span[..(carried + read)]);
            // Zero would mean end of stream to SmtpServer: when all of it was an incomplete RCPT line, read on.
            if (StripRcptParameters(buffer.Span, carried + read) is var count and > 0)
                return count;
        }
    }

    /// <summary>
    /// An incomplete RCPT line at the end of a read (a pipelined burst larger than one read splits lines), held back
    /// so that <see cref="RcptParameterParser"/> sees it whole; bounded by the command-line cap that
    /// <see cref="Inspect"/> enforces.
    /// </summary>
    private byte[]? _carry;

    private static bool MayBeRcptLine(ReadOnlySpan<byte> start) =>
        Ascii.EqualsIgnoreCase(start[..Math.Min(start.Length, 8)], "RCPT TO:"u8[..Math.Min(start.Length, 8)]);

    /// <summary>Rewritten bytes that did not fit the reader's buffer; served before anything new is read.</summary>
    private byte[]? _pending;
    private int _pendingOffset;

    private int TakePending(Span<byte> buffer)
    {
        var count = Math.Min(buffer.Length, _pending!.Length - _pendingOffset);
        _pending.AsSpan(_pendingOffset, count).CopyTo(buffer);
        _pendingOffset += count;
        if (_pendingOffset == _pending.Length)
            _pending = null;
        return count;
    }

    /// <summary>Where the session collects RCPT parameters (RFC 3461); null: lines pass untouched.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<RcptParameters>? RcptParameterSink { get; set; }

    private bool _atLineStart = true;

    private int TrackLineStart(ReadOnlySpan<byte> chunk)
    {
        _atLineStart = chunk[^1] == '\n';
        return chunk.Length;
    }

    /// <summary>
    /// Shortens every complete RCPT line of the chunk to its path and hands the parameters to the session
    /// (<see cref="RcptParameterParser"/>). An incomplete RCPT line at the end of the chunk (a pipelined burst larger
    /// than one read) is held back in <see cref="_carry"/> until the rest of it arrives.
    /// </summary>
    /// <remarks>
    /// Lines only get shorter and are rewritten in place, except a bare <c>&lt;Postmaster&gt;</c>
    /// (<see cref="RcptParameterParser.BarePostmasterPath"/>): from that line on the chunk is rebuilt in a new
    /// buffer, and what does not fit <paramref name="buffer"/> is kept for the next read.
    /// </remarks>
    private int StripRcptParameters(Span<byte> buffer, int read)
    {
        var chunk = buffer[..read];
        var written = 0;
        var position = 0;
        var lineStart = _atLineStart;
        ArrayBufferWriter<byte>? grown = null;
        while (position < chunk.Length)
        {
            var lf = chunk[position..].IndexOf((byte)'\n');
            var length = lf < 0 ? chunk.Length - position : lf + 1;
            var line = chunk.Slice(position, length);
            if (lineStart && lf < 0 && MayBeRcptLine(line))
            {
                _carry = line.ToArray();
                break;
            }
            var keep = length;
            byte[]? replacement = null;
            if (lineStart && lf >= 0 && RcptParameterParser.TryStrip(line) is { } stripped)
            {
                keep = stripped.Length;
                replacement = stripped.Replacement;
                RcptParameterSink!.Enqueue(stripped.Parameters);
            }
            if (replacement is not null && grown is null)
            {
                grown = new ArrayBufferWriter<byte>(written + replacement.Length + chunk.Length - position);
                grown.Write(chunk[..written]);
            }
            if (grown is not null)
                grown.Write(replacement ?? line[..keep]);
            else
                line[..keep].CopyTo(chunk[written..]);
            written += keep;
            position += length;
            lineStart = lf >= 0;
        }
        _atLineStart = lineStart || _carry is not null;
        if (grown is null)
            return written;
        var count = Math.Min(buffer.Length, grown.WrittenCount);
        grown.WrittenSpan[..count].CopyTo(buffer);
        if (count < grown.WrittenCount)
        {
            _pending = grown.WrittenSpan[count..].ToArray();
            _pendingOffset = 0;
        }
        return count;
    }

    /// <summary>Reads from the transport, serving bytes read earlier and not consumed first.</summary>
    private ValueTask<int> ReadInnerAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (_unread is null)
            return _inner.ReadAsync(buffer, cancellationToken);
        var count = Math.Min(buffer.Length, _unread.Length - _unreadOffset);
        _unread.AsSpan(_unreadOffset, count).CopyTo(buffer.Span);
        _unreadOffset += count;
        if (_unreadOffset == _unread.Length)
            _unread = null;
        return ValueTask.FromResult(count);
    }

    /// <summary>Puts bytes back in front of what <see cref="ReadInnerAsync"/> serves next.</summary>
    private void PushUnread(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
            return;
        var rest = _unread is null ? [] : _unread.AsSpan(_unreadOffset);
        var joined = new byte[bytes.Length + rest.Length];
        bytes.CopyTo(joined);
        rest.CopyTo(joined.AsSpan(bytes.Length));
        (_unread, _unreadOffset) = (joined, 0);
    }

    /// <summary>The index just past a "DATA" CRLF command line in <paramref name="chunk"/>, or -1.</summary>
    internal static int EndOfDataLine(ReadOnlySpan<byte> chunk, bool atLineStart)
    {
        var start = 0;
        if (!atLineStart)
        {
            var lf = chunk.IndexOf((byte)'\n');
            if (lf < 0)
                return -1;
            start = lf + 1;
        }
        while (start < chunk.Length)
        {
            if (chunk.Length - start >= 6 && Ascii.EqualsIgnoreCase(chunk.Slice(start, 6), "DATA\r\n"u8))
                return start + 6;
            var next = chunk[start..].IndexOf((byte)'\n');
            if (next < 0)
                return -1;
            start += next + 1;
        }
        return -1;
    }

    /// <summary>Read size of the DATA framing (pooled).</summary>
    private const int FrameReadBytes = 64 * 1024;

    /// <summary>
    /// Reads the DATA section from the transport up to its end (<see cref="DotUnstuffer"/>) into a new spool and leaves
    /// it for <see cref="TakeSpooled"/> (a message on its way costs a read buffer and a spool segment, so nothing is
    /// charged to the budget of bytes in flight until DataReceiver reads it into memory). Bytes after the end are kept
    /// for the next command. Past MaxMessageBytes nothing more is kept (the transaction is refused with 552); past the
    /// slack the connection is ended with 552, as a client that does not stop is not worth reading.
    /// </summary>
    /// <returns>False when the connection ended (client gone, idle timeout, cap, shutdown): nothing is left behind.</returns>
    private async Task<bool> FrameDataAsync(CancellationToken cancellationToken)
    {
        var spool = new MessageSpool(_spoolDirectory, SpooledData.MemoryThreshold);
        var input = ArrayPool<byte>.Shared.Rent(FrameReadBytes);
        var output = ArrayPool<byte>.Shared.Rent(FrameReadBytes + 1);
        var unstuffer = new DotUnstuffer();
        var tooLarge = false;
        IOException? spoolError = null;
        try
        {
            while (!unstuffer.Ended)
            {
                TcpQuickAck.Request(_socket); // mid-message: a Nagle client holds the rest until we ACK
                int read;
                using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token))
                {
                    linked.CancelAfter(_limits.SessionTimeout);
                    try
                    {
                        read = await ReadInnerAsync(input.AsMemory(0, FrameReadBytes), linked.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        if (!_closing.IsCancellationRequested)
                            await CloseWithReplyAsync(SmtpReplies.IdleTimeout, GuardVerdict.IdleTimeout).ConfigureAwait(false);
                        return false;
                    }
                    catch (Exception e) when (_closing.IsCancellationRequested && e is IOException or ObjectDisposedException)
                    {
                        return false;
                    }
                }
                if (read == 0 || _closing.IsCancellationRequested)
                    return false;
                var (consumed, produced) = unstuffer.Feed(input.AsSpan(0, read), output);
                PushUnread(input.AsSpan(consumed, read - consumed));
                var total = Interlocked.Add(ref _dataBytes, consumed);
                if (total > _limits.MaxMessageBytes + DataSlackBytes)
                {
                    await CloseWithReplyAsync(SmtpReplies.MessageTooBig, GuardVerdict.MessageTooLong).ConfigureAwait(false);
                    return false;
                }
                if (tooLarge || spoolError is not null || produced == 0)
                    continue;
                if (spool.Length + produced > _limits.MaxMessageBytes)
                {
                    tooLarge = true;
                    continue;
                }
                try
                {
                    await spool.WriteAsync(output.AsMemory(0, produced), cancellationToken).ConfigureAwait(false);
                }
                catch (IOException e)
                {
                    spoolError = e; // read on to the end, so the reply (451) comes in step with the client
                }
            }
            if (tooLarge || spoolError is not null)
            {
                spool.Dispose();
                spool = new MessageSpool(_spoolDirectory, 0);
            }
            try
            {
                await spool.CompleteAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                spoolError = e;
            }
            Interlocked.Exchange(ref _spooled, new SpooledData(spool, tooLarge, spoolError))?.Dispose();
            spool = null;
            return true;
        }
        finally
        {
            spool?.Dispose();
            ArrayPool<byte>.Shared.Return(input);
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    /// <summary>
    /// The DATA section this guard framed for the current transaction, handed over once (the caller disposes it); null
    /// when there is none (the package read a section the guard did not frame: content sent before our 354).
    /// </summary>
    public SpooledData? TakeSpooled() => Interlocked.Exchange(ref _spooled, null);

    /// <summary>Counts the bytes just read; returns the cap they broke, if any.</summary>
    private GuardVerdict? Inspect(ReadOnlySpan<byte> chunk)
    {
        if (_dataMode)
        {
            var total = Interlocked.Add(ref _dataBytes, chunk.Length);
            return total > _limits.MaxMessageBytes + DataSlackBytes ? GuardVerdict.MessageTooLong : null;
        }
        // Command mode: only the run of bytes since the last LF matters (RFC 5321 §4.5.3.1.4).
        var lastLf = chunk.LastIndexOf((byte)'\n');
        long run;
        if (lastLf < 0)
        {
            run = Interlocked.Add(ref _lineBytes, chunk.Length);
        }
        else
        {
            // The first line in this chunk continues the previous run.
            var firstLf = chunk.IndexOf((byte)'\n');
            if (Volatile.Read(ref _lineBytes) + firstLf + 1 > _limits.MaxCommandLineBytes)
                return GuardVerdict.CommandLineTooLong;
            var rest = lastLf > firstLf ? chunk[(firstLf + 1)..(lastLf + 1)] : default;
            while (!rest.IsEmpty)
            {
                var next = rest.IndexOf((byte)'\n');
                var lineLength = next < 0 ? rest.Length : next + 1;
                if (lineLength > _limits.MaxCommandLineBytes)
                    return GuardVerdict.CommandLineTooLong;
                rest = next < 0 ? default : rest[(next + 1)..];
            }
            run = chunk.Length - lastLf - 1;
            Interlocked.Exchange(ref _lineBytes, run);
        }
        return run > _limits.MaxCommandLineBytes ? GuardVerdict.CommandLineTooLong : null;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Verbatim: the greeting (the first write) and the EHLO/HELO reply, whose lines are keywords
            // (RFC 2034 §3). Every other reply line gets an enhanced status code when it lacks one.
            var verbatim = !_greeted || _verbatimCommand;
            _greeted = true;
            // RFC 5321 §4.1.1.4: after 354 the client sends the DATA section; the guard reads it (FrameDataAsync).
            if (_dataMode && buffer.Length >= 4 && buffer.Span[..4].SequenceEqual("354 "u8))
                _frameNext = true;
            if (!_writesClosed)
                await _inner.WriteAsync(verbatim ? buffer : AddEnhancedCodes(buffer), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private bool _greeted;
    private volatile bool _verbatimCommand;

    /// <summary>SmtpServer is executing EHLO or HELO: its reply goes out verbatim.</summary>
    public void BeginVerbatimCommand() => _verbatimCommand = true;

    /// <summary>The command that was being executed has written its reply.</summary>
    public void EndCommand() => _verbatimCommand = false;

    /// <summary>
    /// SmtpServer writes whole reply lines and flushes after each reply, so a write normally holds complete
    /// lines; a write that does not end in LF is passed on untouched rather than split.
    /// </summary>
    private static ReadOnlyMemory<byte> AddEnhancedCodes(ReadOnlyMemory<byte> buffer)
    {
        var span = buffer.Span;
        if (span.IsEmpty || span[^1] != '\n' || span.Length > 64 * 1024)
            return buffer;
        var text = Encoding.ASCII.GetString(span);
        var lines = text.Split("\r\n");
        var changed = false;
        for (var i = 0; i < lines.Length - 1; i++)
        {
            var rewritten = SmtpReplies.WithEnhancedCode(lines[i]);
            changed |= !ReferenceEquals(rewritten, lines[i]);
            lines[i] = rewritten;
        }
        return changed ? Encoding.ASCII.GetBytes(string.Join("\r\n", lines)) : buffer;
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_writesClosed)
                await _inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();
    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();
    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        Interlocked.Exchange(ref _spooled, null)?.Dispose();
        if (disposing)
        {
            try { _closing.Cancel(); } catch (ObjectDisposedException) { }
        }
        base.Dispose(disposing);
    }
}

/// <summary>
/// SmtpServer's duplex pipe, rebuilt so that the <see cref="ConnectionGuard"/> sits between the pipes and the
/// transport (plain TCP, or TLS after STARTTLS / on an implicit-TLS port).
/// </summary>
internal sealed class GuardedDuplexPipe : ISecurableDuplexPipe
{
    private readonly Stream _network;
    private readonly Action _onDispose;
    private readonly ServerCertificateProvider _certificates;
    private SslStream? _tls;
    private int _disposed;

    public GuardedDuplexPipe(Stream network, ConnectionGuard guard, ServerCertificateProvider certificates, Action onDispose)
    {
        _certificates = certificates;
        _network = network;
        Guard = guard;
        _onDispose = onDispose;
        Input = PipeReader.Create(guard, new StreamPipeReaderOptions(leaveOpen: true));
        Output = PipeWriter.Create(guard, new StreamPipeWriterOptions(leaveOpen: true));
    }

    public ConnectionGuard Guard { get; }
    public PipeReader Input { get; private set; }
    public PipeWriter Output { get; private set; }
    public bool IsSecure => _tls is not null;
    public SslProtocols SslProtocol => _tls?.SslProtocol ?? SslProtocols.None;

    /// <summary>
    /// TLS handshake on the raw transport. New pipes are created afterwards, so plaintext a client pipelined
    /// behind STARTTLS is discarded (RFC 3207 §6, the STARTTLS command-injection class of bugs). The certificate
    /// SmtpServer passes is the one it was built with; the provider's current one (renewed by ACME) is presented.
    /// </summary>
    public async Task UpgradeAsync(X509Certificate certificate, SslProtocols protocols, CancellationToken cancellationToken = default)
    {
        var tls = new SslStream(_network, leaveInnerStreamOpen: true);
        try
        {
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = _certificates.Context,
                ClientCertificateRequired = false,
                EnabledSslProtocols = protocols,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        _tls = tls;
        Guard.SetInner(tls);
        Input = PipeReader.Create(Guard, new StreamPipeReaderOptions(leaveOpen: true));
        Output = PipeWriter.Create(Guard, new StreamPipeWriterOptions(leaveOpen: true));
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        try { _tls?.Dispose(); } catch (IOException) { }
        Guard.Dispose();
        _onDispose();
    }
}
