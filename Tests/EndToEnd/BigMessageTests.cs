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
/// budget of message bytes held in memory makes a message wait for room when its DATA ends (or answers 452 4.3.1 when
/// none comes in time) and defers a DATA or an APPEND while it is used up.
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

    /// <summary>
    /// An IMAP session in the middle of an APPEND: its synchronising literal of <paramref name="size"/> octets was
    /// admitted (charged whole to the budget of bytes in flight) and half of it sent, so the budget stays charged until
    /// <see cref="FinishAppendAsync"/>.
    /// </summary>
    private static async Task<(ImapLineClient Imap, byte[] Literal)> HoldAppendAsync(ServerProcess server, int size)
    {
        var (imap, _) = await ImapLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Imaps), tls: true);
        Assert.That((await imap.CommandAsync("h1", $"LOGIN alice@example.test \"{Password}\"")).Last(), Does.StartWith("h1 OK"));
        var head = Encoding.ASCII.GetBytes("From: bob@example.test\r\nSubject: held append\r\n\r\n");
        var literal = (byte[])[.. head, .. Enumerable.Repeat((byte)'x', size - head.Length - 2), .. "\r\n"u8];
        await imap.SendLineAsync($"h2 APPEND INBOX {{{literal.Length}}}");
        Assert.That(await imap.ReadLineAsync(), Does.StartWith("+"), "the held literal is admitted");
        await imap.SendRawAsync(literal.AsMemory(0, literal.Length / 2));
        return (imap, literal);
    }

    private static async Task FinishAppendAsync(ImapLineClient imap, byte[] literal)
    {
        await imap.SendRawAsync((byte[])[.. literal.AsSpan(literal.Length / 2), .. "\r\n"u8]);
        Assert.That((await imap.ReadUntilTaggedAsync("h2")).Last(), Does.StartWith("h2 OK"));
    }

    [Test]
    public async Task While_the_budget_is_used_up_a_DATA_is_deferred_with_452_before_its_354_and_goes_through_once_it_is_free()
    {
        await using var server = Create("""{ "MaxBytesInFlightMiB": 1 }""");
        await server.StartAsync();
        var (holder, literal) = await HoldAppendAsync(server, 3 * 1024 * 1024); // 3 MiB of a 1 MiB budget
        await using var _holder = holder;

        await using var smtp = await OpenTransactionAsync(server);
        Assert.That((await smtp.CommandAsync("MAIL FROM:<sender@elsewhere.test>")).Code, Is.EqualTo(250));
        Assert.That((await smtp.CommandAsync("RCPT TO:<alice@example.test>")).Code, Is.EqualTo(250));
        var deferred = await smtp.CommandAsync("DATA");
        Assert.That(deferred.ToString(), Does.StartWith("452 4.3.1"), "no 354: the sender keeps its message for later");
        Assert.That((await smtp.CommandAsync("RSET")).Code, Is.EqualTo(250), "the session goes on");

        await FinishAppendAsync(holder, literal);
        var retried = await SendAsync(smtp, Message("second", 1000));
        Assert.That(retried.Code, Is.EqualTo(250), "once the APPEND is answered, the budget is free again");
        Assert.That(await server.WaitForOutputAsync("DATA deferred with 452 4.3.1", TimeSpan.FromSeconds(5)), Is.True, "the refusal is logged");
    }

    [Test]
    public async Task While_an_APPEND_uses_up_the_budget_another_APPEND_gets_NO_LIMIT_before_its_literal_and_succeeds_afterwards()
    {
        await using var server = Create("""{ "MaxBytesInFlightMiB": 1 }""");
        await server.StartAsync();
        var (holder, held) = await HoldAppendAsync(server, 3 * 1024 * 1024); // 3 MiB of a 1 MiB budget
        await using var _holder = holder;

        var (imap, _) = await ImapLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Imaps), tls: true);
        await using var _imap = imap;
        Assert.That((await imap.CommandAsync("a1", $"LOGIN alice@example.test \"{Password}\"")).Last(), Does.StartWith("a1 OK"));
        var appended = Encoding.ASCII.GetBytes("From: bob@example.test\r\nSubject: appended\r\n\r\n" + new string('x', 150) + "\r\n");
        await imap.SendLineAsync($"s1 APPEND INBOX {{{appended.Length}}}");
        Assert.That(await imap.ReadLineAsync(), Does.StartWith("s1 NO [LIMIT] "), "a synchronising literal is refused before the continuation request");

        // LITERAL+ (RFC 7888): the literal is read and discarded, then refused; command-like lines inside it never run.
        var inner = Encoding.ASCII.GetBytes("z1 LOGOUT\r\n");
        await imap.SendRawAsync((byte[])[.. Encoding.ASCII.GetBytes($"n1 APPEND INBOX {{{inner.Length}+}}\r\n"), .. inner, .. "\r\n"u8]);
        Assert.That(await imap.ReadLineAsync(), Does.StartWith("n1 NO [LIMIT] "));
        var noop = await imap.CommandAsync("n2", "NOOP");
        Assert.That(noop.Last(), Does.StartWith("n2 OK"), "the session goes on");
        Assert.That(noop, Has.None.Contain("BYE"), "the discarded literal was never read as a command");

        await FinishAppendAsync(holder, held);
        await imap.SendLineAsync($"r1 APPEND INBOX {{{appended.Length}}}");
        Assert.That(await imap.ReadLineAsync(), Does.StartWith("+"), "once the first APPEND is answered the budget is free");
        await imap.SendRawAsync((byte[])[.. appended, .. "\r\n"u8]);
        Assert.That((await imap.ReadUntilTaggedAsync("r1")).Last(), Does.StartWith("r1 OK [APPENDUID "));
        Assert.That(await server.WaitForOutputAsync("refused with NO [LIMIT]", TimeSpan.FromSeconds(5)), Is.True, "the refusal is logged");
    }

    [Test]
    public async Task Two_big_messages_over_the_budget_wait_their_turn_and_are_both_stored_byte_for_byte()
    {
        await using var server = Create("""{ "MaxBytesInFlightMiB": 1 }""");
        await server.StartAsync();
        // A small APPEND in progress keeps 600 KiB of the 1 MiB budget charged: DATA is still admitted (the budget is not
        // used up), but a 3 MiB message does not fit beside it when it ends.
        var (holder, literal) = await HoldAppendAsync(server, 600 * 1024);
        await using var _holder = holder;
        var first = Message("first of two", 3 * 1024 * 1024);
        var second = Message("second of two", 3 * 1024 * 1024 + 4321);

        await using var one = await OpenTransactionAsync(server);
        await using var two = await OpenTransactionAsync(server);
        foreach (var (smtp, message) in new[] { (one, first), (two, second) })
        {
            Assert.That((await smtp.CommandAsync("MAIL FROM:<sender@elsewhere.test>")).Code, Is.EqualTo(250));
            Assert.That((await smtp.CommandAsync("RCPT TO:<alice@example.test>")).Code, Is.EqualTo(250));
            Assert.That((await smtp.CommandAsync("DATA")).Code, Is.EqualTo(354));
            await smtp.SendRawAsync(message);
        }
        var firstReply = one.CommandAsync(".");
        Assert.That(await server.WaitForOutputAsync("waits for the budget of bytes in flight: 614400 of 1048576 in use, 0 waiting", TimeSpan.FromSeconds(20)),
            Is.True, "the first message waits for the APPEND");
        var secondReply = two.CommandAsync(".");
        Assert.That(await server.WaitForOutputAsync("in use, 1 waiting before it", TimeSpan.FromSeconds(20)), Is.True,
            "the second waits behind the first");
        Assert.That(firstReply.IsCompleted || secondReply.IsCompleted, Is.False, "neither is answered while the APPEND holds the budget");

        // The APPEND answered: the first is admitted alone (its 6 MiB for the flow exceed the budget), then the second.
        await FinishAppendAsync(holder, literal);
        var (oneDone, twoDone) = (await firstReply, await secondReply);
        Assert.That(oneDone.Code, Is.EqualTo(250), oneDone.ToString());
        Assert.That(twoDone.Code, Is.EqualTo(250), twoDone.ToString());

        using var imap = await ImapAsync(server);
        var summaries = await imap.Inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Envelope);
        foreach (var (subject, sent) in new[] { ("first of two", first), ("second of two", second) })
        {
            var uid = summaries.Single(m => m.Envelope?.Subject == subject).UniqueId;
            byte[] stored;
            using (var whole = await imap.Inbox.GetStreamAsync(uid, ""))
                stored = await ReadAllAsync(whole);
            Assert.That(SHA256.HashData(stored.AsSpan(stored.Length - sent.Length)), Is.EqualTo(SHA256.HashData(sent)),
                $"{subject}: the sent message, byte for byte, below the server's trace fields");
        }
        await imap.DisconnectAsync(true);
    }

    [Test]
    public async Task A_message_that_finds_no_room_within_the_wait_gets_452_and_the_session_goes_on()
    {
        await using var server = Create("""{ "MaxBytesInFlightMiB": 1, "BytesInFlightWaitSeconds": 1 }""");
        await server.StartAsync();
        var (holder, literal) = await HoldAppendAsync(server, 600 * 1024);
        await using var _holder = holder;
        var big = Message("too big for now", 3 * 1024 * 1024);

        await using var smtp = await OpenTransactionAsync(server);
        var deferred = await SendAsync(smtp, big);
        Assert.That(deferred.ToString(), Does.StartWith("452 4.3.1"), "no room within the wait: the sender keeps it and retries");
        Assert.That(await server.WaitForOutputAsync("no room in the budget of bytes in flight within 1 s", TimeSpan.FromSeconds(5)), Is.True,
            "the deferral is logged");

        var small = await SendAsync(smtp, Message("small one", 1000));
        Assert.That(small.Code, Is.EqualTo(250), "the session goes on, and what fits beside the APPEND is taken");
        await FinishAppendAsync(holder, literal);
        var retried = await SendAsync(smtp, big);
        Assert.That(retried.Code, Is.EqualTo(250), "once the budget is free the message is taken");

        using var imap = await ImapAsync(server);
        var subjects = (await imap.Inbox.FetchAsync(0, -1, MessageSummaryItems.Envelope)).Select(m => m.Envelope?.Subject).ToList();
        Assert.That(subjects.Count(s => s == "too big for now"), Is.EqualTo(1), "the deferred attempt stored nothing");
        await imap.DisconnectAsync(true);
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
