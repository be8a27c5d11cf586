using System.Net;
using System.Text;
using MailServer.Protocols.Smtp;
using MailServer.Storage;
using MailServer.Tests.Storage;
using MailServer.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Smtp;

/// <summary>
/// Sender authentication, the mail flow's first stage for MX mail, in process: the real SMTP listener in front of the
/// core as the server composes it, the server's resolver against the loopback DNS server. Each organization of a
/// transaction applies its own Dmarc.Enforce; only the MX listener authenticates; what the user sees is read back
/// from the store.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class SenderAuthenticationHookTests
{
    private const string Enforcing = "m-0123456789abcdef0123456789abcdef";
    private const string Lenient = "m-fedcba9876543210fedcba9876543210";

    private LoopbackDnsServer _dns = null!;
    private StoreHarness _store = null!;
    private MailFlowServices _flow = null!;
    private SmtpListener _listener = null!;

    [SetUp]
    public async Task Start()
    {
        _dns = LoopbackDnsServer.Start()
            .AddTxt("reject.test", "v=spf1 -all").AddTxt("_dmarc.reject.test", "v=DMARC1; p=reject")
            .AddTxt("quarantine.test", "v=spf1 -all").AddTxt("_dmarc.quarantine.test", "v=DMARC1; p=quarantine");
        _store = StoreHarness.Create(FixedKeys.Random(Enforcing, Lenient));
        var config = TestConfig.Create().DataDirectory(_store.Directory).Dns(_dns)
            .Organization(Enforcing, "example", "example.test", o => o.User("alice"))
            .Organization(Lenient, "other", "other.test", o => o.User("bob").EnforceDmarc(false))
            .Build();
        _flow = MailFlowServices.Create(config, _store.Store, config.Dns);
        var options = new SmtpListenerOptions("mx.example.test",
            [new SmtpEndpointOptions(SmtpListenerKind.Mx, IPAddress.Loopback, 0), new SmtpEndpointOptions(SmtpListenerKind.Submission, IPAddress.Loopback, 0)],
            TestCertificates.Provider, AllowPlaintextAuth: false, new SmtpLimits());
        _listener = new SmtpListener(options, _flow, _flow.Get<IMessageDelivery>(), NullLogger<SmtpListener>.Instance);
        await _listener.StartAsync(CancellationToken.None);
    }

    [TearDown]
    public async Task Stop()
    {
        await _listener.DisposeAsync();
        await _flow.DisposeAsync();
        await _store.DisposeAsync();
        await _dns.DisposeAsync();
    }

    /// <summary>The messages in one folder of a user's mailbox, as text.</summary>
    private async Task<List<string>> FolderAsync(string organizationId, string user, string folder)
    {
        var store = _store.Store;
        if (store.FindMailbox(organizationId, user) is not { } mailbox || store.FindFolder(mailbox.MailboxId, folder) is not { } found)
            return [];
        var texts = new List<string>();
        foreach (var meta in store.ListMessages(found.FolderId))
            texts.Add(Encoding.ASCII.GetString(await store.ReadMessageAsync(mailbox.MailboxId, meta.EntryId, CancellationToken.None)));
        return texts;
    }

    private async Task<List<SmtpLineReply>> SendAsync(SmtpListenerKind kind, string from, params string[] recipients)
    {
        var endPoint = _listener.BoundEndpoints.Single(e => e.Kind == kind).EndPoint;
        var (client, _) = await SmtpLineClient.OpenAsync(endPoint);
        await using var _client = client;
        var replies = new List<SmtpLineReply> { await client.CommandAsync("EHLO client.example.net"), await client.CommandAsync($"MAIL FROM:<{from}>") };
        foreach (var recipient in recipients)
            replies.Add(await client.CommandAsync($"RCPT TO:<{recipient}>"));
        replies.Add(await client.CommandAsync("DATA"));
        await client.SendRawAsync(Encoding.ASCII.GetBytes(
            $"From: <{from}>\r\nTo: {string.Join(", ", recipients)}\r\nSubject: hook\r\nMessage-ID: <hook@x.test>\r\n\r\nbody\r\n.\r\n"));
        replies.Add(await client.ReadReplyAsync());
        return replies;
    }

    [Test]
    public async Task Reject_refuses_only_the_enforcing_organizations_recipients()
    {
        var replies = await SendAsync(SmtpListenerKind.Mx, "x@reject.test", "alice@example.test", "bob@other.test");
        Assert.That(replies.Select(r => r.Code), Is.EqualTo(new[] { 250, 250, 250, 250, 354, 250 }), string.Join("\n", replies));

        var bobs = await FolderAsync(Lenient, "bob@other.test", WellKnownFolders.Inbox);
        Assert.Multiple(async () =>
        {
            Assert.That(await FolderAsync(Enforcing, "alice@example.test", WellKnownFolders.Inbox), Is.Empty, "the enforcing organization refused it");
            Assert.That(bobs, Has.Count.EqualTo(1), "the lenient organization delivers it as usual");
            Assert.That(bobs[0], Does.StartWith("Received: "));
            Assert.That(bobs[0], Does.Contain("\r\nAuthentication-Results: mx.example.test;\r\n\tspf=fail smtp.mailfrom=x@reject.test;"));
            Assert.That(bobs[0], Does.Contain("dmarc=fail (p=REJECT dis=REJECT)"));
        });
    }

    [Test]
    public async Task Reject_for_every_recipient_is_a_550_in_the_session()
    {
        var replies = await SendAsync(SmtpListenerKind.Mx, "x@reject.test", "alice@example.test");
        Assert.That(replies[^1].Code, Is.EqualTo(550));
        Assert.That(replies[^1].Text, Does.StartWith("5.7.1 Message rejected: DMARC policy of reject.test says reject"));
        Assert.That(await FolderAsync(Enforcing, "alice@example.test", WellKnownFolders.Inbox), Is.Empty);
    }

    [Test]
    public async Task Quarantine_sends_only_the_enforcing_organizations_copy_to_junk()
    {
        var replies = await SendAsync(SmtpListenerKind.Mx, "x@quarantine.test", "alice@example.test", "bob@other.test");
        Assert.That(replies[^1].Code, Is.EqualTo(250));
        Assert.Multiple(async () =>
        {
            Assert.That(await FolderAsync(Enforcing, "alice@example.test", WellKnownFolders.JunkEmail), Has.Count.EqualTo(1));
            Assert.That(await FolderAsync(Enforcing, "alice@example.test", WellKnownFolders.Inbox), Is.Empty);
            Assert.That(await FolderAsync(Lenient, "bob@other.test", WellKnownFolders.Inbox), Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task Submission_listener_refuses_unauthenticated_senders_before_any_check()
    {
        // Submitted mail is the user's own (AUTH first); sender authentication is for the MX listener only.
        // SendingEndToEndTests checks that authenticated submissions leave without Authentication-Results.
        var replies = await SendAsync(SmtpListenerKind.Submission, "x@reject.test", "alice@example.test");
        Assert.Multiple(() =>
        {
            Assert.That(replies.Any(r => r.Code == 530), Is.True, string.Join(" | ", replies.Select(r => $"{r.Code} {r.Text}")));
            Assert.That(_store.Store.FindMailbox(Enforcing, "alice@example.test"), Is.Null, "nothing was delivered");
        });
    }
}
