using MailServer.Storage.Crypto;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>
/// First use of an organization's key under concurrency, as a fresh server sees it when several SMTP sessions
/// deliver at once (found by bench/imap.sh filling a new INBOX over 20 sessions: two sessions faulted with
/// "The process cannot access the file '.../keys/example.key' because it is being used by another process").
/// </summary>
[TestFixture]
public sealed class MasterKeyFileRaceTests
{
    [Test]
    public void Concurrent_first_loads_all_get_the_one_key_that_was_created()
    {
        var directory = Path.Combine(Path.GetTempPath(), "keyrace-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            for (var round = 0; round < 50; round++)
            {
                var path = Path.Combine(directory, $"round{round}.key");
                const int threads = 8;
                using var start = new Barrier(threads);
                var keys = new byte[threads][];
                var errors = new Exception?[threads];
                var workers = Enumerable.Range(0, threads).Select(i => new Thread(() =>
                {
                    start.SignalAndWait();
                    try { keys[i] = MasterKeyFile.Load(path, createIfMissing: true); }
                    catch (Exception e) { errors[i] = e; }
                })).ToArray();
                foreach (var worker in workers) worker.Start();
                foreach (var worker in workers) worker.Join();

                Assert.That(errors.Where(e => e is not null).Select(e => $"{e!.GetType().Name}: {e.Message}"), Is.Empty, $"round {round}");
                var onDisk = File.ReadAllBytes(path);
                Assert.That(keys, Has.All.EqualTo(onDisk), $"round {round}: every caller gets the key that is on disk");
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
