using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Server;
using MailServer.Server.Security;
using MessageFlags = MailKit.MessageFlags;
using MailServer.Storage.Crypto;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 20 against the real executable: a master key rotation while four SMTP clients stream mail and two IMAP
/// clients read (nothing lost, everything decrypts, the old version destroyed); a rotation killed with SIGKILL
/// half-way resumes at the next start; a backup taken under load restores on a fresh folder with every message
/// acknowledged before it began, with its UID and flags; a mailbox shredded after a backup cannot be read from it
/// while the other recipient of the same message can.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class KeysAndBackupsTests
{
    private const string Password = "keys test password 1";

    /// <summary>The server of the running test (the fixture is not parallel): its output goes into a CLI timeout's message.</summary>
    private static ServerProcess? _server;

    private static ServerProcess Create(ServerProcess.Ports? ports = null)
    {
        var server = _server = ServerProcess.Create();
        File.WriteAllText(server.ConfigPath, File.ReadAllText(server.ConfigPath)
            .Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{PasswordHasher.Hash(Password, iterations: 1000)}\""));
        return server;
    }

    private static async Task<(int Code, string Out, string Error)> Cli(string input, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        // Bounded: a command that waits for the server (a rotation, a backup) fails the test with what it and the
        // server printed instead of holding the run until the runner's hang timeout.
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        int code;
        try
        {
            code = await Program.RunAsync(args, output, error, new StringReader(input), bound.Token);
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            var server = _server?.Output ?? "";
            Assert.Fail($"mailserver {string.Join(' ', args)} did not end within 4 minutes.\nIts output:\n{output}{error}\n" +
                        $"The server's last output:\n{server[Math.Max(0, server.Length - 20000)..]}");
            throw;
        }
        TestContext.Progress.WriteLine($"mailserver {string.Join(' ', args)} → {code}\n{output}{error}");
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>Adds <paramref name="count"/> mailboxes (owners outside the configuration) with the server stopped, so a rotation has work to do.</summary>
    private static async Task AddMailboxesAsync(ServerProcess server, int count)
    {
        await using var store = server.OpenStore();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            await store.EnsureMailboxAsync(ServerProcess.OrganizationId, $"filler{i}@example.test", ct));
    }

    /// <summary>Four SMTP clients sending to alice, bob and the team until stopped; the subjects that got 250.</summary>
    private static Task[] StartSenders(ServerProcess server, ConcurrentBag<(string Subject, DateTimeOffset AckedAt)> acked, CancellationToken stop, int senders = 4) =>
        Enumerable.Range(0, senders).Select(s => Task.Run(async () =>
        {
            using var smtp = new SmtpClient();
            await smtp.ConnectAsync("127.0.0.1", server.ListenerPorts.Smtp, SecureSocketOptions.None);
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var subject = $"load-{s}-{i}";
                var message = new MimeMessage();
                message.From.Add(MailboxAddress.Parse($"sender{s}@elsewhere.test"));
                message.To.Add(MailboxAddress.Parse(i % 3 == 0 ? "team@example.test" : i % 3 == 1 ? "alice@example.test" : "bob@example.test"));
                message.Subject = subject;
                message.Body = new TextPart("plain") { Text = $"body of {subject}\n" + new string('x', 2000) };
                await smtp.SendAsync(message);
                acked.Add((subject, DateTimeOffset.UtcNow));
            }
            await smtp.DisconnectAsync(true);
        })).ToArray();

    /// <summary>Two IMAP clients reading alice's and bob's INBOX (every body) until stopped; returns the errors seen.</summary>
    private static Task<int>[] StartReaders(ServerProcess server, CancellationToken stop) =>
        new[] { "alice@example.test", "bob@example.test" }.Select(user => Task.Run(async () =>
        {
            var errors = 0;
            using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 30000 };
            await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
            await imap.AuthenticateAsync(user, Password);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
                    if (imap.Inbox.Count > 0)
                    {
                        var last = await imap.Inbox.GetMessageAsync(imap.Inbox.Count - 1);
                        if (!(last.TextBody ?? "").Contains("body of ", StringComparison.Ordinal)) // load-… or a filler
                            errors++;
                    }
                }
                catch (ImapCommandException)
                {
                    errors++;
                }
                await Task.Delay(20);
            }
            await imap.DisconnectAsync(true);
            return errors;
        })).ToArray();

    /// <summary>Subject → (UID, flags) of every message in a user's INBOX, bodies checked to decrypt.</summary>
    private static async Task<Dictionary<string, (uint Uid, MessageFlags Flags)>> InboxAsync(ServerProcess server, string user, bool readBodies = true)
    {
        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 60000 };
        await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
        await imap.AuthenticateAsync(user, Password);
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var result = new Dictionary<string, (uint, MessageFlags)>(StringComparer.Ordinal);
        if (imap.Inbox.Count == 0)
            return result;
        var summaries = await imap.Inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Flags | MessageSummaryItems.Envelope);
        foreach (var s in summaries)
        {
            // \Recent belongs to the session that first sees a message (RFC 3501 §2.3.2), not to the stored message.
            result[s.Envelope!.Subject!] = (s.UniqueId.Id, (s.Flags ?? MessageFlags.None) & ~MessageFlags.Recent);
            if (readBodies)
                Assert.That((await imap.Inbox.GetMessageAsync(s.UniqueId)).TextBody, Does.StartWith("body of " + s.Envelope.Subject), "every message decrypts");
        }
        await imap.DisconnectAsync(true);
        return result;
    }

    private static IEnumerable<string> Recipients(string subject)
    {
        var i = int.Parse(subject.Split('-')[2], System.Globalization.CultureInfo.InvariantCulture);
        return i % 3 == 0 ? ["alice@example.test", "bob@example.test"] : i % 3 == 1 ? ["alice@example.test"] : ["bob@example.test"];
    }

    private static async Task AssertEveryAckedMessageIsThere(ServerProcess server, IEnumerable<string> subjects)
    {
        var alice = await InboxAsync(server, "alice@example.test");
        var bob = await InboxAsync(server, "bob@example.test");
        foreach (var subject in subjects)
            foreach (var user in Recipients(subject))
                Assert.That((user == "alice@example.test" ? alice : bob).ContainsKey(subject), Is.True, $"{subject} for {user} had 250");
    }

    private static async Task<JsonElement> AdminStatusAsync(ServerProcess server)
    {
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(server.DataDirectory, "admin.token")).Trim());
        return JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{server.ListenerPorts.Admin}/admin/keys/status")).RootElement[0].Clone();
    }

    private static string KeyFile(ServerProcess server, int version) =>
        FileMasterKeyProvider.VersionPath(Path.Combine(server.DataDirectory, "keys", "example.key"), version);

    [Test]
    public async Task A_rotation_while_four_clients_send_and_two_read_loses_nothing_and_destroys_the_old_version()
    {
        await using var server = Create();
        await server.StartAsync();
        await server.StopAsync();
        await AddMailboxesAsync(server, 1500);
        await server.StartAsync();
        var acked = new ConcurrentBag<(string, DateTimeOffset)>();
        using var stop = new CancellationTokenSource();
        var senders = StartSenders(server, acked, stop.Token);
        var readers = StartReaders(server, stop.Token);
        await Task.Delay(1500);
        var ackedBefore = acked.Count;

        var (code, output, _) = await Cli("", "keys", "rotate", "--org", "example", "--config", server.ConfigPath);

        await Task.Delay(1000);
        var ackedDuring = acked.Count - ackedBefore;
        stop.Cancel();
        await Task.WhenAll(senders);
        var readErrors = (await Task.WhenAll(readers)).Sum();

        Assert.That(code, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain("master key version 2 is current"));
        Assert.That(ackedDuring, Is.GreaterThan(0), "mail kept flowing during the rotation");
        Assert.That(readErrors, Is.EqualTo(0), "the IMAP readers saw every message decrypt");
        Assert.That(File.Exists(KeyFile(server, 1)), Is.False, "version 1 is destroyed");
        Assert.That(File.Exists(KeyFile(server, 2)), Is.True);
        await AssertEveryAckedMessageIsThere(server, acked.Select(a => a.Item1));
        var (statusCode, status, _) = await Cli("", "keys", "status", "--config", server.ConfigPath);
        Assert.That(statusCode, Is.EqualTo(0));
        Assert.That(status, Does.Contain("current version 2"));
        Assert.That(status, Does.Match(@"v2\s+current\s+1502 mailbox"));
        Assert.That(status, Does.Not.Contain("v1 "));
        Assert.That(server.Output, Does.Not.Contain(Convert.ToBase64String(File.ReadAllBytes(KeyFile(server, 2)))), "the key is never logged");
    }

    [Test]
    public async Task A_rotation_killed_half_way_resumes_at_the_next_start_and_every_mailbox_still_opens()
    {
        await using var server = Create();
        await server.StartAsync();
        await server.StopAsync();
        await AddMailboxesAsync(server, 6000);
        await server.StartAsync();
        await FlowRulesInboundTests.SendAsync(server, "someone@elsewhere.test", "before", "alice@example.test");

        var (code, _, _) = await Cli("", "keys", "rotate", "--org", "example", "--no-wait", "--config", server.ConfigPath);
        Assert.That(code, Is.EqualTo(0));
        var watch = Stopwatch.StartNew();
        long done = 0, total = 0;
        while (watch.Elapsed < TimeSpan.FromSeconds(60))
        {
            var rotation = (await AdminStatusAsync(server)).GetProperty("rotation");
            if (rotation.ValueKind == JsonValueKind.Object)
            {
                done = rotation.GetProperty("done").GetInt64();
                total = rotation.GetProperty("total").GetInt64();
                if (done > 0)
                    break;
            }
            await Task.Delay(10);
        }
        await server.KillAsync();
        Assert.That(done, Is.GreaterThan(0).And.LessThan(total), "killed half-way");

        await using (var store = server.OpenStore())
        {
            var status = store.KeyStatusOf(ServerProcess.OrganizationId);
            // Killed before the rotation finished: version 1 is still retiring. On a quiet machine the last batches may
            // have committed between the status read and the kill, so what is left may be only the destroy step.
            Assert.That(status.RetiringVersions, Is.EqualTo(new[] { 1 }), "the ledger remembers the rotation");
            Assert.That(File.Exists(KeyFile(server, 1)), Is.True, "version 1 is kept while mailboxes refer to it");
        }

        await server.StartAsync();
        Assert.That(await server.WaitForOutputAsync("Resuming the master key rotation", TimeSpan.FromSeconds(10)), Is.True, server.Output);
        await FlowRulesInboundTests.SendAsync(server, "someone@elsewhere.test", "during-resume", "alice@example.test");
        watch.Restart();
        while (File.Exists(KeyFile(server, 1)) && watch.Elapsed < TimeSpan.FromSeconds(120))
            await Task.Delay(100);
        Assert.That(File.Exists(KeyFile(server, 1)), Is.False, "the resumed rotation finished and destroyed version 1");
        var subjects = (await FlowRulesInboundTests.SubjectsAsync(server, "alice@example.test", Password, "INBOX")).ToList();
        Assert.That(subjects, Is.SupersetOf(new[] { "before", "during-resume" }));
        await server.StopAsync();

        await using var reopened = server.OpenStore();
        var final = reopened.KeyStatusOf(ServerProcess.OrganizationId);
        Assert.That(final.MailboxesByVersion.ToDictionary(), Is.EqualTo(new Dictionary<int, long> { [2] = 6001 }), "6,000 added and alice's (bob never had mail)");
        Assert.That(reopened.FindMailbox(ServerProcess.OrganizationId, "filler5999@example.test"), Is.Not.Null);
        Assert.That((await reopened.VerifyAsync(null, CancellationToken.None)).Failed, Is.EqualTo(0));
    }

    [Test]
    public async Task A_backup_under_load_restores_on_a_fresh_folder_with_every_acknowledged_message_its_UID_and_flags()
    {
        await using var server = Create();
        await server.StartAsync();
        var acked = new ConcurrentBag<(string Subject, DateTimeOffset AckedAt)>();
        using var stop = new CancellationTokenSource();
        var senders = StartSenders(server, acked, stop.Token);
        await Task.Delay(1500);

        // Flags set before the backup must come back as they were.
        using (var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true })
        {
            await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
            await imap.AuthenticateAsync("alice@example.test", Password);
            await imap.Inbox.OpenAsync(FolderAccess.ReadWrite);
            await imap.Inbox.AddFlagsAsync([0, 1], MessageFlags.Flagged | MessageFlags.Seen, true);
            await imap.Inbox.AddFlagsAsync([2], MessageFlags.Answered, true);
        }
        var backupStarted = DateTimeOffset.UtcNow;
        var backupDirectory = Path.Combine(server.Root, "backup");
        var (code, output, _) = await Cli("a long backup passphrase\n", "backup", "--to", backupDirectory, "--include-keys", "--config", server.ConfigPath);
        Assert.That(code, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain("keys included"));
        var (code2, output2, _) = await Cli("", "backup", "--to", backupDirectory, "--config", server.ConfigPath);
        Assert.That(code2, Is.EqualTo(0), output2);
        Assert.That(output2, Does.Match(@"[1-9][0-9]* unchanged"), "the second run is incremental");
        Assert.That(File.Exists(Path.Combine(backupDirectory, "keys.sealed")), Is.False, "no keys without --include-keys");
        var (code3, output3, _) = await Cli("a long backup passphrase\n", "backup", "--to", backupDirectory, "--include-keys", "--config", server.ConfigPath);
        Assert.That(code3, Is.EqualTo(0), output3);
        stop.Cancel();
        await Task.WhenAll(senders);
        var (verifyCode, verify, _) = await Cli("", "backup", "verify", backupDirectory, "--all", "--config", server.ConfigPath);
        Assert.That(verifyCode, Is.EqualTo(0), verify);
        Assert.That(verify, Does.Contain("0 missing, 0 damaged"));
        Assert.That(verify, Does.Contain(", 0 failed"));
        var before = acked.Where(a => a.AckedAt < backupStarted).Select(a => a.Subject).ToList();
        Assert.That(before, Is.Not.Empty);
        var original = (await InboxAsync(server, "alice@example.test", readBodies: false), await InboxAsync(server, "bob@example.test", readBodies: false));
        await server.StopAsync();
        Assert.That(Directory.EnumerateFiles(backupDirectory, "*.key", SearchOption.AllDirectories), Is.Empty, "no key file in the backup");

        // A fresh machine: only the backup folder and its passphrase.
        await using var restored = Create();
        var (restoreCode, restoreOutput, _) = await Cli("a long backup passphrase\n", "restore", "--from", backupDirectory, "--passphrase-stdin", "--config", restored.ConfigPath);
        Assert.That(restoreCode, Is.EqualTo(0), restoreOutput);
        Assert.That(restoreOutput, Does.Contain("0 undecryptable"));
        Assert.That(File.Exists(Path.Combine(restored.DataDirectory, "keys", "example.key")), Is.True, "the key came back from keys.sealed");
        await restored.StartAsync();
        var alice = await InboxAsync(restored, "alice@example.test");
        var bob = await InboxAsync(restored, "bob@example.test");
        foreach (var subject in before)
            foreach (var user in Recipients(subject))
            {
                var (now, then) = user == "alice@example.test" ? (alice, original.Item1) : (bob, original.Item2);
                Assert.That(now.ContainsKey(subject), Is.True, $"{subject} for {user} had 250 before the backup started");
                Assert.That(now[subject], Is.EqualTo(then[subject]), $"{subject}: same UID and flags");
            }
        Assert.That(alice.Values.Count(v => v.Flags.HasFlag(MessageFlags.Flagged)), Is.EqualTo(2));
        Assert.That(alice.Values.Count(v => v.Flags.HasFlag(MessageFlags.Answered)), Is.EqualTo(1));
    }

    /// <summary>Four SMTP clients that survive the server's death: a failed connection or transaction is retried on a new
    /// connection; only a 250 counts, stamped after it was read (so the stamp is later than the commit).</summary>
    private static Task[] StartResilientSenders(ServerProcess server, ConcurrentBag<(string Subject, DateTimeOffset AckedAt)> acked, CancellationToken stop) =>
        Enumerable.Range(0, 4).Select(s => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested;)
            {
                try
                {
                    using var smtp = new SmtpClient { Timeout = 10000 };
                    await smtp.ConnectAsync("127.0.0.1", server.ListenerPorts.Smtp, SecureSocketOptions.None);
                    for (; !stop.IsCancellationRequested; i++)
                    {
                        var subject = $"load-{s}-{i}";
                        var message = new MimeMessage();
                        message.From.Add(MailboxAddress.Parse($"sender{s}@elsewhere.test"));
                        message.To.Add(MailboxAddress.Parse(i % 3 == 0 ? "team@example.test" : i % 3 == 1 ? "alice@example.test" : "bob@example.test"));
                        message.Subject = subject;
                        message.Body = new TextPart("plain") { Text = $"body of {subject}\n" + new string('x', 2000) };
                        await smtp.SendAsync(message);
                        acked.Add((subject, DateTimeOffset.UtcNow));
                    }
                    await smtp.DisconnectAsync(true);
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or SmtpCommandException or SmtpProtocolException
                                              or ServiceNotConnectedException or OperationCanceledException or TimeoutException)
                {
                    i++; // that subject may or may not be stored: it was never acknowledged, so nothing is asserted about it
                    await Task.Delay(100);
                }
            }
        })).ToArray();

    private static (long Copied, long Unchanged, string Bytes, DateTimeOffset CommitPoint) BackupFigures(string output)
    {
        var m = System.Text.RegularExpressions.Regex.Match(output, @"at commit point (\S+): .* ([0-9]+) file\(s\) copied \(([^)]+)\), ([0-9]+) unchanged");
        Assert.That(m.Success, Is.True, output);
        return (long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture), long.Parse(m.Groups[4].Value, System.Globalization.CultureInfo.InvariantCulture),
            m.Groups[3].Value, DateTimeOffset.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Test]
    public async Task A_backup_during_intake_and_kill_9_restarts_restores_every_message_acknowledged_before_its_commit_point()
    {
        await using var server = Create();
        await server.StartAsync();
        var acked = new ConcurrentBag<(string Subject, DateTimeOffset AckedAt)>();
        using var stop = new CancellationTokenSource();
        var senders = StartResilientSenders(server, acked, stop.Token);
        var backupDirectory = Path.Combine(server.Root, "backup");

        // kill -9 during intake, three times; the first backup runs between two of them.
        (long Copied, long Unchanged, string Bytes, DateTimeOffset CommitPoint) first = default;
        for (var round = 0; round < 3; round++)
        {
            await Task.Delay(1500);
            if (round == 1)
            {
                var (code, output, _) = await Cli("", "backup", "--to", backupDirectory, "--config", server.ConfigPath);
                Assert.That(code, Is.EqualTo(0), output);
                first = BackupFigures(output);
            }
            var ackedBefore = acked.Count;
            await server.KillAsync();
            await server.StartAsync();
            await Task.Delay(500);
            Assert.That(acked.Count, Is.GreaterThanOrEqualTo(ackedBefore));
        }
        await Task.Delay(1500);

        // The second run, into the same folder while intake goes on: incremental.
        var (code2, output2, _) = await Cli("", "backup", "--to", backupDirectory, "--config", server.ConfigPath);
        Assert.That(code2, Is.EqualTo(0), output2);
        var second = BackupFigures(output2);
        var ackedAtBackup = acked.Count(a => a.AckedAt < second.CommitPoint);
        await Task.Delay(1000);
        stop.Cancel();
        await Task.WhenAll(senders);
        TestContext.Progress.WriteLine($"first backup: {first.Copied} files copied ({first.Bytes}); second: {second.Copied} copied ({second.Bytes}), " +
                                       $"{second.Unchanged} unchanged; {ackedAtBackup} messages acknowledged before its commit point, {acked.Count} in all");
        Assert.That(second.Unchanged, Is.GreaterThanOrEqualTo(first.Copied - 2), "the files of the first run are not copied again (message files never change)");
        var (verifyCode, verify, _) = await Cli("", "backup", "verify", backupDirectory, "--all", "--config", server.ConfigPath);
        Assert.That(verifyCode, Is.EqualTo(0), verify);
        Assert.That(verify, Does.Contain("0 missing, 0 damaged").And.Contain(", 0 failed"), "nothing in the backup is corrupt");
        await server.StopAsync();

        // A fresh data folder with only the keys copied aside (the documented procedure), then restore.
        await using var restored = Create();
        CopyDirectory(Path.Combine(server.DataDirectory, "keys"), Path.Combine(restored.DataDirectory, "keys"));
        var (restoreCode, restoreOutput, _) = await Cli("", "restore", "--from", backupDirectory, "--config", restored.ConfigPath);
        Assert.That(restoreCode, Is.EqualTo(0), restoreOutput);
        Assert.That(restoreOutput, Does.Contain("0 undecryptable, 0 missing"));
        await restored.StartAsync();
        var alice = await InboxAsync(restored, "alice@example.test", readBodies: false);
        var bob = await InboxAsync(restored, "bob@example.test", readBodies: false);
        var before = acked.Where(a => a.AckedAt < second.CommitPoint).Select(a => a.Subject).ToList();
        Assert.That(before, Has.Count.GreaterThan(100));
        foreach (var subject in before)
            foreach (var user in Recipients(subject))
                Assert.That((user == "alice@example.test" ? alice : bob).ContainsKey(subject), Is.True, $"{subject} for {user} had 250 before the commit point");
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    [Test]
    public async Task A_mailbox_shredded_after_a_backup_cannot_be_read_from_it_while_the_other_recipient_still_can()
    {
        await using var server = Create();
        await server.StartAsync();
        await FlowRulesInboundTests.SendAsync(server, "someone@elsewhere.test", "shared", "alice@example.test", "bob@example.test");
        var backupDirectory = Path.Combine(server.Root, "backup");
        Assert.That((await Cli("", "backup", "--to", backupDirectory, "--config", server.ConfigPath)).Code, Is.EqualTo(0));

        var (refused, _, refusedError) = await Cli("", "mailbox", "delete", "bob@example.test", "--config", server.ConfigPath);
        Assert.That(refused, Is.EqualTo(1));
        Assert.That(refusedError, Does.Contain("still a user in the configuration"));
        File.WriteAllText(server.ConfigPath, System.Text.RegularExpressions.Regex.Replace(File.ReadAllText(server.ConfigPath),
            @",\s*\{ ""Email"": ""bob@example.test""[^}]*\}", "").Replace("\"Members\": [ \"alice@example.test\", \"bob@example.test\" ]", "\"Members\": [ \"alice@example.test\" ]"));
        await Task.Delay(1500); // the live reload
        var (_, awaiting, _) = await Cli("", "keys", "status", "--config", server.ConfigPath);
        Assert.That(awaiting, Does.Contain("awaiting shredding: bob@example.test"));
        var (deleted, deleteOutput, _) = await Cli("", "mailbox", "delete", "bob@example.test", "--config", server.ConfigPath);
        Assert.That(deleted, Is.EqualTo(0), deleteOutput);
        Assert.That(deleteOutput, Does.Contain("1 message(s), 0 message file(s)"), "the body is shared with alice");

        var (verifyCode, verify, _) = await Cli("", "backup", "verify", backupDirectory, "--all", "--config", server.ConfigPath);
        Assert.That(verify, Does.Contain("1 decrypted"), "alice's copy in the backup still opens");
        Assert.That(verify, Does.Contain("1 of shredded mailboxes, 0 failed"), "bob's copy in the backup does not");
        Assert.That(verifyCode, Is.EqualTo(0));
        Assert.That(await FlowRulesInboundTests.SubjectsAsync(server, "alice@example.test", Password, "INBOX"), Does.Contain("shared"));
        var (_, after, _) = await Cli("", "keys", "status", "--config", server.ConfigPath);
        Assert.That(after, Does.Contain("shredded mailboxes: 1"));
        Assert.That(after, Does.Contain("awaiting shredding: none"));
    }

    /// <summary>Adds <paramref name="count"/> messages to alice's INBOX with the server stopped; returns her mailbox id.</summary>
    private static async Task<string> FillAliceAsync(ServerProcess server, int count)
    {
        await using var store = server.OpenStore();
        var alice = await store.EnsureMailboxAsync(ServerProcess.OrganizationId, "alice@example.test", CancellationToken.None);
        await Parallel.ForEachAsync(Enumerable.Range(0, count / 100), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (chunk, ct) =>
            await store.AppendAsync(alice.MailboxId, "INBOX", Enumerable.Range(0, 100).Select(i => new MailServer.Storage.AppendItem(
                System.Text.Encoding.ASCII.GetBytes($"Subject: filler-{chunk}-{i}\r\nFrom: a@elsewhere.test\r\n\r\nbody of filler-{chunk}-{i}\r\n"),
                DateTimeOffset.UtcNow, MailServer.Storage.MessageFlags.None, [])).ToList(), ct));
        return alice.MailboxId;
    }

    [Test]
    public async Task A_mailbox_key_rotation_while_mail_flows_and_imap_reads_keeps_every_message_readable_and_destroys_the_old_key()
    {
        await using var server = Create();
        await server.StartAsync();
        await server.StopAsync();
        var aliceId = await FillAliceAsync(server, 3000);
        await server.StartAsync();
        var acked = new ConcurrentBag<(string, DateTimeOffset)>();
        using var stop = new CancellationTokenSource();
        var senders = StartSenders(server, acked, stop.Token);
        var readers = StartReaders(server, stop.Token);
        await Task.Delay(1500);

        var (code, output, _) = await Cli("", "keys", "rotate", "--mailbox", "alice@example.test", "--config", server.ConfigPath);

        await Task.Delay(500);
        stop.Cancel();
        await Task.WhenAll(senders);
        var readErrors = (await Task.WhenAll(readers)).Sum();
        Assert.That(code, Is.EqualTo(0), output);
        Assert.That(output, Does.Match(@"alice@example.test: mailbox key generation 1 is current; [0-9]{4,} message key\(s\) re-wrapped"));
        Assert.That(readErrors, Is.EqualTo(0), "the IMAP readers saw every message decrypt during the rotation");
        await AssertEveryAckedMessageIsThere(server, acked.Select(a => a.Item1));
        var (_, status, _) = await Cli("", "keys", "status", "--config", server.ConfigPath);
        Assert.That(status, Does.Contain("mailbox key rotation of alice@example.test: done, generation 1"));
        Assert.That(status, Does.Contain("replaced mailbox keys destroyed: 1"));
        await server.StopAsync();

        await using var store = server.OpenStore();
        var ledger = store.Ledger(ServerProcess.OrganizationId);
        Assert.That(ledger.MailboxSecret(aliceId), Is.Null, "the old key's secret is destroyed");
        Assert.That(ledger.MailboxSecret(KeyLedger.SecretId(aliceId, 1)), Is.Not.Null);
        var verify = await store.VerifyAsync(null, CancellationToken.None);
        Assert.That((verify.Failed, verify.Checked), Is.EqualTo((0L, verify.Ok)), "every stored message decrypts");
        Assert.That(verify.Checked, Is.GreaterThan(3000));
    }

    [Test]
    public async Task A_mailbox_key_rotation_killed_half_way_resumes_at_the_next_start_and_every_message_still_opens()
    {
        await using var server = Create();
        await server.StartAsync();
        await server.StopAsync();
        var aliceId = await FillAliceAsync(server, 6000);
        await server.StartAsync();

        var (code, _, _) = await Cli("", "keys", "rotate", "--mailbox", "alice@example.test", "--no-wait", "--config", server.ConfigPath);
        Assert.That(code, Is.EqualTo(0));
        var watch = Stopwatch.StartNew();
        long done = 0, total = 0;
        while (watch.Elapsed < TimeSpan.FromSeconds(60))
        {
            var rotations = (await AdminStatusAsync(server)).GetProperty("mailboxRotations");
            if (rotations.GetArrayLength() > 0)
            {
                done = rotations[0].GetProperty("done").GetInt64();
                total = rotations[0].GetProperty("total").GetInt64();
                if (done > 0)
                    break;
            }
            await Task.Delay(5);
        }
        await server.KillAsync();
        TestContext.Progress.WriteLine($"killed at {done}/{total}");
        Assert.That(done, Is.GreaterThan(0).And.LessThan(total), "killed half-way");

        await using (var store = server.OpenStore())
        {
            Assert.That(store.MailboxKeyRotationsPending(ServerProcess.OrganizationId), Is.EqualTo(new[] { aliceId }), "the mailbox remembers its rotation");
            Assert.That(store.Ledger(ServerProcess.OrganizationId).MailboxSecret(aliceId), Is.Not.Null, "the old key is kept while entries need it");
            Assert.That((await store.VerifyAsync(200, CancellationToken.None)).Failed, Is.EqualTo(0), "both generations open mid-rotation");
        }
        var (_, interrupted, _) = await Cli("", "keys", "status", "--config", server.ConfigPath);
        Assert.That(interrupted, Does.Contain("mailbox key rotation of alice@example.test: interrupted"));

        await server.StartAsync();
        Assert.That(await server.WaitForOutputAsync("Resuming 1 mailbox key rotation", TimeSpan.FromSeconds(10)), Is.True, server.Output);
        await FlowRulesInboundTests.SendAsync(server, "someone@elsewhere.test", "during-resume", "alice@example.test");
        watch.Restart();
        while ((await AdminStatusAsync(server)).GetProperty("mailboxRotations").GetArrayLength() > 0 && watch.Elapsed < TimeSpan.FromSeconds(120))
            await Task.Delay(100);
        Assert.That(await FlowRulesInboundTests.SubjectsAsync(server, "alice@example.test", Password, "INBOX"), Does.Contain("during-resume").And.Contain("filler-59-99"));
        await server.StopAsync();

        await using var reopened = server.OpenStore();
        Assert.That(reopened.MailboxKeyRotationsPending(ServerProcess.OrganizationId), Is.Empty, "the resumed rotation finished");
        Assert.That(reopened.Ledger(ServerProcess.OrganizationId).MailboxSecret(aliceId), Is.Null, "and destroyed the old key");
        var verify = await reopened.VerifyAsync(null, CancellationToken.None);
        Assert.That((verify.Failed, verify.Checked), Is.EqualTo((0L, 6001L)), "all 6,000 and the one sent during the resume decrypt");
    }

    private static bool AnyFileHolds(string root, byte[] key)
    {
        var patterns = new[] { key, System.Text.Encoding.ASCII.GetBytes(Convert.ToBase64String(key)), System.Text.Encoding.ASCII.GetBytes(Convert.ToHexString(key)),
            System.Text.Encoding.ASCII.GetBytes(Convert.ToHexStringLower(key)) };
        return Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Any(f => { var bytes = File.ReadAllBytes(f); return patterns.Any(p => bytes.AsSpan().IndexOf(p) >= 0); });
    }

    [Test]
    public async Task A_master_key_from_the_environment_is_never_written_and_a_rotation_asks_for_the_next_version()
    {
        await using var server = Create();
        File.WriteAllText(server.ConfigPath, File.ReadAllText(server.ConfigPath)
            .Replace("\"MasterKeyPath\": \"keys/example.key\",", "\"MasterKeyProvider\": \"Environment\","));
        var v1 = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        server.Environment["MAILSERVER_MASTER_KEY_EXAMPLE"] = Convert.ToBase64String(v1);
        await server.StartAsync();
        Assert.That((await FlowRulesInboundTests.SendAsync(server, "someone@elsewhere.test", "from-env", "alice@example.test"))[^2].Code, Is.EqualTo(250));
        Assert.That(await FlowRulesInboundTests.SubjectsAsync(server, "alice@example.test", Password, "INBOX"), Does.Contain("from-env"));

        var (refused, _, error) = await Cli("", "keys", "rotate", "--org", "example", "--config", server.ConfigPath);
        Assert.That(refused, Is.EqualTo(2));
        Assert.That(error, Does.Contain("set MAILSERVER_MASTER_KEY_EXAMPLE_V2"));

        await server.StopAsync();
        var v2 = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        server.Environment["MAILSERVER_MASTER_KEY_EXAMPLE_V2"] = Convert.ToHexString(v2);
        await server.StartAsync();
        var (rotated, output, _) = await Cli("", "keys", "rotate", "--org", "example", "--config", server.ConfigPath);
        Assert.That(rotated, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain("remove master key version 1 from your key provider"));
        Assert.That(await FlowRulesInboundTests.SubjectsAsync(server, "alice@example.test", Password, "INBOX"), Does.Contain("from-env"));
        await server.StopAsync();

        // Version 1 is gone from the environment: everything opens with version 2 alone.
        server.Environment.Remove("MAILSERVER_MASTER_KEY_EXAMPLE");
        await server.StartAsync();
        Assert.That(await FlowRulesInboundTests.SubjectsAsync(server, "alice@example.test", Password, "INBOX"), Does.Contain("from-env"));
        await server.StopAsync();
        Assert.That(AnyFileHolds(server.Root, v1) || AnyFileHolds(server.Root, v2), Is.False, "neither key is on disk in any form");
        Assert.That(server.Output, Does.Not.Contain(Convert.ToBase64String(v1)).And.Not.Contain(Convert.ToHexString(v2)), "nor in the log");
    }

    [Test]
    public async Task A_master_key_from_a_systemd_credential_opens_the_store_and_is_never_copied()
    {
        await using var server = Create();
        File.WriteAllText(server.ConfigPath, File.ReadAllText(server.ConfigPath)
            .Replace("\"MasterKeyPath\": \"keys/example.key\",", "\"MasterKeyProvider\": \"SystemdCredential\","));
        var credentials = Path.Combine(Path.GetTempPath(), "mailserver-credentials-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(credentials);
        try
        {
            var key = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
            File.WriteAllBytes(Path.Combine(credentials, "mailserver-example.key"), key);
            server.Environment["CREDENTIALS_DIRECTORY"] = credentials;
            await server.StartAsync();
            Assert.That((await FlowRulesInboundTests.SendAsync(server, "someone@elsewhere.test", "from-credential", "alice@example.test"))[^2].Code, Is.EqualTo(250));
            Assert.That(await FlowRulesInboundTests.SubjectsAsync(server, "alice@example.test", Password, "INBOX"), Does.Contain("from-credential"));
            await server.StopAsync();
            Assert.That(AnyFileHolds(server.Root, key), Is.False, "the key stays in the credentials folder");

            File.WriteAllBytes(Path.Combine(credentials, "mailserver-example.key"), System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
            await server.StartAsync();
            Assert.That(async () => await FlowRulesInboundTests.SubjectsAsync(server, "alice@example.test", Password, "INBOX"), Throws.Exception,
                "another credential does not open the store");
        }
        finally
        {
            Directory.Delete(credentials, recursive: true);
        }
    }
}
