using MailServer.Protocols.Imap;
using MailServer.Tests.Protocols.Imap.Commands;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap;

/// <summary>Session-wide behaviour: limits, timeouts, logging.</summary>
[TestFixture]
public sealed class ImapSessionTests
{
    [Test]
    public async Task Connections_over_the_per_address_cap_get_bye()
    {
        await using var server = await ImapTestServer.StartAsync(limits: new ImapLimits(MaxConnectionsPerAddress: 2));
        var (one, g1) = await ImapLineClient.OpenAsync(server.Imap);
        var (two, g2) = await ImapLineClient.OpenAsync(server.Imap);
        await using var a = one;
        await using var b = two;
        Assert.That(g1, Does.StartWith("* OK "));
        Assert.That(g2, Does.StartWith("* OK "));
        var (three, g3) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = three;
        Assert.That(g3, Is.EqualTo("* BYE Too many connections from your address"));
        Assert.That(await three.IsClosedByServerAsync(), Is.True);

        await one.CommandAsync("z", "LOGOUT");
        Assert.That(await one.IsClosedByServerAsync(), Is.True);
        // The slot is released when the session ends; poll the greeting instead of sleeping a fixed time.
        string greeting;
        var attempts = 0;
        do
        {
            var (next, g) = await ImapLineClient.OpenAsync(server.Imap);
            await next.DisposeAsync();
            greeting = g;
        } while (greeting.StartsWith("* BYE", StringComparison.Ordinal) && ++attempts < 50);
        Assert.That(greeting, Does.StartWith("* OK "));
    }

    [Test]
    public async Task An_idle_client_is_logged_out_with_bye()
    {
        await using var server = await ImapTestServer.StartAsync(limits: new ImapLimits(IdleTimeout: TimeSpan.FromMilliseconds(300)));
        var (client, _) = await ImapLineClient.OpenAsync(server.Imap);
        await using var c = client;
        Assert.That(await client.ReadLineAsync(), Is.EqualTo("* BYE Autologout; idle for too long"));
        Assert.That(await client.IsClosedByServerAsync(), Is.True);
    }

    [Test]
    public async Task Append_over_appendlimit_is_toobig_before_the_literal_is_sent()
    {
        await using var server = await ImapTestServer.StartAsync(limits: new ImapLimits(MaxMessageBytes: 1000));
        await using var client = await server.LoggedInAsync();
        var caps = await client.CommandAsync("c", "CAPABILITY");
        Assert.That(caps[0], Does.Contain(" APPENDLIMIT=1000"));
        Assert.That(await client.CommandAsync("a1", "APPEND INBOX {5000}"), Has.Count.EqualTo(1).And.Some.StartsWith("a1 NO [TOOBIG] "));
        Assert.That(await client.CommandAsync("a2", "NOOP"), Is.EqualTo(new[] { "a2 OK NOOP completed" }));
    }

    [Test]
    public async Task Session_logs_carry_the_session_id_scope_and_never_the_password()
    {
        var logger = new RecordingLogger<ImapListener>();
        await using (var server = await ImapTestServer.StartAsync(logger: logger))
        {
            await using var client = await server.LoggedInAsync();
            await client.CommandAsync("x", "LOGIN alice@example.test another-secret");
            await client.CommandAsync("y", "LOGOUT");
            await client.IsClosedByServerAsync();
        }
        var records = logger.Records.ToList();
        var login = records.Single(r => r.EventId.Id == 5006);
        Assert.That(login.Message, Is.EqualTo("IMAP login as alice@example.test succeeded"));
        Assert.That(login.Scopes.Select(s => s?.ToString()), Has.Some.Matches("^ImapSession:[0-9a-f]{12}$"));
        Assert.That(records.Select(r => r.Message), Has.None.Contains(ImapTestServer.Password).And.None.Contains("another-secret"));
        Assert.That(records.Select(r => r.EventId.Id), Has.All.InRange(5000, 5099));
    }
}

/// <summary>The one error boundary: each error kind becomes its tagged reply and the session goes on.</summary>
[TestFixture]
public sealed class ImapErrorBoundaryTests
{
    [Test]
    public async Task Server_faults_are_serverbug_and_logged_with_the_exception_temporary_ones_unavailable()
    {
        var logger = new RecordingLogger<ImapListener>();
        FaultInjectingStore? faulty = null;
        await using var server = await ImapTestServer.StartAsync(logger: logger, wrapStore: s => faulty = new FaultInjectingStore(s));
        await using var client = await server.LoggedInAsync();

        faulty!.Fault = ("ListFolders", new InvalidOperationException("boom"));
        Assert.That(await client.CommandAsync("l1", "LIST \"\" *"), Is.EqualTo(new[] { "l1 NO [SERVERBUG] Internal error; the session goes on" }));
        var fault = logger.Records.Single(r => r.EventId.Id == 5008);
        Assert.That(fault.Exception?.Message, Is.EqualTo("boom"));
        Assert.That(fault.Scopes.Select(s => s?.ToString()), Has.Some.StartsWith("ImapSession:"));

        faulty.Fault = ("CreateFolderAsync", new MailServer.Storage.WriteOutcomeUnknownException(new IOException("disk")));
        Assert.That(await client.CommandAsync("c1", "CREATE Later"), Is.EqualTo(new[] { "c1 NO [UNAVAILABLE] The store is busy; try again" }));

        faulty.Fault = ("AppendAsync", new MailServer.Storage.QuotaExceededException("m", 10, 5));
        Assert.That(await client.CommandAsync("a1", "APPEND INBOX {1+}\r\nx"), Is.EqualTo(new[] { "a1 NO [OVERQUOTA] The mailbox is full" }));

        Assert.That(await client.CommandAsync("n1", "LIST \"\" INBOX"), Is.EqualTo(new[] { "* LIST (\\HasNoChildren) \"/\" INBOX", "n1 OK LIST completed" }));
    }
}
