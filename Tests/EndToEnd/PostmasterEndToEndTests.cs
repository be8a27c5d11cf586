using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using MailServer.Server.Security;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// RFC 5321 §4.5.1 against the real executable: <c>RCPT TO:&lt;Postmaster&gt;</c> without a domain, postmaster@ and
/// abuse@ each local domain are accepted on the MX port and land in the organization's postmaster mailbox, read back
/// over IMAP; a real user named abuse@ keeps its own mail; the start-up log says who the postmaster is.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class PostmasterEndToEndTests
{
    private const string Password = "postmaster test password";

    private static ServerProcess Create(Action<JsonObject> edit)
    {
        var server = ServerProcess.Create();
        var root = JsonNode.Parse(File.ReadAllText(server.ConfigPath))!.AsObject();
        var org = root["MailServer"]!["Organizations"]![0]!.AsObject();
        edit(org);
        foreach (var user in org["Users"]!.AsArray())
            user!["PasswordHash"] = PasswordHasher.Hash(Password, iterations: 1000);
        File.WriteAllText(server.ConfigPath, root.ToJsonString());
        return server;
    }

    private static async Task SendAsync(ServerProcess server, string rcptLine, string subject)
    {
        var (client, greeting) = await SmtpLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Smtp));
        await using (client)
        {
            Assert.That(greeting.Code, Is.EqualTo(220));
            Assert.That((await client.CommandAsync("EHLO client.elsewhere.test")).Code, Is.EqualTo(250));
            Assert.That((await client.CommandAsync("MAIL FROM:<someone@elsewhere.test>")).Code, Is.EqualTo(250));
            var rcpt = await client.CommandAsync(rcptLine);
            Assert.That(rcpt.Code, Is.EqualTo(250), $"{rcptLine} -> {rcpt}");
            Assert.That((await client.CommandAsync("DATA")).Code, Is.EqualTo(354));
            await client.SendRawAsync(Encoding.ASCII.GetBytes(
                $"From: someone@elsewhere.test\r\nTo: postmaster\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@elsewhere.test>\r\n\r\nreport\r\n.\r\n"));
            var reply = await client.ReadReplyAsync();
            Assert.That(reply.Code, Is.EqualTo(250), reply.ToString());
            Assert.That((await client.CommandAsync("QUIT")).Code, Is.EqualTo(221));
        }
    }

    private static async Task<string[]> InboxSubjectsAsync(ServerProcess server, string user)
    {
        var (client, _) = await ImapLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Imaps), tls: true);
        await using (client)
        {
            Assert.That((await client.CommandAsync("a", $"LOGIN {user} \"{Password}\"")).Last(), Does.StartWith("a OK"));
            Assert.That((await client.CommandAsync("s", "SELECT INBOX")).Last(), Does.StartWith("s OK"));
            var fetch = await client.CommandAsync("f", "FETCH 1:* BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
            Assert.That(fetch.Last(), Does.StartWith("f OK"));
            return fetch.SelectMany(l => System.Text.RegularExpressions.Regex.Matches(l, "Subject: ([^\r\n]*)")).Select(m => m.Groups[1].Value)
                .Order(StringComparer.Ordinal).ToArray();
        }
    }

    [Test]
    public async Task Without_configuration_bare_postmaster_postmaster_and_abuse_reach_the_first_user_and_the_log_says_so()
    {
        await using var server = Create(_ => { });
        await server.StartAsync();
        Assert.That(server.Output, Does.Contain(
            "Organization example: postmaster@ and abuse@ of every domain and a bare <postmaster> deliver to alice@example.test " +
            "(the organization's first user; set $.MailServer.Organizations[0].Postmaster to choose another user or group)"));

        await SendAsync(server, "RCPT TO:<postmaster>", "bare");
        await SendAsync(server, "RCPT TO:<PostMaster> NOTIFY=FAILURE", "bare with a parameter");
        await SendAsync(server, "RCPT TO:<Postmaster@Example.Test>", "qualified");
        await SendAsync(server, "RCPT TO:<abuse@example.test>", "abuse");

        Assert.That(await InboxSubjectsAsync(server, "alice@example.test"),
            Is.EqualTo(new[] { "abuse", "bare", "bare with a parameter", "qualified" }));
        Assert.That(await InboxSubjectsAsync(server, "bob@example.test"), Is.Empty);
    }

    [Test]
    public async Task A_configured_group_receives_postmaster_mail_and_a_real_abuse_user_keeps_its_own()
    {
        await using var server = Create(org =>
        {
            org["Postmaster"] = "team@example.test";
            org["Users"]!.AsArray().Add(new JsonObject { ["Email"] = "abuse@example.test", ["DisplayName"] = "Abuse desk" });
        });
        await server.StartAsync();
        Assert.That(server.Output, Does.Contain("deliver to team@example.test (Organizations[0].Postmaster)"));

        await SendAsync(server, "RCPT TO:<postmaster>", "bare");
        await SendAsync(server, "RCPT TO:<abuse@example.test>", "abuse");

        Assert.That(await InboxSubjectsAsync(server, "alice@example.test"), Is.EqualTo(new[] { "bare" }));
        Assert.That(await InboxSubjectsAsync(server, "bob@example.test"), Is.EqualTo(new[] { "bare" }));
        Assert.That(await InboxSubjectsAsync(server, "abuse@example.test"), Is.EqualTo(new[] { "abuse" }));
    }
}
