using System.Diagnostics;
using MailServer.Storage;
using MailServer.Storage.PostgreSql;
using MailServer.Tests.Support;
using Npgsql;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>
/// What only a shared engine must show: two store instances on one PostgreSQL database (each with its own connection
/// pool and listener, as two nodes would have) never hand out one UID twice, hear each other's changes within a
/// second, and read each other's mailboxes; the schema is migrated once and a newer one is refused.
/// </summary>
[TestFixture]
public sealed partial class PostgreSqlStoreTests
{
    private static readonly CancellationToken None = CancellationToken.None;
    private string _connectionString = null!;
    private string _ledgerConnectionString = null!;
    private FixedKeys _keys = null!;
    private readonly List<PostgreSqlMailStore> _open = [];

    [SetUp]
    public async Task CreateDatabaseAsync()
    {
        _connectionString = await PostgreSqlCluster.Instance.CreateDatabaseAsync();
        _ledgerConnectionString = await PostgreSqlCluster.Instance.CreateDatabaseAsync();
        _keys = FixedKeys.Random(StoreHarness.Org);
    }

    [TearDown]
    public async Task CloseAsync()
    {
        foreach (var store in _open)
            await store.DisposeAsync();
        _open.Clear();
    }

    private async Task<PostgreSqlMailStore> OpenNodeAsync()
    {
        var store = await PostgreSqlMailStore.OpenAsync(ContractStore.PostgreSqlOptions(_connectionString, _ledgerConnectionString, _keys), None)
            .WaitAsync(TimeSpan.FromSeconds(60));
        _open.Add(store);
        return store;
    }

    [Test]
    public async Task Concurrent_appends_through_two_nodes_never_reuse_a_uid_and_leave_no_gap()
    {
        var nodeA = await OpenNodeAsync();
        var nodeB = await OpenNodeAsync();
        var box = await nodeA.EnsureMailboxAsync(StoreHarness.Org, "shared@example.test", None);
        const int writersPerNode = 4, appendsPerWriter = 15;

        var writers = new[] { nodeA, nodeB }.SelectMany(node => Enumerable.Range(0, writersPerNode).Select(w => Task.Run(async () =>
        {
            var uids = new List<(uint Uid, ulong ModSeq)>();
            for (var i = 0; i < appendsPerWriter; i++)
            {
                var stored = await node.AppendAsync(box.MailboxId, "INBOX",
                    [new AppendItem(StoreHarness.Message($"w{w}-{i}", "body"), DateTimeOffset.UtcNow, MessageFlags.None, [])], None);
                uids.Add((stored[0].Uid, stored[0].ModSeq));
            }
            return uids;
        }))).ToList();
        var all = (await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(120))).SelectMany(u => u).ToList();

