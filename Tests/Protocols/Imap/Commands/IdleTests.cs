using MailKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class IdleTests
{
    [Test]
    public async Task Idle_hears_exists_of_a_delivery_then_done_ends_it()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        await client.CommandAsync("a", "SELECT INBOX");
        await client.SendLineAsync("i1 IDLE");
        Assert.That(await client.ReadLineAsync(), Is.EqualTo("+ idling"));
        await server.DeliverAsync("alice", "pushed");
        Assert.That(await client.ReadLineAsync(), Is.EqualTo("* 1 EXISTS"));
        Assert.That(await client.ReadLineAsync(), Is.EqualTo("* 1 RECENT")); // RFC 3501 §7.3.2: with a change in size
        await client.SendLineAsync("DONE");
        Assert.That(await client.ReadUntilTaggedAsync("i1"), Is.EqualTo(new[] { "i1 OK IDLE terminated" }));
        Assert.That(await client.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "n OK NOOP completed" }));
    }

    [Test]
    public async Task Idle_ended_by_something_else_than_done_is_bad()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        await client.SendLineAsync("i1 IDLE");
        Assert.That(await client.ReadLineAsync(), Is.EqualTo("+ idling"));
        await client.SendLineAsync("NOPE");
        Assert.That(await client.ReadUntilTaggedAsync("i1"), Is.EqualTo(new[] { "i1 BAD Expected DONE" }));
    }

    [Test]
    public async Task MailKit_idle_receives_count_change_from_store_delivery()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var client = await server.MailKitAsync();
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var arrived = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Inbox.CountChanged += (_, _) => arrived.TrySetResult(client.Inbox.Count);
        using var done = new CancellationTokenSource();
        var idle = client.IdleAsync(done.Token);
        await Task.Delay(100); // let IDLE start; the assertion below does not depend on timing
        await server.DeliverAsync("alice", "pushed");
        Assert.That(await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(1));
        await done.CancelAsync();
        await idle;
        await client.DisconnectAsync(true);
    }
}
