using System.Collections.Concurrent;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Storage;
using MailServer.Storage.Crypto;
using MailServer.Storage.PostgreSql;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Crash;

/// <summary>
/// Durability: kill -9 the real server at random moments while several clients stream mail, restart it, and check
/// that every message that got 250 is present and readable, that UIDs only ever increase, and that the store opens
/// cleanly — round after round, on the same data folder, on either store engine (LiteDB's file, or a PostgreSQL mail
/// database and key database of the run's private cluster).
/// </summary>
[TestFixture, NonParallelizable]
public sealed class KillNineTests
{
    private const int Rounds = 16;
    private const int Clients = 4;

    [TestCase("LiteDb")]
    [TestCase("PostgreSql")]
    public async Task Every_acknowledged_message_survives_kill_9_and_uids_keep_increasing(string engine)
    {
        var seed = Environment.TickCount;
        TestContext.Out.WriteLine($"seed {seed}");
        var random = new Random(seed);
        await using var server = ServerProcess.Create();
        (string ConnectionString, string KeyLedgerConnectionString)? postgreSql = engine == "PostgreSql"
            ? (await PostgreSqlCluster.Instance.CreateDatabaseAsync(), await PostgreSqlCluster.Instance.CreateDatabaseAsync())
            : null;
        if (postgreSql is { } databases)
        {
            var storage = System.Text.Json.JsonSerializer.Serialize(new { Engine = "PostgreSql", databases.ConnectionString, databases.KeyLedgerConnectionString });
            var config = File.ReadAllText(server.ConfigPath);
            Assert.That(config, Does.Contain("\"DataDirectory\": \"data\","));
            File.WriteAllText(server.ConfigPath, config.Replace("\"DataDirectory\": \"data\",", $"\"DataDirectory\": \"data\", \"Storage\": {storage},"));
        }
        var acknowledged = new ConcurrentDictionary<string, int>();
        uint highestUidSeen = 0;
        var killedMidStream = 0;

        for (var round = 0; round < Rounds; round++)
        {
            await server.StartAsync();
            using var stop = new CancellationTokenSource();
            var sent = new int[Clients];
            var clients = Enumerable.Range(0, Clients)
                .Select(c => StreamAsync(server.ListenerPorts.Smtp, round, c, acknowledged, sent, stop.Token))
                .ToArray();

            // Kill mid-stream: once this round has had a message acknowledged (on a loaded machine the first
            // can take longer than the random delay), then after a random while.
            var before = acknowledged.Count;
            for (var waited = 0; acknowledged.Count == before && waited < 600; waited++)
                await Task.Delay(50);
            Assert.That(acknowledged.Count, Is.GreaterThan(before), $"round {round}: no message acknowledged within 30 s");
            await Task.Delay(random.Next(300, 1500));
            await server.KillAsync();
            stop.Cancel();
            await Task.WhenAll(clients);
            if (sent.Sum() > 0)
                killedMidStream++;

            // Open the store the way the server does, outside the server, and check it.
            var (store, owner) = await OpenStoreAsync(server, postgreSql);
            await using var closes = owner;
            var mailbox = store.FindMailbox(Organization, "alice@example.test");
            Assert.That(mailbox, Is.Not.Null, $"round {round}: alice's mailbox exists");
            var inbox = store.FindFolder(mailbox!.MailboxId, WellKnownFolders.Inbox)!;
            var messages = store.ListMessages(inbox.FolderId);

            Assert.That(messages.Select(m => m.Uid), Is.Ordered.Ascending.And.Unique, $"round {round}: UIDs strictly increase");
            Assert.That(messages.Count == 0 || messages[0].Uid > 0, Is.True);
            Assert.That(inbox.UidNext, Is.GreaterThan(messages.Count == 0 ? 0u : messages[^1].Uid), $"round {round}: UIDNEXT beyond the last UID");
            Assert.That(inbox.UidNext, Is.GreaterThanOrEqualTo(highestUidSeen), $"round {round}: UIDs are never reused");
            highestUidSeen = inbox.UidNext;

            var subjects = new HashSet<string>();
            foreach (var meta in messages)
            {
                var bytes = await store.ReadMessageAsync(mailbox.MailboxId, meta.EntryId, CancellationToken.None);
                using var parsed = MimeMessage.Load(new MemoryStream(bytes));
                subjects.Add(parsed.Subject ?? "");
            }
            var missing = acknowledged.Keys.Where(k => !subjects.Contains(k)).ToList();
            Assert.That(missing, Is.Empty, $"round {round}: acknowledged messages missing after kill -9");

            // LiteDB: every entry has its blob file and decrypts; counters agree. Orphan blobs (written, never
            // acknowledged) are allowed and are what reindex cleans up. (PostgreSQL writes a body in the transaction
            // of its entries: every message above was read and decrypted.)
            if (store is not MailStore liteDb)
                continue;
            var report = await liteDb.ReindexAsync(CancellationToken.None);
            Assert.That(report.EntriesRemovedBlobMissing, Is.Zero, $"round {round}: entries without their blob");
            Assert.That(report.EntriesUndecryptable, Is.Zero, $"round {round}: entries that do not decrypt");
            Assert.That(report.EntriesChecked, Is.EqualTo(messages.Count));
        }

        TestContext.Out.WriteLine($"{acknowledged.Count} acknowledged messages over {Rounds} rounds, {killedMidStream} kills mid-stream");
        Assert.That(acknowledged.Count, Is.GreaterThan(Rounds * Clients), "the clients really streamed mail");
    }

    private const string Organization = ServerProcess.OrganizationId;

    /// <summary>The store the server wrote, opened outside it (and what closes it).</summary>
    private static async Task<(IImapStore Store, IAsyncDisposable Owner)> OpenStoreAsync(ServerProcess server,
        (string ConnectionString, string KeyLedgerConnectionString)? postgreSql)
    {
        if (postgreSql is not { } databases)
        {
            var liteDb = server.OpenStore();
            return (liteDb, liteDb);
        }
        var store = await PostgreSqlMailStore.OpenAsync(new PostgreSqlStoreOptions
        {
            ConnectionString = databases.ConnectionString,
            KeyLedgerConnectionString = databases.KeyLedgerConnectionString,
            MasterKeys = new FileMasterKeyProvider(
                new Dictionary<string, string> { [Organization] = Path.Combine(server.DataDirectory, "keys", "example.key") }, createMissing: false),
        }, CancellationToken.None);
        return (store, store);
    }

    private static async Task StreamAsync(int port, int round, int clientIndex, ConcurrentDictionary<string, int> acknowledged, int[] sent, CancellationToken stop)
    {
        try
        {
            using var client = new SmtpClient();
            await client.ConnectAsync("127.0.0.1", port, SecureSocketOptions.None, stop);
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var subject = $"crash r{round} c{clientIndex} n{n} {Guid.NewGuid():N}";
                var message = new MimeMessage();
                message.From.Add(MailboxAddress.Parse("sender@elsewhere.test"));
                message.To.Add(MailboxAddress.Parse("alice@example.test"));
                message.Subject = subject;
                message.Body = new TextPart("plain") { Text = new string('x', 2000 + n % 5000) };
                await client.SendAsync(message, stop);
                acknowledged[subject] = round; // only after the 250
                sent[clientIndex]++;
            }
        }
        catch (Exception e) when (e is IOException or SmtpProtocolException or SmtpCommandException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            // The server was killed under us: whatever did not get its 250 is not owed.
        }
    }
}
