using System.Diagnostics;
using System.Globalization;
using System.Text;
using MailServer.Storage;
using MailServer.Storage.Crypto;
using MailServer.Storage.PostgreSql;

namespace MailServer.Bench;

/// <summary>
/// <c>mailserver-bench store</c>: the store engines measured on their own, without SMTP or IMAP in front. Deliveries of
/// a 4 KiB message to one of sixteen mailboxes (one writer, then sixteen at once), and the outbound queue's own cost
/// (messages enqueued, then claimed in batches of eight with a lease and settled, by one claimer and by eight). LiteDB
/// on files in a scratch folder (its log and every body fsync'd before a commit is reported), PostgreSQL on the
/// database the connection string names, its key ledger in the database <c>--key-ledger</c> names (the engine forces
/// synchronous commit on both). A fresh store for every run.
/// </summary>
internal static class StoreBench
{
    private const string Org = "bench-org";

    public static async Task<int> RunAsync(string[] args)
    {
        string? engine = null, connection = null, keyLedger = null;
        var scale = 1.0;
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--engine" when i + 1 < args.Length: engine = args[++i]; break;
                case "--connection" when i + 1 < args.Length: connection = args[++i]; break;
                case "--key-ledger" when i + 1 < args.Length: keyLedger = args[++i]; break;
                case "--scale" when i + 1 < args.Length && double.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var s) && s > 0: scale = s; i++; break;
                default:
                    Console.Error.WriteLine($"mailserver-bench store: unknown or incomplete option {args[i]}");
                    return 1;
            }
        }
        if (engine is not ("LiteDb" or "PostgreSql") || (engine == "PostgreSql" && (connection is null || keyLedger is null)))
        {
            Console.Error.WriteLine("usage: mailserver-bench store --engine LiteDb|PostgreSql [--connection CONNECTION_STRING --key-ledger CONNECTION_STRING] [--scale X]");
            return 1;
        }
        int Count(int n) => Math.Max(1, (int)(n * scale));

        foreach (var (writers, messages) in new[] { (1, Count(300)), (16, Count(1600)) })
        {
            await using var store = await OpenAsync(engine, connection, keyLedger);
            var rate = await DeliveriesAsync(store, writers, messages);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{engine}: deliveries, {writers,2} writer(s), {messages} messages of 4 KiB: {rate:F0} msg/s"));
        }
        foreach (var (claimers, messages) in new[] { (1, Count(400)), (8, Count(800)) })
        {
            await using var store = await OpenAsync(engine, connection, keyLedger);
            var (enqueued, settled) = await QueueAsync(store, claimers, messages);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{engine}: queue, {claimers} claimer(s), {messages} messages: enqueued {enqueued:F0} msg/s, claimed and settled {settled:F0} msg/s"));
        }
        return 0;
    }

    /// <summary>A fresh store of the engine, with its own master key and scratch folder (removed at dispose).</summary>
    private static async Task<BenchStore> OpenAsync(string engine, string? connection, string? keyLedger)
    {
        var scratch = Path.Combine(Path.GetTempPath(), "mailserver-bench-store-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(scratch);
        var keys = new FileMasterKeyProvider(new Dictionary<string, string> { [Org] = Path.Combine(scratch, "keys", "bench.key") });
        if (engine == "LiteDb")
        {
            var store = MailStore.Open(new MailStoreOptions { DataDirectory = Path.Combine(scratch, "data"), MasterKeys = keys });
            return new BenchStore(store, scratch, store.DisposeAsync);
        }
        await ClearAsync(connection!);
        await ClearAsync(keyLedger!);
        var postgres = await PostgreSqlMailStore.OpenAsync(new PostgreSqlStoreOptions
        {
            ConnectionString = connection!,
            KeyLedgerConnectionString = keyLedger!,
            MasterKeys = keys,
        }, CancellationToken.None);
        return new BenchStore(postgres, scratch, postgres.DisposeAsync);
    }

    /// <summary>Empties the bench database's tables before a store opens on it, so each run starts from nothing (the schema
    /// and its migration record stay).</summary>
    private static async Task ClearAsync(string connection)
    {
        await using var data = Npgsql.NpgsqlDataSource.Create(connection);
        await using var command = data.CreateCommand(
            "DO $$ DECLARE t text; BEGIN FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT IN ('mailserver_meta', 'key_ledger_meta') " +
            "LOOP EXECUTE 'TRUNCATE ' || quote_ident(t) || ' CASCADE'; END LOOP; END $$");
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<double> DeliveriesAsync(BenchStore store, int writers, int messages)
    {
        var delivery = (IDeliveryStore)store.Store;
        var boxes = new List<MailboxInfo>();
        for (var i = 0; i < 16; i++)
            boxes.Add(await delivery.EnsureMailboxAsync(Org, $"user{i}@bench.test", CancellationToken.None));
        var message = Message(4000);
        var next = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
        {
            int n;
            while ((n = Interlocked.Increment(ref next)) <= messages)
                await delivery.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(boxes[n % 16].MailboxId, "INBOX")], CancellationToken.None);
        })));
        clock.Stop();
        var stored = Enumerable.Range(0, 16).Sum(i => delivery.FindMailbox(Org, $"user{i}@bench.test")!.MessageCount);
        if (stored != messages)
            throw new InvalidOperationException($"{stored} messages stored of {messages} delivered");
        return messages / clock.Elapsed.TotalSeconds;
    }

    private static async Task<(double Enqueued, double Settled)> QueueAsync(BenchStore store, int claimers, int messages)
    {
        var queue = (IQueueStore)store.Store;
        var message = Message(4000);
        var due = DateTimeOffset.UtcNow;
        var enqueue = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, claimers).Select(c => Task.Run(async () =>
        {
            for (var i = c; i < messages; i += claimers)
                await queue.EnqueueAsync(new OutboundEnvelope(Org, "alice@bench.test", "alice@bench.test", due, null, null,
                    [new QueuedRecipient($"r{i}@partner.test", QueuedRecipientState.Pending, 0, due)]), message, "alice@bench.test", CancellationToken.None);
        })));
        enqueue.Stop();
        var settled = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, claimers).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                var claimed = await queue.ClaimDueQueueAsync(due, 8, TimeSpan.FromMinutes(5), CancellationToken.None);
                if (claimed.Count == 0)
                    return;
                foreach (var id in claimed)
                {
                    var queued = queue.FindQueued(id)!;
                    await queue.UpdateQueuedAsync(id, queued.Envelope.Recipients.Select(r => r with { State = QueuedRecipientState.Delivered }).ToList(),
                        CancellationToken.None);
                    Interlocked.Increment(ref settled);
                }
            }
        })));
        clock.Stop();
        if (settled != messages || queue.ListQueue().Count != 0)
            throw new InvalidOperationException($"{settled} of {messages} settled, {queue.ListQueue().Count} left in the queue");
        return (messages / enqueue.Elapsed.TotalSeconds, messages / clock.Elapsed.TotalSeconds);
    }

    private static byte[] Message(int padTo)
    {
        var text = new StringBuilder()
            .Append("From: Alice <alice@bench.test>\r\nTo: Bob <bob@bench.test>\r\nSubject: store bench\r\n")
            .Append("Message-ID: <").Append(Guid.NewGuid().ToString("N")).Append("@bench.test>\r\n\r\n");
        while (text.Length < padTo)
            text.Append("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    private sealed class BenchStore(object store, string scratch, Func<ValueTask> dispose) : IAsyncDisposable
    {
        public object Store => store;

        public async ValueTask DisposeAsync()
        {
            await dispose();
            try { Directory.Delete(scratch, recursive: true); }
            catch (IOException) { }
        }
    }
}
