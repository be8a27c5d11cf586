using System.Text;
using MailServer.Storage;
using NUnit.Framework;

namespace MailServer.Tests.Storage;

/// <summary>The held collection: encrypted body and details, due by next attempt, kept across a reopen, gone when released.</summary>
[TestFixture]
public sealed class HeldMessageStoreTests
{
    private static byte[] Message(string marker) =>
        Encoding.ASCII.GetBytes($"From: a@else.test\r\nDate: Sat, 28 Nov 2026 01:00:00 +0000\r\nSubject: {marker}\r\n\r\nbody {marker}\r\n");

    private static HeldMessage Held(string marker, DateTimeOffset now) => new(Guid.NewGuid().ToString("N"), StoreHarness.Org,
        MessageFlowContext.Outgoing, "scanner", Guid.NewGuid().ToString("N"), Guid.NewGuid(), ["bob@remote.test", marker + "@remote.test"],
        now, now.AddMinutes(5), 0, now, null, Encoding.UTF8.GetBytes("{\"envelope\":\"" + marker + "\"}"));

    [Test]
    public async Task A_held_message_round_trips_encrypted_survives_a_reopen_and_is_gone_when_released()
    {
        await using var h = StoreHarness.Create();
        var marker = "HELD" + Guid.NewGuid().ToString("N");
        var now = new DateTimeOffset(2026, 11, 28, 1, 0, 0, TimeSpan.Zero);
        var held = Held(marker, now);

        await h.Store.HoldAsync(held, Message(marker), CancellationToken.None);
        await h.Store.RecordHeldAttemptAsync(held.HeldId, 1, now.AddSeconds(2), "HTTP 503", CancellationToken.None);
        var store = await h.ReopenAsync();

        var listed = store.ListHeld().Single();
        var needle = Encoding.ASCII.GetBytes(marker);
        var files = System.IO.Directory.EnumerateFiles(h.Directory, "*", SearchOption.AllDirectories).Select(File.ReadAllBytes)
            .Append(h.Data.ToArray()).Append(h.Log.ToArray());
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(listed with { Envelope = [] }, Is.EqualTo(held with { Attempts = 1, NextAttemptAt = now.AddSeconds(2), LastError = "HTTP 503", Envelope = [], Recipients = listed.Recipients }));
            Assert.That(listed.Recipients, Is.EqualTo(held.Recipients));
            Assert.That(listed.Envelope, Is.EqualTo(held.Envelope));
            Assert.That(await store.ReadHeldMessageAsync(held.HeldId, CancellationToken.None), Is.EqualTo(Message(marker)));
            Assert.That(store.DueHeld(now.AddSeconds(1), 10), Is.Empty, "not due before its next attempt");
            Assert.That(store.DueHeld(now.AddSeconds(2), 10).Select(d => d.HeldId), Is.EqualTo(new[] { held.HeldId }));
            Assert.That(files.Any(f => f.AsSpan().IndexOf(needle) >= 0), Is.False, "neither body nor recipients nor envelope in clear");
        });

        Assert.That(await store.ReleaseHeldAsync(held.HeldId, CancellationToken.None), Is.True);
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(store.ListHeld(), Is.Empty);
            Assert.That(await store.ReleaseHeldAsync(held.HeldId, CancellationToken.None), Is.False);
            Assert.ThrowsAsync<KeyNotFoundException>(() => store.ReadHeldMessageAsync(held.HeldId, CancellationToken.None));
        });
    }
}
