using System.Text;
using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>In-transit copies for the message flow API: encrypted, 24-hour window, replace only while updatable.</summary>
[TestFixture]
public sealed class MessageFlowStoreTests
{
    private sealed class ManualTime(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static byte[] Message(string marker) =>
        Encoding.ASCII.GetBytes($"From: a@else.test\r\nDate: Sat, 28 Nov 2026 01:00:00 +0000\r\nSubject: {marker}\r\n\r\nbody {marker}\r\n");

    [Test]
    public async Task A_copy_is_stored_encrypted_read_back_and_gone_after_24_hours()
    {
        var directory = StoreHarness.NewTempDirectory();
        var keys = FixedKeys.Random(StoreHarness.Org);
        var time = new ManualTime(new DateTimeOffset(2026, 11, 28, 1, 0, 0, TimeSpan.Zero));
        using var data = new MemoryStream();
        using var log = new MemoryStream();
        await using var store = MailStore.OpenOnStreams(new MailStoreOptions { DataDirectory = directory, MasterKeys = keys, TimeProvider = time }, data, log);
        var marker = "FLOW" + Guid.NewGuid().ToString("N");

        var id = await store.StoreInTransitAsync(StoreHarness.Org, MessageFlowContext.Incoming, Message(marker), updatable: false, CancellationToken.None);
        var read = await store.ReadInTransitAsync(id, CancellationToken.None);
        var needle = Encoding.ASCII.GetBytes(marker);
        var files = Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).Select(File.ReadAllBytes).Append(data.ToArray()).Append(log.ToArray());
        Assert.Multiple(() =>
        {
            Assert.That(read, Is.EqualTo(Message(marker)));
            Assert.That(store.FindInTransit(id), Is.EqualTo(new InTransitMessage(id, StoreHarness.Org, MessageFlowContext.Incoming, time.Now, false)));
            Assert.That(files.Any(f => f.AsSpan().IndexOf(needle) >= 0), Is.False, "the marker is nowhere in clear");
        });

        time.Now += TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1);
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(store.FindInTransit(id), Is.Null);
            Assert.That(await store.ReadInTransitAsync(id, CancellationToken.None), Is.Null);
            Assert.That(await store.PurgeInTransitAsync(CancellationToken.None), Is.EqualTo(1));
        });
        Directory.Delete(directory, recursive: true);
    }

    [Test]
    public async Task Only_an_updatable_copy_can_be_replaced_and_sealing_ends_it()
    {
        await using var h = StoreHarness.Create();
        var fixedCopy = await h.Store.StoreInTransitAsync(StoreHarness.Org, MessageFlowContext.Outgoing, Message("a"), updatable: false, CancellationToken.None);
        var held = await h.Store.StoreInTransitAsync(StoreHarness.Org, MessageFlowContext.Outgoing, Message("b"), updatable: true, CancellationToken.None);
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(await h.Store.ReplaceInTransitAsync(fixedCopy, Message("x"), CancellationToken.None), Is.False);
            Assert.That(await h.Store.ReadInTransitAsync(fixedCopy, CancellationToken.None), Is.EqualTo(Message("a")));
            Assert.That(await h.Store.ReplaceInTransitAsync(held, Message("replaced"), CancellationToken.None), Is.True);
            Assert.That(await h.Store.ReadInTransitAsync(held, CancellationToken.None), Is.EqualTo(Message("replaced")));
            Assert.That(await h.Store.SealInTransitAsync(held, CancellationToken.None), Is.True);
            Assert.That(await h.Store.ReplaceInTransitAsync(held, Message("again"), CancellationToken.None), Is.False);
            Assert.That(await h.Store.ReplaceInTransitAsync(Guid.NewGuid(), Message("none"), CancellationToken.None), Is.False);
        });
    }

    [Test]
    public async Task A_copy_survives_a_reopen()
    {
        await using var h = StoreHarness.Create();
        var id = await h.Store.StoreInTransitAsync(StoreHarness.Org, MessageFlowContext.Incoming, Message("kept"), updatable: false, CancellationToken.None);
        var reopened = await h.ReopenAsync();
        Assert.That(await reopened.ReadInTransitAsync(id, CancellationToken.None), Is.EqualTo(Message("kept")));
    }
}
