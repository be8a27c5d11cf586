using MailServer.Rules.MailboxRules;
using NUnit.Framework;
using C = MailServer.Rules.MailboxRules.MailboxRuleCondition;
using A = MailServer.Rules.MailboxRules.MailboxRuleAction;

namespace MailServer.Tests.Rules.MailboxRules;

/// <summary>Per-user MAILBOX_RULE rules: AND of conditions, actions in order, Delete and Move, loop protection.</summary>
[TestFixture]
public sealed class MailboxRuleSetTests
{
    private static MailboxRuleMessage Message(string subject = "Weekly news", string from = "News <news@list.test>",
        params KeyValuePair<string, string>[] headers) =>
        new("alice@example.test", "alice@example.test", [from], ["team@example.test"], subject,
            [new("Subject", subject), new("List-Id", "<weekly.list.test>"), .. headers]);

    private static MailboxRuleSet Set(params MailboxRuleDefinition[] rules)
    {
        var errors = new List<MailboxRuleError>();
        var set = MailboxRuleSet.Compile(rules, errors);
        Assert.That(errors, Is.Empty);
        return set!;
    }

    public static IEnumerable<TestCaseData> Conditions()
    {
        yield return new TestCaseData(new C.SenderContains("NEWS@"), true).SetName("Sender contains, any case");
        yield return new TestCaseData(new C.SenderContains("boss@"), false).SetName("Sender does not contain");
        yield return new TestCaseData(new C.RecipientContains("team@"), true).SetName("Recipient header contains");
        yield return new TestCaseData(new C.RecipientContains("alice@"), true).SetName("Envelope recipient contains");
        yield return new TestCaseData(new C.RecipientContains("bob@"), false).SetName("Recipient does not contain");
        yield return new TestCaseData(new C.SubjectContains("weekly"), true).SetName("Subject contains");
        yield return new TestCaseData(new C.SubjectContains("monthly"), false).SetName("Subject does not contain");
        yield return new TestCaseData(new C.HeaderContains("list-id", "weekly.list"), true).SetName("Header contains");
        yield return new TestCaseData(new C.HeaderContains("List-Id", "daily"), false).SetName("Header value differs");
        yield return new TestCaseData(new C.HeaderContains("X-Other", "weekly"), false).SetName("Header absent");
    }

    [TestCaseSource(nameof(Conditions))]
    public void Condition(MailboxRuleCondition condition, bool holds)
    {
        var outcome = Set(new MailboxRuleDefinition("r", [condition], [new A.Move("News")])).Evaluate(Message(), "Inbox");
        Assert.That(outcome.Folder, Is.EqualTo(holds ? "News" : "Inbox"));
        Assert.That(outcome.Applied, holds ? Has.Count.EqualTo(1) : Is.Empty);
    }

    [Test]
    public void All_conditions_must_hold()
    {
        var set = Set(new MailboxRuleDefinition("r", [new C.SenderContains("news@"), new C.SubjectContains("monthly")], [new A.Move("News")]));
        Assert.That(set.Evaluate(Message(), "Inbox").Folder, Is.EqualTo("Inbox"));
    }

    [Test]
    public void Every_matching_rule_applies_in_order_last_move_wins_copies_and_mark_read_accumulate()
    {
        var set = Set(
            new MailboxRuleDefinition("file", [new C.SenderContains("news@")], [new A.Move("News"), new A.Copy("Archive")]),
            new MailboxRuleDefinition("refile", [new C.SubjectContains("weekly")], [new A.Move("Weekly"), new A.MarkRead(), new A.Copy("Weekly")]),
            new MailboxRuleDefinition("nope", [new C.SubjectContains("zzz")], [new A.Delete()]));
        var o = set.Evaluate(Message(), "Inbox");
        Assert.Multiple(() =>
        {
            Assert.That(o.Folder, Is.EqualTo("Weekly"));
            Assert.That(o.CopyFolders, Is.EqualTo(new[] { "Archive" }), "a copy into the target folder itself is not made");
            Assert.That(o.MarkRead, Is.True);
            Assert.That(o.Applied.Select(a => a.RuleName), Is.EqualTo(new[] { "file", "refile" }));
        });
    }

