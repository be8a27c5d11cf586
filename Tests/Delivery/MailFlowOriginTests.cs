using System.Net;
using System.Text;
using MailServer.Rules.Directory;
using MailServer.Server.Delivery;
using MailServer.Server.MailFlow;
using MailServer.Server.MailFlow.Stages;
using MailServer.Storage;
using MailServer.Tests.Storage;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Delivery;

/// <summary>
/// Every origin enters the mail flow through the one door and takes the stages the table gives it: the core composed
/// in process as the server composes it, a real store, messages read back from the mailboxes.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class MailFlowOriginTests
{
    private const string Org = "m-0123456789abcdef0123456789abcdef";
    private StoreHarness _store = null!;
    private LoopbackDnsServer _dns = null!;
    private MailFlowServices _flow = null!;

    [SetUp]
    public void Start()
    {
        _dns = LoopbackDnsServer.Start();
        _store = StoreHarness.Create(FixedKeys.Random(Org));
        // Alice files every message with a sender into "Filed"; journaling records every message to bob.
        var config = TestConfig.Create().DataDirectory(_store.Directory).Dns(_dns)
            .Organization(Org, "example", "example.test", o => o
                .User("alice").MailboxRule("file-all", "@", """{ "Type": "Move", "Folder": "Filed" }""")
                .User("bob")
                .Journaling("bob@example.test", "bob@example.test"))
            .Build();
        _flow = MailFlowServices.Create(config, _store.Store, config.Dns);
    }

    [TearDown]
    public async Task Stop()
    {
        await _flow.DisposeAsync();
        await _store.DisposeAsync();
        await _dns.DisposeAsync();
    }

    private FlowRecipient Local(string address) => new(address, _flow.Current.Resolve(address));

    private async Task<List<string>> FolderAsync(string user, string folder)
    {
        var store = _store.Store;
        if (store.FindMailbox(Org, user) is not { } mailbox || store.FindFolder(mailbox.MailboxId, folder) is not { } found)
            return [];
        var texts = new List<string>();
        foreach (var meta in store.ListMessages(found.FolderId))
            texts.Add(Encoding.ASCII.GetString(await store.ReadMessageAsync(mailbox.MailboxId, meta.EntryId, CancellationToken.None)));
        return texts;
    }

    private static byte[] Message(string from, string subject) =>
        Encoding.ASCII.GetBytes($"From: <{from}>\r\nTo: <alice@example.test>\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@x.test>\r\n\r\nHello.\r\n");

    [Test]
    public void The_stage_table_gives_each_origin_its_stages_in_the_one_order()
    {
        var stages = _flow.Get<MailFlowStages>();
        string[] Names(MessageOrigin origin) => stages.For(origin).Select(s => s.GetType().Name.Replace("Stage", "")).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(Names(MessageOrigin.Mx), Is.EqualTo(new[] { "SenderAuthentication", "ContentFilter", "FlowRules", "FolderPrecedence",
                "Delivery", "BounceNotice", "Journaling", "MailboxRuleActions" }));
            Assert.That(Names(MessageOrigin.Submission), Is.EqualTo(new[] { "SendingRights", "ContentFilter", "FlowRules", "FolderPrecedence",
                "DkimSigning", "Delivery", "BounceNotice", "Journaling", "MailboxRuleActions" }));
            foreach (var sent in new[] { MessageOrigin.MailboxRuleForward, MessageOrigin.MailboxRuleRedirect })
                Assert.That(Names(sent), Is.EqualTo(new[] { "ContentFilter", "FlowRules", "FolderPrecedence", "DkimSigning",
                    "Delivery", "BounceNotice", "Journaling", "MailboxRuleActions" }), sent.ToString());
            Assert.That(Names(MessageOrigin.HeldHookRelease), Is.EqualTo(new[] { "FlowRules", "FolderPrecedence", "DkimSigning",
                "Delivery", "BounceNotice", "Journaling", "MailboxRuleActions" }));
            Assert.That(Names(MessageOrigin.DeliveryStatusNotification), Is.EqualTo(new[] { "FolderPrecedence", "Delivery" }));
            Assert.That(Names(MessageOrigin.JournalReport), Is.EqualTo(new[] { "FolderPrecedence", "Delivery" }));
        });
    }

    [Test]
    public async Task Mail_from_outside_runs_the_users_mailbox_rules_and_is_journaled_once()
    {
        var message = new MailFlowMessage(MessageOrigin.Mx, "x@elsewhere.test", [Local("alice@example.test")], Message("x@elsewhere.test", "from outside"),
            DateTimeOffset.UtcNow) { Client = new SmtpClientInfo("s1", new IPEndPoint(IPAddress.Loopback, 40000), "client.test", Secure: false) };

        var result = await _flow.Get<IMailFlowDoor>().AcceptAsync(message, CancellationToken.None);

        Assert.That(result.Recipients.Single().Outcome, Is.TypeOf<RecipientOutcome.Accepted>());
        Assert.That(await FolderAsync("alice@example.test", "Filed"), Has.Count.EqualTo(1), "her rule moved it");
        Assert.That(await FolderAsync("alice@example.test", WellKnownFolders.Inbox), Is.Empty);
        var journal = await FolderAsync("bob@example.test", WellKnownFolders.Inbox);
        Assert.That(journal, Has.Count.EqualTo(1), "one journal record, itself not journaled");
        Assert.That(journal[0], Does.Contain("from outside"));
    }

    [Test]
    public async Task A_DSN_goes_to_the_Inbox_past_the_users_mailbox_rules_and_is_not_journaled()
    {
        var envelope = new OutboundEnvelope(Org, "alice@example.test", "alice@example.test", DateTimeOffset.UtcNow, null, null, []);
        var sent = await _flow.Get<DsnSender>().SendAsync("q1", envelope,
            [new DsnRecipient("nobody@remote.test", null, DsnAction.Failed, "5.1.1", "no such user", null, DateTimeOffset.UtcNow)],
            Message("x@elsewhere.test", "the original"), CancellationToken.None);

        Assert.That(sent, Is.True);
        var inbox = await FolderAsync("alice@example.test", WellKnownFolders.Inbox);
        Assert.That(inbox, Has.Count.EqualTo(1), "a DSN is exempt from mailbox rules (her rule matches any sender)");
        Assert.That(inbox[0], Does.Contain("multipart/report"));
        Assert.That(await FolderAsync("bob@example.test", WellKnownFolders.Inbox), Is.Empty, "the server's own notices are not journaled");
    }
}
