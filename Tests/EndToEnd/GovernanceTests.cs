using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MailServer.Server;
using MailServer.Server.Security;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 7 against the real executable: access control rules refuse an IMAP login with NO and a live edit lets it
/// in; the event log, audit log and /metrics show real SMTP and IMAP traffic field by field; the CLI verbs work
/// against the running server.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class GovernanceTests
{
    private const string Password = "governance test password";
    private const string DenyLoopbackImap =
        """[ { "Name": "default", "Effect": "Allow" }, { "Name": "no-loopback-imap", "Effect": "Deny", "Protocols": [ "IMAP" ], "IpRanges": [ "127.0.0.0/8", "::1/128" ] } ]""";
    private const string AllowAll = """[ { "Name": "default", "Effect": "Allow" } ]""";

    private static ServerProcess Create(string accessRules)
    {
        var server = ServerProcess.Create();
        File.WriteAllText(server.ConfigPath, File.ReadAllText(server.ConfigPath)
            .Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{PasswordHasher.Hash(Password, iterations: 1000)}\"")
            .Replace("""[ { "Name": "default", "Effect": "Allow" } ]""", accessRules));
        return server;
    }

    private static IPEndPoint Imaps(ServerProcess server) => new(IPAddress.Loopback, server.ListenerPorts.Imaps);

    private static async Task<string> Login(ServerProcess server)
    {
        var (client, _) = await ImapLineClient.OpenAsync(Imaps(server), tls: true);
        await using (client)
            return (await client.CommandAsync("a1", $"LOGIN alice@example.test \"{Password}\"")).Last();
    }

    private static async Task<string> Metrics(ServerProcess server)
    {
        using var http = new HttpClient();
        return await http.GetStringAsync($"http://127.0.0.1:{server.ListenerPorts.Admin}/metrics");
    }

    private static double Sample(string metrics, string name)
    {
        var match = Regex.Match(metrics, "^" + Regex.Escape(name) + @"(\{[^}]*\})? (\S+)$", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

    private static JsonObject[] FileLines(string folder) =>
        Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder, "*.jsonl", SearchOption.AllDirectories).SelectMany(File.ReadAllLines)
                .Select(l => JsonNode.Parse(l)!.AsObject()).ToArray()
            : [];

    private static async Task<(int Code, string Out, string Error)> Cli(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Program.RunAsync(args, output, error, new StringReader(""));
        return (code, output.ToString(), error.ToString());
    }

    [Test]
    public async Task A_deny_rule_for_loopback_refuses_IMAP_login_with_NO_and_a_live_edit_to_allow_lets_alice_in()
    {
        await using var server = Create(DenyLoopbackImap);
        await server.StartAsync();

        Assert.That(await Login(server), Is.EqualTo("a1 NO [AUTHORIZATIONFAILED] Login not allowed from here"));

        var audit = FileLines(Path.Combine(server.DataDirectory, "audit"));
        Assert.That(audit.Select(l => (string)l["log_type"]!), Is.EqualTo(new[] { "AccessControl", "Authentication" }));
        Assert.Multiple(() =>
        {
            Assert.That((string)audit[0]["rule_id"]!, Is.EqualTo("no-loopback-imap"));
            Assert.That((bool)audit[0]["access_granted"]!, Is.False);
            Assert.That((string)audit[0]["source_ip"]!, Is.EqualTo("127.0.0.1"));
            Assert.That((string)audit[1]["auth_failed_reason"]!, Is.EqualTo("AccessDenied"));
            Assert.That((string)audit[1]["protocol"]!, Is.EqualTo("IMAP"));
        });
        var metrics = await Metrics(server);
        Assert.That(metrics, Does.Contain("tenant=\"" + ServerProcess.OrganizationId + "\""));
        Assert.That(Sample(metrics, "mailserver_accessdenied_sum"), Is.EqualTo(1), metrics);
        Assert.That(Sample(metrics, "mailserver_accessdenied_count"), Is.EqualTo(1), metrics);

        // The console tester agrees with the server.
        var tester = await Cli("access", "test", "--protocol", "IMAP", "--ip", "127.0.0.1", "--user", "a.liddell@example.test", "--config", server.ConfigPath);
        Assert.That(tester.Out, Does.Contain("Effect: Deny\nRule: no-loopback-imap (Deny)"));

        // Rules apply to the next login after an edit (docs/decisions.md, "Organizations and configuration": config edits apply within a second).
        File.WriteAllText(server.ConfigPath, File.ReadAllText(server.ConfigPath).Replace(DenyLoopbackImap, AllowAll));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        string reply;
        do
        {
            await Task.Delay(200);
            reply = await Login(server);
        } while (!reply.StartsWith("a1 OK", StringComparison.Ordinal) && DateTime.UtcNow < deadline);
        Assert.That(reply, Does.StartWith("a1 OK"));

        var after = await Metrics(server);
        Assert.That(Sample(after, "mailserver_accessdenied_sum"), Is.GreaterThanOrEqualTo(1));
        Assert.That(Sample(after, "mailserver_accessdenied_count"), Is.GreaterThan(Sample(after, "mailserver_accessdenied_sum")),
            "the granted evaluation is a 0 sample");
    }

    [Test]
    public async Task Mail_to_a_group_shows_in_the_event_log_the_events_query_and_the_metrics()
    {
        await using var server = Create(AllowAll);
        await server.StartAsync();
        var subject = "Quarterly " + Guid.NewGuid().ToString("N")[..8];

        var (exit, transcript) = await Swaks.RunAsync(
            "--server", $"127.0.0.1:{server.ListenerPorts.Smtp}",
            "--from", "carol@elsewhere.test", "--to", "team@example.test,alice@example.test",
            "--header", $"Subject: {subject}", "--header", "Message-Id: <q1@elsewhere.test>");
        Assert.That(exit, Is.Zero, transcript);

        var events = server.EventLogLines();
        Assert.That(events.Select(e => (string)e["event"]!["eventName"]!), Is.EqualTo(new[]
            { "ORGANIZATION_EMAIL_RECEIVED", "MAILBOX_EMAIL_DELIVERED", "MAILBOX_EMAIL_DELIVERED" }),
            "one received event for the message, one delivered event per mailbox");
        Assert.That(events.Select(e => (string)e["traceId"]!).Distinct().Count(), Is.EqualTo(1));
        var received = events[0]["event"]!;
        Assert.Multiple(() =>
        {
            Assert.That(received["recipients"]!.AsArray().Select(r => (string)r!), Is.EqualTo(new[] { "team@example.test", "alice@example.test" }));
            Assert.That((string)received["from"]!, Is.EqualTo("carol@elsewhere.test"));
            Assert.That((string)received["subject"]!, Is.EqualTo(subject));
            Assert.That((string)received["messageId"]!, Is.EqualTo("q1@elsewhere.test"));
            Assert.That(events.Skip(1).Select(e => (string)e["event"]!["recipient"]!), Is.EquivalentTo(new[] { "alice@example.test", "bob@example.test" }));
        });

        var query = await Cli("events", "query", "--event", "MAILBOX_EMAIL_DELIVERED", "--since", "1h", "--subject", "^Quarterly", "--config", server.ConfigPath);
        Assert.That(query.Code, Is.Zero, query.Error);
        Assert.That(query.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(2));
        var none = await Cli("events", "query", "--subject", "^nothing like this", "--config", server.ConfigPath);
        Assert.That(none.Out, Is.Empty);

        var metrics = await Metrics(server);
        Assert.That(Sample(metrics, "mailserver_organizationemailreceived"), Is.EqualTo(1), metrics);
        Assert.That(Sample(metrics, "mailserver_mailboxemaildelivered"), Is.EqualTo(2), metrics);
    }

    [Test]
    public async Task Retention_run_goes_through_the_running_server_and_a_dry_run_changes_nothing()
    {
        await using var server = Create(AllowAll);
        await server.StartAsync();
        var run = await Cli("retention", "run", "--dry-run", "--config", server.ConfigPath);
        Assert.That(run.Code, Is.Zero, run.Error);
        Assert.That(run.Out, Is.EqualTo("dry run: 0 mailbox(es) checked, 0 message(s) would be moved to Deleted Items, 0 would be permanently deleted\n"),
            "no mailbox exists yet; the store is the server's (the verb could not have opened it)");
    }
}
