using System.Globalization;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>SAVEDATE (RFC 8514): FETCH SAVEDATE is when the message was saved into the mailbox, apart from the internal
/// date APPEND sets; SAVEDBEFORE / SAVEDON / SAVEDSINCE compare it; SAVEDATESUPPORTED matches every message.</summary>
[TestFixture]
public sealed class SaveDateTests
{
    [Test]
    public async Task Savedate_is_the_time_of_saving_and_is_searched()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await server.LoggedInAsync();
        Assert.That((await client.CommandAsync("c", "CAPABILITY"))[0], Does.Contain(" SAVEDATE "));
        const string message = "Subject: old\r\n\r\nwritten long ago\r\n";
        Assert.That(await client.CommandAsync("a", $"APPEND INBOX \"05-Jan-2019 10:00:00 +0100\" {{{message.Length}+}}\r\n{message}"), Has.Some.StartWith("a OK "));
        await server.DeliverAsync("alice", "new");
        await client.CommandAsync("s", "SELECT INBOX");

        var today = DateTime.UtcNow.ToString("d-MMM-yyyy", CultureInfo.InvariantCulture);
        var fetched = await client.CommandAsync("f", "FETCH 1 (INTERNALDATE SAVEDATE)");
        Assert.That(fetched[0], Does.Match("^\\* 1 FETCH \\(INTERNALDATE \"05-Jan-2019 10:00:00 \\+0100\" SAVEDATE \"[ 0-9]{2}-[A-Z][a-z]{2}-[0-9]{4} [0-9:]{8} \\+0000\"\\)$"));
        var saved = DateTimeOffset.ParseExact(fetched[0][(fetched[0].IndexOf("SAVEDATE \"", StringComparison.Ordinal) + 10)..^2].Trim(),
            "d-MMM-yyyy HH:mm:ss zzz", CultureInfo.InvariantCulture);
        Assert.That(saved, Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(5)));

        Assert.That(await client.CommandAsync("s1", $"SEARCH SAVEDSINCE {today}"), Is.EqualTo(new[] { "* SEARCH 1 2", "s1 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("s2", $"SEARCH SINCE {today}"), Is.EqualTo(new[] { "* SEARCH 2", "s2 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("s3", "SEARCH SAVEDBEFORE 1-Jan-2020"), Is.EqualTo(new[] { "* SEARCH", "s3 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("s4", $"UID SEARCH SAVEDON {today} SUBJECT old"), Is.EqualTo(new[] { "* SEARCH 1", "s4 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("s5", "SEARCH SAVEDATESUPPORTED"), Is.EqualTo(new[] { "* SEARCH 1 2", "s5 OK SEARCH completed" }));
        Assert.That(await client.CommandAsync("s6", "SEARCH NOT SAVEDATESUPPORTED"), Is.EqualTo(new[] { "* SEARCH", "s6 OK SEARCH completed" }));
        Assert.That((await client.CommandAsync("s7", "SEARCH SAVEDSINCE yesterday"))[0], Does.StartWith("s7 BAD "));
    }
}
