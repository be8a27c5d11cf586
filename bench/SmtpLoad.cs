using System.Diagnostics;
using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace MailServer.Bench;

/// <summary>What one SMTP load run measured.</summary>
internal sealed record SmtpLoadResult(int Size, int Messages, int Sessions, int Failed, TimeSpan Elapsed, double P50Ms, double P99Ms, string? FirstFailure = null)
{
    public string Format()
    {
        var rate = Messages / Elapsed.TotalSeconds;
        var mbps = rate * Size / (1024.0 * 1024.0);
        return $"smtp size={Size,8}B messages={Messages,6} sessions={Sessions,3} failed={Failed} " +
               $"elapsed={Elapsed.TotalSeconds,7:F2}s  {rate,8:F1} msg/s  {mbps,7:F2} MB/s  p50={P50Ms:F2}ms p99={P99Ms:F2}ms" +
               (FirstFailure is null ? "" : $"\n  first failure: {FirstFailure}");
    }
}

/// <summary>Pushes messages over M concurrent MailKit SMTP sessions, each reusing its connection.</summary>
internal static class SmtpLoad
{
    public static async Task<SmtpLoadResult> RunAsync(BenchArguments options, int size, CancellationToken cancellationToken)
    {
        var body = MakeBody(size);
        var next = -1;
        var failed = 0;
        string? firstFailure = null;
        var latencies = new double[options.Messages];
        var clock = Stopwatch.StartNew();

        async Task Session(int sessionIndex)
        {
            using var client = new SmtpClient();
            client.ServerCertificateValidationCallback = (_, _, _, _) => true;
            await client.ConnectAsync(options.Host, options.Port, SecureSocketOptions.None, cancellationToken);
            // One message per session, re-addressed each time: the load tool should spend its CPU on the
            // protocol, not on rebuilding the same MIME tree (client and server share this machine's cores).
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse(options.From));
            message.To.Add(MailboxAddress.Parse(options.To));
            message.Body = new TextPart("plain") { Text = body };
            int index;
            while ((index = Interlocked.Increment(ref next)) < options.Messages)
            {
                message.Subject = $"bench {size} #{index} s{sessionIndex}";
                message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId();
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await client.SendAsync(message, cancellationToken);
                }
                catch (Exception e) when (e is SmtpCommandException or SmtpProtocolException or IOException)
                {
                    Interlocked.Increment(ref failed);
                    Interlocked.CompareExchange(ref firstFailure, $"{e.GetType().Name}: {e.Message}", null);
                    if (!client.IsConnected)
                        await client.ConnectAsync(options.Host, options.Port, SecureSocketOptions.None, cancellationToken);
                }
                latencies[index] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
            await client.DisconnectAsync(true, cancellationToken);
        }

        await Task.WhenAll(Enumerable.Range(0, options.Sessions).Select(Session));
        clock.Stop();
        Array.Sort(latencies);
        return new SmtpLoadResult(size, options.Messages, options.Sessions, failed, clock.Elapsed,
            Percentile(latencies, 0.50), Percentile(latencies, 0.99), firstFailure);
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

    /// <summary>A text body of about <paramref name="size"/> bytes in 76-character lines.</summary>
    private static string MakeBody(int size)
    {
        var builder = new StringBuilder(size + 80);
        var random = new Random(size);
        const string alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789";
        while (builder.Length < size)
        {
            for (var i = 0; i < 76; i++)
                builder.Append(alphabet[random.Next(alphabet.Length)]);
            builder.Append("\r\n");
        }
        return builder.ToString(0, size);
    }
}
