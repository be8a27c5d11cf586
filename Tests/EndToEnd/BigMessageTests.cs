using System.Net;
using System.Security.Cryptography;
using System.Text;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using MailServer.Server.Security;
using MailServer.Storage.Blobs;
using MailServer.Storage.Spool;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 21, bounded memory for big messages, on the real executable: a 36 MiB message goes in over SMTP and comes out
/// of IMAP byte for byte (whole, and by ranges across the 64 KiB segments of its stored body), and the server-wide
/// budget of message bytes in flight defers a second DATA with 452 4.3.1 while a first one is being received.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class BigMessageTests
{
    private const string Password = "big message test password";

    private static ServerProcess Create(string? limits = null)
    {
        var server = ServerProcess.Create();
        var config = File.ReadAllText(server.ConfigPath)
            .Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{PasswordHasher.Hash(Password, iterations: 1000)}\"");
        if (limits is not null)
            config = config.Replace("\"DataDirectory\": \"data\",", $"\"DataDirectory\": \"data\", \"Limits\": {limits},");
        File.WriteAllText(server.ConfigPath, config);
        return server;
    }

    /// <summary>A message of about <paramref name="size"/> bytes: 76-character lines of hex digits (no line starts with a dot).</summary>
    private static byte[] Message(string subject, int size, string from = "sender@elsewhere.test")
    {
        var head = Encoding.ASCII.GetBytes($"From: {from}\r\nTo: alice@example.test\r\nSubject: {subject}\r\n" +
                                          "Message-ID: <big@elsewhere.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n");
        var output = new MemoryStream(size + 100);
        output.Write(head);
        var random = new Random(size);
        var line = new byte[38];
        while (output.Length < size)
        {
            random.NextBytes(line);
            output.Write(Encoding.ASCII.GetBytes(Convert.ToHexString(line) + "\r\n"));
        }
        return output.ToArray();
    }

    private static async Task<SmtpLineClient> OpenTransactionAsync(ServerProcess server)
    {
        var (smtp, greeting) = await SmtpLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Smtp));
        Assert.That(greeting.Code, Is.EqualTo(220));
        Assert.That((await smtp.CommandAsync("EHLO client.elsewhere.test")).Code, Is.EqualTo(250));
        return smtp;
    }

    private static async Task<SmtpLineReply> SendAsync(SmtpLineClient smtp, byte[] message)
    {
        Assert.That((await smtp.CommandAsync("MAIL FROM:<sender@elsewhere.test>")).Code, Is.EqualTo(250));
        Assert.That((await smtp.CommandAsync("RCPT TO:<alice@example.test>")).Code, Is.EqualTo(250));
        Assert.That((await smtp.CommandAsync("DATA")).Code, Is.EqualTo(354));
        await smtp.SendRawAsync(message);
        return await smtp.CommandAsync(".");
    }

    private static async Task<ImapClient> ImapAsync(ServerProcess server)
    {
        var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 120_000 };
        await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imap, SecureSocketOptions.StartTls);
        await imap.AuthenticateAsync("alice@example.test", Password);
        await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
        return imap;
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    [Test]
    public async Task A_36_MiB_message_goes_in_over_SMTP_and_out_of_IMAP_byte_for_byte_whole_and_by_ranges()
    {
        await using var server = Create();
        await server.StartAsync();
        var sent = Message("big one", 36 * 1024 * 1024);

        await using (var smtp = await OpenTransactionAsync(server))
        {
            var reply = await SendAsync(smtp, sent);
            Assert.That(reply.Code, Is.EqualTo(250), reply.ToString());
        }

        using var imap = await ImapAsync(server);
        var summary = (await imap.Inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Size)).Single();
        byte[] stored;
        using (var whole = await imap.Inbox.GetStreamAsync(summary.UniqueId, ""))
            stored = await ReadAllAsync(whole);
        Assert.That(stored.Length, Is.EqualTo(summary.Size), "BODY[] is RFC822.SIZE octets");
        Assert.That(SHA256.HashData(stored.AsSpan(stored.Length - sent.Length)), Is.EqualTo(SHA256.HashData(sent)),
            "the sent message, byte for byte, below the server's trace fields");
        Assert.That(Encoding.ASCII.GetString(stored, 0, 9), Is.EqualTo("Received:"));

        // Ranges at and across the stored body's segment boundaries, and one past the end (RFC 9051 §6.4.5: empty).
        const int S = BlobStore.SegmentSize;
        foreach (var (offset, count) in new[] { (0, 100), (S - 1, 2), (S, S), (5 * S - 10, 3 * S + 20), (stored.Length - 7, 100), (stored.Length + 5, 10) })
        {
            using var part = await imap.Inbox.GetStreamAsync(summary.UniqueId, "", offset, count);
            var expected = offset >= stored.Length ? [] : stored.AsSpan(offset, Math.Min(count, stored.Length - offset)).ToArray();
            Assert.That(await ReadAllAsync(part), Is.EqualTo(expected), $"BODY.PEEK[]<{offset}.{count}>");
        }
        await imap.DisconnectAsync(true);
    }

    [Test]
    public async Task Over_the_bytes_in_flight_budget_a_second_DATA_is_deferred_with_452_until_the_first_is_answered()
    {
        await using var server = Create("""{ "MaxBytesInFlightMiB": 1 }""");
        await server.StartAsync();
        var big = Message("first", 3 * 1024 * 1024);

        await using var first = await OpenTransactionAsync(server);
        Assert.That((await first.CommandAsync("MAIL FROM:<sender@elsewhere.test>")).Code, Is.EqualTo(250));
        Assert.That((await first.CommandAsync("RCPT TO:<alice@example.test>")).Code, Is.EqualTo(250));
        Assert.That((await first.CommandAsync("DATA")).Code, Is.EqualTo(354));
        await first.SendRawAsync(big); // 3 MiB in flight, no end of data yet

        // The server counts the bytes as it reads them: ask until it has (a small message gets through before that).
        await using var second = await OpenTransactionAsync(server);
        SmtpLineReply? deferred = null;
        for (var attempt = 0; attempt < 100 && deferred is null; attempt++)
        {
            Assert.That((await second.CommandAsync("MAIL FROM:<sender@elsewhere.test>")).Code, Is.EqualTo(250));
            Assert.That((await second.CommandAsync("RCPT TO:<alice@example.test>")).Code, Is.EqualTo(250));
            var data = await second.CommandAsync("DATA");
            if (data.Code == 452)
            {
                deferred = data;
                break;
            }
            Assert.That(data.Code, Is.EqualTo(354));
            await second.SendRawAsync(Message("early", 100));
            Assert.That((await second.CommandAsync(".")).Code, Is.EqualTo(250));
            await Task.Delay(100);
        }
        Assert.That(deferred?.ToString(), Does.StartWith("452 4.3.1"), "DATA deferred while the first message is in flight");
        Assert.That((await second.CommandAsync("RSET")).Code, Is.EqualTo(250), "the session goes on");

        Assert.That((await first.CommandAsync(".")).Code, Is.EqualTo(250), "the admitted message is never cut off");
        var retried = await SendAsync(second, Message("second", 1000));
        Assert.That(retried.Code, Is.EqualTo(250), "once the first is answered, the budget is free again");
        Assert.That(await server.WaitForOutputAsync("DATA deferred with 452 4.3.1", TimeSpan.FromSeconds(5)), Is.True, "the refusal is logged");
    }

    [Test]
    public async Task Over_the_budget_that_SMTP_DATA_is_using_an_IMAP_APPEND_gets_NO_LIMIT_before_its_literal_and_succeeds_once_DATA_is_answered()
    {
        await using var server = Create("""{ "MaxBytesInFlightMiB": 1 }""");
        await server.StartAsync();

        await using var smtp = await OpenTransactionAsync(server);
        Assert.That((await smtp.CommandAsync("MAIL FROM:<sender@elsewhere.test>")).Code, Is.EqualTo(250));
        Assert.That((await smtp.CommandAsync("RCPT TO:<alice@example.test>")).Code, Is.EqualTo(250));
        Assert.That((await smtp.CommandAsync("DATA")).Code, Is.EqualTo(354));
        await smtp.SendRawAsync(Message("in flight", 3 * 1024 * 1024)); // 3 MiB of a 1 MiB budget, no end of data yet

        var (imap, _) = await ImapLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Imaps), tls: true);
        await using var _imap = imap;
        Assert.That((await imap.CommandAsync("a1", $"LOGIN alice@example.test \"{Password}\"")).Last(), Does.StartWith("a1 OK"));
        var appended = Encoding.ASCII.GetBytes("From: bob@example.test\r\nSubject: appended\r\n\r\n" + new string('x', 150) + "\r\n");

        // The server charges DATA bytes as it reads them: ask until it has (an APPEND may get through before that).
        string? refused = null;
        for (var attempt = 0; attempt < 100 && refused is null; attempt++)
        {
            await imap.SendLineAsync($"s{attempt} APPEND INBOX {{{appended.Length}}}");
            var answer = await imap.ReadLineAsync();
            if (answer?.StartsWith($"s{attempt} ", StringComparison.Ordinal) == true)
            {
                refused = answer;
                break;
            }
            Assert.That(answer, Does.StartWith("+"), "either a continuation request or the refusal");
            await imap.SendRawAsync((byte[])[.. appended, .. "\r\n"u8]);
            Assert.That((await imap.ReadUntilTaggedAsync($"s{attempt}")).Last(), Does.StartWith($"s{attempt} OK"));
            await Task.Delay(100);
        }
        Assert.That(refused, Does.StartWith("s").And.Contain(" NO [LIMIT] "), "a synchronising literal is refused before the continuation request");

        // LITERAL+ (RFC 7888): the literal is read and discarded, then refused; command-like lines inside it never run.
        var inner = Encoding.ASCII.GetBytes("z1 LOGOUT\r\n");
        await imap.SendRawAsync((byte[])[.. Encoding.ASCII.GetBytes($"n1 APPEND INBOX {{{inner.Length}+}}\r\n"), .. inner, .. "\r\n"u8]);
        Assert.That(await imap.ReadLineAsync(), Does.StartWith("n1 NO [LIMIT] "));
        var noop = await imap.CommandAsync("n2", "NOOP");
        Assert.That(noop.Last(), Does.StartWith("n2 OK"), "the session goes on");
        Assert.That(noop, Has.None.Contain("BYE"), "the discarded literal was never read as a command");

        Assert.That((await smtp.CommandAsync(".")).Code, Is.EqualTo(250), "the admitted DATA is never cut off");
        await imap.SendLineAsync($"r1 APPEND INBOX {{{appended.Length}}}");
        Assert.That(await imap.ReadLineAsync(), Does.StartWith("+"), "once DATA is answered the budget is free for APPEND");
        await imap.SendRawAsync((byte[])[.. appended, .. "\r\n"u8]);
        Assert.That((await imap.ReadUntilTaggedAsync("r1")).Last(), Does.StartWith("r1 OK [APPENDUID "));
        Assert.That(await server.WaitForOutputAsync("refused with NO [LIMIT]", TimeSpan.FromSeconds(5)), Is.True, "the refusal is logged");
    }

    [Test]
    public async Task A_40_MB_message_over_MX_and_one_over_submission_are_stored_byte_for_byte_and_no_spool_file_stays_behind()
    {
        await using var server = Create();
        // A spool file as a crash leaves it (its key died with the process): removed when the server starts.
        var spool = Path.Combine(server.DataDirectory, "tmp", "smtp-spool");
        Directory.CreateDirectory(spool);
        var leftover = Path.Combine(spool, "0123456789abcdef0123456789abcdef" + MessageSpool.FileExtension);
        await File.WriteAllBytesAsync(leftover, RandomNumberGenerator.GetBytes(4096));
        await server.StartAsync();
        Assert.That(File.Exists(leftover), Is.False, "the spool is swept at start");

        var overMx = Message("over MX", 40_000_000);
        await using (var smtp = await OpenTransactionAsync(server))
        {
            var reply = await SendAsync(smtp, overMx);
            Assert.That(reply.Code, Is.EqualTo(250), reply.ToString());
        }
        var submitted = Message("submitted", 40_000_000, from: "alice@example.test");
        using (var submission = new MailKit.Net.Smtp.SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 300_000 })
        {
            await submission.ConnectAsync("127.0.0.1", server.ListenerPorts.Submission, SecureSocketOptions.StartTls);
            await submission.AuthenticateAsync("alice@example.test", Password);
            using var message = await MimeKit.MimeMessage.LoadAsync(new MemoryStream(submitted));
            await submission.SendAsync(message);
            await submission.DisconnectAsync(true);
        }
        Assert.That(Directory.GetFiles(spool), Is.Empty, "each spool file went with its transaction");

        using var imap = await ImapAsync(server);
        var summaries = await imap.Inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Envelope);
        foreach (var (subject, sent) in new[] { ("over MX", overMx), ("submitted", submitted) })
        {
            var uid = summaries.Single(m => m.Envelope?.Subject == subject).UniqueId;
            byte[] stored;
            using (var whole = await imap.Inbox.GetStreamAsync(uid, ""))
                stored = await ReadAllAsync(whole);
            Assert.That(stored.Length, Is.GreaterThan(sent.Length), subject);
            Assert.That(SHA256.HashData(stored.AsSpan(stored.Length - sent.Length)), Is.EqualTo(SHA256.HashData(sent)),
                $"{subject}: the sent message, byte for byte, below the server's own fields");
        }
        await imap.DisconnectAsync(true);
    }
}
