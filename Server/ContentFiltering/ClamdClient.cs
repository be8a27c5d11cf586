using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using MailServer.Rules.ContentFiltering;
using MailServer.Server.Configuration;

namespace MailServer.Server.ContentFiltering;

/// <summary>
/// clamd's <c>INSTREAM</c> command (clamd(8)): the message goes in chunks, each preceded by its length as a 4-byte
/// big-endian number, a zero length ends it, and clamd answers one line (<c>stream: OK</c> or <c>stream: NAME FOUND</c>).
/// We talk to clamd directly rather than through rspamd's antivirus module: the virus verdict then does not depend on
/// rspamd's action mapping, ClamAV works without rspamd, and both engines scan the same message at the same time.
/// One connection per scan; scans run concurrently.
/// </summary>
public sealed class ClamdClient
{
    /// <summary>Bytes per INSTREAM chunk.</summary>
    private const int ChunkBytes = 64 * 1024;

    /// <summary>Scans one message.</summary>
    /// <exception cref="SocketException">clamd cannot be reached.</exception>
    /// <exception cref="IOException">The connection broke.</exception>
    /// <exception cref="FormatException">clamd answered with an error (a stream over its StreamMaxLength, for one).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired (the caller's deadline).</exception>
    public async Task<VirusScan> ScanAsync(ClamdEndPoint endPoint, Stream content, CancellationToken cancellationToken)
    {
        using var socket = await ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        // The "z" form: NUL-terminated command and reply (clamd(8) recommends it over the "n" form).
        await stream.WriteAsync("zINSTREAM\0"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes + 4);
        try
        {
            int read;
            while ((read = await content.ReadAsync(buffer.AsMemory(4, ChunkBytes), cancellationToken).ConfigureAwait(false)) > 0)
            {
                BinaryPrimitives.WriteUInt32BigEndian(buffer, (uint)read);
                await stream.WriteAsync(buffer.AsMemory(0, read + 4), cancellationToken).ConfigureAwait(false);
            }
            BinaryPrimitives.WriteUInt32BigEndian(buffer, 0);
            await stream.WriteAsync(buffer.AsMemory(0, 4), cancellationToken).ConfigureAwait(false);
            return ContentVerdicts.ParseClamdReply(await ReadReplyAsync(stream, buffer, cancellationToken).ConfigureAwait(false));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>True when clamd answers <c>PING</c> with PONG.</summary>
    public async Task<bool> PingAsync(ClamdEndPoint endPoint, CancellationToken cancellationToken)
    {
        try
        {
            using var socket = await ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await stream.WriteAsync("zPING\0"u8.ToArray(), cancellationToken).ConfigureAwait(false);
            return (await ReadReplyAsync(stream, new byte[64], cancellationToken).ConfigureAwait(false)).StartsWith("PONG", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or FormatException)
        {
            return false;
        }
    }

    private static async Task<Socket> ConnectAsync(ClamdEndPoint endPoint, CancellationToken cancellationToken)
    {
        Socket socket;
        if (endPoint.SocketPath is { } path)
        {
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
            return socket;
        }
        socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint.Host!, endPoint.Port, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return socket;
    }

    /// <summary>Reads clamd's reply up to its NUL (or the end of the connection), at most 4 KiB.</summary>
    private static async Task<string> ReadReplyAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        var reply = new StringBuilder();
        while (reply.Length < 4096)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(0, Math.Min(buffer.Length, 1024)), cancellationToken).ConfigureAwait(false);
            if (read == 0)
                break;
            var text = Encoding.UTF8.GetString(buffer, 0, read);
            var nul = text.IndexOf('\0', StringComparison.Ordinal);
            if (nul >= 0)
                return reply.Append(text, 0, nul).ToString();
            reply.Append(text);
        }
        if (reply.Length == 0)
            throw new FormatException("clamd closed the connection without an answer.");
        return reply.ToString();
    }
}
