using System.Diagnostics;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Server.Configuration;
using MailServer.Server.Security;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Several nodes on the real executable: two server processes on one PostgreSQL database (the run's private cluster), each
/// with its own data folder and ports, sharing the master key and the key ledgers. A delivery through node A reaches an
/// IMAP IDLE on node B within a second; a queue both nodes work delivers each recipient once; after kill -9 of node A,
/// under load (four sessions sending), node B delivers everything A had answered 250 for, after A's lease (5 s here) ran out. And the command line on such
/// a store: reindex rebuilds the search index; backup and restore point to PostgreSQL's own tools.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class TwoNodeTests
{
    private const string Password = "a long test password 4 two nodes";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    private string? _shared;
    private string _connectionString = "";
    private string _keyLedger = "";
    private LoopbackDnsServer _dns = null!;

    /// <summary>The mail database, the key database, the shared key folder with the organization's master key, and the DNS
    /// zone of the remote MX.</summary>
    private async Task SetUpNodesAsync()
    {
        _shared = Path.Combine(Path.GetTempPath(), "mailserver-two-nodes-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(_shared);
        // The organization's master key exists before either node starts: two nodes creating it at once would each make one.
        MailServer.Storage.Crypto.MasterKeyFile.Load(Path.Combine(_shared!, "example.key"), createIfMissing: true);
        _connectionString = await PostgreSqlCluster.Instance.CreateDatabaseAsync();
        _keyLedger = await PostgreSqlCluster.Instance.CreateDatabaseAsync();
        _dns = LoopbackDnsServer.Start();
        _dns.AddMx("remote.test", 10, "mx.remote.test").AddA("mx.remote.test", "127.0.0.1");
    }

    [TearDown]
    public async Task TearDownAsync()
    {
        if (_dns is not null)
            await _dns.DisposeAsync();
        _dns = null!;
        try { if (_shared is not null) Directory.Delete(_shared, recursive: true); } catch (IOException) { }
        _shared = null;
    }

    /// <summary>A node: its own ports and data folder; the mail database, the key database and the master key shared.</summary>
    private ServerProcess Node(int remotePort)
    {
        var node = ServerProcess.Create();
        var storage = System.Text.Json.JsonSerializer.Serialize(new { Engine = "PostgreSql", ConnectionString = _connectionString, KeyLedgerConnectionString = _keyLedger, LeaseSeconds = 5 });
        var config = File.ReadAllText(node.ConfigPath)
            .Replace(ServerProcess.DefaultDns + ",", "")
            .Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{PasswordHasher.Hash(Password, iterations: 1000)}\"")
            .Replace("\"MasterKeyPath\": \"keys/example.key\"", $"\"MasterKeyPath\": {System.Text.Json.JsonSerializer.Serialize(Path.Combine(_shared!, "example.key"))}")
            .Replace("\"DataDirectory\": \"data\",", $$"""
                "DataDirectory": "data",
                "Storage": {{storage}},
                "Dns": { "Servers": [ "127.0.0.1" ], "Port": {{_dns.Port}} },
                "Delivery": { "RemotePort": {{remotePort}}, "RetryMinimumSeconds": 1, "RetryMaximumSeconds": 2 },
                """);
        File.WriteAllText(node.ConfigPath, config);
        return node;
    }

    private static MimeMessage Message(string to, string subject)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice", "alice@example.test"));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "Two nodes, one store.\r\n" };
        return message;
    }

    private static async Task<SmtpClient> SubmissionAsync(ServerProcess node)
    {
        var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 30_000 };
        await client.ConnectAsync("127.0.0.1", node.ListenerPorts.Submission, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync("alice@example.test", Password);
        return client;
    }

    [Test]
    public async Task A_message_delivered_through_node_A_reaches_an_IMAP_IDLE_on_node_B_within_a_second()
    {
        await SetUpNodesAsync();
        await using var receiver = await SmtpReceiver.StartAsync(tempFailures: 0);
        await using var a = Node(receiver.Port);
        await using var b = Node(receiver.Port);
        await a.StartAsync();
        using (var first = await SubmissionAsync(a))
            await first.SendAsync(Message("bob@example.test", "creates bob's mailbox"));
        await b.StartAsync();

        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 30_000 };
        await imap.ConnectAsync("127.0.0.1", b.ListenerPorts.Imap, SecureSocketOptions.StartTls);
        await imap.AuthenticateAsync("bob@example.test", Password);
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        Assert.That(imap.Inbox.Count, Is.EqualTo(1));
        var heard = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        imap.Inbox.CountChanged += (_, _) => heard.TrySetResult(Stopwatch.GetTimestamp());
        using var done = new CancellationTokenSource(Wait);
        var idle = imap.IdleAsync(done.Token);
        await Task.Delay(300); // IDLE is in progress on node B

        using var smtp = await SubmissionAsync(a);
        await smtp.SendAsync(Message("bob@example.test", "through node A"));
        var accepted = Stopwatch.GetTimestamp(); // node A answered 250: committed in PostgreSQL

        var at = await heard.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await done.CancelAsync();
        await idle.WaitAsync(TimeSpan.FromSeconds(10));
        var latency = Stopwatch.GetElapsedTime(accepted, at);
        TestContext.Out.WriteLine($"node A's 250 to node B's IDLE: {latency.TotalMilliseconds:F0} ms");
        Assert.That(latency, Is.LessThan(TimeSpan.FromSeconds(1)), "node B's IDLE heard node A's delivery");
        Assert.That(imap.Inbox.Count, Is.EqualTo(2));
    }

    [Test]
    public async Task Two_nodes_deliver_a_shared_queue_each_recipient_once_and_node_B_finishes_it_after_kill_9_of_node_A()
    {
        await SetUpNodesAsync();
        // Every recipient is refused once (451), so each message is retried, by whichever node claims it first.
        await using var receiver = await SmtpReceiver.StartAsync(tempFailures: 1);
        await using var a = Node(receiver.Port);
        await using var b = Node(receiver.Port);
        await a.StartAsync();
        using (var first = await SubmissionAsync(a))
            await first.SendAsync(Message("bob@example.test", "creates the key ledger and bob's mailbox"));
        await b.StartAsync();

        var both = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            using var smtp = await SubmissionAsync(i % 2 == 0 ? a : b);
            var to = $"tempfail-both-{i}@remote.test";
            await smtp.SendAsync(Message(to, "both " + i));
            both.Add(to);
        }
        await receiver.WaitForAsync(both.Count, Wait);
        await Task.Delay(TimeSpan.FromSeconds(3)); // long enough for a second delivery of any of them (retries every 1-2 s)
        var counts = receiver.Messages().SelectMany(m => m.RcptTos).GroupBy(r => r, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.OrdinalIgnoreCase);
        Assert.That(both.Select(r => counts.GetValueOrDefault(r)), Is.All.EqualTo(1), "each recipient delivered once while both nodes run");

        // Under load on node A (four sessions sending without pause): kill -9 once it has answered 250 for 20 messages,
        // with transactions in flight. Every message that got 250 must arrive; those cut off got no 250 and do not count.
        var accepted = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var next = 0;
        var killing = false;
        var senders = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            try
            {
                using var smtp = await SubmissionAsync(a);
                for (var sent = 0; sent < 200; sent++)
                {
                    var to = $"tempfail-killed-{Interlocked.Increment(ref next)}@remote.test";
                    await smtp.SendAsync(Message(to, "under load"));
                    accepted.Enqueue(to);
                }
            }
            catch (Exception) when (Volatile.Read(ref killing))
            {
                // Node A died under this session.
            }
        })).ToList();
        var loaded = DateTime.UtcNow + Wait;
        while (accepted.Count < 20 && DateTime.UtcNow < loaded)
            await Task.Delay(20);
        Volatile.Write(ref killing, true);
        await a.KillAsync();
        await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(accepted.Count, Is.GreaterThanOrEqualTo(20), "node A was under load when it died");
        Assert.That(next, Is.GreaterThan(accepted.Count), "transactions were in flight at kill -9");
        var deliveredAtKill = accepted.Count(r => receiver.Messages().Any(m => m.RcptTos.Contains(r, StringComparer.OrdinalIgnoreCase)));
        Assert.That(deliveredAtKill, Is.LessThan(accepted.Count), "node A died with work in its queue (each message is refused once, retried 1-2 s later)");
        var killed = Stopwatch.GetTimestamp();

        var deadline = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < deadline && !accepted.All(r => receiver.Messages().Any(m => m.RcptTos.Contains(r, StringComparer.OrdinalIgnoreCase))))
            await Task.Delay(200);
        var delivered = receiver.Messages().SelectMany(m => m.RcptTos).ToHashSet(StringComparer.OrdinalIgnoreCase);
        Assert.That(accepted.Where(r => !delivered.Contains(r)), Is.Empty, "node B delivered every message node A had accepted");
        TestContext.Out.WriteLine($"{accepted.Count - deliveredAtKill} of {accepted.Count} left in node A's queue at kill -9; node B had delivered them all " +
            $"{Stopwatch.GetElapsedTime(killed).TotalSeconds:F1} s later (lease 5 s)");
    }

    [Test]
    public async Task On_PostgreSql_reindex_rebuilds_the_search_index_and_backup_and_restore_point_to_PostgreSQLs_own_tools()
    {
        await SetUpNodesAsync();
        await using var receiver = await SmtpReceiver.StartAsync(tempFailures: 0);
        await using var node = Node(receiver.Port);
        await node.StartAsync();
        using (var smtp = await SubmissionAsync(node))
            await smtp.SendAsync(Message("bob@example.test", "to be indexed"));
        Assert.That(await node.StopAsync(), Is.Zero);

        // The database is shared, not held by a process: reindex needs no stopped cluster, but runs here after the stop.
        var (exit, output, error) = await RunCliAsync(["reindex", "--config", node.ConfigPath]);
        Assert.That(exit, Is.Zero, error);
        Assert.That(output, Does.Match(@"^search index rebuilt \([1-9][0-9]* message\(s\)\)"));

        (exit, _, error) = await RunCliAsync(["reindex", "--config", node.ConfigPath, "--rewrite-bodies"]);
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(error, Does.Contain("PostgreSQL stores every body in 64 KiB segments"));

        var folder = Path.Combine(_shared!, "backup");
        foreach (var verb in new[] { new[] { "backup", "--to", folder }, ["restore", "--from", folder] })
        {
            (exit, _, error) = await RunCliAsync([.. verb, "--config", node.ConfigPath]);
            Assert.That(exit, Is.EqualTo(1), verb[0]);
            Assert.That(error, Does.Contain("pg_dump").And.Contain("\"Backups on PostgreSQL\""), verb[0]);
        }
        Assert.That(Directory.Exists(folder), Is.False, "nothing was written");
    }

    private static async Task<(int Exit, string Out, string Error)> RunCliAsync(string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await MailServer.Server.Program.RunAsync(args, output, error, new StringReader(""));
        return (exit, output.ToString(), error.ToString());
    }
}
