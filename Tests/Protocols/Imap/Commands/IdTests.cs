using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>ID (RFC 2971): valid in every state; the server answers with its name whatever the client sends.</summary>
[TestFixture]
public sealed class IdTests
{
    [Test]
    public async Task Id_names_the_server()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("n3", "ID (\"name\" \"test\")"), Is.EqualTo(new[] { "* ID (\"name\" \"MailServer\")", "n3 OK ID completed" }));
    }

    [Test]
    public async Task Rfc_example_before_login_with_nil_and_in_the_selected_state()
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        // RFC 2971 §3.1's example command.
        Assert.That(await client.CommandAsync("a023", "ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" \"Pink Floyd Music Limited\")"), Is.EqualTo(new[]
        {
            "* ID (\"name\" \"MailServer\")", "a023 OK ID completed",
        }));
        Assert.That(await client.CommandAsync("a024", "ID NIL"), Is.EqualTo(new[] { "* ID (\"name\" \"MailServer\")", "a024 OK ID completed" }));
        Assert.That((await client.CommandAsync("l", $"LOGIN alice@example.test {ImapTestServer.Password}"))[^1], Does.StartWith("l OK "));
        await client.CommandAsync("s", "SELECT INBOX");
        Assert.That(await client.CommandAsync("a025", "ID (\"name\" \"x\" \"os\" NIL)"), Is.EqualTo(new[] { "* ID (\"name\" \"MailServer\")", "a025 OK ID completed" }));
    }

    [TestCase("ID")]
    [TestCase("ID (\"name\")")]
    [TestCase("ID name")]
    [TestCase("ID (\"name\" \"a\"")]
    [TestCase("ID () extra")]
    public async Task Malformed_parameters_are_bad_and_the_session_goes_on(string command)
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        var reply = await client.CommandAsync("i1", command);
        Assert.That(reply, Has.Count.EqualTo(1));
        Assert.That(reply[0], Does.StartWith("i1 BAD "));
        Assert.That(await client.CommandAsync("i2", "ID NIL"), Is.EqualTo(new[] { "* ID (\"name\" \"MailServer\")", "i2 OK ID completed" }));
    }

    /// <summary>RFC 2971 §3.3: up to 30 fields with values of up to 1,024 octets; a server may ignore any of them but
    /// answers ID and keeps the session, before login as after.</summary>
    [Test]
    public async Task Thirty_fields_of_1024_octets_are_answered_and_the_session_goes_on()
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        var fields = string.Join(" ", Enumerable.Range(0, 30).Select(i => $"\"field-{i}\" \"{new string((char)('a' + i % 26), 1024)}\""));
        Assert.That(await client.CommandAsync("i1", $"ID ({fields})"), Is.EqualTo(new[] { "* ID (\"name\" \"MailServer\")", "i1 OK ID completed" }));
        Assert.That(await client.CommandAsync("i2", "NOOP"), Is.EqualTo(new[] { "i2 OK NOOP completed" }));
        Assert.That((await client.CommandAsync("l", $"LOGIN alice@example.test {ImapTestServer.Password}"))[^1], Does.StartWith("l OK "));
        Assert.That(await client.CommandAsync("i3", $"ID ({fields})"), Is.EqualTo(new[] { "* ID (\"name\" \"MailServer\")", "i3 OK ID completed" }));
    }
}
