using System.Text;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>AUTHENTICATE (RFC 9051 §6.2.2) with PLAIN (RFC 4616) and LOGIN, the initial response of SASL-IR
/// (RFC 4959), cancellation and the refusals.</summary>
[TestFixture]
public sealed class AuthenticateTests
{
    private static string Base64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static readonly string AlicePlain = Base64($"\0alice@example.test\0{ImapTestServer.Password}");

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
    public async Task Rfc_4959_examples_initial_response_and_empty_challenge()
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        // RFC 4959 §4: without SASL-IR the client waits for an empty challenge "+ ".
        await client.SendLineAsync("A01 AUTHENTICATE PLAIN");
        Assert.That(await client.ReadLineAsync(), Is.EqualTo("+ "));
        await client.SendLineAsync(AlicePlain);
        var reply = await client.ReadUntilTaggedAsync("A01");
        Assert.That(reply, Has.Count.EqualTo(1));
        Assert.That(reply[0], Does.StartWith("A01 OK [CAPABILITY IMAP4rev1 ").And.EndWith("] Logged in"));
        Assert.That(await client.CommandAsync("A02", "AUTHENTICATE PLAIN " + AlicePlain), Is.EqualTo(new[] { "A02 BAD AUTHENTICATE is not valid in the authenticated state" }));

        // The authorization identity may repeat the user's own (RFC 4616 §2).
        var (second, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var s = second;
        Assert.That((await second.CommandAsync("B01", "AUTHENTICATE PLAIN " + Base64($"bob@example.test\0bob@example.test\0{ImapTestServer.Password}")))[^1],
            Does.StartWith("B01 OK "));
    }

    [Test]
    public async Task Refusals_and_cancellation_keep_the_session_usable()
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        Assert.That(await client.CommandAsync("a1", "AUTHENTICATE PLAIN " + Base64("\0alice@example.test\0wrong")),
            Is.EqualTo(new[] { "a1 NO [AUTHENTICATIONFAILED] Authentication failed" }));
        Assert.That(await client.CommandAsync("a2", "AUTHENTICATE PLAIN " + Base64($"bob@example.test\0alice@example.test\0{ImapTestServer.Password}")),
            Is.EqualTo(new[] { "a2 NO [AUTHORIZATIONFAILED] Logging in as another user is not allowed" }));
        Assert.That(await client.CommandAsync("a3", "AUTHENTICATE CRAM-MD5"), Is.EqualTo(new[] { "a3 NO [CANNOT] Unsupported authentication mechanism" }));
        var malformed = await client.CommandAsync("a4", "AUTHENTICATE PLAIN " + Base64("no separators"));
        Assert.That(malformed, Is.EqualTo(new[] { "a4 BAD Malformed PLAIN response" }));
        var notBase64 = await client.CommandAsync("a5", "AUTHENTICATE PLAIN !!!");
        Assert.That(notBase64, Has.Count.EqualTo(1));
        Assert.That(notBase64[0], Does.StartWith("a5 BAD "));

        // RFC 9051 §6.2.2: "*" cancels the exchange and the server answers BAD.
        await client.SendLineAsync("a6 AUTHENTICATE LOGIN");
        Assert.That(await client.ReadLineAsync(), Is.EqualTo("+ " + Base64("Username:")));
        await client.SendLineAsync("*");
        Assert.That(await client.ReadUntilTaggedAsync("a6"), Is.EqualTo(new[] { "a6 BAD Authentication cancelled" }));

        var missing = await client.CommandAsync("a7", "AUTHENTICATE");
        Assert.That(missing, Has.Count.EqualTo(1));
        Assert.That(missing[0], Does.StartWith("a7 BAD "));
        Assert.That((await client.CommandAsync("a8", "AUTHENTICATE PLAIN " + AlicePlain))[^1], Does.StartWith("a8 OK "));
    }
}
