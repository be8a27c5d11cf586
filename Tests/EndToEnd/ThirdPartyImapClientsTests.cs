using System.Text.Json;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Search;
using MailKit.Security;
using MailServer.Server.Security;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Real third-party IMAP clients (Python's imaplib, mbsync from Debian's isync) against the real `mailserver`
/// process: what a user's tools would do, over STARTTLS (RFC 9051 §6.2.1) and implicit TLS (RFC 8314 §3.2).
/// test.sh installs isync; python3 is part of the machine.
/// </summary>
[TestFixture]
public sealed class ThirdPartyImapClientsTests
{
    private const string Password = "third-party-pw";
    private const string Alice = "alice@example.test";

    [Test]
    public async Task Python_imaplib_session_over_starttls_and_implicit_tls()
    {
        await using var server = await StartServerAsync();
        await DeliverAsync(server, ["first", "second", "third"]);
        var script = Path.Combine(server.Root, "imaplib_client.py");
        await File.WriteAllTextAsync(script, PythonClient);

        var run = await ExternalProgram.RunAsync("python3",
            [script, "127.0.0.1", $"{server.ListenerPorts.Imap}", $"{server.ListenerPorts.Imaps}", $"{server.ListenerPorts.Smtp}", Alice, Password],
            TimeSpan.FromSeconds(40));
        Assert.That(run.ExitCode, Is.EqualTo(0), run + "\n--- server ---\n" + server.Output);
        using var json = JsonDocument.Parse(run.StandardOutput);
        var r = json.RootElement;
        string Text(string name) => r.GetProperty(name).ValueKind == JsonValueKind.String ? r.GetProperty(name).GetString()! : r.GetProperty(name).ToString();
        string[] Strings(string name) => [.. r.GetProperty(name).EnumerateArray().Select(e => e.ToString())];

        Assert.Multiple(() =>
        {
            // Before STARTTLS a server that refuses plaintext auth announces LOGINDISABLED (RFC 9051 §6.2.3).
            Assert.That(Strings("capabilities_plain"), Does.Contain("STARTTLS").And.Contain("LOGINDISABLED"), run.StandardOutput);
            Assert.That(Strings("capabilities_tls"), Does.Contain("IDLE").And.Not.Contain("LOGINDISABLED"), run.StandardOutput);
            Assert.That(Text("starttls"), Is.EqualTo("OK"));
            Assert.That(Text("login"), Is.EqualTo("OK"));
            Assert.That(string.Join("\n", Strings("list")), Does.Contain("INBOX").And.Contain("\"Sent Items\"").And.Contain("\"Deleted Items\""));
            Assert.That(Strings("select"), Is.EqualTo(new[] { "OK", "3" }));
            Assert.That(Strings("search_all"), Is.EqualTo(new[] { "1", "2", "3" }));
            Assert.That(Strings("search_unseen"), Is.EqualTo(new[] { "1", "2", "3" }));
            Assert.That(Strings("search_subject"), Is.EqualTo(new[] { "3" }));
        });

        var summary = r.GetProperty("fetch_summary").EnumerateArray().ToArray();
        Assert.That(summary, Has.Length.EqualTo(3), run.StandardOutput);
        var uids = summary.Select(s => s.GetProperty("uid").GetInt32()).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(uids, Is.Ordered.Ascending.And.Unique);
            Assert.That(summary.Select(s => s.GetProperty("literal").GetString()!.Trim()),
                Is.EqualTo(new[] { "Subject: first", "Subject: second", "Subject: third" }));
            // imaplib is an IMAP4rev1 client: the messages it is first to see are \Recent in its session (RFC 3501 §2.3.2).
            Assert.That(summary.Select(s => string.Join(" ", s.GetProperty("flags").EnumerateArray().Select(f => f.GetString()))),
                Is.All.EqualTo("\\Recent"), "BODY.PEEK must not set \\Seen");
            var body = r.GetProperty("fetch_body")[0].GetProperty("literal").GetString()!;
            // RFC 9051 §7.5.2: RFC822.SIZE is the size of BODY[] (all ASCII here, so characters = octets).
            Assert.That(body, Has.Length.EqualTo(summary[0].GetProperty("size").GetInt32()));
            Assert.That(body, Does.Contain("Subject: first").And.Contain("body of first"));
            Assert.That(Strings("flags_after_body"), Is.EquivalentTo(new[] { "\\Seen", "\\Recent" }), "BODY[] sets \\Seen (RFC 9051 §6.4.5)");
            Assert.That(Text("store"), Does.Contain("\\Seen").And.Contain("\\Flagged"));
            Assert.That(Strings("search_unseen_after"), Is.EqualTo(new[] { "3" }));
            Assert.That(Text("copy_sent"), Is.EqualTo("OK"));
            Assert.That(Text("create"), Is.EqualTo("OK"));
            Assert.That(Text("copy_projects"), Is.EqualTo("OK"));
            Assert.That(Text("move"), Is.EqualTo("OK"));
            Assert.That(Strings("move_expunge"), Is.EqualTo(new[] { "3" }), "UID MOVE announces the source's EXPUNGE (RFC 6851 §3.3)");
            Assert.That(Text("status_projects"), Does.Contain("MESSAGES 3").And.Contain("UNSEEN 1"));
            Assert.That(Text("append"), Does.Contain("APPENDUID"));
            Assert.That(Text("store_deleted"), Is.EqualTo("OK"));
            Assert.That(Strings("expunge"), Is.EqualTo(new[] { "OK", "1" }));
            Assert.That(Strings("search_all_after_expunge"), Is.EqualTo(new[] { "1" }));
            Assert.That(Strings("select_projects"), Is.EqualTo(new[] { "OK", "4" }));
            var last = r.GetProperty("projects_last");
            Assert.That(last.GetProperty("head").GetString(),
                Does.Contain("\\Flagged").And.Contain("\\Draft").And.Contain("\"02-Jan-2020 03:04:05 +0000\""));
            Assert.That(last.GetProperty("literal").GetString()!.Trim(), Is.EqualTo("Subject: appended by imaplib"));
            // INBOX held one message after the expunge; the delivery during IDLE makes it two (RFC 2177).
            Assert.That(Text("idle"), Does.Contain("* 2 EXISTS"), $"{Text("idle_mode")}: {Text("idle")}");
            Assert.That(Text("logout"), Is.EqualTo("BYE"));
            Assert.That(Text("ssl_login"), Is.EqualTo("OK"));
            Assert.That(Strings("ssl_select"), Is.EqualTo(new[] { "OK", "2" }));
            Assert.That(r.GetProperty("ssl_fetch").EnumerateArray().Select(s => s.GetProperty("literal").GetString()!.Trim()),
                Is.EqualTo(new[] { "Subject: second", "Subject: during idle" }));
            Assert.That(Text("ssl_logout"), Is.EqualTo("BYE"));
        });

        // The server's view agrees with what the script saw.
        using var imap = await ConnectAsync(server);
        var sent = await imap.GetFolderAsync("Sent Items");
        await sent.OpenAsync(FolderAccess.ReadOnly);
        Assert.That(sent.Count, Is.EqualTo(1));
        Assert.That((await sent.FetchAsync(0, 0, MessageSummaryItems.Envelope))[0].Envelope!.Subject, Is.EqualTo("first"));
        await imap.DisconnectAsync(true);
    }

    [Test]
    public async Task Mbsync_synchronizes_a_full_mailbox_both_ways()
    {
        await using var server = await StartServerAsync();
        await DeliverAsync(server, [.. Enumerable.Range(1, 30).Select(i => $"seed {i}")]);
        var maildir = Path.Combine(server.Root, "Maildir");
        Directory.CreateDirectory(maildir);
        var rc = Path.Combine(server.Root, "mbsyncrc");
        // isync 1.4 (SSLType; 1.5 renamed it TLSType): a certificate listed in CertificateFile is trusted as the host's own, so the server's
        // self-signed one is accepted without the system store and without any "skip verification" option.
        await File.WriteAllTextAsync(rc, $"""
            IMAPAccount server
            Host 127.0.0.1
            Port {server.ListenerPorts.Imap}
            User {Alice}
            Pass {Password}
            SSLType STARTTLS
            SystemCertificates no
            CertificateFile {Path.Combine(server.DataDirectory, "tls", "cert.pem")}

            IMAPStore remote
            Account server

            MaildirStore local
            Path {maildir}/
            Inbox {maildir}/INBOX
            SubFolders Verbatim

            Channel alice
            Far :remote:
            Near :local:
            Patterns *
            Create Both
            Expunge Both
            SyncState *

            """);

        // 1) Everything on the server comes down.
        var first = await SyncAsync(rc, server);
        var inbox = Path.Combine(maildir, "INBOX");
        var local = LocalMessages(inbox);
        Assert.That(local, Has.Count.EqualTo(30), first.ToString());
        Assert.That(local.Values, Does.Contain("seed 17"));
        Assert.That(Directory.Exists(Path.Combine(maildir, "Sent Items")), first.ToString());

        // 2) Local changes go up: a new message, \Seen \Flagged on one (Maildir info ":2,FS"), one deleted.
        var flagged = local.Single(p => p.Value == "seed 5").Key;
        var deleted = local.Single(p => p.Value == "seed 7").Key;
        var bare = Path.GetFileName(flagged);
        var colon = bare.IndexOf(':', StringComparison.Ordinal);
        File.Move(flagged, Path.Combine(inbox, "cur", (colon < 0 ? bare : bare[..colon]) + ":2,FS"));
        File.Delete(deleted);
        await File.WriteAllTextAsync(Path.Combine(inbox, "new", "1700000000.M1P1.laptop"),
            "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: written offline\r\n" +
            "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <offline-1@laptop>\r\n\r\nwritten without a connection\r\n");
        var second = await SyncAsync(rc, server);

        using (var imap = await ConnectAsync(server))
        {
            await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
            var all = await imap.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Flags);
            var subjects = all.Select(s => s.Envelope!.Subject).ToArray();
            Assert.Multiple(() =>
            {
                Assert.That(all, Has.Count.EqualTo(30), second + string.Join(", ", subjects));
                Assert.That(subjects, Does.Contain("written offline"), second.ToString());
                Assert.That(subjects, Does.Not.Contain("seed 7"), second.ToString());
                var five = all.Single(s => s.Envelope!.Subject == "seed 5");
                Assert.That(five.Flags, Is.EqualTo(MessageFlags.Seen | MessageFlags.Flagged), second.ToString());
                Assert.That(all.Where(s => s.Envelope!.Subject != "seed 5").Select(s => s.Flags & MessageFlags.Deleted),
                    Is.All.EqualTo(MessageFlags.None));
            });
            await imap.DisconnectAsync(true);
        }

        // 3) Mail delivered afterwards arrives on the next sync.
        await DeliverAsync(server, ["after the sync"]);
        var third = await SyncAsync(rc, server);
        local = LocalMessages(inbox);
        Assert.That(local, Has.Count.EqualTo(31), third.ToString());
        Assert.That(local.Values, Does.Contain("after the sync").And.Contain("written offline").And.Not.Contain("seed 7"));
        Assert.That(Path.GetFileName(local.Single(p => p.Value == "seed 5").Key), Does.EndWith(":2,FS"));
    }

    private static async Task<ExternalProgramResult> SyncAsync(string rc, ServerProcess server)
    {
        var run = await ExternalProgram.RunAsync("mbsync", ["-c", rc, "-a"], TimeSpan.FromSeconds(30));
        await TestContext.Out.WriteLineAsync("mbsync -a: " + run);
        Assert.That(run.ExitCode, Is.EqualTo(0), run + "\n--- server ---\n" + server.Output);
        return run;
    }

    /// <summary>Maildir message files under new/ and cur/, by path, with their Subject.</summary>
    private static Dictionary<string, string> LocalMessages(string folder) =>
        new[] { "new", "cur" }
            .SelectMany(sub => Directory.EnumerateFiles(Path.Combine(folder, sub)))
            .ToDictionary(path => path, path => MimeMessage.Load(path).Subject ?? "");

    private static async Task<ServerProcess> StartServerAsync()
    {
        var server = ServerProcess.Create();
        // Create picked the ports; write the config again with a password hash we know.
        await File.WriteAllTextAsync(server.ConfigPath, ServerProcess.SampleConfig(server.ListenerPorts)
            .Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{PasswordHasher.Hash(Password, iterations: 1000)}\""));
        await server.StartAsync();
        // StartAsync waits for the SMTP port; wait for IMAP too, which starts right after it.
        using var probe = await ConnectAsync(server);
        await probe.DisconnectAsync(true);
        return server;
    }

    private static async Task<ImapClient> ConnectAsync(ServerProcess server)
    {
        var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 15000 };
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imap, SecureSocketOptions.StartTls);
                break;
            }
            catch (System.Net.Sockets.SocketException) when (attempt < 100)
            {
                await Task.Delay(100);
            }
        }
        await imap.AuthenticateAsync(Alice, Password);
        return imap;
    }

    private static async Task DeliverAsync(ServerProcess server, IEnumerable<string> subjects)
    {
        using var smtp = new SmtpClient();
        await smtp.ConnectAsync("127.0.0.1", server.ListenerPorts.Smtp, SecureSocketOptions.None);
        foreach (var subject in subjects)
        {
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse("sender@example.net"));
            message.To.Add(MailboxAddress.Parse(Alice));
            message.Subject = subject;
            message.Body = new TextPart("plain") { Text = $"body of {subject}" };
            await smtp.SendAsync(message);
        }
        await smtp.DisconnectAsync(true);
    }

    /// <summary>
    /// The imaplib client: argv = host, IMAP port, IMAPS port, SMTP port, user, password; prints one JSON object.
    /// Every step uses imaplib's public API except IDLE on Pythons older than 3.14 (no IMAP4.idle), where the
    /// script sends IDLE / DONE over imaplib's own connection.
    /// </summary>
    private const string PythonClient = """
        import imaplib, json, re, smtplib, ssl, sys
        from datetime import datetime, timezone
        from email.message import EmailMessage

        host, port, ssl_port, smtp_port, user, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        out = {"python": sys.version.split()[0]}

        def text(data):
            return [d.decode() if isinstance(d, bytes) else d for d in data if d is not None]

        def fetch_items(data):
            items = []
            for part in data:
                if not isinstance(part, tuple):
                    continue
                head = part[0].decode()
                flags = imaplib.ParseFlags(part[0])
                item = {"seq": int(head.split()[0]), "flags": sorted(f.decode() for f in flags)}
                uid = re.search(r"UID (\d+)", head)
                size = re.search(r"RFC822\.SIZE (\d+)", head)
                if uid: item["uid"] = int(uid.group(1))
                if size: item["size"] = int(size.group(1))
                item["literal"] = part[1].decode("utf-8", "replace")
                items.append(item)
            return items

        m = imaplib.IMAP4(host, port)
        out["capabilities_plain"] = sorted(m.capabilities)
        out["starttls"] = m.starttls(ssl_context=context)[0]
        out["capabilities_tls"] = sorted(m.capabilities)
        out["login"] = m.login(user, password)[0]
        out["list"] = text(m.list()[1])
        typ, data = m.select("INBOX")
        out["select"] = [typ, int(data[0])]
        out["search_all"] = m.search(None, "ALL")[1][0].decode().split()
        out["search_unseen"] = m.search(None, "UNSEEN")[1][0].decode().split()
        out["search_subject"] = m.search(None, "SUBJECT", '"third"')[1][0].decode().split()
        out["fetch_summary"] = fetch_items(m.fetch("1:*", "(FLAGS UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1])
        out["fetch_body"] = fetch_items(m.fetch("1", "(BODY[])")[1])
        out["flags_after_body"] = sorted(f.decode() for f in imaplib.ParseFlags(m.fetch("1", "(FLAGS)")[1][0]))
        out["store"] = text(m.store("2", "+FLAGS", r"(\Seen \Flagged)")[1])
        out["search_unseen_after"] = m.search(None, "UNSEEN")[1][0].decode().split()
        out["copy_sent"] = m.copy("1", '"Sent Items"')[0]
        out["create"] = m.create("Projects")[0]
        out["copy_projects"] = m.copy("1:2", "Projects")[0]
        typ, data = m.uid("MOVE", str(out["fetch_summary"][2]["uid"]), "Projects")
        out["move"] = typ
        out["move_expunge"] = text(m.response("EXPUNGE")[1])
        out["status_projects"] = text(m.status("Projects", "(MESSAGES UNSEEN)")[1])
        appended = EmailMessage()
        appended["From"] = "alice@example.test"
        appended["To"] = "bob@example.test"
        appended["Subject"] = "appended by imaplib"
        appended.set_content("draft body\n")
        when = datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        out["append"] = text(m.append("Projects", r"(\Flagged \Draft)", imaplib.Time2Internaldate(when), appended.as_bytes().replace(b"\n", b"\r\n")))
        out["store_deleted"] = m.store("1", "+FLAGS", r"(\Deleted)")[0]
        typ, data = m.expunge()
        out["expunge"] = [typ] + text(data)
        out["search_all_after_expunge"] = m.search(None, "ALL")[1][0].decode().split()
        typ, data = m.select("Projects", readonly=True)
        out["select_projects"] = [typ, int(data[0])]
        typ, data = m.fetch(data[0].decode(), "(FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        out["projects_last"] = {"head": data[0][0].decode(), "literal": data[0][1].decode()}
        m.select("INBOX")

        def deliver(subject):
            message = EmailMessage()
            message["From"] = "sender@example.net"
            message["To"] = user
            message["Subject"] = subject
            message.set_content("arrived during idle\n")
            with smtplib.SMTP(host, smtp_port) as smtp:
                smtp.send_message(message)

        if hasattr(m, "idle"):
            out["idle_mode"] = "IMAP4.idle"
            responses = []
            with m.idle(duration=10) as idler:
                deliver("during idle")
                for typ, data in idler:
                    responses.append([typ] + text(data))
                    if typ == "EXISTS":
                        break
            out["idle"] = responses
        else:
            # This Python predates IMAP4.idle (3.14); drive RFC 2177 IDLE through imaplib's own connection.
            out["idle_mode"] = "imaplib send/readline"
            tag = m._new_tag()
            m.send(tag + b" IDLE\r\n")
            lines = [m.readline().decode().rstrip()]
            deliver("during idle")
            while True:
                line = m.readline().decode().rstrip()
                lines.append(line)
                if line.endswith("EXISTS") or not line:
                    break
            m.send(b"DONE\r\n")
            while True:
                line = m.readline().decode().rstrip()
                lines.append(line)
                if line.startswith(tag.decode()) or not line:
                    break
            out["idle"] = lines
        out["logout"] = m.logout()[0]

        s = imaplib.IMAP4_SSL(host, ssl_port, ssl_context=context)
        out["ssl_login"] = s.login(user, password)[0]
        typ, data = s.select("INBOX", readonly=True)
        out["ssl_select"] = [typ, int(data[0])]
        out["ssl_fetch"] = fetch_items(s.fetch("1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1])
        out["ssl_logout"] = s.logout()[0]
        print(json.dumps(out, default=lambda o: o.decode("utf-8", "replace") if isinstance(o, bytes) else repr(o)))
        """;
}
