using System.Net;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Protocols.Smtp;
using MailServer.Rules.Directory;
using MailServer.Server.Configuration;
using MailServer.Server.Delivery;
using MailServer.Server.Dns;
using MailServer.Server.Hosting;
using MailServer.Server.MessageFlow;
using MailServer.Server.Security;
using MailServer.Storage;
using MailServer.Tests.Storage;
using MailServer.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Delivery;

/// <summary>
/// The sending path in one process, with real peers: the SMTP listener (submission with AUTH), the delivery
/// pipeline, a real store, the outbound queue worker, a loopback DNS server (MX of remote.test → 127.0.0.1) and
/// a third-party SMTP receiver (aiosmtpd) on the port Delivery.RemotePort names. Retries every second.
/// </summary>
internal sealed class SendingHarness : IAsyncDisposable, IDirectorySource
{
    public const string OrgId = "m-0123456789abcdef0123456789abcdef";
    public const string Password = "correct horse battery staple";

    private readonly CancellationTokenSource _stop = new();
    private SmtpListener _listener = null!;
    private OutboundQueueService _worker = null!;
    private MailFlowServices _flow = null!;

    public StoreHarness Store { get; private set; } = null!;
    public LoopbackDnsServer Dns { get; private set; } = null!;
    public SmtpReceiver Receiver { get; private set; } = null!;
    public ServerConfig Config { get; private set; } = null!;
    public MailDirectory Current { get; private set; } = null!;
    public OutboundQueue Queue { get; private set; } = null!;

    public static async Task<SendingHarness> StartAsync(int tempFailures = 2, string? defaultGateway = null, int gatewayPort = 0,
        int externalPerDay = 10_000, bool allowPlaintextAuth = false, TimeProvider? queueTime = null, int queueLifetimeHours = 1,
        int delayWarningHours = 4, string? flowRules = null, System.Security.Cryptography.X509Certificates.X509Certificate2? receiverCertificate = null,
        string? organizationSettings = null)
    {
        var harness = new SendingHarness();
        harness.Dns = LoopbackDnsServer.Start();
        harness.Dns.AddMx("remote.test", 10, "mx.remote.test").AddA("mx.remote.test", "127.0.0.1");
        harness.Receiver = await SmtpReceiver.StartAsync(tempFailures, certificate: receiverCertificate);
        var keys = FixedKeys.Random(OrgId);
        harness.Store = StoreHarness.Create(keys);
        // The store's master key also in the config's MasterKeyPath, as on a server: what else opens the organization's
        // key ledger from the config (the email event log) opens it with the same key.
        Directory.CreateDirectory(Path.Combine(harness.Store.Directory, "keys"));
        File.WriteAllBytes(Path.Combine(harness.Store.Directory, "keys", "example.key"), keys.GetMasterKey(OrgId));
        var hash = PasswordHasher.Hash(Password, iterations: 1000);
        var json = $$"""
            { "MailServer": {
                "ServerName": "mx.example.test",
                "DataDirectory": "{{harness.Store.Directory}}",
                "Dns": { "Servers": [ "127.0.0.1" ], "Port": {{harness.Dns.Port}} },
                "Delivery": { "RemotePort": {{harness.Receiver.Port}}, "RetryMinimumSeconds": 1, "RetryMaximumSeconds": 1, "QueueLifetimeHours": {{queueLifetimeHours}}, "DelayWarningHours": {{delayWarningHours}} },
                "Limits": { "ExternalRecipientsPerUserPerDay": {{externalPerDay}} },
                "Organizations": [ {
                  "Id": "{{OrgId}}", "Alias": "example", "MasterKeyPath": "keys/example.key",
                  "Domains": [ { "Name": "example.test", "Default": true } ],
                  "Users": [
                    { "Email": "alice@example.test", "DisplayName": "Alice", "Aliases": [ "a.liddell@example.test" ], "PasswordHash": "{{hash}}" },
                    { "Email": "bob@example.test", "DisplayName": "Bob", "PasswordHash": "{{hash}}" },
                    { "Email": "dave@example.test", "DisplayName": "Dave", "PasswordHash": "{{hash}}" },
                    { "Email": "erin@example.test", "DisplayName": "Erin", "PasswordHash": "{{hash}}" }
                  ],
                  "Groups": [ { "Email": "assistants@example.test", "Members": [ "dave@example.test" ] } ],
                  "MailboxPermissions": [
                    { "Mailbox": "alice@example.test", "Grantee": "bob@example.test", "Permissions": [ "SendAs" ] },
                    { "Mailbox": "alice@example.test", "Grantee": "assistants@example.test", "Permissions": [ "SendOnBehalf" ] }
                  ],
                  "SmtpGateways": [ { "Name": "relay", "Host": "127.0.0.1", "Port": {{(gatewayPort == 0 ? harness.Receiver.Port : gatewayPort)}}, "Security": "None" } ],
                  "DefaultSmtpGateway": {{(defaultGateway is null ? "null" : $"\"{defaultGateway}\"")}},
                  "AccessControlRules": [ { "Name": "default", "Effect": "Allow" } ]{{(flowRules is null ? "" : ",\n                  \"FlowRules\": " + flowRules)}}{{(organizationSettings is null ? "" : ",\n                  " + organizationSettings)}}
                } ]
            } }
            """;
        var loaded = ConfigLoader.Parse(json, Path.Combine(harness.Store.Directory, "appsettings.json"));
        if (loaded is not ConfigLoadResult.Ok valid)
            throw new InvalidOperationException("test config invalid: " + string.Join("; ", ((ConfigLoadResult.Invalid)loaded).Errors.Select(e => $"{e.Path}: {e.Message}")));
        harness.Config = valid.Config;
        harness.Current = valid.Config.ToDirectory();

        // The mail-flow core composed as the server composes it; the queue worker runs on its own clock.
        harness._flow = MailFlowServices.Create(valid.Config, harness.Store.Store, valid.Config.Dns, queueTime);
        var pipeline = harness._flow.Get<IMessageDelivery>();
        harness.Queue = harness._flow.Get<OutboundQueue>();
        harness._worker = new OutboundQueueService(harness.Queue, harness.Store.Store, NullLogger<OutboundQueueService>.Instance);
        await harness._worker.StartAsync(CancellationToken.None);

        var options = new SmtpListenerOptions("mx.example.test",
            [
                new SmtpEndpointOptions(SmtpListenerKind.Mx, IPAddress.Loopback, 0),
                new SmtpEndpointOptions(SmtpListenerKind.Submission, IPAddress.Loopback, 0),
                new SmtpEndpointOptions(SmtpListenerKind.Submissions, IPAddress.Loopback, 0),
            ],
            TestCertificates.Provider, allowPlaintextAuth, valid.Config.Limits.ToSmtpLimits());
        var credentials = new CredentialValidator(harness, new PasswordHasher(), throttle: new LoginThrottleOptions(TimeSpan.Zero, TimeSpan.Zero, 100, TimeSpan.FromMinutes(1)));
        harness._listener = new SmtpListener(options, harness, pipeline, NullLogger<SmtpListener>.Instance, credentials: credentials);
        await harness._listener.StartAsync(CancellationToken.None);
        return harness;
    }

