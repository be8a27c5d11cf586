using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Server.Security;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// §5 against the real executable: "Granting mailbox permissions to a group extends those permissions to all the
/// members of that group, including members of nested groups". Full Access granted to a group opens the mailbox in
/// the IMAP Other Users namespace for a nested member; Send As / Send On Behalf granted on a group's address let
/// members of the grantee group submit in its name, and nobody else.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class GroupPermissionsEndToEndTests
{
    private const string Password = "group permissions test password";

    // outer ⊃ team ⊃ {alice, bob}; carol's mailbox is shared with outer; sales (carol) lets outer send as it and
    // dave send on its behalf.
    private static async Task<ServerProcess> StartAsync()
    {
        var server = ServerProcess.Create();
        var root = JsonNode.Parse(File.ReadAllText(server.ConfigPath))!.AsObject();
        var org = root["MailServer"]!["Organizations"]![0]!.AsObject();
        var users = org["Users"]!.AsArray();
        users.Add(new JsonObject { ["Email"] = "carol@example.test", ["DisplayName"] = "Carol" });
        users.Add(new JsonObject { ["Email"] = "dave@example.test", ["DisplayName"] = "Dave" });
        foreach (var user in users)
            user!["PasswordHash"] = PasswordHasher.Hash(Password, iterations: 1000);
        var groups = org["Groups"]!.AsArray();
        groups.Add(new JsonObject { ["Email"] = "outer@example.test", ["Members"] = new JsonArray("team@example.test") });
        groups.Add(new JsonObject { ["Email"] = "sales@example.test", ["Members"] = new JsonArray("carol@example.test") });
        org["MailboxPermissions"] = JsonNode.Parse("""
            [ { "Mailbox": "carol@example.test", "Grantee": "outer@example.test", "Permissions": [ "FullAccess" ] },
              { "Mailbox": "sales@example.test", "Grantee": "outer@example.test", "Permissions": [ "SendAs" ] },
              { "Mailbox": "sales@example.test", "Grantee": "dave@example.test", "Permissions": [ "SendOnBehalf" ] } ]
            """);
        File.WriteAllText(server.ConfigPath, root.ToJsonString());
        await server.StartAsync();
        return server;
    }

    private static async Task DeliverAsync(ServerProcess server, string to, string subject)
    {
        var (client, _) = await SmtpLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Smtp));
        await using (client)
        {
            await client.CommandAsync("EHLO client.elsewhere.test");
            await client.CommandAsync("MAIL FROM:<someone@elsewhere.test>");
            Assert.That((await client.CommandAsync($"RCPT TO:<{to}>")).Code, Is.EqualTo(250));
            await client.CommandAsync("DATA");
            await client.SendRawAsync(Encoding.ASCII.GetBytes($"From: someone@elsewhere.test\r\nSubject: {subject}\r\n\r\nbody\r\n.\r\n"));
            Assert.That((await client.ReadReplyAsync()).Code, Is.EqualTo(250));
        }
    }

    private static async Task<ImapClient> ImapAsync(ServerProcess server, string user)
    {
        var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
        await imap.AuthenticateAsync(user, Password);
        return imap;
    }

    private static async Task SubmitAsync(ServerProcess server, string user, string from, string? sender, string to, string subject)
    {
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", server.ListenerPorts.Submission, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync(user, Password);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        if (sender is not null)
            message.Sender = MailboxAddress.Parse(sender);
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "hello" };
        try
        {
            await client.SendAsync(message);
        }
        finally
        {
            await client.DisconnectAsync(true);
        }
    }

    [Test]
    public async Task Full_access_granted_to_a_group_opens_the_mailbox_for_a_nested_member_and_for_nobody_else()
    {
        await using var server = await StartAsync();
        await DeliverAsync(server, "carol@example.test", "for carol");

        var (raw, _) = await ImapLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Imaps), tls: true);
        await using (raw)
        {
            Assert.That((await raw.CommandAsync("a", $"LOGIN bob@example.test \"{Password}\"")).Last(), Does.StartWith("a OK"));
            Assert.That(await raw.CommandAsync("l", "LIST \"\" \"Other Users/%\""), Is.EqualTo(new[]
            {
                "* LIST (\\Noselect \\HasChildren) \"/\" \"Other Users/carol@example.test\"", "l OK LIST completed",
            }));
            var select = await raw.CommandAsync("s", "SELECT \"Other Users/carol@example.test/INBOX\"");
            Assert.That(select, Does.Contain("* 1 EXISTS"));
            Assert.That(select.Last(), Is.EqualTo("s OK [READ-WRITE] SELECT completed"));
            Assert.That(await raw.CommandAsync("f", "FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]"), Has.Some.Contains("Subject: for carol"));
            Assert.That(await raw.CommandAsync("m", "MYRIGHTS \"Other Users/carol@example.test/INBOX\""), Has.Some.StartsWith("* MYRIGHTS"));
        }

        var (dave, _) = await ImapLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Imaps), tls: true);
        await using (dave)
        {
            await dave.CommandAsync("a", $"LOGIN dave@example.test \"{Password}\"");
            Assert.That(await dave.CommandAsync("l", "LIST \"\" \"Other Users/%\""), Is.EqualTo(new[] { "l OK LIST completed" }));
            Assert.That((await dave.CommandAsync("s", "SELECT \"Other Users/carol@example.test/INBOX\"")).Last(), Does.StartWith("s NO [NONEXISTENT]"));
        }
    }

    [Test]
    public async Task Send_as_and_on_behalf_of_a_group_work_for_the_grantees_and_a_plain_member_is_refused()
    {
        await using var server = await StartAsync();

        // alice is in team, nested in outer, which holds Send As on sales: From sales, no Sender.
        await SubmitAsync(server, "alice@example.test", "sales@example.test", null, "bob@example.test", "as sales");
        // dave holds Send On Behalf on sales: From sales, Sender dave.
        await SubmitAsync(server, "dave@example.test", "sales@example.test", null, "bob@example.test", "on behalf of sales");
        // carol is a member of sales but holds no send permission on it.
        var refused = Assert.ThrowsAsync<SmtpCommandException>(() =>
            SubmitAsync(server, "carol@example.test", "sales@example.test", null, "bob@example.test", "refused"));
        Assert.That(refused!.Message, Does.Contain("sales@example.test"));

        using var imap = await ImapAsync(server, "bob@example.test");
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var messages = new List<MimeMessage>();
        for (var i = 0; i < imap.Inbox.Count; i++)
            messages.Add(await imap.Inbox.GetMessageAsync(i));
        Assert.That(messages.Select(m => m.Subject), Is.EquivalentTo(new[] { "as sales", "on behalf of sales" }));
        var asSales = messages.Single(m => m.Subject == "as sales");
        var onBehalf = messages.Single(m => m.Subject == "on behalf of sales");
        Assert.Multiple(() =>
        {
            Assert.That(asSales.From.Mailboxes.Single().Address, Is.EqualTo("sales@example.test"));
            Assert.That(asSales.Sender, Is.Null);
            Assert.That(onBehalf.From.Mailboxes.Single().Address, Is.EqualTo("sales@example.test"));
            Assert.That(onBehalf.Sender?.Address, Is.EqualTo("dave@example.test"));
        });
        await imap.DisconnectAsync(true);
    }
}
