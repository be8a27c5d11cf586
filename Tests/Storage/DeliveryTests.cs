using NUnit.Framework;
using System.Text;
using MailServer.Storage;

namespace MailServer.Tests.Storage;

[TestFixture]
public sealed class DeliveryTests
{
    [Test]
    public async Task Mailbox_is_created_with_the_five_well_known_folders_and_fresh_counters()
    {
        await using var h = StoreHarness.Create();
        var mailbox = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "bob@example.com", CancellationToken.None);
        var again = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "Bob@Example.com", CancellationToken.None);

        var folders = h.Store.ListFolders(mailbox.MailboxId);
        Assert.Multiple(() =>
        {
            Assert.That(again.MailboxId, Is.EqualTo(mailbox.MailboxId));
            Assert.That(folders.Select(f => (f.Name, f.SpecialUse)), Is.EquivalentTo(WellKnownFolders.All));
            Assert.That(folders.Select(f => f.UidValidity).Distinct().Count(), Is.EqualTo(5), "UIDVALIDITY unique per folder");
            Assert.That(folders, Has.All.Matches<FolderInfo>(f => f.UidNext == 1 && f.HighestModSeq == 1 && f.MessageCount == 0));
            Assert.That(h.Store.FindMailbox(StoreHarness.Org, "bob@example.com")?.MailboxId, Is.EqualTo(mailbox.MailboxId));
            Assert.That(h.Store.FindMailbox(StoreHarness.Org, "carol@example.com"), Is.Null);
        });
    }

    [TestCase("INBOX")]
    [TestCase("inbox")]
    [TestCase("InBoX")]
    public async Task Inbox_is_found_case_insensitively(string name)
    {
        await using var h = StoreHarness.Create();
        var mailbox = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "bob@example.com", CancellationToken.None);

        var folder = h.Store.FindFolder(mailbox.MailboxId, name);

        Assert.That(folder?.SpecialUse, Is.EqualTo(SpecialUse.Inbox)); // RFC 9051 §5.1
        Assert.That(folder!.Name, Is.EqualTo("INBOX"));
        Assert.That(h.Store.FindFolder(mailbox.MailboxId, "sent items"), Is.Null, "other names are case-sensitive");
    }

    [Test]
    public async Task Delivery_to_three_mailboxes_writes_one_blob_and_three_readable_entries()
    {
        await using var h = StoreHarness.Create();
        var boxes = new List<MailboxInfo>();
        foreach (var owner in new[] { "a@example.com", "b@example.com", "c@example.com" })
            boxes.Add(await h.Store.EnsureMailboxAsync(StoreHarness.Org, owner, CancellationToken.None));
        var message = StoreHarness.Message("Quarterly report", "Numbers inside.");

        var first = await h.Store.DeliverAsync(message, DateTimeOffset.UtcNow,
            boxes.Select(b => new DeliveryTarget(b.MailboxId, "INBOX")).ToList(), CancellationToken.None);
        var second = await h.Store.DeliverAsync(StoreHarness.Message("Second", "x"), DateTimeOffset.UtcNow,
            [new DeliveryTarget(boxes[0].MailboxId, "INBOX")], CancellationToken.None);

        Assert.That(h.BlobFiles(), Has.Length.EqualTo(2), "one blob per delivery, shared by its recipients");
        Assert.That(first.Select(s => s.Uid), Is.All.EqualTo(1u));
        Assert.That(second[0].Uid, Is.EqualTo(2u));
        Assert.That(second[0].ModSeq, Is.GreaterThan(first[0].ModSeq));
        foreach (var stored in first)
        {
            var bytes = await h.Store.ReadMessageAsync(stored.MailboxId, stored.EntryId, CancellationToken.None);
            Assert.That(bytes, Is.EqualTo(message));
            var inbox = h.Store.FindFolder(stored.MailboxId, "INBOX")!;
            Assert.That(inbox.UidNext, Is.EqualTo(stored.MailboxId == boxes[0].MailboxId ? 3u : 2u));
            Assert.That(inbox.HighestModSeq, Is.GreaterThanOrEqualTo(stored.ModSeq));
            Assert.That(inbox.UnseenCount, Is.EqualTo(inbox.MessageCount));
        }
        var listed = h.Store.ListMessages(first[0].FolderId);
        Assert.That(listed.Select(m => m.Uid), Is.EqualTo(new uint[] { 1, 2 }));
        Assert.That(listed.Select(m => m.ModSeq), Is.Ordered.Ascending);
        Assert.That(listed[0].Size, Is.EqualTo(message.Length));
        var usage = h.Store.GetMailbox(boxes[0].MailboxId)!;
        Assert.That(usage.MessageCount, Is.EqualTo(2));
        Assert.That(usage.Owner, Is.EqualTo("a@example.com"));
    }

    [Test]
    public async Task Header_section_is_served_from_the_encrypted_summary()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var message = StoreHarness.Message("Summary subject", "body text");

        var stored = await h.Store.DeliverAsync(message, DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "Junk E-mail", MessageFlags.Seen)], CancellationToken.None);

        var headers = Encoding.ASCII.GetString(h.Store.ReadHeaderSection(box.MailboxId, stored[0].EntryId));
        Assert.That(headers, Does.Contain("Subject: Summary subject\r\n").And.EndsWith("\r\n\r\n").And.Not.Contain("body text"));
        var junk = h.Store.FindFolder(box.MailboxId, "Junk E-mail")!;
        Assert.That((junk.MessageCount, junk.UnseenCount), Is.EqualTo((1, 0)));
        Assert.That(h.Store.ListMessages(junk.FolderId)[0].Flags, Is.EqualTo(MessageFlags.Seen));
    }

    [Test]
    public async Task A_delivery_with_one_unknown_folder_stores_nothing_anywhere()
    {
        await using var h = StoreHarness.Create();
        var a = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var b = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "b@example.com", CancellationToken.None);

        Assert.ThrowsAsync<ArgumentException>(() => h.Store.DeliverAsync(StoreHarness.Message("x", "y"), DateTimeOffset.UtcNow,
            [new DeliveryTarget(a.MailboxId, "INBOX"), new DeliveryTarget(b.MailboxId, "No Such Folder")], CancellationToken.None));

        Assert.That(h.Store.ListMessages(h.Store.FindFolder(a.MailboxId, "INBOX")!.FolderId), Is.Empty);
        Assert.That(h.BlobFiles(), Is.Empty);
    }

    [Test]
    public async Task Concurrent_deliveries_from_twenty_tasks_all_land_with_strictly_increasing_uids()
    {
        await using var h = StoreHarness.Create();
        var a = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var b = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "b@example.com", CancellationToken.None);
        const int tasks = 20, perTask = 15;

        var results = await Task.WhenAll(Enumerable.Range(0, tasks).Select(t => Task.Run(async () =>
        {
            var mine = new List<StoredMessage>();
            for (var i = 0; i < perTask; i++)
                mine.AddRange(await h.Store.DeliverAsync(StoreHarness.Message($"t{t} m{i}", "body", 2048), DateTimeOffset.UtcNow,
                    [new DeliveryTarget(a.MailboxId, "INBOX"), new DeliveryTarget(b.MailboxId, "INBOX")], CancellationToken.None));
            return mine;
        })));

        var all = results.SelectMany(r => r).ToList();
        foreach (var box in new[] { a, b })
        {
            var inbox = h.Store.FindFolder(box.MailboxId, "INBOX")!;
            var listed = h.Store.ListMessages(inbox.FolderId);
            Assert.That(listed, Has.Count.EqualTo(tasks * perTask));
            Assert.That(listed.Select(m => m.Uid), Is.EqualTo(Enumerable.Range(1, tasks * perTask).Select(i => (uint)i)));
            Assert.That(listed.Select(m => m.ModSeq), Is.Unique.And.Ordered.Ascending);
            Assert.That(inbox.UidNext, Is.EqualTo((uint)(tasks * perTask + 1)));
            Assert.That(h.Store.GetMailbox(box.MailboxId)!.MessageCount, Is.EqualTo(tasks * perTask));
        }
        Assert.That(all.Select(s => s.EntryId), Is.Unique);
        // Each task saw its own UIDs rise: a later acknowledgement never carries a smaller UID.
        foreach (var mine in results)
            Assert.That(mine.Where(s => s.MailboxId == a.MailboxId).Select(s => s.Uid), Is.Ordered.Ascending);
    }
}