    /// <summary>The mail-flow core's services (the event log, the ledgers), as the server composes them.</summary>
    public MailFlowServices Flow => _flow;

    /// <summary>The daily aggregate report sender (TLS-RPT, DMARC), as the server composes it.</summary>
    public MailServer.Server.Reports.AggregateReportSender Reports => _flow.Get<MailServer.Server.Reports.AggregateReportSender>();

    public int PortOf(SmtpListenerKind kind) => _listener.BoundEndpoints.Single(e => e.Kind == kind).EndPoint.Port;

    /// <summary>A MailKit client logged in on submission (STARTTLS) as <paramref name="user"/>.</summary>
    public async Task<SmtpClient> SubmitClientAsync(string user)
    {
        var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", PortOf(SmtpListenerKind.Submission), SecureSocketOptions.StartTls);
        await client.AuthenticateAsync(user, Password);
        return client;
    }

    public static MimeMessage Message(string from, params string[] to)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        foreach (var address in to)
            message.To.Add(MailboxAddress.Parse(address));
        message.Subject = "hello " + Guid.NewGuid().ToString("N");
        message.Body = new TextPart("plain") { Text = "Hello from the sending tests.\r\n" };
        return message;
    }

    /// <summary>The messages in a user's Inbox, parsed.</summary>
    public async Task<IReadOnlyList<MimeMessage>> InboxAsync(string user)
    {
        var store = Store.Store;
        if (store.FindMailbox(OrgId, user) is not { } mailbox)
            return [];
        var inbox = store.FindFolder(mailbox.MailboxId, WellKnownFolders.Inbox)!;
        var result = new List<MimeMessage>();
        foreach (var meta in store.ListMessages(inbox.FolderId))
        {
            using var stream = new MemoryStream(await store.ReadMessageAsync(mailbox.MailboxId, meta.EntryId, CancellationToken.None));
            result.Add(await MimeMessage.LoadAsync(stream));
        }
        return result;
    }

    /// <summary>Waits until <paramref name="user"/>'s Inbox holds at least <paramref name="count"/> messages.</summary>
    public async Task<IReadOnlyList<MimeMessage>> WaitForInboxAsync(string user, int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var inbox = await InboxAsync(user);
            if (inbox.Count >= count)
                return inbox;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{user} has {inbox.Count} of {count} message(s)");
            await Task.Delay(50);
        }
    }

    /// <summary>Waits until the outbound queue is empty.</summary>
    public async Task WaitForEmptyQueueAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Store.Store.ListQueue().Count > 0)
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail("the queue did not empty: " + string.Join("; ", Store.Store.ListQueue().SelectMany(m => m.Envelope.Recipients).Select(r => $"{r.Address} {r.State} {r.Attempts} {r.LastError}")));
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _listener.DisposeAsync();
        await _worker.StopAsync(CancellationToken.None);
        _worker.Dispose();
        await _flow.DisposeAsync();
        await Store.DisposeAsync();
        await Receiver.DisposeAsync();
        await Dns.DisposeAsync();
        _stop.Dispose();
    }
}
