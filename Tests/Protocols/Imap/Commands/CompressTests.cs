using System.IO.Compression;
using System.Net.Sockets;
using System.Text;
using MailKit;
using MailKit.Net.Imap;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class CompressTests
{
    private static async Task<string> ReadLineAsync(Stream stream)
    {
        var line = new List<byte>();
        var one = new byte[1];
        while (!(line.Count >= 2 && line[^2] == '\r' && line[^1] == '\n'))
        {
            if (await stream.ReadAsync(one) == 0)
                throw new EndOfStreamException(Encoding.ASCII.GetString(line.ToArray()));
            line.Add(one[0]);
        }
        return Encoding.ASCII.GetString(line.ToArray(), 0, line.Count - 2);
    }

    private static async Task SendAsync(Stream stream, string line)
    {
        await stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\r\n"));
        await stream.FlushAsync();
    }

    [Test]
    public async Task Compress_deflate_answers_in_clear_then_both_directions_are_raw_deflate_and_a_second_compress_is_refused()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Imap);
        var net = tcp.GetStream();
        Assert.That(await ReadLineAsync(net), Does.StartWith("* OK"));
        await SendAsync(net, $"a1 LOGIN alice@example.test {ImapTestServer.Password}");
        Assert.That(await ReadLineAsync(net), Does.StartWith("a1 OK"));
        await SendAsync(net, "c1 CAPABILITY");
        Assert.That(await ReadLineAsync(net), Does.Contain(" COMPRESS=DEFLATE "));
        Assert.That(await ReadLineAsync(net), Is.EqualTo("c1 OK CAPABILITY completed"));
        await SendAsync(net, "z0 COMPRESS LZ4");
        Assert.That(await ReadLineAsync(net), Is.EqualTo("z0 BAD Unknown compression mechanism"));
        await SendAsync(net, "z1 COMPRESS DEFLATE");
        Assert.That(await ReadLineAsync(net), Is.EqualTo("z1 OK DEFLATE active"));

        using var output = new DeflateStream(net, CompressionLevel.Fastest, leaveOpen: true);
        using var input = new DeflateStream(net, CompressionMode.Decompress, leaveOpen: true);
        await SendAsync(output, "z2 COMPRESS DEFLATE");
        Assert.That(await ReadLineAsync(input), Is.EqualTo("z2 NO [COMPRESSIONACTIVE] DEFLATE is active already"));
        await SendAsync(output, "n1 NOOP");
        Assert.That(await ReadLineAsync(input), Is.EqualTo("n1 OK NOOP completed"));
    }

    [Test]
    public async Task MailKit_compresses_then_select_fetch_and_idle_still_work()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "before");
        using var client = await server.MailKitAsync();
        Assert.That(client.Capabilities.HasFlag(ImapCapabilities.Compress), Is.True);
        await client.CompressAsync();

        await client.Inbox.OpenAsync(FolderAccess.ReadWrite);
        var summaries = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.UniqueId);
        Assert.That(summaries.Single().Envelope!.Subject, Is.EqualTo("before"));
        var body = await client.Inbox.GetMessageAsync(0);
        Assert.That(body.Subject, Is.EqualTo("before"));

        using var done = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var arrived = new TaskCompletionSource();
        client.Inbox.CountChanged += (_, _) => { arrived.TrySetResult(); done.Cancel(); };
        var idle = client.IdleAsync(done.Token);
        await Task.Delay(200);
        await server.DeliverAsync("alice", "during");
        await idle;
        Assert.That(arrived.Task.IsCompleted, Is.True, "IDLE reported the new message through the compressed stream");
        Assert.That(client.Inbox.Count, Is.EqualTo(2));
        await client.DisconnectAsync(true);
    }
}
