using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using MailKit;
using MailKit.Net.Imap;
using MailServer.Server.Import;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;
using static MailServer.Tests.Import.ImportTestSupport;

namespace MailServer.Tests.Import;

/// <summary>
/// <c>mailserver import imap</c> against the real Dovecot of the run (Tests/Support/dovecot.sh), into the real server:
/// the source mailbox is seeded over IMAP with MailKit (APPEND with flags, keywords and internal dates), imported,
/// and read back from our server with MailKit.
/// </summary>
[TestFixture, NonParallelizable]
public sealed partial class ImapImportTests
{
    private const string SourcePassword = "dovecot-source-password";
    private static readonly DateTimeOffset March = new(2019, 3, 4, 10, 0, 0, TimeSpan.FromHours(1));

    private static async Task AppendAsync(IMailFolder folder, MimeMessage message, MessageFlags flags, DateTimeOffset date, params string[] keywords) =>
        await folder.AppendAsync(new AppendRequest(message, flags, keywords, date));

    private static async Task<IMailFolder> CreateAsync(ImapClient client, string name)
    {
        var folder = client.GetFolder(client.PersonalNamespaces[0])!;
        foreach (var part in name.Split('/'))
        {
            var existing = (await folder.GetSubfoldersAsync()).FirstOrDefault(f => f.Name == part);
            folder = existing ?? (await folder.CreateAsync(part, true))!;
        }
        return folder;
    }

    private static string PasswordFile()
    {
        var file = Path.GetTempFileName();
        File.WriteAllText(file, SourcePassword + "\n");
        return file;
    }

