using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MailServer.Tests.Support;

/// <summary>One SMTP reply: its code and every line's text after the code and separator.</summary>
public sealed record SmtpLineReply(int Code, IReadOnlyList<string> Lines)
{
    /// <summary>The text of the last line ("5.1.1 ..." for enhanced replies).</summary>
    public string Text => Lines[^1];

    public override string ToString() => $"{Code} {string.Join(" | ", Lines)}";
}

/// <summary>
/// A raw SMTP client for transcript tests: sends exactly the bytes it is given and reads multi-line replies
/// (RFC 5321 §4.2.1). Every read has a deadline so a wrong server fails the test instead of hanging it.
/// </summary>
public sealed class SmtpLineClient : IAsyncDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(30);
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private SmtpLineClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public static async Task<SmtpLineClient> ConnectAsync(IPEndPoint endPoint)
    {
        var tcp = new TcpClient(endPoint.AddressFamily);
        await tcp.ConnectAsync(endPoint);
        return new SmtpLineClient(tcp);
    }

    /// <summary>Connects and reads the greeting.</summary>
    public static async Task<(SmtpLineClient Client, SmtpLineReply Greeting)> OpenAsync(IPEndPoint endPoint)
    {
        var client = await ConnectAsync(endPoint);
        return (client, await client.ReadReplyAsync());
    }

    /// <summary>Sends <paramref name="line"/> plus CRLF.</summary>
    public Task SendLineAsync(string line) => SendRawAsync(Encoding.ASCII.GetBytes(line + "\r\n"));

    /// <summary>Sends bytes as they are (no line ending added).</summary>
    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes)
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        await _stream.WriteAsync(bytes, timeout.Token);
    }

    /// <summary>Sends a line and reads its reply.</summary>
    public async Task<SmtpLineReply> CommandAsync(string line)
    {
        await SendLineAsync(line);
        return await ReadReplyAsync();
    }

    /// <summary>Reads one (possibly multi-line) reply.</summary>
    /// <exception cref="EndOfStreamException">The server closed the connection first.</exception>
    public async Task<SmtpLineReply> ReadReplyAsync()
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync() ?? throw new EndOfStreamException($"Connection closed after {lines.Count} reply line(s).");
            if (line.Length < 3 || !int.TryParse(line.AsSpan(0, 3), out var code))
                throw new InvalidDataException($"Not an SMTP reply line: '{line}'");
            lines.Add(line.Length > 4 ? line[4..] : "");
            if (line.Length == 3 || line[3] == ' ')
                return new SmtpLineReply(code, lines);
        }
    }

    /// <summary>True when the server has closed the connection (reads until end of stream, dropping data).</summary>
    public async Task<bool> IsClosedByServerAsync()
    {
        try
        {
            while (await ReadLineAsync() is not null)
            {
            }
            return true;
        }
        catch (IOException)
        {
            return true; // reset
        }
    }

    private async Task<string?> ReadLineAsync()
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        var line = new StringBuilder();
        while (true)
        {
            if (_start == _end)
            {
                _start = 0;
                _end = await _stream.ReadAsync(_buffer, timeout.Token);
                if (_end == 0)
                    return line.Length > 0 ? line.ToString() : null;
            }
            var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (lf < 0)
            {
                line.Append(Encoding.ASCII.GetString(_buffer, _start, _end - _start));
                _start = _end;
                continue;
            }
            line.Append(Encoding.ASCII.GetString(_buffer, _start, lf - _start));
            _start = lf + 1;
            return line.ToString().TrimEnd('\r');
        }
    }

    /// <summary>Hangs up with a TCP reset (SO_LINGER 0), as a client that crashes or is killed does.</summary>
    public void Abort()
    {
        _tcp.Client.LingerState = new LingerOption(true, 0);
        _tcp.Client.Close(); // no shutdown first: the linger of 0 makes it a reset
        _tcp.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}
