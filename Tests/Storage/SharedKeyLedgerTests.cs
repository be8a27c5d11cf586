using MailServer.Storage;
using MailServer.Storage.Crypto;
using MailServer.Storage.PostgreSql;
using MailServer.Tests.Support;
using Npgsql;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>
/// The key ledger that several nodes share (issue 18): two PostgreSQL store instances on one mail database and one key
/// database, each with its own connection pools and its own master key provider over the same key folder, as two
/// nodes would have. A mailbox made on one node is readable on the other; a shredding on one makes the mailbox
/// unreadable through the other, even from rows restored from a copy taken before; creations on both nodes during
/// shreddings lose no secret; a master key rotation on one node while the other keeps writing leaves nothing under
/// the retired version; a mailbox key rotation on one node while the other delivers and renames with the old key cached
/// leaves nothing under the replaced key, and a delivery wrapped under the old key that commits after the rotation ended
/// is wrapped again. And the key database is refused when it is the mail database.
/// </summary>
[TestFixture]
public sealed class SharedKeyLedgerTests
{
    private static readonly CancellationToken None = CancellationToken.None;
    private const string Org = StoreHarness.Org;
    private string _mail = null!;
    private string _ledger = null!;
    private string _keyFile = null!;
    private readonly List<PostgreSqlMailStore> _open = [];

    [SetUp]
    public async Task CreateDatabasesAsync()
    {
        _mail = await PostgreSqlCluster.Instance.CreateDatabaseAsync();
        _ledger = await PostgreSqlCluster.Instance.CreateDatabaseAsync();
        _keyFile = Path.Combine(StoreHarness.NewTempDirectory(), "keys", "org-1.key");
    }

    [TearDown]
    public async Task CloseAsync()
    {
        foreach (var store in _open)
            await store.DisposeAsync();
        _open.Clear();
        try { Directory.Delete(Path.GetDirectoryName(Path.GetDirectoryName(_keyFile))!, recursive: true); } catch (IOException) { }
    }

    private FileMasterKeyProvider Keys(bool createMissing = true) =>
        new(new Dictionary<string, string> { [Org] = _keyFile }, createMissing);

    private async Task<PostgreSqlMailStore> NodeAsync(TimeSpan? keyCacheTtl = null, FileMasterKeyProvider? keys = null)
    {
        var options = ContractStore.PostgreSqlOptions(_mail, _ledger, keys ?? Keys());
        if (keyCacheTtl is { } ttl)
            options = options with { KeyCacheTimeToLive = ttl };
        var store = await PostgreSqlMailStore.OpenAsync(options, None).WaitAsync(TimeSpan.FromSeconds(60));
        _open.Add(store);
        return store;
    }