    [Test]
    public async Task FoldersFlagsKeywordsDatesAndA20MegabyteMessageArriveOnceAndASecondRunImportsNothing()
    {
        var dovecot = Dovecot.Instance;
        var user = dovecot.CreateUser(SourcePassword);
        var big = new StringBuilder(21 * 1024 * 1024);
        var random = new Random(17);
        while (big.Length < 20 * 1024 * 1024)
            big.Append(Convert.ToBase64String(Enumerable.Range(0, 57).Select(_ => (byte)random.Next(256)).ToArray())).Append("\r\n");
        using (var source = await dovecot.ConnectAsync(user, SourcePassword))
        {
            await AppendAsync(source.Inbox, Message("flagged, labelled"), MessageFlags.Seen | MessageFlags.Flagged, March, "$Label1", "project-x");
            await AppendAsync(source.Inbox, Message("unread"), MessageFlags.None, March.AddDays(1));
            await AppendAsync(source.Inbox, Message("answered"), MessageFlags.Seen | MessageFlags.Answered, March.AddDays(2));
            await AppendAsync(source.Inbox, Message("twenty megabytes", big.ToString()), MessageFlags.Seen, March.AddDays(3));
            await AppendAsync(await CreateAsync(source, "Sent Messages"), Message("sent"), MessageFlags.Seen, March.AddDays(4));
            await AppendAsync(await CreateAsync(source, "Drafts"), Message("draft"), MessageFlags.Draft, March.AddDays(5));
            await AppendAsync(await CreateAsync(source, "Trash"), Message("trashed"), MessageFlags.Seen | MessageFlags.Deleted, March.AddDays(6));
            await AppendAsync(await CreateAsync(source, "Bulk"), Message("spam"), MessageFlags.None, March.AddDays(7));
            await AppendAsync(await CreateAsync(source, "Archive"), Message("archived"), MessageFlags.Seen, March.AddDays(8), "old");
            var projects = await CreateAsync(source, "Work/Projects");
            await AppendAsync(projects, Message("project one"), MessageFlags.Seen, March.AddDays(9));
            await AppendAsync(projects, Message("project two"), MessageFlags.Flagged, March.AddDays(10), "urgent");
            await CreateAsync(source, "Empty");
        }
        var expected = new Dictionary<string, List<Seen>>();
        using (var source = await dovecot.ConnectAsync(user, SourcePassword))
        {
            foreach (var (from, to) in new[] { ("INBOX", "INBOX"), ("Sent Messages", "Sent Items"), ("Drafts", "Drafts"), ("Trash", "Deleted Items"),
                         ("Bulk", "Junk E-mail"), ("Archive", "Archive"), ("Work/Projects", "Work/Projects") })
                expected[to] = await ReadFolderAsync(from == "INBOX" ? source.Inbox : await source.GetFolderAsync(from));
            // The source says which folders are special: the mapping below is by attribute for Bulk (\Junk), whose name means nothing.
            Assert.That((await source.GetFolderAsync("Bulk")).Attributes.HasFlag(FolderAttributes.Junk), Is.True);
        }

        await using var server = Create();
        await server.StartAsync();
        var passwordFile = PasswordFile();
        string[] command = ["import", "imap", "--user", "alice@example.test", "--host", "127.0.0.1", "--port", dovecot.Port.ToString(),
            "--security", "none", "--login", user, "--password-file", passwordFile];
        var first = await CliAsync(server, command);
        Assert.That(first.Code, Is.Zero, first.ToString());
        Assert.That(first.Out, Does.Contain("Import imp-").And.Contain("started in the running server"));
        Assert.That(first.Out, Does.Match(@"completed\. This run: 11 imported \(20\.\d MB\), 0 already there, 0 failed\."));
        Assert.That(first.Out, Does.Contain("Bulk -> Junk E-mail: 1 imported").And.Contain("Sent Messages -> Sent Items: 1 imported")
            .And.Contain("Empty -> Empty: 0 imported"));

        using (var imap = await ImapAsync(server, "alice@example.test"))
        {
            foreach (var (folder, messages) in expected)
            {
                var ours = await ReadFolderAsync(folder == "INBOX" ? imap.Inbox : await imap.GetFolderAsync(folder));
                Assert.That(ours, Is.EqualTo(messages).Using<Seen>(SameMessage), $"folder {folder}");
            }
            Assert.That((await imap.GetFolderAsync("Empty")).Exists, Is.True);
            var sent = await imap.GetFolderAsync("Sent Items");
            Assert.That(sent.Attributes.HasFlag(FolderAttributes.Sent), Is.True);
            Assert.That(expected["INBOX"].Max(m => m.Size), Is.GreaterThan(20 * 1024 * 1024));
        }

        // New mail at the source, then the same command again: only the new message comes (each folder is read from its
        // checkpoint's UID), and nothing is stored twice.
        using (var source = await dovecot.ConnectAsync(user, SourcePassword))
            await AppendAsync(source.Inbox, Message("arrived after the first run"), MessageFlags.None, March.AddDays(20));
        var second = await CliAsync(server, command);
        Assert.That(second.Code, Is.Zero, second.ToString());
        Assert.That(second.Out, Does.Contain("(resuming from its checkpoint)").And.Contain("This run: 1 imported").And.Contain("In all: 12 imported"));
        using (var imap = await ImapAsync(server, "alice@example.test"))
            Assert.That((await ReadFolderAsync(imap.Inbox)).Count, Is.EqualTo(5));

        // An administrator's login reads the same mailbox for bob (SASL PLAIN authorization identity, RFC 4616).
        var adminFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(adminFile, Dovecot.MasterPassword);
        var asAdmin = await CliAsync(server, "import", "imap", "--user", "bob@example.test", "--host", "127.0.0.1", "--port", dovecot.Port.ToString(),
            "--security", "none", "--login", Dovecot.MasterUser, "--authorize-as", user, "--password-file", adminFile);
        Assert.That(asAdmin.Code, Is.Zero, asAdmin.ToString());
        Assert.That(asAdmin.Out, Does.Contain("This run: 12 imported"));
        using (var imap = await ImapAsync(server, "bob@example.test"))
            Assert.That(await ReadFolderAsync(await imap.GetFolderAsync("Work/Projects")), Is.EqualTo(expected["Work/Projects"]).Using<Seen>(SameMessage));

        // A wrong password fails the job with Dovecot's refusal, and says so.
        await File.WriteAllTextAsync(passwordFile, "wrong\n");
        var wrong = await CliAsync(server, "import", "imap", "--user", "carol@example.test", "--host", "127.0.0.1", "--port", dovecot.Port.ToString(),
            "--security", "none", "--login", user, "--password-file", passwordFile);
        Assert.That(wrong.Code, Is.EqualTo(2), wrong.ToString());
        Assert.That(wrong.Error, Does.Contain("import failed: cannot log in to imap://"));
    }

    /// <summary>The same message: Message-ID, flags, keywords, internal date (to the second, in UTC), size and octets.</summary>
    private static bool SameMessage(Seen a, Seen b) =>
        a.MessageId == b.MessageId && a.Flags == b.Flags && a.Keywords.SequenceEqual(b.Keywords)
        && a.InternalDate.UtcDateTime == b.InternalDate.UtcDateTime && a.Size == b.Size && a.Sha256 == b.Sha256;

