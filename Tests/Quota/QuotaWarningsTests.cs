using MailServer.Rules.Directory;
using MailServer.Server.Quota;
using MailServer.Storage;
using MailServer.Tests.Storage;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Quota;

/// <summary>docs/decisions.md, "Limits": a warning at 90% of the mailbox quota, once per crossing.</summary>
[TestFixture]
public sealed class QuotaWarningsTests
{
    private const long Quota = 20_000;

    [Test]
    public async Task One_warning_at_90_percent_none_while_above_and_another_after_going_below_and_crossing_again()
    {
        await using var harness = StoreHarness.Create();
        var store = harness.Store;
        var org = new DirectoryOrganization(StoreHarness.Org, "example", ["example.test"], "example.test");
        var alice = new DirectoryUser(StoreHarness.Org, "alice@example.test", "Alice", [], null, true, Quota);
        var bob = new DirectoryUser(StoreHarness.Org, "bob@example.test", "Bob", [], null, true, Quota);
        var directory = MailDirectory.Build([org], [alice, bob], []);
        var mailbox = await store.EnsureMailboxAsync(StoreHarness.Org, alice.Email, CancellationToken.None);
        await store.EnsureMailboxAsync(StoreHarness.Org, bob.Email, CancellationToken.None);
        var inbox = store.FindFolder(mailbox.MailboxId, "INBOX")!;
        var warnings = new QuotaWarnings(store, harness.Directory);

        async Task Fill(int bytes) => await store.DeliverAsync(StoreHarness.Message("filler", "x", padTo: bytes), DateTimeOffset.UtcNow,
            [new DeliveryTarget(mailbox.MailboxId, "INBOX")], CancellationToken.None);

        await Fill(17_000); // 85%
        Assert.That(await warnings.CheckAsync(directory, CancellationToken.None), Is.Empty);

        await Fill(1_500);  // 92.5%
        Assert.That(await warnings.CheckAsync(directory, CancellationToken.None), Is.EqualTo(new[] { "alice@example.test" }));
        var warning = store.ListMessages(inbox.FolderId).Last();
        var parsed = MimeMessage.Load(new MemoryStream(await store.ReadMessageAsync(mailbox.MailboxId, warning.EntryId, CancellationToken.None)));
        Assert.Multiple(() =>
        {
            Assert.That(parsed.Subject, Does.Match(@"^Your mailbox is 9\d% full$"));
            Assert.That(parsed.From.Mailboxes.Single().Address, Is.EqualTo("postmaster@example.test"));
            Assert.That(parsed.Headers["Auto-Submitted"], Is.EqualTo("auto-generated"));
            Assert.That(parsed.TextBody, Does.Contain("MiB quota (9"));
        });

        Assert.That(await warnings.CheckAsync(directory, CancellationToken.None), Is.Empty, "once per crossing");
        Assert.That(await new QuotaWarnings(store, harness.Directory).CheckAsync(directory, CancellationToken.None), Is.Empty,
            "a restart remembers the warning");

        // Below 90% again, then over: a second warning.
        var uids = store.ListMessages(inbox.FolderId).Select(m => m.Uid).ToList();
        await store.SetFlagsAsync(inbox.FolderId, uids, FlagOperation.Add, MessageFlags.Deleted, [], CancellationToken.None);
        await store.ExpungeAsync(inbox.FolderId, null, CancellationToken.None);
        Assert.That(await warnings.CheckAsync(directory, CancellationToken.None), Is.Empty);
        await Fill(19_000);
        Assert.That(await warnings.CheckAsync(directory, CancellationToken.None), Is.EqualTo(new[] { "alice@example.test" }));
    }
}