        const int total = 2 * writersPerNode * appendsPerWriter;
        Assert.That(all.Select(a => a.Uid).Distinct().Count(), Is.EqualTo(total), "a UID handed out twice");
        Assert.That(all.Select(a => a.ModSeq).Distinct().Count(), Is.EqualTo(total), "a MODSEQ handed out twice");
        Assert.That(all.Select(a => a.Uid).Order(), Is.EqualTo(Enumerable.Range(1, total).Select(i => (uint)i)));
        var inbox = nodeB.FindFolder(box.MailboxId, "INBOX")!;
        Assert.That((inbox.MessageCount, inbox.UidNext, inbox.UnseenCount), Is.EqualTo((total, (uint)total + 1, total)));
        Assert.That(nodeB.ListMessages(inbox.FolderId).Select(m => m.Uid), Is.EqualTo(Enumerable.Range(1, total).Select(i => (uint)i)));
    }

    [Test]
    public async Task An_idle_subscriber_on_node_B_hears_a_delivery_through_node_A_within_a_second_and_reads_it()
    {
        var nodeA = await OpenNodeAsync();
        var nodeB = await OpenNodeAsync();
        // Created through A after B opened: B's copy of the key ledger lacks the mailbox and must read the ledger again.
        var box = await nodeA.EnsureMailboxAsync(StoreHarness.Org, "idle@example.test", None);
        var inbox = nodeB.FindFolder(box.MailboxId, "INBOX")!;
        using var subscription = nodeB.Changes.Subscribe(box.MailboxId);
        var message = StoreHarness.Message("ping across nodes", "hello B");

        var clock = Stopwatch.StartNew();
        var stored = await nodeA.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], None);
        var change = await subscription.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(1));
        clock.Stop();

        Assert.That(change, Is.EqualTo(new MailboxChange.MessageAdded(box.MailboxId, inbox.FolderId, stored[0].ModSeq, 1)));
        TestContext.Out.WriteLine($"delivery through A heard on B after {clock.Elapsed.TotalMilliseconds:F0} ms (including the commit)");
        Assert.That(await nodeB.ReadMessageAsync(box.MailboxId, stored[0].EntryId, None), Is.EqualTo(message));

        // A flag change and an expunge through B reach A's subscribers the same way.
        using var onA = nodeA.Changes.Subscribe(box.MailboxId);
        await nodeB.SetFlagsAsync(inbox.FolderId, [1], FlagOperation.Add, MessageFlags.Deleted, [], None);
        await nodeB.ExpungeAsync(inbox.FolderId, null, None);
        var flagged = await onA.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(1));
        var expunged = await onA.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(1));
        Assert.That(flagged, Is.TypeOf<MailboxChange.FlagsChanged>());
        Assert.That(((MailboxChange.MessagesExpunged)expunged).Uids, Is.EqualTo(new uint[] { 1 }));
        Assert.That(subscription.Overflowed, Is.False);
    }

    [Test]
    public async Task A_metadata_change_through_node_A_reaches_node_B_naming_the_scope_only()
    {
        var nodeA = await OpenNodeAsync();
        var nodeB = await OpenNodeAsync();
        var box = await nodeA.EnsureMailboxAsync(StoreHarness.Org, "annotated@example.test", None);
        var drafts = nodeA.FindFolder(box.MailboxId, "Drafts")!;
        using var onB = nodeB.Changes.Subscribe(box.MailboxId);
        await nodeA.SetMetadataAsync(box.MailboxId, drafts.FolderId, [new("/shared/vendor/secret-entry-name", "v"u8.ToArray())], 50, None);
        await nodeA.SetMetadataAsync(box.MailboxId, null, [new("/private/vendor/x", "1"u8.ToArray())], 50, None);
        // RFC 5465 metadata events across nodes: the notification names the scope, the session on B reads the entries.
        Assert.That(await onB.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5)), Is.EqualTo(new MailboxChange.MetadataChanged(box.MailboxId, drafts.FolderId)));
        Assert.That(await onB.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5)), Is.EqualTo(new MailboxChange.MetadataChanged(box.MailboxId, "")));
        Assert.That(nodeB.ReadMetadata(box.MailboxId, drafts.FolderId).Keys, Is.EqualTo(new[] { "/shared/vendor/secret-entry-name" }));
        // What goes through PostgreSQL's NOTIFY queue carries no entry name.
        var payload = string.Concat(PostgreSqlChangeListener.Payloads("node", [new MailboxChange.MetadataChanged(box.MailboxId, drafts.FolderId)]));
        Assert.That(payload, Does.Contain(drafts.FolderId).And.Not.Contain("secret-entry-name").And.Not.Contain("/shared"));
    }

    [Test]
    public async Task A_node_does_not_hear_its_own_changes_twice()
    {
        var node = await OpenNodeAsync();
        var box = await node.EnsureMailboxAsync(StoreHarness.Org, "once@example.test", None);
        using var subscription = node.Changes.Subscribe(box.MailboxId);
        await node.DeliverAsync(StoreHarness.Message("one", "1"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], None);
        await subscription.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(1));
        await Task.Delay(300); // the notification comes back from PostgreSQL in this time, and must be dropped
        Assert.That(subscription.Reader.TryRead(out var extra), Is.False, $"heard again: {extra}");
    }

    [Test]
    public async Task A_large_expunge_announced_in_several_notifications_reaches_the_other_node_whole()
    {
        var nodeA = await OpenNodeAsync();
        var nodeB = await OpenNodeAsync();
        var box = await nodeA.EnsureMailboxAsync(StoreHarness.Org, "bulk@example.test", None);
        await nodeA.AppendAsync(box.MailboxId, "INBOX",
            [.. Enumerable.Range(0, 1500).Select(i => new AppendItem(StoreHarness.Message("m" + i, "b"), DateTimeOffset.UtcNow, MessageFlags.Deleted, []))], None);
        var inbox = nodeA.FindFolder(box.MailboxId, "INBOX")!;
        using var onB = nodeB.Changes.Subscribe(box.MailboxId);
        await nodeA.ExpungeAsync(inbox.FolderId, null, None);
        var heard = new List<uint>();
        while (heard.Count < 1500)
        {
            // The append's own announcements may still be arriving: only the expunge matters here.
            if (await onB.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5)) is MailboxChange.MessagesExpunged expunged)
                heard.AddRange(expunged.Uids);
        }
        Assert.That(heard, Is.EqualTo(Enumerable.Range(1, 1500).Select(i => (uint)i)));
    }

    [Test]
    public async Task The_schema_is_migrated_once_survives_a_restart_and_a_newer_schema_is_refused()
    {
        var first = await OpenNodeAsync();
        var box = await first.EnsureMailboxAsync(StoreHarness.Org, "kept@example.test", None);
        await first.DeliverAsync(StoreHarness.Message("kept", "across restarts"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], None);
        await first.DisposeAsync();

        var again = await OpenNodeAsync();
        Assert.That(again.FindMailbox(StoreHarness.Org, "kept@example.test")!.MessageCount, Is.EqualTo(1));
        await using (var connection = new NpgsqlConnection(_connectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT schema_version FROM mailserver_meta", connection);
            Assert.That(await command.ExecuteScalarAsync(), Is.EqualTo(PostgreSqlSchema.Version));
            await using var newer = new NpgsqlCommand("UPDATE mailserver_meta SET schema_version = schema_version + 1", connection);
            await newer.ExecuteNonQueryAsync();
        }
        var refused = Assert.ThrowsAsync<StoreSchemaTooNewException>(() => PostgreSqlMailStore.OpenAsync(
            ContractStore.PostgreSqlOptions(_connectionString, _ledgerConnectionString, _keys), None));
        Assert.That(refused!.Message, Does.Contain($"schema version {PostgreSqlSchema.Version + 1}"));
    }

    [Test]
    public async Task Commits_are_synchronous_even_when_the_connection_string_says_otherwise()
    {
        _connectionString = new NpgsqlConnectionStringBuilder(_connectionString) { Options = "-c synchronous_commit=off" }.ConnectionString;
        var store = await OpenNodeAsync();
        Assert.That(store.SessionSetting("synchronous_commit"), Is.EqualTo("on"));
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var setting = new NpgsqlCommand("SHOW synchronous_commit", connection);
        Assert.That(await setting.ExecuteScalarAsync(), Is.EqualTo("off"), "a plain session keeps what the connection string says");
    }
}
