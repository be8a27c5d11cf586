using System.Text;
using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

// Mailbox imports (IMailboxImportStore) under the contract, on both engines: flags, keywords and dates kept; a re-run
// stores nothing; a message the user deleted after its import stays deleted; nothing of it readable in the store.
public sealed partial class StoreContractTests
{
    private IMailboxImportStore Import => (IMailboxImportStore)_store.Imap;

    [Test]
    public async Task An_import_keeps_flags_keywords_and_dates_and_a_re_run_stores_nothing_not_even_what_the_user_deleted()
    {
        var alice = await Delivery.EnsureMailboxAsync(ContractStore.Org, "alice@example.test", None);
        await Imap.CreateFolderAsync(alice.MailboxId, "Archive/Xylophonics", None);
        var date = DateTimeOffset.Parse("2019-05-04T03:02:01+02:00");
        AppendItem[] batch =
        [
            new(StoreHarness.Message("first", "the quixotryl minutes"), date, MessageFlags.Seen | MessageFlags.Flagged, ["$Label1"]),
            new(StoreHarness.Message("second", "more quixotryl"), date.AddDays(1), MessageFlags.None, []),
        ];

        var first = await Within(Import.ImportAsync(alice.MailboxId, "Archive/Xylophonics", batch, None));

        Assert.That(first.Select(o => (o.Duplicate, o.Stored?.Uid)), Is.EqualTo(new (bool, uint?)[] { (false, 1u), (false, 2u) }));
        var folder = Imap.FindFolder(alice.MailboxId, "Archive/Xylophonics")!;
        var listed = Imap.ListMessages(folder.FolderId);
        Assert.That(listed.Select(m => (m.Uid, m.Flags, m.InternalDate)), Is.EqualTo(new[]
            { (1u, MessageFlags.Seen | MessageFlags.Flagged, date), (2u, MessageFlags.None, date.AddDays(1)) }));
        Assert.That(listed[0].Keywords, Is.EqualTo(new[] { "$Label1" }));
        Assert.That(await Imap.ReadMessageAsync(alice.MailboxId, listed[1].EntryId, None), Is.EqualTo(batch[1].Message.ToArray()));

        // The user deletes the first; the import runs again with one new message.
        await Imap.SetFlagsAsync(folder.FolderId, [1u], FlagOperation.Add, MessageFlags.Deleted, [], None);
        await Imap.ExpungeAsync(folder.FolderId, null, None);
        var again = await Within(Import.ImportAsync(alice.MailboxId, "Archive/Xylophonics",
            [batch[0], batch[1], new(StoreHarness.Message("third", "new"), date, MessageFlags.None, [])], None));

        Assert.That(again.Select(o => (o.Duplicate, o.Stored?.Uid)), Is.EqualTo(new (bool, uint?)[] { (true, null), (true, null), (false, 3u) }));
        Assert.That(Imap.ListMessages(folder.FolderId).Select(m => m.Uid), Is.EqualTo(new uint[] { 2, 3 }), "the deleted one stays deleted");
        // Into another folder the same message is another import.
        var inbox = await Import.ImportAsync(alice.MailboxId, "INBOX", [batch[0]], None);
        Assert.That(inbox.Single().Duplicate, Is.False);

        var dump = await _store.RawDumpAsync();
        foreach (var marker in new[] { "quixotryl", "Xylophonics", "xylophonics" })
            Assert.That(dump.AsSpan().IndexOf(Encoding.UTF8.GetBytes(marker)) >= 0, Is.False, $"{marker} readable in the {engine} store");
    }
}
