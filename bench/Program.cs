// mailserver-bench: load tools that measure a running server from the outside, over real sockets.
// Every figure printed is "from first command to last acknowledgement": for SMTP, a 250 to DATA,
// which the server only sends once the message is encrypted and fsync'd.
using System.Diagnostics;
using MailServer.Bench;

var parsed = BenchArguments.Parse(args);
if (parsed is null)
{
    Console.Error.WriteLine("""
        usage: mailserver-bench smtp [--host H] [--port P] [--to ADDR] [--from ADDR]
                                     [--messages N] [--sessions M] [--size BYTES|1k|10k|100k|1m ...]
          Sends N messages of each size over M concurrent SMTP sessions and prints messages/s, MB/s
          and per-message latency (p50/p99) from DATA sent to 250 received.
        """);
    return 1;
}

foreach (var size in parsed.Sizes)
{
    var result = await SmtpLoad.RunAsync(parsed with { Sizes = [size] }, size, CancellationToken.None);
    Console.WriteLine(result.Format());
}
return 0;
