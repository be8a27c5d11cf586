using System.Text;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>STARTTLS (RFC 9051 §6.2.1, §11.1): only before login and only in plain text; what was pipelined behind
/// it in plain text is dropped.</summary>
[TestFixture]
public sealed class StartTlsTests
{
    [Test]
    public async Task Logindisabled_before_starttls_then_login_works_over_tls()
    {
        await using var server = await ImapTestServer.StartAsync(allowPlaintextAuth: false);
        var (client, greeting) = await ImapLineClient.OpenAsync(server.Imap);
        await using var _ = client;
        Assert.That(greeting, Does.Contain(" STARTTLS LOGINDISABLED]"));
        Assert.That(await client.CommandAsync("a1", $"LOGIN alice@example.test {ImapTestServer.Password}"),
            Is.EqualTo(new[] { "a1 NO [PRIVACYREQUIRED] Use STARTTLS before logging in" }));
        Assert.That(await client.CommandAsync("a1b", "AUTHENTICATE PLAIN " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0alice@example.test\0{ImapTestServer.Password}"))),
            Is.EqualTo(new[] { "a1b NO [PRIVACYREQUIRED] Use STARTTLS before logging in" }));

        // A command pipelined behind STARTTLS in plain text is dropped, never run inside TLS.
        await client.SendLineAsync("a2 STARTTLS\r\na3 NOOP");
        Assert.That(await client.ReadUntilTaggedAsync("a2"), Is.EqualTo(new[] { "a2 OK Begin TLS negotiation now" }));
        await client.UpgradeAsync();
        var caps = await client.CommandAsync("a4", "CAPABILITY");
        Assert.That(caps[0], Does.Contain("AUTH=PLAIN AUTH=LOGIN").And.Not.Contain("STARTTLS").And.Not.Contain("LOGINDISABLED"));
        Assert.That(caps[1], Is.EqualTo("a4 OK CAPABILITY completed"));
        Assert.That(await client.CommandAsync("a4b", "STARTTLS"), Is.EqualTo(new[] { "a4b BAD TLS is already active" }));
        var login = await client.CommandAsync("a5", $"LOGIN alice@example.test {ImapTestServer.Password}");
        Assert.That(login[^1], Does.StartWith("a5 OK "));

        var (implicitTls, greeting2) = await ImapLineClient.OpenAsync(server.Imaps, tls: true);
        await using var i = implicitTls;
        Assert.That(greeting2, Does.Contain(" AUTH=PLAIN AUTH=LOGIN]").And.Not.Contain("STARTTLS"));
    }

    [Test]
    public async Task Rfc_example_capability_starttls_capability_authenticate()
    {
        await using var server = await ImapTestServer.StartAsync(allowPlaintextAuth: false);
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        var before = await client.CommandAsync("a001", "CAPABILITY");
        Assert.That(before[0], Does.Contain(" STARTTLS LOGINDISABLED").And.Not.Contain("AUTH="));
        Assert.That(before[1], Is.EqualTo("a001 OK CAPABILITY completed"));
        Assert.That(await client.CommandAsync("a002", "STARTTLS"), Is.EqualTo(new[] { "a002 OK Begin TLS negotiation now" }));
        await client.UpgradeAsync();
        var after = await client.CommandAsync("a003", "CAPABILITY");
        Assert.That(after[0], Does.Contain(" AUTH=PLAIN").And.Not.Contain("STARTTLS"));
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0alice@example.test\0{ImapTestServer.Password}"));
        Assert.That((await client.CommandAsync("a004", "AUTHENTICATE PLAIN " + plain))[^1], Does.StartWith("a004 OK "));
    }

    [Test]
    public async Task Starttls_after_login_on_the_implicit_tls_port_or_with_arguments_is_bad()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using (var client = await server.LoggedInAsync())
            Assert.That(await client.CommandAsync("t1", "STARTTLS"), Is.EqualTo(new[] { "t1 BAD STARTTLS is not valid in the authenticated state" }));

        var (implicitTls, _) = await ImapLineClient.OpenAsync(server.Imaps, tls: true);
        await using (implicitTls)
            Assert.That(await implicitTls.CommandAsync("t2", "STARTTLS"), Is.EqualTo(new[] { "t2 BAD TLS is already active" }));

        var (plain, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var p = plain;
        var extra = await plain.CommandAsync("t3", "STARTTLS now");
        Assert.That(extra, Has.Count.EqualTo(1));
        Assert.That(extra[0], Does.StartWith("t3 BAD "));
        Assert.That(await plain.CommandAsync("t4", "STARTTLS"), Is.EqualTo(new[] { "t4 OK Begin TLS negotiation now" }), "still in plain text");
        await plain.UpgradeAsync();
        Assert.That(await plain.CommandAsync("t5", "NOOP"), Is.EqualTo(new[] { "t5 OK NOOP completed" }));
    }
}
