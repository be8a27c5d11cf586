using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MailServer.Server;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 5 "Done when": the rule tester's output matches what delivery does, for the same config. For each sender,
/// <c>mailserver rules test --json</c> runs on the server's own config file, then the same message goes through the MX
/// port; each recipient's RULE_APPLIED (rule and action) and where its copy went must be what the tester said.
/// </summary>
[TestFixture, NonParallelizable]
public sealed partial class RuleTesterParityTests
{
    private ServerProcess _server = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _server = ServerProcess.Create();
        var root = JsonNode.Parse(File.ReadAllText(_server.ConfigPath))!;
        root["MailServer"]!["Organizations"]![0]!["FlowRules"] = JsonNode.Parse("""
            { "Inbound": [
                { "Name": "drop-domain", "Action": "Drop", "SenderPatterns": [ "*.parity.test" ], "RecipientPatterns": [ "*" ] },
                { "Name": "boss", "Action": "Default", "SenderPatterns": [ "boss@hq.parity.test" ], "RecipientPatterns": [ "*" ] },
                { "Name": "junk-bob", "Action": "MoveToJunk", "SenderPatterns": [ "*.parity.test" ], "RecipientPatterns": [ "bob@example.test" ] },
                { "Name": "bounce-bob", "Action": "Bounce", "SenderPatterns": [ "split.test" ], "RecipientPatterns": [ "bob@example.test" ] },
                { "Name": "vip-alice", "Action": "BypassSpamCheck", "SenderPatterns": [ "split.test" ], "RecipientPatterns": [ "alice@example.test" ] },
                { "Name": "junk-all-first", "Action": "MoveToJunk", "SenderPatterns": [ "tie.test" ], "RecipientPatterns": [ "*" ] },
                { "Name": "drop-all-second", "Action": "Drop", "SenderPatterns": [ "tie.test" ], "RecipientPatterns": [ "*" ] }
              ],
              "Outbound": [] }
            """);
        File.WriteAllText(_server.ConfigPath, root.ToJsonString());
        await _server.StartAsync();
    }

    [OneTimeTearDown]
    public async Task StopAsync() => await _server.DisposeAsync();

    [GeneratedRegex("(?<=[a-z])(?=[A-Z])")]
    private static partial Regex WordBoundary();

    /// <summary>The tester's action name as the event log spells it: MoveToJunk → MOVE_TO_JUNK.</summary>
    private static string EventAction(string action) => WordBoundary().Replace(action, "_").ToUpperInvariant();

    [TestCase("x@a.parity.test", TestName = "Drop for alice, a more specific recipient pattern junks bob")]
    [TestCase("boss@hq.parity.test", TestName = "The full address beats the subdomain pattern")]
    [TestCase("y@split.test", TestName = "Bounce for bob, BypassSpamCheck for alice")]
    [TestCase("z@tie.test", TestName = "Equal specificity: Drop outranks MoveToJunk")]
    [TestCase("nobody@elsewhere.test", TestName = "No rule: the default action, no RULE_APPLIED")]
    public async Task Delivery_does_what_the_tester_says(string sender)
    {
        string[] recipients = ["alice@example.test", "bob@example.test"];
        var output = new StringWriter();
        var code = await Program.RunAsync(["rules", "test", "--direction", "inbound", "--from", sender,
            .. recipients.SelectMany(r => new[] { "--recipient", r }), "--json", "--config", _server.ConfigPath], output, new StringWriter(), new StringReader(""));
        Assert.That(code, Is.Zero, output.ToString());
        var predicted = JsonNode.Parse(output.ToString())!["recipients"]!.AsArray()
            .ToDictionary(r => (string)r!["recipient"]!, r => (Rule: (string?)r!["rule"], Action: (string)r!["action"]!));

        var subject = "parity " + Guid.NewGuid().ToString("N");
        var (client, _) = await SmtpLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, _server.ListenerPorts.Smtp));
        await using (client)
        {
            await client.CommandAsync("EHLO client.test");
            await client.CommandAsync($"MAIL FROM:<{sender}>");
            foreach (var r in recipients)
                await client.CommandAsync($"RCPT TO:<{r}>");
            await client.CommandAsync("DATA");
            var reply = await client.CommandAsync($"From: <{sender}>\r\nTo: <alice@example.test>, <bob@example.test>\r\nSubject: {subject}\r\n" +
                $"Date: Sat, 28 Nov 2026 12:00:00 +0000\r\nMessage-ID: <{Guid.NewGuid():N}@client.test>\r\n\r\nbody\r\n.");
            var anyDelivered = predicted.Values.Any(p => p.Action != "Bounce");
            Assert.That(reply.Code, Is.EqualTo(anyDelivered ? 250 : 550), "refused in the session only when every recipient bounces");
        }

        var events = _server.EventLogLines();
        // §18.3: received once per message with every recipient, whatever the rules then did to each.
        var received = events.Single(e => (string?)e["event"]!["eventName"] == "ORGANIZATION_EMAIL_RECEIVED"
                                          && (string?)e["event"]!["subject"] == subject);
        Assert.That(received["event"]!["recipients"]!.AsArray().Select(r => (string)r!), Is.EqualTo(recipients));
        var trace = (string)received["traceId"]!;
        var ofMessage = events.Where(e => (string)e["traceId"]! == trace).Select(e => e["event"]!).ToList();
        var applied = ofMessage.Where(e => (string)e["eventName"]! == "RULE_APPLIED")
            .SelectMany(e => e["ruleActions"]!.AsArray().SelectMany(a => a!["recipients"]!.AsArray()
                .Select(r => (Recipient: (string)r!, Rule: (string?)e["ruleName"], Action: (string)a!["action"]!))))
            .ToDictionary(x => x.Recipient, x => (x.Rule, x.Action));
        var folders = ofMessage.Where(e => (string)e["eventName"]! == "MAILBOX_EMAIL_DELIVERED")
            .ToDictionary(e => (string)e["recipient"]!, e => (string)e["folder"]!);

        Assert.Multiple(() =>
        {
            foreach (var recipient in recipients)
            {
                var (rule, action) = predicted[recipient];
                if (rule is null)
                    Assert.That(applied.ContainsKey(recipient), Is.False, $"{recipient}: no rule, no RULE_APPLIED");
                else
                    Assert.That(applied.GetValueOrDefault(recipient), Is.EqualTo(((string?)rule, EventAction(action))), recipient);
                string? folder = action switch
                {
                    "Drop" or "Bounce" => null,
                    "MoveToJunk" => "Junk E-mail",
                    _ => "INBOX",
                };
                Assert.That(folders.GetValueOrDefault(recipient), Is.EqualTo(folder), $"{recipient}: {action}");
            }
        });
    }
}
