using System.Net;
using System.Text;
using MailServer.Protocols.Smtp;
using MailServer.Rules.Directory;
using MailServer.Rules.SenderAuthentication;
using MailServer.Server.Configuration;
using MailServer.Server.Dns;
using MailServer.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Smtp;

/// <summary>
/// The inbound hook at the end of DATA, in process, with the server's resolver against the loopback DNS server:
/// each organization of a transaction applies its own Dmarc.Enforce, the verdict travels on the transaction, and
/// only the MX listener authenticates.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class SenderAuthenticationHookTests
{
    private static readonly DirectoryOrganization Enforcing = new("m-0123456789abcdef0123456789abcdef", "example", ["example.test"], "example.test");
    private static readonly DirectoryOrganization Lenient = new("m-fedcba9876543210fedcba9876543210", "other", ["other.test"], "other.test");

    private LoopbackDnsServer _dns = null!;
    private SmtpListener _listener = null!;
    private RecordingDelivery _delivery = null!;

    private sealed class Directory(MailDirectory current) : IDirectorySource
    {
        public MailDirectory Current => current;
    }

    private sealed class Enforcement : IDmarcEnforcementSource
    {
        public bool IsEnforced(string organizationId) => organizationId == Enforcing.Id;
    }

    [SetUp]
    public async Task Start()
    {
        _dns = LoopbackDnsServer.Start()
            .AddTxt("reject.test", "v=spf1 -all").AddTxt("_dmarc.reject.test", "v=DMARC1; p=reject")
            .AddTxt("quarantine.test", "v=spf1 -all").AddTxt("_dmarc.quarantine.test", "v=DMARC1; p=quarantine");
        DirectoryUser User(DirectoryOrganization org, string name) => new(org.Id, $"{name}@{org.DefaultDomain}", name, [], null, true, 1L << 30);
        var directory = MailDirectory.Build([Enforcing, Lenient], [User(Enforcing, "alice"), User(Lenient, "bob")], []);
        _delivery = new RecordingDelivery();
        var resolver = new DnsResolver(new DnsConfig([_dns.Address], _dns.Port, 2));
        var options = new SmtpListenerOptions("mx.example.test",
            [new SmtpEndpointOptions(SmtpListenerKind.Mx, IPAddress.Loopback, 0), new SmtpEndpointOptions(SmtpListenerKind.Submission, IPAddress.Loopback, 0)],
            TestCertificates.Localhost, AllowPlaintextAuth: false, new SmtpLimits());
        _listener = new SmtpListener(options, new Directory(directory), _delivery, NullLogger<SmtpListener>.Instance,
            authentication: new InboundAuthenticationOptions(new SenderAuthenticator(resolver, "mx.example.test"), new Enforcement()));
        await _listener.StartAsync(CancellationToken.None);
    }

    [TearDown]
    public async Task Stop()
    {
        await _listener.DisposeAsync();
        await _dns.DisposeAsync();
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

        var delivered = _delivery.Deliveries.Single();
        var authentication = delivered.Transaction.Authentication!;
        Assert.Multiple(() =>
        {
            Assert.That(delivered.Transaction.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "bob@other.test" }));
            Assert.That(authentication.DispositionFor(Enforcing.Id), Is.EqualTo(DmarcDisposition.Reject));
            Assert.That(authentication.DispositionFor(Lenient.Id), Is.EqualTo(DmarcDisposition.Deliver));
            Assert.That(authentication.PolicyApplied, Is.True);
            Assert.That(authentication.Verdict.DmarcVerdictName, Is.EqualTo("FAIL"));
            Assert.That(authentication.Verdict.DmarcPolicyName, Is.EqualTo("REJECT"));
            Assert.That(authentication.Verdict.SpfVerdictName, Is.EqualTo("FAIL"));
            Assert.That(delivered.Text, Does.StartWith("Received: "));
            Assert.That(delivered.Text, Does.Contain("\r\nAuthentication-Results: mx.example.test;\r\n\tspf=fail smtp.mailfrom=x@reject.test;"));
        });
    }

    [Test]
    public async Task Reject_for_every_recipient_is_a_550_in_the_session()
    {
        var replies = await SendAsync(SmtpListenerKind.Mx, "x@reject.test", "alice@example.test");
        Assert.That(replies[^1].Code, Is.EqualTo(550));
        Assert.That(replies[^1].Text, Does.StartWith("5.7.1 Message rejected: DMARC policy of reject.test says reject"));
        Assert.That(_delivery.Deliveries, Is.Empty);
        // The refusal still reaches the delivery side for the event log (DMARC_POLICY_APPLIED), verdicts attached.
        var refused = _delivery.Refusals.Single();
        Assert.That(refused.Recipients.Select(r => r.Address), Is.EqualTo(new[] { "alice@example.test" }));
        Assert.That(refused.Authentication?.DispositionFor(Enforcing.Id), Is.EqualTo(DmarcDisposition.Reject));
    }

    [Test]
    public async Task Quarantine_marks_only_the_enforcing_organization()
    {
        var replies = await SendAsync(SmtpListenerKind.Mx, "x@quarantine.test", "alice@example.test", "bob@other.test");
        Assert.That(replies[^1].Code, Is.EqualTo(250));
        var authentication = _delivery.Deliveries.Single().Transaction.Authentication!;
        Assert.Multiple(() =>
        {
            Assert.That(authentication.IsQuarantined(Enforcing.Id), Is.True);
            Assert.That(authentication.IsQuarantined(Lenient.Id), Is.False);
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
            Assert.That(_delivery.Deliveries, Is.Empty);
        });
    }
}
