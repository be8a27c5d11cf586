using System.Text;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class LoginTests
{
    [Test]
    public async Task Login_with_address_then_alias_succeeds_and_wrong_password_is_authenticationfailed()
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, greeting) = await ImapLineClient.OpenAsync(server.Imap);
        await using var _ = client;
        Assert.That(greeting, Does.StartWith("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 "));

        var wrong = await client.CommandAsync("a1", "LOGIN alice@example.test wrong-password");
        Assert.That(wrong, Is.EqualTo(new[] { "a1 NO [AUTHENTICATIONFAILED] Authentication failed" }));

        var alias = await client.CommandAsync("a2", $"LOGIN ali@example.test {ImapTestServer.Password}");
        Assert.That(alias, Has.Count.EqualTo(1));
        Assert.That(alias[0], Does.StartWith("a2 OK [CAPABILITY IMAP4rev1 IMAP4rev2 ").And.Contain(" IDLE ").And.Contain(" MOVE ").And.EndWith("] Logged in"));

        var again = await client.CommandAsync("a3", "LOGIN bob@example.test x");
        Assert.That(again, Is.EqualTo(new[] { "a3 BAD LOGIN is not valid in the authenticated state" }));
    }

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
    public async Task Authenticate_plain_with_sasl_ir_and_login_mechanism_with_challenges()
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0bob@example.test\0{ImapTestServer.Password}"));
        var reply = await client.CommandAsync("a1", "AUTHENTICATE PLAIN " + plain);
        Assert.That(reply[^1], Does.StartWith("a1 OK [CAPABILITY "));

        var (second, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var s = second;
        await second.SendLineAsync("b1 AUTHENTICATE LOGIN");
        Assert.That(await second.ReadLineAsync(), Is.EqualTo("+ " + Convert.ToBase64String("Username:"u8)));
        await second.SendLineAsync(Convert.ToBase64String("ali@example.test"u8));
        Assert.That(await second.ReadLineAsync(), Is.EqualTo("+ " + Convert.ToBase64String("Password:"u8)));
        await second.SendLineAsync(Convert.ToBase64String(Encoding.UTF8.GetBytes(ImapTestServer.Password)));
        Assert.That((await second.ReadUntilTaggedAsync("b1"))[^1], Does.StartWith("b1 OK [CAPABILITY "));
    }

    [Test]
    public async Task A_large_literal_before_login_is_refused_without_a_continuation()
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        Assert.That(await client.CommandAsync("a1", "LOGIN {100000}"), Is.EqualTo(new[] { "a1 NO [TOOBIG] Literal too large before login" }));
        await client.SendLineAsync("a2 LOGIN {18}");
        Assert.That(await client.ReadLineAsync(), Is.EqualTo("+ Ready for literal data"));
        await client.SendLineAsync($"alice@example.test {ImapTestServer.Password}");
        Assert.That((await client.ReadUntilTaggedAsync("a2"))[^1], Does.StartWith("a2 OK "));
    }

    [Test]
    public async Task Disabled_user_is_refused_and_third_failure_closes_the_connection()
    {
        await using var server = await ImapTestServer.StartAsync(limits: new MailServer.Protocols.Imap.ImapLimits(MaxFailedLoginsPerConnection: 3));
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        Assert.That(await client.CommandAsync("a1", $"LOGIN carol@example.test {ImapTestServer.Password}"),
            Is.EqualTo(new[] { "a1 NO [CONTACTADMIN] The account is disabled" }));
        Assert.That(await client.CommandAsync("a2", "LOGIN nobody@example.test x"),
            Is.EqualTo(new[] { "a2 NO [AUTHENTICATIONFAILED] Authentication failed" }));
        Assert.That(await client.CommandAsync("a3", "LOGIN alice@example.test x"),
            Is.EqualTo(new[] { "* BYE Too many failed logins", "a3 NO [AUTHENTICATIONFAILED] Authentication failed" }));
        Assert.That(await client.IsClosedByServerAsync(), Is.True);
    }

    [Test]
    public async Task MailKit_logs_in_over_starttls_and_implicit_tls_with_alias()
    {
        await using var server = await ImapTestServer.StartAsync(allowPlaintextAuth: false);
        using var client = await server.MailKitAsync("ali@example.test");
        Assert.That(client.IsAuthenticated, Is.True);
        Assert.That(client.Capabilities.HasFlag(ImapCapabilities.Idle), Is.True);

        using var implicitTls = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await implicitTls.ConnectAsync(server.Imaps.Address.ToString(), server.Imaps.Port, SecureSocketOptions.SslOnConnect);
        Assert.ThrowsAsync<AuthenticationException>(() => implicitTls.AuthenticateAsync("alice@example.test", "wrong"));
        await implicitTls.AuthenticateAsync("alice@example.test", ImapTestServer.Password);
        Assert.That(implicitTls.Inbox, Is.Not.Null);
        await implicitTls.DisconnectAsync(true);
        await client.DisconnectAsync(true);
    }
}
