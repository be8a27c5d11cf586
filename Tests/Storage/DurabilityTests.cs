using NUnit.Framework;
using System.Text;
using MailServer.Storage;

namespace MailServer.Tests.Storage;

[TestFixture]
public sealed class DurabilityTests
{
    [Test]
    public void Truncating_the_log_after_a_checkpoint_first_fsyncs_the_data_file()
    {
        // LiteDB copies the log into the data file at a checkpoint and then truncates the log, fsyncing
        // neither (pitfalls: #2818). Data must be on disk before the log that also holds it is cut.
        var data = new DurableStream(new MemoryStream(), null);
        var log = new DurableStream(new MemoryStream(), data);
        log.Write(new byte[8192], 0, 8192);
        data.Write(new byte[8192], 0, 8192);

        log.SetLength(0);

        Assert.That(data.Fsyncs, Is.EqualTo(1));
        log.FlushToDisk();
        log.FlushToDisk();
        Assert.That(log.Fsyncs, Is.EqualTo(1), "a clean stream is not fsync'd again");
    }

    [Test]
    public async Task Data_written_by_a_checkpoint_is_fsynced_before_the_log_is_cut_in_a_real_store()
    {
        var directory = StoreHarness.NewTempDirectory();
        try
        {
            await using var store = MailStore.Open(new MailStoreOptions { DataDirectory = directory, MasterKeys = FixedKeys.Random(StoreHarness.Org) });
            var box = await store.EnsureMailboxAsync(StoreHarness.Org, "a@example.com", CancellationToken.None);
            // Enough commits to pass LiteDB's 1000-page auto-checkpoint.
            for (var i = 0; i < 150 && store.DataFsyncs == 0; i++)
                await store.DeliverAsync(StoreHarness.Message($"m{i}", "x"), DateTimeOffset.UtcNow, [new DeliveryTarget(box.MailboxId, "INBOX")], CancellationToken.None);
            Assert.That(store.DataFsyncs, Is.GreaterThan(0));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public void The_summary_keeps_the_header_section_and_is_capped()
    {
        var message = Encoding.ASCII.GetBytes("Subject: a\r\nX-Long: " + new string('x', 300 * 1024) + "\r\n\r\nbody");
        Assert.That(MailStore.HeaderSection(message).Length, Is.EqualTo(MailStore.MaxSummaryBytes));
        Assert.That(Encoding.ASCII.GetString(MailStore.HeaderSection("A: b\r\n\r\nbody"u8)), Is.EqualTo("A: b\r\n\r\n"));
        Assert.That(Encoding.ASCII.GetString(MailStore.HeaderSection("A: b\n\nbody"u8)), Is.EqualTo("A: b\n\n"));
    }
}
