using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace MailServer.Tests.Support;

/// <summary>
/// A raw IMAP client for transcript tests: sends exactly the lines it is given and reads response lines, with
/// server literals inlined into the line text. Every read has a deadline so a wrong server fails the test.
/// </summary>
public sealed class ImapLineClient : IAsyncDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(15);
    private readonly TcpClient _tcp;
    private Stream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private ImapLineClient(TcpClient tcp, Stream stream)
    {
        _tcp = tcp;
        _stream = stream;
    }

    /// <summary>Connects (with implicit TLS when <paramref name="tls"/>) and returns the client and greeting line.</summary>
    public static async Task<(ImapLineClient Client, string Greeting)> OpenAsync(IPEndPoint endPoint, bool tls = false)
    {
        var tcp = new TcpClient(endPoint.AddressFamily);
        await tcp.ConnectAsync(endPoint);
        var client = new ImapLineClient(tcp, tcp.GetStream());
        if (tls)
            await client.UpgradeAsync();
        return (client, await client.ReadLineAsync() ?? throw new EndOfStreamException("No greeting."));
    }

    /// <summary>Wraps the connection in TLS (after STARTTLS's OK), accepting the test certificate.</summary>
    public async Task UpgradeAsync()
    {
        var ssl = new SslStream(_stream, false, (_, _, _, _) => true);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" });
        _stream = ssl;
        _start = _end = 0;
    }

    /// <summary>Sends <paramref name="line"/> plus CRLF.</summary>
    public Task SendLineAsync(string line) => SendRawAsync(Encoding.UTF8.GetBytes(line + "\r\n"));

    /// <summary>Sends bytes as they are.</summary>
    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes)
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        await _stream.WriteAsync(bytes, timeout.Token);
    }

    /// <summary>Sends <c>tag command</c> and reads every line up to and including the tagged reply.</summary>
    public async Task<List<string>> CommandAsync(string tag, string command)
    {
        await SendLineAsync(tag + " " + command);
        return await ReadUntilTaggedAsync(tag);
    }

    /// <summary>Reads lines up to and including the one starting with <c>tag </c>.</summary>
    public async Task<List<string>> ReadUntilTaggedAsync(string tag)
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync() ?? throw new EndOfStreamException("Closed after: " + string.Join(" | ", lines));
            lines.Add(line);
            if (line.StartsWith(tag + " ", StringComparison.Ordinal))
                return lines;
        }
    }

    /// <summary>Reads one response line; a literal <c>{n}</c> at its end is read and inlined. Null at end of stream.</summary>
    public async Task<string?> ReadLineAsync()
    {
        var line = await ReadRawLineAsync();
        while (line is not null && line.EndsWith('}') && line.LastIndexOf('{') is var open and >= 0
               && int.TryParse(line.AsSpan(open + 1, line.Length - open - 2), out var size))
        {
            var literal = await ReadBytesAsync(size);
            var rest = await ReadRawLineAsync() ?? "";
            line = line + "\r\n" + Encoding.UTF8.GetString(literal) + rest;
        }
        return line;
    }

    /// <summary>True when the server closes the connection (reads to end of stream).</summary>
    public async Task<bool> IsClosedByServerAsync()
    {
        try
        {
            while (await ReadRawLineAsync() is not null)
            {
            }
            return true;
        }
        catch (IOException)
        {
            return true;
        }
    }

    private async Task<bool> FillAsync()
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        _start = 0;
        _end = await _stream.ReadAsync(_buffer, timeout.Token);
        return _end > 0;
    }

    private async Task<byte[]> ReadBytesAsync(int count)
    {
        var result = new byte[count];
        var filled = 0;
        while (filled < count)
        {
            if (_start == _end && !await FillAsync())
                throw new EndOfStreamException("Closed inside a literal.");
            var n = Math.Min(count - filled, _end - _start);
            Array.Copy(_buffer, _start, result, filled, n);
            _start += n;
            filled += n;
        }
        return result;
    }

    private async Task<string?> ReadRawLineAsync()
    {
        var line = new List<byte>();
        while (true)
        {
            if (_start == _end && !await FillAsync())
                return line.Count > 0 ? Encoding.UTF8.GetString([.. line]) : null;
            var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (lf < 0)
            {
                line.AddRange(_buffer.AsSpan(_start, _end - _start));
                _start = _end;
                continue;
            }
            line.AddRange(_buffer.AsSpan(_start, lf - _start));
            _start = lf + 1;
            return Encoding.UTF8.GetString([.. line]).TrimEnd('\r');
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _tcp.Dispose();
    }
}
