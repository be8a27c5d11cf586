using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class CapabilityTests
{
    [Test]
    public async Task Malformed_and_unknown_commands_get_bad_and_the_session_goes_on()
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, _) = await MailServer.Tests.Support.ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        var bad = await client.CommandAsync("x1", "FROBNICATE");
        Assert.That(bad, Has.Count.EqualTo(1));
        Assert.That(bad[0], Does.StartWith("x1 BAD "));
        await client.SendLineAsync("(((");
        Assert.That(await client.ReadLineAsync(), Does.StartWith("* BAD "));
        Assert.That((await client.CommandAsync("x2", "SELECT INBOX"))[0], Is.EqualTo("x2 BAD SELECT is not valid in the not authenticated state"));
        var caps = await client.CommandAsync("x3", "CAPABILITY");
        Assert.That(caps[0], Does.StartWith("* CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE STARTTLS AUTH=PLAIN AUTH=LOGIN"));
        Assert.That(caps[1], Is.EqualTo("x3 OK CAPABILITY completed"));
        Assert.That(await client.CommandAsync("x4", "LOGOUT"), Is.EqualTo(new[] { "* BYE Logging out", "x4 OK LOGOUT completed" }));
        Assert.That(await client.IsClosedByServerAsync(), Is.True);
    }

    [Test]
    public async Task Stopping_the_listener_says_bye_to_open_sessions()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        await server.Listener.StopAsync(CancellationToken.None);
        Assert.That(await client.ReadLineAsync(), Is.EqualTo("* BYE Server shutting down"));
        Assert.That(await client.IsClosedByServerAsync(), Is.True);
    }
}