    [Test]
    public async Task KillNineMidImportThenTheSameCommandResumesAndEveryMessageIsThereOnce()
    {
        const int Count = 1200;
        var dovecot = Dovecot.Instance;
        var user = dovecot.CreateUser(SourcePassword);
        var random = new Random(9);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        using (var source = await dovecot.ConnectAsync(user, SourcePassword))
        {
            var requests = new List<IAppendRequest>();
            for (var i = 0; i < Count; i++)
            {
                // 1-30 KB of text, a realistic spread of small mail.
                var body = new string('x', random.Next(1_000, 30_000)).Insert(0, $"message {i}\r\n");
                var message = Message($"bulk {i}", body);
                ids.Add(message.MessageId!);
                requests.Add(new AppendRequest(message, i % 3 == 0 ? MessageFlags.Seen : MessageFlags.None, March.AddMinutes(i)));
                if (requests.Count == 100)
                {
                    await source.Inbox.AppendAsync(requests);
                    requests.Clear();
                }
            }
        }

        await using var server = Create();
        await server.StartAsync();
        var passwordFile = PasswordFile();
        string[] command = ["import", "imap", "--user", "alice@example.test", "--host", "127.0.0.1", "--port", dovecot.Port.ToString(),
            "--security", "none", "--login", user, "--password-file", passwordFile];
        var started = await CliAsync(server, [.. command, "--no-wait"]);
        Assert.That(started.Code, Is.Zero, started.ToString());
        var jobId = JobIdPattern().Match(started.Out).Value;
        var checkpoint = ImportJobRecord.PathFor(server.DataDirectory, jobId);
        var clock = Stopwatch.StartNew();
        while ((ImportJobRecord.Load(server.DataDirectory, jobId)?.Imported ?? 0) < 300)
        {
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromMinutes(2)), "the import did not get going");
            await Task.Delay(20);
        }
        await server.KillAsync();
        var atKill = ImportJobRecord.Load(server.DataDirectory, jobId)!;
        Assert.That(atKill.State, Is.EqualTo(ImportJobState.Running));
        Assert.That(atKill.Imported, Is.LessThan(Count), "killed before the end");

        await server.StartAsync();
        var status = await CliAsync(server, "import", "status");
        Assert.That(status.Out, Does.Contain(jobId).And.Contain("INTERRUPTED"), status.ToString());
        var resumed = await CliAsync(server, command);
        Assert.That(resumed.Code, Is.Zero, resumed.ToString());
        Assert.That(resumed.Out, Does.Contain("(resuming from its checkpoint)"));
        var done = ImportJobRecord.Load(server.DataDirectory, jobId)!;
        Assert.That(done.State, Is.EqualTo(ImportJobState.Completed));
        // Imported in the first run up to its last checkpoint and in the resumed one, plus those the first run stored
        // after that checkpoint (which the resumed run found "already there"): every message exactly once.
        Assert.That(done.Imported + done.Duplicates, Is.EqualTo(Count), resumed.Out);
        using var imap = await ImapAsync(server, "alice@example.test");
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var summaries = await imap.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Flags | MessageSummaryItems.InternalDate);
        Assert.That(summaries, Has.Count.EqualTo(Count));
        Assert.That(summaries.Select(s => s.Envelope!.MessageId!).ToHashSet(), Is.EquivalentTo(ids));
        Assert.That(summaries.Count(s => s.Flags!.Value.HasFlag(MessageFlags.Seen)), Is.EqualTo(Count / 3));
        Assert.That(File.Exists(checkpoint), Is.True);
    }

    [Test, Explicit("measures import speed from Dovecot; IMPORTBENCH_MESSAGES sets the count (default 2,000)")]
    public async Task ImportSpeedFromDovecot()
    {
        var count = int.TryParse(Environment.GetEnvironmentVariable("IMPORTBENCH_MESSAGES"), out var n) ? n : 2000;
        var dovecot = Dovecot.Instance;
        var user = dovecot.CreateUser(SourcePassword);
        var random = new Random(5);
        long bytes = 0;
        using (var source = await dovecot.ConnectAsync(user, SourcePassword))
        {
            var requests = new List<IAppendRequest>();
            for (var i = 0; i < count; i++)
            {
                // Sizes spread like a real mailbox: most a few KB, every 20th 100-300 KB (attachments).
                var size = i % 20 == 0 ? random.Next(100_000, 300_000) : random.Next(2_000, 20_000);
                requests.Add(new AppendRequest(Message($"bench {i}", new string('y', size)), MessageFlags.Seen, March.AddMinutes(i)));
                if (requests.Count == 100)
                {
                    await source.Inbox.AppendAsync(requests);
                    requests.Clear();
                }
            }
            if (requests.Count > 0)
                await source.Inbox.AppendAsync(requests);
        }
        await using var server = Create();
        await server.StartAsync();
        var clock = Stopwatch.StartNew();
        var run = await CliAsync(server, "import", "imap", "--user", "alice@example.test", "--host", "127.0.0.1", "--port", dovecot.Port.ToString(),
            "--security", "none", "--login", user, "--password-file", PasswordFile());
        clock.Stop();
        Assert.That(run.Code, Is.Zero, run.ToString());
        var job = ImportJobRecord.LoadAll(server.DataDirectory).Single();
        bytes = job.Bytes;
        var seconds = (job.EndTime!.Value - job.StartTime).TotalSeconds;
        TestContext.Out.WriteLine($"{job.Imported} messages, {bytes / 1048576.0:F1} MiB in {seconds:F1} s (CLI {clock.Elapsed.TotalSeconds:F1} s): " +
                                  $"{job.Imported / seconds:F0} messages/s, {bytes / 1048576.0 / seconds:F2} MiB/s");
        Assert.That(job.Imported, Is.EqualTo(count));
    }

    [GeneratedRegex("imp-[0-9a-f]{20}")]
    private static partial Regex JobIdPattern();
}
