using System.Text.Json.Nodes;
using MailServer.Server.Configuration;
using MailServer.Server.Retention;
using MailServer.Storage;
using MailServer.Tests.Configuration;
using MailServer.Tests.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Retention;

/// <summary>
/// §16 with a fake clock: age counts from the item's last create, change or move; Delete moves to Deleted Items
/// (and is permanent there); PermanentlyDelete expunges; IMAP sessions see the changes on the change feed.
/// </summary>
[TestFixture]
public sealed class RetentionRunnerTests
{
    private sealed class Harness : IAsyncDisposable
    {
        public required MailStore Store { get; init; }
        public required ManualClock Clock { get; init; }
        public required ServerConfig Config { get; init; }
        public required string MailboxId { get; init; }
        public required TempFolder Temp { get; init; }

        public FolderInfo Folder(string name) => Store.FindFolder(MailboxId, name)!;

        public IReadOnlyList<string> Subjects(string folder) =>
            Store.ListMessages(Folder(folder).FolderId)
                .Select(m => System.Text.Encoding.ASCII.GetString(Store.ReadHeaderSection(MailboxId, m.EntryId)))
                .Select(h => h.Split("\r\n").First(l => l.StartsWith("Subject: ", StringComparison.Ordinal))["Subject: ".Length..])
                .ToList();

        public async Task Deliver(string subject, string folder = WellKnownFolders.Inbox) =>
            await Store.DeliverAsync(StoreHarness.Message(subject, "body"), Clock.GetUtcNow(), [new DeliveryTarget(MailboxId, folder)], CancellationToken.None);

        public async ValueTask DisposeAsync()
        {
            await Store.DisposeAsync();
            Temp.Dispose();
        }
    }

    private static async Task<Harness> Create(string policyJson)
    {
        var temp = new TempFolder();
        var root = ConfigFixtures.Valid();
        root.Org()["RetentionPolicy"] = JsonNode.Parse(policyJson);
        var config = ConfigFixtures.LoadOk(root, temp.File("appsettings.json"));
        var clock = new ManualClock();
        var store = MailStore.OpenOnStreams(new MailStoreOptions
        {
            DataDirectory = temp.Path,
            MasterKeys = FixedKeys.Random(ConfigFixtures.OrgId),
            TimeProvider = clock,
        }, new MemoryStream(), new MemoryStream());
        var mailbox = await store.EnsureMailboxAsync(ConfigFixtures.OrgId, "alice@example.test", CancellationToken.None);
        return new Harness { Store = store, Clock = clock, Config = config, MailboxId = mailbox.MailboxId, Temp = temp };
    }

    [Test]
    public async Task Delete_moves_items_untouched_for_longer_than_the_policy_to_Deleted_Items_and_a_change_restarts_the_count()
    {
        await using var h = await Create("""{ "Folders": [ { "Folder": "Inbox", "Action": "Delete", "Days": 30 } ] }""");
        await h.Deliver("old");                        // day 0
        await h.Deliver("old but read later");         // day 0, flagged on day 20
        h.Clock.Advance(TimeSpan.FromDays(20));
        var inbox = h.Folder(WellKnownFolders.Inbox);
        await h.Store.SetFlagsAsync(inbox.FolderId, [2], FlagOperation.Add, MessageFlags.Seen, [], CancellationToken.None);
        await h.Deliver("recent");                     // day 20
        h.Clock.Advance(TimeSpan.FromDays(10) + TimeSpan.FromMinutes(1)); // day 30 + 1 minute

        var runner = new RetentionRunner(h.Store, h.Clock);
        var dry = await runner.RunAsync(h.Config, dryRun: true, CancellationToken.None);
        Assert.That((dry.Moved, dry.Deleted), Is.EqualTo((1, 0)));
        Assert.That(h.Subjects(WellKnownFolders.Inbox), Has.Count.EqualTo(3), "a dry run changes nothing");

        using var subscription = h.Store.Changes.Subscribe(h.MailboxId);
        var report = await runner.RunAsync(h.Config, dryRun: false, CancellationToken.None);

        Assert.That(report.Folders, Is.EqualTo(new[] { new RetentionFolderResult("alice@example.test", "INBOX", RetentionAction.Delete, 1) }));
        Assert.That(h.Subjects(WellKnownFolders.Inbox), Is.EqualTo(new[] { "old but read later", "recent" }));
        Assert.That(h.Subjects(WellKnownFolders.DeletedItems), Is.EqualTo(new[] { "old" }));
        var changes = new List<MailboxChange>();
        while (subscription.Reader.TryRead(out var change))
            changes.Add(change);
        Assert.That(changes.OfType<MailboxChange.MessagesExpunged>().Single().Uids, Is.EqualTo(new[] { 1u }), "IMAP sessions on the Inbox see the expunge");
        Assert.That(changes.OfType<MailboxChange.MessageAdded>().Single().FolderId, Is.EqualTo(h.Folder(WellKnownFolders.DeletedItems).FolderId));
    }

