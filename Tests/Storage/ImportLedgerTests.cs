using System.Text;
using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>
/// The store's import ledger (MailStore.Import.cs): a message an import stored in a folder is never stored there
/// again, across batches, reopenings and sources; another folder or another mailbox is another matter; the ledger
/// holds neither folder names nor message hashes in clear and goes with the mailbox.
/// </summary>
[TestFixture]
public sealed class ImportLedgerTests
{
    private static AppendItem Item(string text, MessageFlags flags = MessageFlags.None, params string[] keywords) =>
        new(Encoding.ASCII.GetBytes($"Subject: {text}\r\nMessage-ID: <{text}@x>\r\n\r\n{text}\r\n"), new DateTimeOffset(2019, 3, 4, 5, 6, 7, TimeSpan.Zero), flags, keywords);

    [Test]
    public async Task A_message_is_imported_into_a_folder_once_with_its_flags_keywords_and_date()
    {
        await using var h = StoreHarness.Create();
        var mailbox = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "bob@example.com", CancellationToken.None);

        var first = await h.Store.ImportAsync(mailbox.MailboxId, "INBOX", [Item("a", MessageFlags.Seen, "$Label1"), Item("b"), Item("a", MessageFlags.Seen, "$Label1")],
            CancellationToken.None);
        Assert.That(first.Select(o => o.Duplicate), Is.EqualTo(new[] { false, false, true }), "the same octets twice in one batch: once");
        await h.ReopenAsync();
        var again = await h.Store.ImportAsync(mailbox.MailboxId, "INBOX", [Item("b"), Item("c")], CancellationToken.None);
        Assert.That(again.Select(o => o.Duplicate), Is.EqualTo(new[] { true, false }), "after a reopen the ledger still knows b");
        var elsewhere = await h.Store.ImportAsync(mailbox.MailboxId, "Sent Items", Item("a"), CancellationToken.None);
        Assert.That(elsewhere.Duplicate, Is.False, "another folder is another import");

        var inbox = h.Store.FindFolder(mailbox.MailboxId, "INBOX")!;
        var messages = h.Store.ListMessages(inbox.FolderId);
        Assert.That(messages.Select(m => m.Uid), Is.EqualTo(new uint[] { 1, 2, 3 }));
        Assert.That(messages[0].Flags, Is.EqualTo(MessageFlags.Seen));
        Assert.That(messages[0].Keywords, Is.EqualTo(new[] { "$Label1" }));
        Assert.That(messages[0].InternalDate, Is.EqualTo(new DateTimeOffset(2019, 3, 4, 5, 6, 7, TimeSpan.Zero)));
        Assert.That(h.Store.FindMailbox(StoreHarness.Org, "bob@example.com")!.UsedBytes, Is.EqualTo(messages.Sum(m => m.Size) + Item("a").Message.Length));
        Assert.That(h.BlobFiles(), Has.Length.EqualTo(4), "no blob left behind by the duplicates");
        Assert.That(Encoding.ASCII.GetString(await h.Store.ReadMessageAsync(mailbox.MailboxId, messages[2].EntryId, CancellationToken.None)), Does.Contain("Subject: c"));
    }

    [Test]
    public async Task The_ledger_goes_with_its_mailbox()
    {
        await using var h = StoreHarness.Create();
        var bob = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "bob@example.com", CancellationToken.None);
        var carol = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "carol@example.com", CancellationToken.None);
        await h.Store.ImportAsync(bob.MailboxId, "INBOX", Item("a"), CancellationToken.None);
        Assert.That((await h.Store.ImportAsync(carol.MailboxId, "INBOX", Item("a"), CancellationToken.None)).Duplicate, Is.False, "carol's mailbox is not bob's");

        await h.Store.DeleteMailboxAsync(StoreHarness.Org, "bob@example.com", CancellationToken.None);
        var again = await h.Store.EnsureMailboxAsync(StoreHarness.Org, "bob@example.com", CancellationToken.None);
        Assert.That((await h.Store.ImportAsync(again.MailboxId, "INBOX", Item("a"), CancellationToken.None)).Duplicate, Is.False);
    }
}