    private async Task<long> ScalarAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }

    private static async Task ExecuteAsync(string connectionString, string sql, params object[] arguments)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var argument in arguments)
            command.Parameters.Add(new NpgsqlParameter { Value = argument });
        await command.ExecuteNonQueryAsync();
    }

    [Test]
    public async Task A_mailbox_made_on_node_A_after_node_B_read_the_ledger_is_readable_on_node_B()
    {
        var nodeA = await NodeAsync();
        var nodeB = await NodeAsync();
        await nodeB.EnsureMailboxAsync(Org, "first@example.test", None); // node B has its copy of the ledger now

        var box = await nodeA.EnsureMailboxAsync(Org, "later@example.test", None);
        var message = StoreHarness.Message("made on A", "read on B");
        var stored = await nodeA.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], None);

        Assert.That(await nodeB.ReadMessageAsync(box.MailboxId, stored[0].EntryId, None), Is.EqualTo(message));
        Assert.That(nodeB.ListFolders(box.MailboxId).Select(f => f.Name), Does.Contain("INBOX"));
        Assert.That(await ScalarAsync(_ledger, "SELECT count(*) FROM key_ledger_secrets"), Is.EqualTo(2), "one sealed row per mailbox secret");
        Assert.That(await ScalarAsync(_mail, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'key_ledger%'"), Is.Zero, "no secret in the mail database");
    }

    [Test]
    public async Task A_shredding_on_node_A_makes_the_mailbox_unreadable_on_node_B_even_from_rows_restored_from_a_copy()
    {
        var nodeA = await NodeAsync();
        var nodeB = await NodeAsync(keyCacheTtl: TimeSpan.FromMilliseconds(1));
        var doomed = await nodeA.EnsureMailboxAsync(Org, "leaver@example.test", None);
        var kept = await nodeA.EnsureMailboxAsync(Org, "stayer@example.test", None);
        var message = StoreHarness.Message("shared", "to both");
        var stored = await nodeA.DeliverAsync(message, DateTimeOffset.UtcNow,
            [new DeliveryTarget(doomed.MailboxId, "INBOX"), new DeliveryTarget(kept.MailboxId, "INBOX")], None);
        Assert.That(await nodeB.ReadMessageAsync(doomed.MailboxId, stored[0].EntryId, None), Is.EqualTo(message), "node B reads it before");
        // A copy of the mailbox's rows, as a backup of the mail database taken now would hold them.
        foreach (var table in new[] { "mailboxes", "folders", "entries", "blobs", "blob_segments" })
            await ExecuteAsync(_mail, $"CREATE TABLE copy_{table} AS SELECT * FROM {table}");

        var deleted = await nodeA.DeleteMailboxAsync(Org, "leaver@example.test", None);

        Assert.That(deleted!.Messages, Is.EqualTo(1));
        Assert.That(nodeB.FindMailbox(Org, "leaver@example.test"), Is.Null);
        Assert.That(await nodeB.ReadMessageAsync(kept.MailboxId, stored[1].EntryId, None), Is.EqualTo(message), "the other recipient still reads it");
        await ExecuteAsync(_mail, "INSERT INTO mailboxes SELECT * FROM copy_mailboxes WHERE id = $1", doomed.MailboxId);
        await ExecuteAsync(_mail, "INSERT INTO folders SELECT * FROM copy_folders WHERE mailbox_id = $1", doomed.MailboxId);
        await ExecuteAsync(_mail, "INSERT INTO entries SELECT * FROM copy_entries WHERE mailbox_id = $1", doomed.MailboxId);
        Assert.That(nodeB.FindMailbox(Org, "leaver@example.test"), Is.Not.Null, "the restored rows are there");
        Assert.ThrowsAsync<MailboxShreddedException>(() => nodeB.ReadMessageAsync(doomed.MailboxId, stored[0].EntryId, None),
            "node B learned of the shredding on node A: the restored mailbox's key does not open");
        var fresh = await NodeAsync();
        Assert.ThrowsAsync<MailboxShreddedException>(() => fresh.ReadMessageAsync(doomed.MailboxId, stored[0].EntryId, None));
    }

    [Test]
    public async Task Mailboxes_created_on_both_nodes_while_both_shred_others_lose_no_secret()
    {
        var nodeA = await NodeAsync();
        var nodeB = await NodeAsync();
        var leavers = new List<string>();
        for (var i = 0; i < 6; i++)
            leavers.Add((await nodeA.EnsureMailboxAsync(Org, $"leaver{i}@example.test", None)).Owner);
        const int perNode = 12;

        var creations = new[] { ("a", nodeA), ("b", nodeB) }.SelectMany(n => Enumerable.Range(0, perNode).Select(i => Task.Run(() =>
            n.Item2.EnsureMailboxAsync(Org, $"new-{n.Item1}{i}@example.test", None))));
        var shreddings = leavers.Select((owner, i) => Task.Run(() => (i % 2 == 0 ? nodeA : nodeB).DeleteMailboxAsync(Org, owner, None)));
        var made = (await Task.WhenAll(creations).WaitAsync(TimeSpan.FromSeconds(120))).ToList();
        await Task.WhenAll(shreddings).WaitAsync(TimeSpan.FromSeconds(120));

        // A node that starts now reads the ledger from the key database alone: every new mailbox opens, no leaver does.
        var fresh = await NodeAsync();
        foreach (var box in made)
        {
            var stored = await fresh.DeliverAsync(StoreHarness.Message("hello", box.Owner), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], None);
            Assert.That(await fresh.ReadMessageAsync(box.MailboxId, stored[0].EntryId, None), Is.Not.Empty, box.Owner);
        }
        Assert.That(fresh.ListMailboxes(Org).Select(m => m.Owner).Order(), Is.EqualTo(made.Select(m => m.Owner).Order()));
        Assert.That(fresh.KeyStatusOf(Org).ShreddedMailboxes, Is.EqualTo(leavers.Count));
        Assert.That(await ScalarAsync(_ledger, "SELECT count(*) FROM key_ledger_secrets"), Is.EqualTo(2 * perNode), "exactly the live mailboxes' secrets");
    }

    [Test]
    public async Task A_rotation_on_node_A_while_node_B_keeps_writing_leaves_nothing_under_the_retired_version()
    {
        var nodeA = await NodeAsync();
        var nodeB = await NodeAsync();
        for (var i = 0; i < 5; i++)
            await nodeA.EnsureMailboxAsync(Org, $"user{i}@example.test", None);
        await nodeB.StoreInTransitAsync(Org, MessageFlowContext.Incoming, StoreHarness.Message("before", "v1"), updatable: false, None);
        nodeA.RotationBatchSize = 2;
        using var stop = new CancellationTokenSource();
        var written = new System.Collections.Concurrent.ConcurrentQueue<(Guid Id, byte[] Message)>();
        var refusals = 0;
        // Node B only stores in-transit copies: nothing else tells it of the rotation (no mailbox creation, no shredding).
        var writer = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested && i < 5000; i++)
            {
                var message = StoreHarness.Message("during " + i, "written on node B while node A rotates");
                try
                {
                    written.Enqueue((await nodeB.StoreInTransitAsync(Org, MessageFlowContext.Incoming, message, updatable: false, None), message));
                }
                catch (MasterKeyVersionRetiredException)
                {
                    refusals++; // the wrap was computed under version 1 after the rotation retired it: a retry wraps under 2
                }
            }
        });

        var result = await nodeA.RotateAsync(Org, start: true, null, None).WaitAsync(TimeSpan.FromSeconds(120));
        // Node B goes on writing after the end of the rotation (bounded: the writer stops after 5000 writes anyway).
        var atEnd = written.Count;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (written.Count < atEnd + 10 && !writer.IsCompleted && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        stop.Cancel();
        await writer.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.That(result.Version, Is.EqualTo(2));
        Assert.That(File.Exists(_keyFile), Is.False, "version 1 is destroyed");
        var status = nodeB.KeyStatusOf(Org);
        Assert.That((status.CurrentVersion, status.RetiringVersions.Count), Is.EqualTo((2, 0)), "node B knows the rotation ended");
        Assert.That(status.MailboxesByVersion.Keys, Is.EqualTo(new[] { 2 }), "no mailbox key under version 1");
        Assert.That(status.TransitByVersion.Keys, Is.EqualTo(new[] { 2 }), "no in-transit key under version 1");
        Assert.That(written, Is.Not.Empty);
        var later = await NodeAsync(keys: Keys(createMissing: false));
        foreach (var (id, message) in written)
            Assert.That(await later.ReadInTransitAsync(id, None), Is.EqualTo(message), "it opens with version 2 alone");
        foreach (var box in later.ListMailboxes(Org))
            Assert.That(later.ListFolders(box.MailboxId), Is.Not.Empty, box.Owner);
        Assert.That(written.Count, Is.GreaterThanOrEqualTo(atEnd + 10), "node B wrote after the rotation ended");
        TestContext.Out.WriteLine($"{written.Count} in-transit writes on node B ({atEnd} before the rotation ended), {refusals} refused as retired and not stored");
    }

    [Test]
    public async Task A_mailbox_key_rotation_on_node_A_while_node_B_delivers_and_renames_with_the_old_key_cached_loses_nothing()
    {
        var nodeA = await NodeAsync();
        var nodeB = await NodeAsync();
        var box = await nodeA.EnsureMailboxAsync(Org, "alice@example.test", None);
        var messages = new System.Collections.Concurrent.ConcurrentQueue<(string EntryId, byte[] Message)>();
        for (var i = 0; i < 10; i++)
        {
            var message = StoreHarness.Message("before " + i, "delivered on node A");
            messages.Enqueue(((await nodeA.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], None))[0].EntryId, message));
        }
        // Node B has the generation-0 key in its cache before the switch (its time to live is long).
        await nodeB.CreateFolderAsync(box.MailboxId, "Work", SpecialUse.None, None);
        nodeA.RotationBatchSize = 2;
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested && i < 2000; i++)
            {
                var message = StoreHarness.Message("during " + i, "delivered on node B while node A rotates");
                if (i % 4 == 3)
                {
                    await nodeB.RenameFolderAsync(box.MailboxId, "Work", "Work, renamed", None);
                    await nodeB.RenameFolderAsync(box.MailboxId, "Work, renamed", "Work", None);
                    continue;
                }
                var folder = i % 2 == 0 ? "INBOX" : "Work";
                messages.Enqueue(((await nodeB.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, folder)], None))[0].EntryId, message));
            }
        });

        var result = await nodeA.RotateMailboxKeyAsync(box.MailboxId, null, None).WaitAsync(TimeSpan.FromSeconds(120));
        var atEnd = messages.Count;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (messages.Count < atEnd + 10 && !writer.IsCompleted && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        stop.Cancel();
        await writer.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.That(result.Generation, Is.EqualTo(1));
        Assert.That(nodeB.MailboxKeyRotationsPending(Org), Is.Empty, "node B sees the rotation ended");
        Assert.That(await ScalarAsync(_mail, $"SELECT count(*) FROM entries WHERE mailbox_id = '{box.MailboxId}' AND key_generation <> 1"), Is.Zero,
            "no entry under the replaced key, whichever node wrote it");
        // A third node, no key cached, the old secret destroyed: every message node B acknowledged opens with the new key.
        var later = await NodeAsync();
        foreach (var (entryId, message) in messages)
            Assert.That(await later.ReadMessageAsync(box.MailboxId, entryId, None), Is.EqualTo(message));
        Assert.That(later.ListFolders(box.MailboxId).Sum(f => f.MessageCount), Is.EqualTo(messages.Count));
        Assert.That(later.FindFolder(box.MailboxId, "Work"), Is.Not.Null, "node B's renames after the switch are under the new key");
        Assert.That(messages.Count, Is.GreaterThanOrEqualTo(atEnd + 10), "node B delivered after the rotation ended");
        TestContext.Out.WriteLine($"{messages.Count} messages ({atEnd} by the end of the rotation), {result.Rewrapped} re-wrapped");
    }

    [Test]
    public async Task A_delivery_on_node_B_wrapped_under_the_old_mailbox_key_that_commits_after_the_rotation_ended_on_node_A_is_redone_under_the_new_key()
    {
        var nodeA = await NodeAsync();
        var nodeB = await NodeAsync();
        var box = await nodeA.EnsureMailboxAsync(Org, "alice@example.test", None);
        var before = StoreHarness.Message("before", "delivered before the rotation");
        var first = await nodeB.DeliverAsync(before, DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], None);
        // Node B's next delivery reads the mailbox key (generation 0) and wraps under it, then waits on the body table,
        // which this session holds, until node A's rotation has ended and destroyed generation 0.
        await using var blocker = new NpgsqlConnection(_mail);
        await blocker.OpenAsync();
        await using var hold = await blocker.BeginTransactionAsync();
        await using (var lockTable = new NpgsqlCommand("LOCK TABLE blobs IN EXCLUSIVE MODE", blocker, hold))
            await lockTable.ExecuteNonQueryAsync();
        var late = StoreHarness.Message("late", "wrapped before the switch, committed after the end");
        var delivery = nodeB.DeliverAsync(late, DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], None);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await ScalarAsync(_mail, "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'blobs'::regclass") == 0 && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.That(delivery.IsCompleted, Is.False, "node B waits on the body table");

        var result = await nodeA.RotateMailboxKeyAsync(box.MailboxId, null, None).WaitAsync(TimeSpan.FromSeconds(60));
        await hold.CommitAsync();
        var stored = await delivery.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.That((result.Generation, result.Rewrapped), Is.EqualTo((1, 1L)));
        var later = await NodeAsync();
        Assert.That(await later.ReadMessageAsync(box.MailboxId, first[0].EntryId, None), Is.EqualTo(before));
        Assert.That(await later.ReadMessageAsync(box.MailboxId, stored[0].EntryId, None), Is.EqualTo(late),
            "the delivery saw the new key generation with the mailbox row locked and wrapped again under the new key");
        Assert.That(later.ListFolders(box.MailboxId).Single(f => f.SpecialUse == SpecialUse.Inbox).MessageCount, Is.EqualTo(2), "stored once");
    }

    [Test]
    public async Task A_write_in_flight_under_the_old_version_when_the_rotation_ends_on_another_node_is_rewrapped_before_the_old_version_is_destroyed()
    {
        var nodeA = await NodeAsync();
        var nodeB = await NodeAsync();
        await nodeB.EnsureMailboxAsync(Org, "someone@example.test", None);
        // Another session holds the bodies table, so node B's in-transit write, wrapped under version 1, waits inside its
        // transaction after it took the retirement lock in shared mode, as a slow write would.
        await using var blocker = new NpgsqlConnection(_mail);
        await blocker.OpenAsync();
        var hold = await blocker.BeginTransactionAsync();
        await using (var lockTable = new NpgsqlCommand("LOCK TABLE blobs IN EXCLUSIVE MODE", blocker, hold))
            await lockTable.ExecuteNonQueryAsync();
        var message = StoreHarness.Message("in flight", "wrapped under version 1");
        var write = nodeB.StoreInTransitAsync(Org, MessageFlowContext.Incoming, message, updatable: false, None);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (await ScalarAsync(_mail, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND mode = 'ShareLock' AND granted") == 0)
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "node B's write never took the retirement lock");
            await Task.Delay(20);
        }

        var rotation = nodeA.RotateAsync(Org, start: true, null, None);
        await Task.Delay(300);
        Assert.That(rotation.IsCompleted, Is.False, "the rotation waits for the write in flight before its last count");
        Assert.That(File.Exists(_keyFile), Is.True, "version 1 is not destroyed while a write that names it is in flight");
        await hold.CommitAsync();
        var id = await write.WaitAsync(TimeSpan.FromSeconds(30));
        var result = await rotation.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.That(result.Rewrapped, Is.EqualTo(2), "the mailbox, and the late write found by the last count and re-wrapped");
        Assert.That(File.Exists(_keyFile), Is.False);
        Assert.That(nodeA.KeyStatusOf(Org).TransitByVersion, Is.EqualTo(new Dictionary<int, long> { [2] = 1 }));
        var later = await NodeAsync(keys: Keys(createMissing: false));
        Assert.That(await later.ReadInTransitAsync(id, None), Is.EqualTo(message), "it opens with version 2 alone");
    }

    [Test]
    public async Task A_node_that_missed_a_whole_rotation_stores_its_next_writes_under_the_new_version_without_an_error()
    {
        var nodeA = await NodeAsync();
        var nodeB = await NodeAsync();
        await nodeB.StoreInTransitAsync(Org, MessageFlowContext.Incoming, StoreHarness.Message("before", "v1"), updatable: false, None);

        await nodeA.RotateAsync(Org, start: true, null, None).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(File.Exists(_keyFile), Is.False, "version 1 is destroyed");

        // Node B still believes version 1 is current: its writes are refused inside their transactions and computed again.
        var message = StoreHarness.Message("after", "written by a node that did not hear of the rotation");
        var id = await nodeB.StoreInTransitAsync(Org, MessageFlowContext.Incoming, message, updatable: false, None);
        var box = await nodeB.EnsureMailboxAsync(Org, "new@example.test", None);

        var status = nodeA.KeyStatusOf(Org);
        Assert.That(status.TransitByVersion, Is.EqualTo(new Dictionary<int, long> { [2] = 2 }));
        Assert.That(status.MailboxesByVersion, Is.EqualTo(new Dictionary<int, long> { [2] = 1 }));
        var later = await NodeAsync(keys: Keys(createMissing: false));
        Assert.That(await later.ReadInTransitAsync(id, None), Is.EqualTo(message));
        Assert.That(later.ListFolders(box.MailboxId), Is.Not.Empty);
    }

    [Test]
    public async Task A_node_that_missed_a_rotation_seals_its_new_secret_under_the_new_version_and_a_later_reader_opens_it()
    {
        await (await NodeAsync()).DisposeAsync(); // creates the key database's tables
        _open.Clear();
        await using var keyData = NpgsqlDataSource.Create(_ledger);
        var keysA = Keys();
        var keysB = Keys();
        var nodeA = KeyLedger.OpenOrCreate(new PostgreSqlKeyLedgerStorage(keyData, Org), Org, keysA, () => true);
        var nodeB = KeyLedger.OpenOrCreate(new PostgreSqlKeyLedgerStorage(keyData, Org), Org, keysB, () => true);
        nodeB.AddMailboxes(["before"]);

        Assert.That(nodeA.BeginRotation(), Is.EqualTo(2));
        Assert.That(nodeB.CurrentVersion, Is.EqualTo(1), "node B has not heard of it");
        var secret = nodeB.AddMailboxes(["during"])["during"];

        Assert.That(nodeB.CurrentVersion, Is.EqualTo(2), "the append found the ledger re-sealed and read it again");
        var reader = KeyLedger.TryOpen(new PostgreSqlKeyLedgerStorage(keyData, Org), Org, Keys())!;
        Assert.That(reader.MailboxSecret("during"), Is.EqualTo(secret));
        Assert.That(reader.MailboxSecret("before"), Is.Not.Null);
        nodeA.FinishRotation(2);
        Assert.That(nodeB.IsUsable(1), Is.True, "node B's copy is stale until it looks");
        Assert.That(nodeB.Refresh(), Is.True);
        Assert.That((nodeB.IsUsable(1), nodeB.RetiringVersions.Count), Is.EqualTo((false, 0)));
        Assert.That(nodeB.Refresh(), Is.False, "nothing changed since");
    }

    [Test]
    public async Task A_record_that_does_not_open_in_the_key_database_is_damage_not_a_torn_append()
    {
        await (await NodeAsync()).DisposeAsync();
        _open.Clear();
        await using var keyData = NpgsqlDataSource.Create(_ledger);
        var ledger = KeyLedger.OpenOrCreate(new PostgreSqlKeyLedgerStorage(keyData, Org), Org, Keys(), () => true);
        ledger.AddMailboxes(["a", "b"]);
        await ExecuteAsync(_ledger, "UPDATE key_ledger_secrets SET box = set_byte(box, 20, get_byte(box, 20) # 1) WHERE seq = (SELECT max(seq) FROM key_ledger_secrets)");

        Assert.Throws<InvalidDataException>(() => KeyLedger.TryOpen(new PostgreSqlKeyLedgerStorage(keyData, Org), Org, Keys()),
            "a secret is never dropped silently");
    }

    [Test]
    public void The_key_database_must_not_be_the_mail_database()
    {
        var same = Assert.ThrowsAsync<ArgumentException>(() => PostgreSqlMailStore.OpenAsync(ContractStore.PostgreSqlOptions(_mail, _mail, Keys()), None));
        Assert.That(same!.Message, Does.Contain("KeyLedgerConnectionString"));
        // The same database under another spelling (a host name instead of the address) is found by its tables.
        var other = new NpgsqlConnectionStringBuilder(_mail) { Host = "localhost" }.ConnectionString;
        Assume.That(new NpgsqlConnectionStringBuilder(_mail).Host, Is.Not.EqualTo("localhost"));
        Assert.DoesNotThrowAsync(async () => _open.Add(await PostgreSqlMailStore.OpenAsync(ContractStore.PostgreSqlOptions(_mail, _ledger, Keys()), None)));
        var refused = Assert.ThrowsAsync<InvalidOperationException>(() => PostgreSqlMailStore.OpenAsync(ContractStore.PostgreSqlOptions(_mail, other, Keys()), None));
        Assert.That(refused!.Message, Does.Contain("mail store's tables"));
    }
}