    [Test]
    public async Task Delete_in_Deleted_Items_is_permanent_and_counts_from_the_move()
    {
        await using var h = await Create("""
            { "Folders": [ { "Folder": "Inbox", "Action": "Delete", "Days": 10 },
                           { "Folder": "Deleted Items", "Action": "Delete", "Days": 5 } ] }
            """);
        await h.Deliver("a");
        h.Clock.Advance(TimeSpan.FromDays(11));
        var runner = new RetentionRunner(h.Store, h.Clock);
        await runner.RunAsync(h.Config, false, CancellationToken.None);
        Assert.That(h.Subjects(WellKnownFolders.DeletedItems), Is.EqualTo(new[] { "a" }), "moved today: not yet 5 days in Deleted Items");

        h.Clock.Advance(TimeSpan.FromDays(4));
        var notYet = await runner.RunAsync(h.Config, false, CancellationToken.None);
        Assert.That(notYet.Deleted, Is.Zero);

        h.Clock.Advance(TimeSpan.FromDays(1) + TimeSpan.FromSeconds(1));
        var report = await runner.RunAsync(h.Config, false, CancellationToken.None);
        Assert.That((report.Moved, report.Deleted), Is.EqualTo((0, 1)));
        Assert.That(h.Subjects(WellKnownFolders.DeletedItems), Is.Empty);
    }

    [Test]
    public async Task PermanentlyDelete_expunges_exactly_the_expired_items_and_their_blob_files()
    {
        await using var h = await Create("""{ "Folders": [ { "Folder": "Junk E-mail", "Action": "PermanentlyDelete", "Days": 7 } ] }""");
        await h.Deliver("spam 1", WellKnownFolders.JunkEmail);
        await h.Deliver("inbox, never touched by the junk policy");
        h.Clock.Advance(TimeSpan.FromDays(3));
        await h.Deliver("spam 2", WellKnownFolders.JunkEmail);
        h.Clock.Advance(TimeSpan.FromDays(5)); // spam 1 is 8 days old, spam 2 is 5

        var blobsBefore = Directory.GetFiles(h.Store.BlobDirectory, "*", SearchOption.AllDirectories).Length;
        var report = await new RetentionRunner(h.Store, h.Clock).RunAsync(h.Config, false, CancellationToken.None);

        Assert.That((report.Moved, report.Deleted, report.MailboxesChecked), Is.EqualTo((0, 1, 1)));
        Assert.That(h.Subjects(WellKnownFolders.JunkEmail), Is.EqualTo(new[] { "spam 2" }));
        Assert.That(h.Subjects(WellKnownFolders.Inbox), Has.Count.EqualTo(1));
        Assert.That(h.Subjects(WellKnownFolders.DeletedItems), Is.Empty, "not recoverable");
        Assert.That(Directory.GetFiles(h.Store.BlobDirectory, "*", SearchOption.AllDirectories), Has.Length.EqualTo(blobsBefore - 1));
        Assert.That(h.Store.GetMailbox(h.MailboxId)!.MessageCount, Is.EqualTo(2));
    }

    [Test]
    public async Task Without_a_policy_nothing_is_touched()
    {
        await using var h = await Create("""{ "Folders": [] }""");
        await h.Deliver("ancient");
        h.Clock.Advance(TimeSpan.FromDays(3650));
        var report = await new RetentionRunner(h.Store, h.Clock).RunAsync(h.Config, false, CancellationToken.None);
        Assert.That((report.MailboxesChecked, report.Moved, report.Deleted), Is.EqualTo((0, 0, 0)));
        Assert.That(h.Subjects(WellKnownFolders.Inbox), Has.Count.EqualTo(1));
    }
}
