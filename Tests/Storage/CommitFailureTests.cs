using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>
/// A commit whose fsync fails leaves the disk in an unknown state: the writer fails the requests with
/// <see cref="WriteOutcomeUnknownException"/>, and the in-memory folder lists must not keep answering from what they
/// held before, whichever way the disk went.
/// </summary>
[TestFixture]
public sealed class CommitFailureTests
{
    [Test]
    public async Task A_failed_fsync_reports_an_unknown_outcome_and_the_folder_list_is_read_again()
    {
        var directory = StoreHarness.NewTempDirectory();
        var keys = FixedKeys.Random(StoreHarness.Org);
        var log = new FlakyStream();
        await using var store = MailStore.OpenOnStreams(new MailStoreOptions { DataDirectory = directory, MasterKeys = keys }, new MemoryStream(), log);
        var mailbox = await store.EnsureMailboxAsync(StoreHarness.Org, "alice@example.test", CancellationToken.None);
        var before = store.ListFolders(mailbox.MailboxId); // cached now

        log.FailFlushes = true;
        Assert.That(async () => await store.CreateFolderAsync(mailbox.MailboxId, "Work", CancellationToken.None),
            Throws.InstanceOf<WriteOutcomeUnknownException>());
        log.FailFlushes = false;

        var after = store.ListFolders(mailbox.MailboxId);
        Assert.That(after, Is.Not.SameAs(before), "the list cached before the failed commit is not served again");
        Assert.That(after, Is.EqualTo(store.ListFoldersFromDatabase(mailbox.MailboxId)), "what LiteDB holds, whichever way it went");
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
    }

    /// <summary>A log stream whose flush (the commit's fsync) can be made to fail.</summary>
    private sealed class FlakyStream : MemoryStream
    {
        public bool FailFlushes { get; set; }

        public override void Flush()
        {
            if (FailFlushes)
                throw new IOException("fsync failed");
            base.Flush();
        }
    }
}
