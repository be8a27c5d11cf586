using System.Text;
using NUnit.Framework;
using MailServer.Storage;

namespace MailServer.Tests.Storage;

[TestFixture]
public sealed class SubscriptionTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Test]
    public async Task The_server_folders_start_subscribed()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", None);

        Assert.That(h.Store.ListSubscriptions(box.MailboxId), Is.EquivalentTo(WellKnownFolders.All.Select(f => f.Name)));
        Assert.That(h.Store.ListFolders(box.MailboxId).All(f => f.Subscribed), Is.True);
    }

    [Test]
    public async Task Subscriptions_to_folders_and_to_names_that_do_not_exist_survive_a_reopen()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", None);
        await h.Store.SetSubscribedAsync(box.MailboxId, "Junk E-mail", false, None);
        await h.Store.SetSubscribedAsync(box.MailboxId, "Archive/2026", true, None);
        await h.Store.SetSubscribedAsync(box.MailboxId, "Gone", true, None);
        await h.Store.SetSubscribedAsync(box.MailboxId, "Gone", false, None);

        await h.ReopenAsync();

        Assert.That(h.Store.FindFolder(box.MailboxId, "Junk E-mail")!.Subscribed, Is.False);
        Assert.That(h.Store.ListSubscriptions(box.MailboxId), Is.EqualTo(new[] { "Archive/2026", "Deleted Items", "Drafts", "INBOX", "Sent Items" }));
    }

    [Test]
    public async Task Creating_a_subscribed_name_makes_it_a_subscribed_folder_listed_once_and_unsubscribing_it_clears_the_flag()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", None);
        await h.Store.SetSubscribedAsync(box.MailboxId, "Later", true, None);
        await h.Store.CreateFolderAsync(box.MailboxId, "Later", None);

        Assert.That(h.Store.ListSubscriptions(box.MailboxId).Count(n => n == "Later"), Is.EqualTo(1));
        await h.Store.SetSubscribedAsync(box.MailboxId, "Later", false, None);
        Assert.That(h.Store.FindFolder(box.MailboxId, "Later")!.Subscribed, Is.False);
        Assert.That(h.Store.ListSubscriptions(box.MailboxId), Does.Not.Contain("Later"), "no stale entry in the list of non-folders");
    }

    [Test]
    public async Task A_renamed_folder_keeps_its_subscription_and_inbox_is_matched_case_insensitively()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", None);
        await h.Store.CreateFolderAsync(box.MailboxId, "Old", None);
        await h.Store.SetSubscribedAsync(box.MailboxId, "Old", false, None);
        await h.Store.RenameFolderAsync(box.MailboxId, "Old", "New", None);
        await h.Store.SetSubscribedAsync(box.MailboxId, "inbox", false, None);

        Assert.That(h.Store.FindFolder(box.MailboxId, "New")!.Subscribed, Is.False);
        Assert.That(h.Store.FindFolder(box.MailboxId, "INBOX")!.Subscribed, Is.False);
    }

    [Test]
    public async Task Subscribed_names_are_not_stored_in_clear()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", None);
        await h.Store.SetSubscribedAsync(box.MailboxId, "SecretProjectZebra", true, None);
        await h.ReopenAsync();

        Assert.That(h.Store.ListSubscriptions(box.MailboxId), Does.Contain("SecretProjectZebra"));
        var bytes = Encoding.UTF8.GetString(h.Data.ToArray()) + Encoding.UTF8.GetString(h.Log.ToArray());
        Assert.That(bytes, Does.Not.Contain("SecretProjectZebra"));
    }
}
