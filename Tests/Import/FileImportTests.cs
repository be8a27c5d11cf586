using System.IO.Compression;
using System.Text;
using MailKit;
using MailServer.Tests.Support;
using NUnit.Framework;
using static MailServer.Tests.Import.ImportTestSupport;

namespace MailServer.Tests.Import;

/// <summary>
/// <c>mailserver import mbox|maildir|export-zip</c> with the server stopped (the CLI opens the store itself), then the
/// real server started and read with MailKit: folders mapped, flags, keywords and dates kept, a bad message reported
/// without stopping the import, a second run storing nothing, and a full mailbox stopping the import with its reason.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class FileImportTests
{
    private static string Fixture() => Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "import-fixture-" + Guid.NewGuid().ToString("N")[..8])).FullName;

    private static string Mail(string id, string subject, string date = "Tue, 05 Mar 2019 09:30:00 +0000", string extraHeaders = "", string body = "Hello.\n") =>
        $"Return-Path: <sender@elsewhere.test>\nFrom: sender@elsewhere.test\nTo: alice@example.test\nSubject: {subject}\nMessage-ID: <{id}@elsewhere.test>\nDate: {date}\n{extraHeaders}\n{body}";

    [Test]
    public async Task MaildirTreeWithFlagsKeywordsAndAnUnreadableMessage()
    {
        var root = Fixture();
        foreach (var dir in new[] { "", ".Sent", ".Work.Projects", ".Junk" })
            foreach (var sub in new[] { "cur", "new", "tmp" })
                Directory.CreateDirectory(Path.Combine(root, dir, sub));
        await File.WriteAllTextAsync(Path.Combine(root, "dovecot-keywords"), "0 $Label1\n1 project-x\n");
        await File.WriteAllTextAsync(Path.Combine(root, "cur", "1551700000.M1P1.host,S=100:2,FSab"), Mail("m1", "seen flagged labelled"));
        await File.WriteAllTextAsync(Path.Combine(root, "new", "1551700001.M2P1.host"), Mail("m2", "new, unseen"));
        await File.WriteAllTextAsync(Path.Combine(root, "cur", "1551700002.M3P1.host:2,"), ""); // empty: reported, the import goes on
        await File.WriteAllTextAsync(Path.Combine(root, ".Sent", "cur", "1551700003.M4P1.host:2,RS"), Mail("m4", "sent and answered"));
        await File.WriteAllTextAsync(Path.Combine(root, ".Work.Projects", "cur", "1551700004.M5P1.host:2,D"), Mail("m5", "a draft in a project"));
        await File.WriteAllTextAsync(Path.Combine(root, ".Junk", "cur", "1551700005.M6P1.host:2,T"), Mail("m6", "trashed junk"));
        var received = new DateTime(2019, 3, 4, 12, 0, 0, DateTimeKind.Utc);
        foreach (var file in Directory.EnumerateFiles(root, "*.host*", SearchOption.AllDirectories))
            File.SetLastWriteTimeUtc(file, received);

        await using var server = Create();
        var run = await CliAsync(server, "import", "maildir", root, "--user", "alice@example.test");
        Assert.That(run.Code, Is.Zero, run.ToString());
        Assert.That(run.Out, Does.Contain("The server is not running: importing in this process."));
        Assert.That(run.Out, Does.Contain("completed. This run: 5 imported (0.0 MB), 0 already there, 1 failed."));
        Assert.That(run.Out, Does.Contain("not imported: INBOX 1551700002.M3P1.host:2,: the message is empty"));
        Assert.That(run.Out, Does.Contain("Sent -> Sent Items: 1 imported").And.Contain("Junk -> Junk E-mail: 1 imported")
            .And.Contain("Work/Projects -> Work/Projects: 1 imported"));
        // A message delivered to the Maildir since: the same command imports it alone.
        await File.WriteAllTextAsync(Path.Combine(root, "new", "1551800000.M7P1.host"), Mail("m7", "arrived later"));
        var again = await CliAsync(server, "import", "maildir", root, "--user", "alice@example.test");
        Assert.That(again.Out, Does.Contain("This run: 1 imported (0.0 MB), 0 already there, 0 failed. In all: 6 imported"), again.ToString());

        await server.StartAsync();
        using var imap = await ImapAsync(server, "alice@example.test");
        var inbox = await ReadFolderAsync(imap.Inbox);
        Assert.That(inbox.Select(m => (m.MessageId, m.Flags, string.Join(' ', m.Keywords))), Is.EqualTo(new[]
        {
            ("m1@elsewhere.test", MessageFlags.Seen | MessageFlags.Flagged, "$Label1 project-x"),
            ("m2@elsewhere.test", MessageFlags.None, ""),
            ("m7@elsewhere.test", MessageFlags.None, ""),
        }));
        Assert.That(inbox.Take(2).Select(m => m.InternalDate.UtcDateTime), Is.All.EqualTo(received));
        Assert.That((await ReadFolderAsync(await imap.GetFolderAsync("Sent Items"))).Single().Flags, Is.EqualTo(MessageFlags.Seen | MessageFlags.Answered));
        Assert.That((await ReadFolderAsync(await imap.GetFolderAsync("Work/Projects"))).Single().Flags, Is.EqualTo(MessageFlags.Draft));
        Assert.That((await ReadFolderAsync(await imap.GetFolderAsync("Junk E-mail"))).Single().Flags, Is.EqualTo(MessageFlags.Deleted));
        // Stored as CRLF, the Maildir's LF lines converted (RFC 5322 §2.3).
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        using var stream = await imap.Inbox.GetStreamAsync(0);
        var text = await new StreamReader(stream).ReadToEndAsync();
        Assert.That(text, Does.Contain("Subject: seen flagged labelled\r\n"));
    }

    [Test]
    public async Task MboxDirectoryInThunderbirdsLayoutWithStatusFieldsAndFromQuoting()
    {
        var root = Fixture();
        var inbox = "From sender@elsewhere.test Mon Mar  4 08:00:00 2019\n" + Mail("b1", "read and replied", extraHeaders: "Status: RO\nX-Status: A\nX-Keywords: $Label2 todo\n",
                        body: "Dear Alice,\n\n>From the start, this line was quoted by the mbox writer.\n>>From a doubly quoted line.\n") + "\n" +
                    "From sender@elsewhere.test Tue Mar  5 08:00:00 2019\n" + Mail("b2", "thunderbird flagged", extraHeaders: "X-Mozilla-Status: 0005\n") + "\n";
        await File.WriteAllTextAsync(Path.Combine(root, "Inbox"), inbox);
        await File.WriteAllTextAsync(Path.Combine(root, "Inbox.msf"), "an index Thunderbird keeps; not mail");
        Directory.CreateDirectory(Path.Combine(root, "Work.sbd"));
        await File.WriteAllTextAsync(Path.Combine(root, "Work"), "From sender@elsewhere.test Wed Mar  6 08:00:00 2019\n" + Mail("b3", "work"));
        await File.WriteAllTextAsync(Path.Combine(root, "Work.sbd", "Clients.mbox"), "From sender@elsewhere.test Thu Mar  7 08:00:00 2019\n" + Mail("b4", "client"));

        await using var server = Create();
        await server.StartAsync();
        var run = await CliAsync(server, "import", "mbox", root, "--user", "alice@example.test");
        Assert.That(run.Code, Is.Zero, run.ToString());
        Assert.That(run.Out, Does.Contain("completed. This run: 4 imported").And.Contain("Work/Clients -> Work/Clients: 1 imported"));

        using var imap = await ImapAsync(server, "alice@example.test");
        var messages = await ReadFolderAsync(imap.Inbox);
        Assert.That(messages.Select(m => (m.MessageId, m.Flags, string.Join(' ', m.Keywords), m.InternalDate.UtcDateTime)), Is.EqualTo(new[]
        {
            ("b1@elsewhere.test", MessageFlags.Seen | MessageFlags.Answered, "$Label2 todo", new DateTime(2019, 3, 4, 8, 0, 0, DateTimeKind.Utc)),
            ("b2@elsewhere.test", MessageFlags.Seen | MessageFlags.Flagged, "", new DateTime(2019, 3, 5, 8, 0, 0, DateTimeKind.Utc)),
        }));
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        using (var stream = await imap.Inbox.GetStreamAsync(0))
        {
            var text = await new StreamReader(stream).ReadToEndAsync();
            Assert.That(text, Does.Contain("\r\nFrom the start, this line").And.Contain("\r\n>From a doubly quoted line."));
            Assert.That(text, Does.EndWith("quoted line.\r\n"), "the empty line before the next From belongs to the separator");
        }
        Assert.That((await ReadFolderAsync(await imap.GetFolderAsync("Work"))).Single().MessageId, Is.EqualTo("b3@elsewhere.test"));
        Assert.That((await ReadFolderAsync(await imap.GetFolderAsync("Work/Clients"))).Single().MessageId, Is.EqualTo("b4@elsewhere.test"));
    }

    [Test]
    public async Task WorkMailExportZipThenTheSameMailFromMaildirIsNotStoredTwice()
    {
        var root = Fixture();
        var zip = Path.Combine(root, "export.zip");
        using (var archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            foreach (var (name, content) in new[]
                     {
                         ("INBOX/1.eml", Mail("z1", "in the inbox", extraHeaders: "Received: from mx.elsewhere.test by inbound-smtp; Mon, 4 Mar 2019 07:59:58 +0000\n")),
                         ("Sent Items/2.eml", Mail("z2", "sent")),
                         ("Deleted Items/3.eml", Mail("z3", "deleted")),
                         ("Clients/Acme/4.eml", Mail("z4", "nested")),
                     })
            {
                await using var writer = new StreamWriter(archive.CreateEntry(name).Open());
                await writer.WriteAsync(content);
            }
            await using (var manifest = new StreamWriter(archive.CreateEntry("manifest.json").Open()))
                await manifest.WriteAsync("{}");
        }

        await using var server = Create();
        var run = await CliAsync(server, "import", "export-zip", zip, "--user", "alice@example.test", "--mark-seen");
        Assert.That(run.Code, Is.Zero, run.ToString());
        Assert.That(run.Out, Does.Contain("completed. This run: 4 imported"));

        // The same first message in a Maildir INBOX (the same octets once CRLF): the import ledger says it is there.
        Directory.CreateDirectory(Path.Combine(root, "Maildir", "cur"));
        await File.WriteAllTextAsync(Path.Combine(root, "Maildir", "cur", "1.host:2,S"),
            Mail("z1", "in the inbox", extraHeaders: "Received: from mx.elsewhere.test by inbound-smtp; Mon, 4 Mar 2019 07:59:58 +0000\n"));
        var maildir = await CliAsync(server, "import", "maildir", Path.Combine(root, "Maildir"), "--user", "alice@example.test");
        Assert.That(maildir.Out, Does.Contain("This run: 0 imported (0.0 MB), 1 already there"), maildir.ToString());

        await server.StartAsync();
        using var imap = await ImapAsync(server, "alice@example.test");
        var inbox = (await ReadFolderAsync(imap.Inbox)).Single();
        Assert.That(inbox.MessageId, Is.EqualTo("z1@elsewhere.test"));
        Assert.That(inbox.Flags, Is.EqualTo(MessageFlags.Seen));
        Assert.That(inbox.InternalDate.UtcDateTime, Is.EqualTo(new DateTime(2019, 3, 4, 7, 59, 58, DateTimeKind.Utc)), "the Received field's date");
        Assert.That((await ReadFolderAsync(await imap.GetFolderAsync("Sent Items"))).Single().MessageId, Is.EqualTo("z2@elsewhere.test"));
        Assert.That((await ReadFolderAsync(await imap.GetFolderAsync("Deleted Items"))).Single().MessageId, Is.EqualTo("z3@elsewhere.test"));
        Assert.That((await ReadFolderAsync(await imap.GetFolderAsync("Clients/Acme"))).Single().MessageId, Is.EqualTo("z4@elsewhere.test"));
    }

    [Test]
    public async Task AFullMailboxStopsTheImportWithItsReasonAndARaisedQuotaResumesIt()
    {
        var root = Fixture();
        var mbox = new StringBuilder();
        for (var i = 0; i < 3; i++)
            mbox.Append($"From sender@elsewhere.test Mon Mar  4 08:00:0{i} 2019\n").Append(Mail($"q{i}", $"half a megabyte {i}", body: new string('q', 600_000) + "\n")).Append('\n');
        var file = Path.Combine(root, "big.mbox");
        await File.WriteAllTextAsync(file, mbox.ToString());

        await using var server = Create(org => org["Users"]![2]!["MailboxQuotaMiB"] = 1); // carol: 1 MiB
        var run = await CliAsync(server, "import", "mbox", file, "--user", "carol@example.test", "--folder", "Old mail");
        Assert.That(run.Code, Is.EqualTo(2), run.ToString());
        Assert.That(run.Out, Does.Contain("failed. This run: 1 imported"));
        Assert.That(run.Error, Does.Contain("import failed: the mailbox of carol@example.test is full")
            .And.Contain("Old mail message 2").And.Contain("Raise MailboxQuotaMiB"));

        var config = File.ReadAllText(server.ConfigPath).Replace("\"MailboxQuotaMiB\":1", "\"MailboxQuotaMiB\":10");
        File.WriteAllText(server.ConfigPath, config);
        var resumed = await CliAsync(server, "import", "mbox", file, "--user", "carol@example.test", "--folder", "Old mail");
        Assert.That(resumed.Code, Is.Zero, resumed.ToString());
        Assert.That(resumed.Out, Does.Contain("This run: 2 imported").And.Contain("In all: 3 imported"));
        await server.StartAsync();
        using var imap = await ImapAsync(server, "carol@example.test");
        Assert.That((await ReadFolderAsync(await imap.GetFolderAsync("Old mail"))).Select(m => m.MessageId),
            Is.EqualTo(new[] { "q0@elsewhere.test", "q1@elsewhere.test", "q2@elsewhere.test" }));
    }

    [Test]
    public async Task BadInputIsRefusedWithItsReason()
    {
        await using var server = Create();
        var noUser = await CliAsync(server, "import", "maildir", "/nonexistent");
        Assert.That((noUser.Code, noUser.Error), Is.EqualTo((1, "mailserver: --user ADDRESS is required\n")));
        var group = await CliAsync(server, "import", "maildir", Path.GetTempPath(), "--user", "team@example.test");
        Assert.That(group.Error, Does.Contain("team@example.test is not a user of this server"));
        var missing = await CliAsync(server, "import", "mbox", "/nonexistent/file", "--user", "alice@example.test");
        Assert.That((missing.Code, missing.Error), Is.EqualTo((1, "mailserver: /nonexistent/file does not exist\n")));
        var notMaildir = await CliAsync(server, "import", "maildir", Fixture(), "--user", "alice@example.test");
        Assert.That(notMaildir.Code, Is.EqualTo(2));
        Assert.That(notMaildir.Error, Does.Contain("is not a Maildir (it has no cur/ or new/ directory)"));
    }
}
