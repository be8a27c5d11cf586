using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using MailServer.Server.Security;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 7 item 3 against the real executable: an IMAP session's mailbox operations appear in the audit log as
/// MailboxAccess records (WorkMail Administrator Guide, "Mailbox access logs"), one per command, in order, with their fields; a look into
/// another user's mailbox without Full Access is recorded with action_allowed false and that user as owner.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class ImapAuditTests
{
    private const string Password = "imap audit test password";

    [Test]
    public async Task List_select_append_fetch_store_move_acl_and_a_refused_other_users_status_are_audited_in_order_with_the_user_agent()
    {
        await using var server = ServerProcess.Create();
        File.WriteAllText(server.ConfigPath, File.ReadAllText(server.ConfigPath)
            .Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{PasswordHasher.Hash(Password, iterations: 1000)}\""));
        await server.StartAsync();

        var (client, greeting) = await ImapLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Imaps), tls: true);
        await using (client)
        {
            Assert.That(greeting, Does.StartWith("* OK"));
            Assert.That((await client.CommandAsync("a1", $"LOGIN alice@example.test \"{Password}\"")).Last(), Does.StartWith("a1 OK"));
            // RFC 2971 ID: the client's name and version become the audit log's user_agent; "os" is not kept.
            Assert.That((await client.CommandAsync("a1b", "ID (\"name\" \"Thunderbird\" \"version\" \"128.5.0\" \"os\" \"Linux\")")).Last(), Does.StartWith("a1b OK"));
            Assert.That((await client.CommandAsync("a2", "LIST \"\" \"*\"")).Last(), Does.StartWith("a2 OK"));
            Assert.That((await client.CommandAsync("a3", "CREATE Archive")).Last(), Does.StartWith("a3 OK"));
            var message = Encoding.ASCII.GetBytes("From: bob@example.test\r\nTo: alice@example.test\r\nSubject: audit me\r\n\r\nHello.\r\n");
            await client.SendRawAsync(Encoding.ASCII.GetBytes($"a4 APPEND INBOX {{{message.Length}+}}\r\n").Concat(message).Concat("\r\n"u8.ToArray()).ToArray());
            Assert.That((await client.ReadUntilTaggedAsync("a4")).Last(), Does.StartWith("a4 OK [APPENDUID"));
            Assert.That((await client.CommandAsync("a5", "SELECT INBOX")).Last(), Does.StartWith("a5 OK"));
            Assert.That((await client.CommandAsync("a6", "UID FETCH 1 (FLAGS ENVELOPE)")).Last(), Does.StartWith("a6 OK"));
            Assert.That((await client.CommandAsync("a7", "UID FETCH 1 (BODY.PEEK[])")).Last(), Does.StartWith("a7 OK"));
            Assert.That((await client.CommandAsync("a8", "UID STORE 1 +FLAGS.SILENT (\\Seen)")).Last(), Does.StartWith("a8 OK"));
            Assert.That((await client.CommandAsync("a9", "UID STORE 1 +FLAGS.SILENT (\\Flagged)")).Last(), Does.StartWith("a9 OK"));
            Assert.That((await client.CommandAsync("a10", "UID MOVE 1 Archive")).Last(), Does.StartWith("a10 OK"));
            // No Full Access to bob's mailbox: answered as if it did not exist (RFC 4314 §6), audited as refused.
            Assert.That((await client.CommandAsync("a11", "STATUS \"Other Users/bob@example.test/INBOX\" (MESSAGES)")).Last(),
                Is.EqualTo("a11 NO [NONEXISTENT] No such mailbox"));
            Assert.That((await client.CommandAsync("a11b", "MYRIGHTS INBOX")).Last(), Does.StartWith("a11b OK"));
            // The owner shares INBOX with bob (RFC 4314 §3.1): "lr" is raised to the viewer role, audited with grantee and rights.
            Assert.That((await client.CommandAsync("a11c", "SETACL INBOX bob@example.test lr")).Last(), Is.EqualTo("a11c OK SETACL completed"));
            // A refused SETACL is audited too, with the identifier as the client wrote it.
            Assert.That((await client.CommandAsync("a11d", "SETACL INBOX anyone lr")).Last(), Does.StartWith("a11d NO [CANNOT]"));
            Assert.That((await client.CommandAsync("a12", "LOGOUT")).Last(), Does.StartWith("a12 OK"));
        }

        // One MailboxAction sample per audited command: fourteen, two of them denied (WorkMail Administrator Guide, "Metrics").
        using (var http = new HttpClient())
        {
            var metrics = await http.GetStringAsync($"http://127.0.0.1:{server.ListenerPorts.Admin}/metrics");
            Assert.That(metrics, Does.Match(@"(?m)^mailserver_actiondenied_sum\{[^}]*\} 2$"), metrics);
            Assert.That(metrics, Does.Match(@"(?m)^mailserver_actiondenied_count\{[^}]*\} 14$"), metrics);
        }

        var access = server.AuditLogLines().Where(l => (string)l["log_type"]! == "MailboxAccess").ToArray();
        Assert.That(access.Select(l => (string)l["action"]!), Is.EqualTo(new[]
        {
            "read_hierarchy", "create", "create", "read_hierarchy", "read_summary", "read", "update_read_state", "update", "move", "move_to",
            "read_hierarchy", "read_permissions", "update_permissions", "update_permissions",
        }));
        var archiveId = (string?)access[1]["folder_id"];
        Assert.Multiple(() =>
        {
            foreach (var line in access)
            {
                Assert.That((string)line["user_id"]!, Is.EqualTo("alice@example.test"));
                Assert.That((string)line["protocol"]!, Is.EqualTo("IMAP"));
                Assert.That((string)line["source_ip"]!, Is.EqualTo("127.0.0.1"));
                Assert.That((string)line["organization_arn"]!, Is.EqualTo("urn:mailserver:organization/" + ServerProcess.OrganizationId));
                Assert.That((long)line["event_timestamp"]!, Is.GreaterThan(0));
                Assert.That((string)line["request_id"]!, Is.Not.Empty);
                Assert.That((string)line["user_agent"]!, Is.EqualTo("Thunderbird/128.5.0"));
            }
            Assert.That(access.Select(l => (bool)l["action_allowed"]!), Is.EqualTo(Enumerable.Repeat(true, 10).Concat([false, true, true, false])));
            Assert.That(((string?)access[12]["grantee"], (string?)access[12]["rights"]), Is.EqualTo(("bob@example.test", "lrs")), "SETACL");
            Assert.That(access[11]["grantee"], Is.Null, "only SETACL and DELETEACL name a grantee");
            Assert.That((string?)access[13]["grantee"], Is.EqualTo("anyone"), "refused SETACL");
            Assert.That(access[13]["rights"], Is.Null, "nothing was granted");
            Assert.That(access.Where((_, i) => i != 10).Select(l => (string)l["owner_id"]!), Is.All.EqualTo("alice@example.test"));
            Assert.That(access.Select(l => (string)l["object_type"]!), Is.EqualTo(new[]
            {
                "Folder", "Folder", "Message", "Folder", "Message", "Message", "Message", "Message", "Message", "Message", "Folder", "Folder", "Folder", "Folder",
            }));
            Assert.That((string)access[3]["folder_path"]!, Is.EqualTo("INBOX"), "SELECT");
            Assert.That(access[3]["item_id"], Is.Null);
            Assert.That(access.Skip(11).Select(l => (string)l["folder_path"]!), Is.All.EqualTo("INBOX"), "MYRIGHTS, SETACL");
            Assert.That((string?)access[1]["folder_path"], Is.EqualTo("Archive"));
            Assert.That(archiveId, Is.Not.Null.And.Not.Empty);
            foreach (var line in access.Where((_, i) => i is 2 or (>= 4 and <= 8)))
            {
                Assert.That((string)line["folder_path"]!, Is.EqualTo("INBOX"));
                Assert.That((string)line["item_id"]!, Is.EqualTo("1"));
            }
            Assert.That((string)access[9]["folder_path"]!, Is.EqualTo("Archive"));
            Assert.That((string?)access[9]["folder_id"], Is.EqualTo(archiveId));
            Assert.That((string)access[9]["item_id"]!, Is.EqualTo("1"));
            Assert.That((string)access[10]["owner_id"]!, Is.EqualTo("bob@example.test"));
            Assert.That((string)access[10]["folder_path"]!, Is.EqualTo("INBOX"));
        });
    }

    [Test]
    public async Task A_full_access_grantee_working_in_bobs_mailbox_is_audited_with_bob_as_owner_until_the_move_into_her_own()
    {
        await using var server = ServerProcess.Create();
        File.WriteAllText(server.ConfigPath, File.ReadAllText(server.ConfigPath)
            .Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{PasswordHasher.Hash(Password, iterations: 1000)}\"")
            .Replace("\"AccessControlRules\":",
                "\"MailboxPermissions\": [ { \"Mailbox\": \"bob@example.test\", \"Grantee\": \"alice@example.test\", \"Permissions\": [ \"FullAccess\" ] } ],\n              \"AccessControlRules\":"));
        await server.StartAsync();

        // Bob's mailbox exists in the store once he has logged in (or received mail).
        var (bob, _) = await ImapLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Imaps), tls: true);
        await using (bob)
        {
            Assert.That((await bob.CommandAsync("c1", $"LOGIN bob@example.test \"{Password}\"")).Last(), Does.StartWith("c1 OK"));
            Assert.That((await bob.CommandAsync("c2", "LOGOUT")).Last(), Does.StartWith("c2 OK"));
        }
        var (client, _) = await ImapLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Imaps), tls: true);
        await using (client)
        {
            Assert.That((await client.CommandAsync("b1", $"LOGIN alice@example.test \"{Password}\"")).Last(), Does.StartWith("b1 OK"));
            var message = Encoding.ASCII.GetBytes("From: carol@example.test\r\nTo: bob@example.test\r\nSubject: for bob\r\n\r\nHi Bob.\r\n");
            await client.SendRawAsync(Encoding.ASCII.GetBytes($"b2 APPEND \"Other Users/bob@example.test/INBOX\" {{{message.Length}+}}\r\n")
                .Concat(message).Concat("\r\n"u8.ToArray()).ToArray());
            Assert.That((await client.ReadUntilTaggedAsync("b2")).Last(), Does.StartWith("b2 OK [APPENDUID"));
            Assert.That((await client.CommandAsync("b3", "SELECT \"Other Users/bob@example.test/INBOX\"")).Last(), Does.StartWith("b3 OK"));
            Assert.That((await client.CommandAsync("b4", "UID FETCH 1 (BODY[])")).Last(), Does.StartWith("b4 OK"));
            Assert.That((await client.CommandAsync("b5", "UID MOVE 1 INBOX")).Last(), Does.StartWith("b5 OK"));
            Assert.That((await client.CommandAsync("b6", "LOGOUT")).Last(), Does.StartWith("b6 OK"));
        }

        var access = server.AuditLogLines().Where(l => (string)l["log_type"]! == "MailboxAccess").ToArray();
        Assert.That(access.Select(l => ((string)l["action"]!, (string)l["owner_id"]!, (string)l["folder_path"]!)), Is.EqualTo(new[]
        {
            ("create", "bob@example.test", "INBOX"),
            ("read_hierarchy", "bob@example.test", "INBOX"),
            ("read", "bob@example.test", "INBOX"),
            ("move", "bob@example.test", "INBOX"),
            ("move_to", "alice@example.test", "INBOX"),
        }));
        Assert.Multiple(() =>
        {
            Assert.That(access.Select(l => (string)l["user_id"]!), Is.All.EqualTo("alice@example.test"));
            Assert.That(access.Select(l => (bool)l["action_allowed"]!), Is.All.True);
            Assert.That(access.Where((_, i) => i != 1).Select(l => (string)l["item_id"]!), Is.All.EqualTo("1"));
            Assert.That(access.Select(l => l["user_agent"]), Is.All.Null, "the client sent no ID");
            Assert.That((string?)access[3]["folder_id"], Is.Not.EqualTo((string?)access[4]["folder_id"]));
        });
    }
    [Test]
    public async Task Fetching_only_an_attachment_part_is_read_attachment_with_its_name_and_the_text_part_is_read()
    {
        await using var server = ServerProcess.Create();
        File.WriteAllText(server.ConfigPath, File.ReadAllText(server.ConfigPath)
            .Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{PasswordHasher.Hash(Password, iterations: 1000)}\""));
        await server.StartAsync();

        var (client, _) = await ImapLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Imaps), tls: true);
        await using (client)
        {
            Assert.That((await client.CommandAsync("d1", $"LOGIN alice@example.test \"{Password}\"")).Last(), Does.StartWith("d1 OK"));
            var message = Encoding.ASCII.GetBytes(
                "From: bob@example.test\r\nTo: alice@example.test\r\nSubject: the report\r\nMIME-Version: 1.0\r\n" +
                "Content-Type: multipart/mixed; boundary=b1\r\n\r\n" +
                "--b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
                "--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"q3 report.pdf\"\r\n" +
                "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n");
            await client.SendRawAsync(Encoding.ASCII.GetBytes($"d2 APPEND INBOX {{{message.Length}+}}\r\n").Concat(message).Concat("\r\n"u8.ToArray()).ToArray());
            Assert.That((await client.ReadUntilTaggedAsync("d2")).Last(), Does.StartWith("d2 OK [APPENDUID"));
            Assert.That((await client.CommandAsync("d3", "SELECT INBOX")).Last(), Does.StartWith("d3 OK"));
            Assert.That((await client.CommandAsync("d4", "UID FETCH 1 (BODY.PEEK[2])")).Last(), Does.StartWith("d4 OK"));
            Assert.That((await client.CommandAsync("d5", "UID FETCH 1 (BINARY.PEEK[2])")).Last(), Does.StartWith("d5 OK"));
            Assert.That((await client.CommandAsync("d6", "UID FETCH 1 (BODY.PEEK[1])")).Last(), Does.StartWith("d6 OK"));
            Assert.That((await client.CommandAsync("d7", "UID FETCH 1 (BODY.PEEK[1] BODY.PEEK[2])")).Last(), Does.StartWith("d7 OK"));
            Assert.That((await client.CommandAsync("d8", "LOGOUT")).Last(), Does.StartWith("d8 OK"));
        }

        var fetches = server.AuditLogLines().Where(l => (string)l["log_type"]! == "MailboxAccess").Skip(2).ToArray(); // after APPEND and SELECT
        Assert.That(fetches.Select(l => ((string)l["action"]!, (string)l["object_type"]!, (string?)l["attachment_path"], (string?)l["item_id"])), Is.EqualTo(new[]
        {
            ("read_attachment", "Attachment", "q3 report.pdf", "1"),
            ("read_attachment", "Attachment", "q3 report.pdf", "1"),
            ("read", "Message", (string?)null, "1"),
            ("read", "Message", (string?)null, "1"),
        }));
    }
}
