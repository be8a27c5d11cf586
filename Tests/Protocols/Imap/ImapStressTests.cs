using MailServer.Bench;
using MailServer.Tests.Protocols.Imap.Commands;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap;

/// <summary>
/// The state-checking stress client (bench/ImapStress.cs) against the real listener: a handful of sessions on one
/// INBOX for about 20 seconds, every response checked against each session's model; no violation is allowed.
/// IMAPSTRESS_SESSIONS and IMAPSTRESS_SECONDS make it a long run (the bench's imap-stress mode does the same against
/// a running server).
/// </summary>
[TestFixture]
public sealed class ImapStressTests
{
    [Test]
    [CancelAfter(15 * 60 * 1000)]
    public async Task Concurrent_sessions_see_no_response_the_rfcs_forbid(CancellationToken cancellationToken)
    {
        var sessions = int.TryParse(Environment.GetEnvironmentVariable("IMAPSTRESS_SESSIONS"), out var s) ? s : 5;
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("IMAPSTRESS_SECONDS"), out var t) ? t : 20;
        await using var server = await ImapTestServer.StartAsync();
        var report = await ImapStress.RunAsync(new ImapStressOptions(server.Imap.Address.ToString(), server.Imap.Port,
            "alice@example.test", ImapTestServer.Password, sessions, TimeSpan.FromSeconds(seconds)), cancellationToken);
        foreach (var line in report.Format())
            TestContext.Out.WriteLine(line);
        Assert.That(report.Violations, Is.Empty);
        Assert.That(report.Total, Is.GreaterThan(sessions * 50), "the sessions ran commands");
        Assert.That(report.Commands.Keys, Is.SupersetOf(new[] { "APPEND", "FETCH", "STORE", "SEARCH", "UID EXPUNGE", "UID MOVE", "IDLE", "NOOP" }));
    }

    /// <summary>The bench runs the client over STARTTLS against a real server: the same checks through TLS, briefly.</summary>
    [Test]
    [CancelAfter(5 * 60 * 1000)]
    public async Task The_same_checks_hold_over_starttls(CancellationToken cancellationToken)
    {
        await using var server = await ImapTestServer.StartAsync(allowPlaintextAuth: false);
        var report = await ImapStress.RunAsync(new ImapStressOptions("127.0.0.1", server.Imap.Port,
            "alice@example.test", ImapTestServer.Password, 3, TimeSpan.FromSeconds(5), StartTls: true), cancellationToken);
        foreach (var line in report.Format())
            TestContext.Out.WriteLine(line);
        Assert.That(report.Violations, Is.Empty);
        Assert.That(report.Commands["STARTTLS"], Is.EqualTo(3));
        Assert.That(report.Total, Is.GreaterThan(60));
    }
}