    [Test]
    public void Stop_processing_ends_the_run()
    {
        var set = Set(
            new MailboxRuleDefinition("first", [new C.SenderContains("news@")], [new A.Move("News")], StopProcessingRules: true),
            new MailboxRuleDefinition("second", [new C.SubjectContains("weekly")], [new A.Move("Weekly")]));
        Assert.That(set.Evaluate(Message(), "Inbox").Folder, Is.EqualTo("News"));
    }

    [Test]
    public void Delete_files_in_Deleted_Items_whatever_the_move()
    {
        var set = Set(new MailboxRuleDefinition("r", [new C.SenderContains("news@")], [new A.Delete(), new A.Move("News")]));
        Assert.That(set.Evaluate(Message(), "Junk E-mail").Folder, Is.EqualTo("Deleted Items"));
    }

    [Test]
    public void Forward_and_redirect_are_listed_without_the_mailbox_itself()
    {
        var set = Set(new MailboxRuleDefinition("r", [new C.SenderContains("news@")],
            [new A.Forward("Bob@Example.test"), new A.Redirect("carol@else.test"), new A.Forward("alice@example.test")]));
        var o = set.Evaluate(Message(), "Inbox");
        Assert.Multiple(() =>
        {
            Assert.That(o.ForwardTo, Is.EqualTo(new[] { "bob@example.test" }));
            Assert.That(o.RedirectTo, Is.EqualTo(new[] { "carol@else.test" }));
            Assert.That(o.LoopSuppressed, Is.False);
            Assert.That(o.Folder, Is.EqualTo("Inbox"), "a forward still keeps the message");
        });
    }

    [Test]
    public void A_message_this_mailbox_already_forwarded_is_not_forwarded_again()
    {
        var set = Set(new MailboxRuleDefinition("r", [new C.SenderContains("news@")], [new A.Forward("bob@example.test")]));
        var o = set.Evaluate(Message(headers: new KeyValuePair<string, string>(MailboxRuleSet.LoopHeader, "alice@example.test")), "Inbox");
        Assert.That((o.ForwardTo.Count, o.LoopSuppressed), Is.EqualTo((0, true)));
    }

    [Test]
    public void A_message_forwarded_five_times_is_not_forwarded_again()
    {
        var set = Set(new MailboxRuleDefinition("r", [new C.SenderContains("news@")], [new A.Redirect("bob@example.test")]));
        var hops = Enumerable.Range(0, 5).Select(i => new KeyValuePair<string, string>(MailboxRuleSet.LoopHeader, $"u{i}@example.test")).ToArray();
        var four = set.Evaluate(Message(headers: hops[..4]), "Inbox");
        var five = set.Evaluate(Message(headers: hops), "Inbox");
        Assert.That((four.RedirectTo.Count, five.RedirectTo.Count, five.LoopSuppressed), Is.EqualTo((1, 0, true)));
    }

    [Test]
    public void Invalid_rules_are_reported_with_paths()
    {
        var errors = new List<MailboxRuleError>();
        var set = MailboxRuleSet.Compile([
            new MailboxRuleDefinition("a", [], [new A.MarkRead()]),
            new MailboxRuleDefinition("a", [new C.SubjectContains("")], []),
            new MailboxRuleDefinition("c", [new C.HeaderContains(" ", "x")], [new A.Forward("not-an-address"), new A.Move(" ")]),
        ], errors);
        Assert.That(set, Is.Null);
        Assert.That(errors.Select(e => e.Path), Is.EquivalentTo(new[]
        {
            "[0].Conditions", "[1].Name", "[1].Actions", "[1].Conditions[0].Contains", "[2].Conditions[0].Header", "[2].Actions[0].To", "[2].Actions[1].Folder",
        }));
    }
}
