using System.Text;
using MailServer.Rules.ContentFiltering;
using NUnit.Framework;

namespace MailServer.Tests.Rules.ContentFiltering;

[TestFixture]
public sealed class ContentVerdictsTests
{
    private static SpamScan Scan(SpamAction action, double score = 1) => new(action, score, 15, [("SYMBOL", score)]);

    [TestCase(SpamAction.NoAction, ScanDirection.Inbound, "Deliver(False)")]
    [TestCase(SpamAction.Greylist, ScanDirection.Inbound, "Defer")]
    [TestCase(SpamAction.SoftReject, ScanDirection.Inbound, "Defer")]
    [TestCase(SpamAction.AddHeader, ScanDirection.Inbound, "Deliver(True)")]
    [TestCase(SpamAction.RewriteSubject, ScanDirection.Inbound, "Deliver(True)")]
    [TestCase(SpamAction.Reject, ScanDirection.Inbound, "RefuseSpam")]
    [TestCase(SpamAction.Greylist, ScanDirection.Outbound, "Deliver(False)")]
    [TestCase(SpamAction.SoftReject, ScanDirection.Outbound, "Deliver(False)")]
    [TestCase(SpamAction.Reject, ScanDirection.Outbound, "RefuseSpam")]
    public void Rspamd_actions_map_to_what_the_sender_and_the_user_see(SpamAction action, ScanDirection direction, string expected)
    {
        var decision = ContentVerdicts.Decide(Scan(action), VirusScan.NothingFound, false, EngineFailMode.Open, direction);
        Assert.That(Describe(decision), Is.EqualTo(expected));
    }

    [Test]
    public void A_virus_wins_over_every_spam_action_and_over_an_engine_failure()
    {
        var virus = new VirusScan.Infected("Eicar-Test-Signature");
        Assert.Multiple(() =>
        {
            Assert.That(ContentVerdicts.Decide(Scan(SpamAction.NoAction), virus, false, EngineFailMode.Open, ScanDirection.Inbound),
                Is.EqualTo(new ContentDecision.RefuseVirus("Eicar-Test-Signature")));
            Assert.That(ContentVerdicts.Decide(null, virus, true, EngineFailMode.TempFail, ScanDirection.Outbound),
                Is.TypeOf<ContentDecision.RefuseVirus>());
        });
    }

