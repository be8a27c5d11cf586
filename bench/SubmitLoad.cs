using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace MailServer.Bench;

/// <summary>
/// Submission → remote delivery throughput: M authenticated submission sessions (STARTTLS) send N messages to
/// an address literal <c>user@[127.0.0.1]</c>; the server queues them and delivers them to this tool's own SMTP
/// sink on the port the server's Delivery.RemotePort names. The clock runs from the first submission to the
/// moment the sink has received the last message. With <c>--external-sink</c> another program is the receiver
/// (bench/intake.sh runs Postfix's smtp-sink there) and only the submission rate is printed.
/// </summary>
internal static class SubmitLoad
{
    public static async Task<string> RunAsync(BenchArguments options, int size, CancellationToken cancellationToken)
    {
        using var sink = options.ExternalSink ? null : new SmtpSink(options.SinkPort);
        var body = MakeBody(size);
        var next = -1;
        var failed = 0;
        var clock = Stopwatch.StartNew();

        async Task Session(int sessionIndex)
        {
            using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
            await client.ConnectAsync(options.Host, options.Port, SecureSocketOptions.StartTls, cancellationToken);
            await client.AuthenticateAsync(options.User, options.Password, cancellationToken);
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse(options.User));
            message.To.Add(new MailboxAddress("", "sink@[127.0.0.1]"));
            message.Body = new TextPart("plain") { Text = body };
            int index;
            while ((index = Interlocked.Increment(ref next)) < options.Messages)
            {
                message.Subject = $"submit bench {size} #{index} s{sessionIndex}";
                message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId();
                try
                {
                    await client.SendAsync(message, cancellationToken);
                }
                catch (Exception e) when (e is SmtpCommandException or SmtpProtocolException or IOException)
                {
                    Interlocked.Increment(ref failed);
                }
            }
            await client.DisconnectAsync(true, cancellationToken);
        }

        await Task.WhenAll(Enumerable.Range(0, options.Sessions).Select(Session));
        var accepted = clock.Elapsed;
        if (sink is null)
            return $"submit size={size,8}B messages={options.Messages,6} sessions={options.Sessions,3} failed={failed} " +
                   $"accepted in {accepted.TotalSeconds:F2}s  {(options.Messages - failed) / accepted.TotalSeconds,8:F1} msg/s";
        var expected = options.Messages - failed;
        var deadline = Stopwatch.StartNew();
        while (sink.Received < expected && deadline.Elapsed < TimeSpan.FromMinutes(5))
            await Task.Delay(5, cancellationToken);
        clock.Stop();
        var rate = sink.Received / clock.Elapsed.TotalSeconds;
        return $"submit size={size,8}B messages={options.Messages,6} sessions={options.Sessions,3} failed={failed} " +
               $"accepted in {accepted.TotalSeconds:F2}s ({options.Messages / accepted.TotalSeconds:F1} msg/s), " +
               $"delivered {sink.Received} in {clock.Elapsed.TotalSeconds:F2}s  {rate,8:F1} msg/s  {rate * size / (1024.0 * 1024.0):F2} MB/s";
    }

    private static string MakeBody(int size)
    {
        var builder = new StringBuilder(size + 80);
        while (builder.Length < size)
            builder.Append("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor inc\r\n");
        return builder.ToString(0, size);
    }

    /// <summary>A minimal SMTP receiver that accepts everything and counts messages (RFC 5321 replies, no checks).</summary>
    private sealed class SmtpSink : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stop = new();
        private int _received;

        public SmtpSink(int port)
        {
            _listener = new TcpListener(IPAddress.Loopback, port);
            _listener.Start();
            _ = AcceptAsync();
        }

        public int Received => Volatile.Read(ref _received);

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
                catch (Exception) { return; }
                _ = ServeAsync(client);
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            using (client)
            {
                var stream = client.GetStream();
                using var reader = new StreamReader(stream, Encoding.Latin1);
                var writer = new StreamWriter(stream, Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true };
                await writer.WriteLineAsync("220 sink ESMTP");
                var inData = false;
                string? line;
                try
                {
                    while ((line = await reader.ReadLineAsync(_stop.Token)) is not null)
                    {
                        if (inData)
                        {
                            if (line == ".")
                            {
                                inData = false;
                                Interlocked.Increment(ref _received);
                                await writer.WriteLineAsync("250 2.0.0 ok");
                            }
                            continue;
                        }
                        var verb = line.Length >= 4 ? line[..4].ToUpperInvariant() : line.ToUpperInvariant();
                        switch (verb)
                        {
                            case "EHLO": await writer.WriteAsync("250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n"); break;
                            case "DATA": inData = true; await writer.WriteLineAsync("354 go ahead"); break;
                            case "QUIT": await writer.WriteLineAsync("221 bye"); return;
                            default: await writer.WriteLineAsync("250 ok"); break;
                        }
                    }
                }
                catch (Exception e) when (e is IOException or OperationCanceledException) { }
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
        }
    }
}
