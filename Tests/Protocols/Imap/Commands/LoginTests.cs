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
    public async Task A_large_literal_before_login_is_refused_without_a_continuation()
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        Assert.That(await client.CommandAsync("a1", "LOGIN {100000}"), Is.EqualTo(new[] { "a1 NO [TOOBIG] Literal larger than 8192 octets" }));
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

    /// <summary>Brute force against one account from an address slows that address down and locks that account from
    /// that address; another user's right password from the same address still logs in.</summary>
    [Test]
    public async Task Failures_on_one_account_lock_that_account_from_that_address_only()
    {
        await using var server = await ImapTestServer.StartAsync();
        for (var round = 0; round < 2; round++)
        {
            var (attacker, _) = await ImapLineClient.OpenAsync(server.Imap);
            await using var a = attacker;
            for (var i = 0; i < 5; i++)
                Assert.That(await attacker.CommandAsync("x" + i, "LOGIN bob@example.test guess" + i), Is.EqualTo(new[] { $"x{i} NO [AUTHENTICATIONFAILED] Authentication failed" }));
        }
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        Assert.That(await client.CommandAsync("b1", $"LOGIN bob@example.test {ImapTestServer.Password}"), Is.EqualTo(new[] { "b1 NO [UNAVAILABLE] Too many failed logins; try again later" }));
        var alice = await client.CommandAsync("a1", $"LOGIN alice@example.test {ImapTestServer.Password}");
        Assert.That(alice[^1], Does.StartWith("a1 OK "));
    }

    /// <summary>An endless line before login: after the line limit the server answers BAD, says BYE and closes,
    /// instead of reading (and discarding) whatever the client sends.</summary>
    [Test]
    public async Task An_endless_line_before_login_closes_the_connection()
    {
        await using var server = await ImapTestServer.StartAsync();
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(server.Imap);
        var stream = tcp.GetStream();
        var chunk = System.Text.Encoding.ASCII.GetBytes(new string('a', 64 * 1024));
        long sent = 0;
        var refused = false;
        try
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (sent < 256L * 1024 * 1024)
            {
                await stream.WriteAsync(chunk, deadline.Token);
                sent += chunk.Length;
            }
        }
        catch (IOException)
        {
            refused = true;
        }
        Assert.That(refused, Is.True, $"the server read {sent} octets of one line before login");
        Assert.That(sent, Is.LessThan(64L * 1024 * 1024));
    }
}