    [Test]
    public void An_engine_failure_defers_under_TempFail_and_delivers_unscanned_under_Open()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ContentVerdicts.Decide(null, VirusScan.NothingFound, true, EngineFailMode.TempFail, ScanDirection.Inbound),
                Is.EqualTo(new ContentDecision.Defer(EngineDown: true)));
            Assert.That(ContentVerdicts.Decide(null, VirusScan.NothingFound, true, EngineFailMode.Open, ScanDirection.Inbound),
                Is.EqualTo(new ContentDecision.Deliver(false, Unscanned: true)));
            Assert.That(ContentVerdicts.Decide(Scan(SpamAction.AddHeader), null, true, EngineFailMode.Open, ScanDirection.Inbound),
                Is.EqualTo(new ContentDecision.Deliver(true, Unscanned: true)), "rspamd answered, clamd did not: its verdict still counts");
        });
    }

    [Test]
    public void The_checkv2_reply_is_parsed_with_symbols_highest_score_first()
    {
        var scan = ContentVerdicts.ParseCheckReply("""
            {"is_skipped":false,"score":6.5,"required_score":15.0,"action":"add header",
             "symbols":{"MIME_GOOD":{"name":"MIME_GOOD","score":-0.1},"BAYES_SPAM":{"name":"BAYES_SPAM","score":5.1},"RDNS_NONE":{"name":"RDNS_NONE","score":1.0}}}
            """u8);
        Assert.That((scan.Action, scan.Score, scan.RequiredScore, string.Join(",", scan.SymbolNames)),
            Is.EqualTo((SpamAction.AddHeader, 6.5, 15.0, "BAYES_SPAM,RDNS_NONE,MIME_GOOD")));
    }

    [TestCase("""{"score":1}""")]
    [TestCase("""{"action":"explode","score":1}""")]
    [TestCase("""{"action":"reject"}""")]
    [TestCase("not json")]
    public void A_reply_that_is_not_a_verdict_is_a_format_error(string body) =>
        Assert.Throws<FormatException>(() => ContentVerdicts.ParseCheckReply(Encoding.UTF8.GetBytes(body)));

    [Test]
    public void Clamd_replies_are_parsed_and_an_error_is_not_a_clean_verdict()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ContentVerdicts.ParseClamdReply("stream: OK\0"), Is.TypeOf<VirusScan.Clean>());
            Assert.That(ContentVerdicts.ParseClamdReply("stream: Eicar-Test-Signature.UNOFFICIAL FOUND\0"),
                Is.EqualTo(new VirusScan.Infected("Eicar-Test-Signature.UNOFFICIAL")));
            Assert.Throws<FormatException>(() => ContentVerdicts.ParseClamdReply("INSTREAM size limit exceeded. ERROR\0"));
        });
    }

    [Test]
    public void Incoming_verdict_fields_are_removed_with_their_continuation_lines_and_ours_go_below_the_first_field()
    {
        var message = "Received: from x by us; Sun, 6 Dec 2026 17:00:00 +0000\r\n" +
                      "X-Spam-Status: No, score=-100\r\n\ttests=FAKE\r\n" +
                      "Subject: hello\r\n" +
                      "x-spam-flag: NO\r\n" +
                      "X-Rspamd-Score: -50\r\n" +
                      "\r\n" +
                      "X-Spam-Flag: in the body stays\r\n";
        var rewritten = Encoding.ASCII.GetString(VerdictHeaders.Rewrite(Encoding.ASCII.GetBytes(message), "X-Spam-Flag: YES\r\n", out var removed));
        Assert.Multiple(() =>
        {
            Assert.That(removed, Is.EqualTo(3));
            Assert.That(rewritten, Is.EqualTo("Received: from x by us; Sun, 6 Dec 2026 17:00:00 +0000\r\n" +
                                              "X-Spam-Flag: YES\r\n" +
                                              "Subject: hello\r\n" +
                                              "\r\n" +
                                              "X-Spam-Flag: in the body stays\r\n"));
            Assert.That(VerdictHeaders.HasVerdictField(Encoding.ASCII.GetBytes(message)), Is.True);
            Assert.That(VerdictHeaders.HasVerdictField("Subject: x\r\n\r\nX-Spam-Flag: YES\r\n"u8), Is.False, "the body is not the header section");
        });
    }

    [Test]
    public void The_symbols_field_is_folded_to_78_characters()
    {
        var symbols = Enumerable.Range(0, 20).Select(i => ($"SYMBOL_NUMBER_{i}", 1.0)).ToList();
        var fields = ContentVerdicts.HeaderFields("mx.example.test", new SpamScan(SpamAction.AddHeader, 20, 15, symbols), virusScanned: true, spamVerdict: true);
        Assert.Multiple(() =>
        {
            Assert.That(fields.Split("\r\n").Select(l => l.Length), Has.All.LessThanOrEqualTo(78));
            Assert.That(fields, Does.StartWith("X-Spam-Flag: YES\r\nX-Spam-Score: 20.00 / 15.00\r\nX-Spam-Action: add header (mx.example.test)\r\n"));
            Assert.That(fields, Does.EndWith("X-Virus-Scanned: ClamAV (mx.example.test)\r\n"));
        });
    }

    private static string Describe(ContentDecision decision) => decision switch
    {
        ContentDecision.Deliver d => $"Deliver({d.Spam})",
        ContentDecision.Defer => "Defer",
        ContentDecision.RefuseSpam => "RefuseSpam",
        ContentDecision.RefuseVirus => "RefuseVirus",
        _ => decision.ToString(),
    };
}
