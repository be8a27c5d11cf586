using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>NAMESPACE (RFC 2342, RFC 9051 §6.3.10): personal "" and Other Users "Other Users/", "/" delimited,
/// no shared namespace.</summary>
[TestFixture]
public sealed class NamespaceTests
{
    [Test]
    public async Task Namespace_lists_personal_and_other_users()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That(await client.CommandAsync("n1", "NAMESPACE"), Is.EqualTo(new[] { "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) NIL", "n1 OK NAMESPACE completed" }));
    }

    [Test]
    public async Task Rfc_example_in_the_selected_state_and_mailkit_reads_it()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using (var client = await server.LoggedInAsync())
        {
            await client.CommandAsync("s", "SELECT INBOX");
            // RFC 2342 §5 example 5.3's shape: a personal and an other users namespace, no shared one.
            Assert.That(await client.CommandAsync("A001", "NAMESPACE"), Is.EqualTo(new[]
            {
                "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) NIL", "A001 OK NAMESPACE completed",
            }));
        }
        using var mailKit = await server.MailKitAsync();
        Assert.That(mailKit.PersonalNamespaces.Select(n => (n.Path, n.DirectorySeparator)), Is.EqualTo(new[] { ("", '/') }));
        Assert.That(mailKit.OtherNamespaces.Select(n => n.Path), Is.EqualTo(new[] { "Other Users" }));
        Assert.That(mailKit.SharedNamespaces, Is.Empty);
        await mailKit.DisconnectAsync(true);
    }

    [Test]
    public async Task Namespace_before_login_and_with_arguments_is_bad()
    {
        await using var server = await ImapTestServer.StartAsync();
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        Assert.That(await client.CommandAsync("n1", "NAMESPACE"), Is.EqualTo(new[] { "n1 BAD NAMESPACE is not valid in the not authenticated state" }));
        Assert.That((await client.CommandAsync("l", $"LOGIN alice@example.test {ImapTestServer.Password}"))[^1], Does.StartWith("l OK "));
        var extra = await client.CommandAsync("n2", "NAMESPACE INBOX");
        Assert.That(extra, Has.Count.EqualTo(1));
        Assert.That(extra[0], Does.StartWith("n2 BAD "));
        Assert.That(await client.CommandAsync("n3", "NAMESPACE"), Has.Count.EqualTo(2));
    }
}
