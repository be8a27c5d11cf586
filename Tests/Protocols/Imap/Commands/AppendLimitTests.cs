using System.Text;
using MailServer.Protocols.Imap;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>APPENDLIMIT (RFC 7889) statement by statement, on a server whose limit is 1,000 octets.</summary>
[TestFixture]
public sealed class AppendLimitTests
{
    private const int Limit = 1000;

    private static string MessageOf(int size)
    {
        const string header = "From: a@example.net\r\nSubject: s\r\n\r\n";
        return header + new string('x', size - header.Length - 2) + "\r\n";
    }

    [Test]
    public async Task The_limit_is_advertised_by_capability_status_and_list_status()
    {
        await using var server = await ImapTestServer.StartAsync(limits: new ImapLimits(MaxMessageBytes: Limit));
        await using var client = await server.LoggedInAsync();
        // §3: one limit for every mailbox → APPENDLIMIT=n in CAPABILITY (after login; the limit is the same for all).
        Assert.That((await client.CommandAsync("c", "CAPABILITY"))[0], Does.Contain(" APPENDLIMIT=1000"));
        // §4: the STATUS item, and through LIST-STATUS (RFC 5819) for each mailbox listed.
        Assert.That(await client.CommandAsync("s", "STATUS Drafts (APPENDLIMIT)"),
            Is.EqualTo(new[] { "* STATUS Drafts (APPENDLIMIT 1000)", "s OK STATUS completed" }));
        var listed = await client.CommandAsync("l", "LIST \"\" INBOX RETURN (STATUS (APPENDLIMIT))");
        Assert.That(listed, Has.Some.EqualTo("* STATUS INBOX (APPENDLIMIT 1000)"));
        Assert.That(listed[^1], Is.EqualTo("l OK LIST completed"));
    }

    [Test]
    public async Task A_message_at_the_limit_is_stored_and_one_octet_more_is_toobig_before_any_continuation()
    {
        await using var server = await ImapTestServer.StartAsync(limits: new ImapLimits(MaxMessageBytes: Limit));
        await using var client = await server.LoggedInAsync();
        var atLimit = MessageOf(Limit);
        Assert.That(Encoding.ASCII.GetByteCount(atLimit), Is.EqualTo(Limit));
        await client.SendLineAsync($"a1 APPEND INBOX {{{Limit}}}");
        Assert.That(await client.ReadLineAsync(), Does.StartWith("+ "));
        await client.SendRawAsync(Encoding.ASCII.GetBytes(atLimit + "\r\n"));
        Assert.That((await client.ReadUntilTaggedAsync("a1"))[^1], Does.StartWith("a1 OK [APPENDUID "));

        // §3 with RFC 9051 §7.1 / RFC 4469 TOOBIG: a synchronising literal above the limit is refused instead of "+",
        // so the client never sends it; the session goes on.
        await client.SendLineAsync($"a2 APPEND INBOX {{{Limit + 1}}}");
        var refusal = await client.ReadLineAsync();
        Assert.That(refusal, Does.StartWith("a2 NO [TOOBIG]"));
        Assert.That(await client.CommandAsync("n", "NOOP"), Is.EqualTo(new[] { "n OK NOOP completed" }));

        // A non-synchronising literal (LITERAL+) above the limit is read and discarded with its command: NO [TOOBIG].
        var tooBig = MessageOf(Limit + 1);
        var reply = await client.CommandAsync("a3", $"APPEND INBOX {{{Limit + 1}+}}\r\n{tooBig}");
        Assert.That(reply[^1], Does.StartWith("a3 NO [TOOBIG]"));
        Assert.That(await client.CommandAsync("st", "STATUS INBOX (MESSAGES)"), Is.EqualTo(new[] { "* STATUS INBOX (MESSAGES 1)", "st OK STATUS completed" }));
    }

    [Test]
    public async Task Multiappend_with_one_message_over_the_limit_stores_none()
    {
        await using var server = await ImapTestServer.StartAsync(limits: new ImapLimits(MaxMessageBytes: Limit));
        await using var client = await server.LoggedInAsync();
        var small = MessageOf(200);
        var large = MessageOf(Limit + 1);
        // RFC 7889 §3 with RFC 3502: the limit applies to each message; one refused means none is stored.
        var reply = await client.CommandAsync("m", $"APPEND INBOX {{{small.Length}+}}\r\n{small} {{{large.Length}+}}\r\n{large}");
        Assert.That(reply[^1], Does.StartWith("m NO [TOOBIG]"));
        Assert.That(await client.CommandAsync("st", "STATUS INBOX (MESSAGES)"), Is.EqualTo(new[] { "* STATUS INBOX (MESSAGES 0)", "st OK STATUS completed" }));
    }
}
