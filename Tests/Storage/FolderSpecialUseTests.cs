using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>A folder created with a special use (IMAP CREATE-SPECIAL-USE) keeps it across RENAME and a reopen;
/// the inbox use is refused.</summary>
[TestFixture]
public sealed class FolderSpecialUseTests
{
    [Test]
    public async Task Special_use_of_a_created_folder_is_kept()
    {
        await using var h = StoreHarness.Create();
        var box = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
        var created = await h.Store.CreateFolderAsync(box.MailboxId, "Archive", SpecialUse.Archive, CancellationToken.None);
        Assert.That(created.SpecialUse, Is.EqualTo(SpecialUse.Archive));
        await h.Store.RenameFolderAsync(box.MailboxId, "Archive", "Old/Archive", CancellationToken.None);
        var store = await h.ReopenAsync();
        Assert.That(store.FindFolder(box.MailboxId, "Old/Archive")!.SpecialUse, Is.EqualTo(SpecialUse.Archive));
        Assert.That(store.FindFolder(box.MailboxId, "Old/Archive")!.FolderId, Is.EqualTo(created.FolderId));
        Assert.ThrowsAsync<ArgumentException>(() => store.CreateFolderAsync(box.MailboxId, "Inbox2", SpecialUse.Inbox, CancellationToken.None));
        Assert.That(store.FindFolder(box.MailboxId, "Inbox2"), Is.Null);
    }
}
