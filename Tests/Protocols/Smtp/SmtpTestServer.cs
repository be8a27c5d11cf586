using NUnit.Framework;
using System.Collections.Concurrent;
using System.Net;
using MailServer.Protocols.Smtp;
using MailServer.Rules.Directory;
using MailServer.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace MailServer.Tests.Protocols.Smtp;

/// <summary>What the in-test delivery received: the transaction and the exact bytes.</summary>
public sealed record RecordedDelivery(SmtpTransaction Transaction, byte[] Message)
{
    public string Text => System.Text.Encoding.UTF8.GetString(Message);
    public IEnumerable<string> Mailboxes => Transaction.Recipients.SelectMany(r => r.Mailboxes).Select(u => u.Email);
}

/// <summary>
/// Protocol-level delivery double: records every delivery in memory and answers Delivered for each
/// recipient, unless a test makes it throw, hold, or report a user without room.
/// </summary>
public sealed class RecordingDelivery : IMessageDelivery
{
    public ConcurrentQueue<RecordedDelivery> Deliveries { get; } = new();
    public HashSet<string> FullMailboxes { get; } = new(StringComparer.OrdinalIgnoreCase);
    public Exception? ThrowOnce { get; set; }

    /// <summary>When set, DeliverAsync signals <see cref="Entered"/> and waits for this before returning.</summary>
    public TaskCompletionSource? Hold { get; set; }
    public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<TransactionOutcome> DeliverAsync(SmtpTransaction transaction, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        if (ThrowOnce is { } failure)
        {
            ThrowOnce = null;
            throw failure;
        }
        if (Hold is { } hold)
        {
            Entered.TrySetResult();
            await hold.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        }
        Deliveries.Enqueue(new RecordedDelivery(transaction, message.ToArray()));
        return new TransactionOutcome(transaction.Recipients.Select(r => (r, (DeliveryOutcome)new DeliveryOutcome.Delivered())).ToList());
    }

    /// <summary>When set, the quota check throws it (a store fault at RCPT).</summary>
    public Exception? HasRoomThrows { get; set; }

    public bool HasRoom(DirectoryUser user) => HasRoomThrows is { } fault ? throw fault : !FullMailboxes.Contains(user.Email);

    /// <summary>External recipients counted per user today (tests set it to reach the daily limit).</summary>
    public ConcurrentDictionary<string, long> ExternalToday { get; } = new(StringComparer.OrdinalIgnoreCase);

    public long ExternalRecipientsToday(DirectoryUser user) => ExternalToday.GetValueOrDefault(user.Email);

    /// <summary>Transactions of recipients refused before delivery (DMARC reject), as reported.</summary>
    public ConcurrentQueue<SmtpTransaction> Refusals { get; } = new();

    public Task RecordRefusalAsync(SmtpTransaction refused, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        Refusals.Enqueue(refused);
        return Task.CompletedTask;
    }
}

/// <summary>A real <see cref="SmtpListener"/> on a loopback ephemeral port with the example.test directory.</summary>
public sealed class SmtpTestServer : IAsyncDisposable, IDirectorySource
{
    private SmtpTestServer(SmtpListener listener, RecordingDelivery delivery, MailDirectory directory)
    {
        Listener = listener;
        Delivery = delivery;
        Current = directory;
    }

    public SmtpListener Listener { get; }
    public RecordingDelivery Delivery { get; }
    public MailDirectory Current { get; }
    public IPEndPoint Mx => EndPointOf(SmtpListenerKind.Mx);

    public IPEndPoint EndPointOf(SmtpListenerKind kind) => Listener.BoundEndpoints.Single(e => e.Kind == kind).EndPoint;

    public static async Task<SmtpTestServer> StartAsync(SmtpLimits? limits = null, Microsoft.Extensions.Logging.ILogger<SmtpListener>? logger = null,
        MailServer.Protocols.Authentication.ICredentialValidator? credentials = null, string? spoolDirectory = null)
    {
        var org = new DirectoryOrganization("m-0123456789abcdef0123456789abcdef", "example", ["example.test"], "example.test");
        DirectoryUser User(string name, bool enabled = true) =>
            new(org.Id, $"{name}@example.test", name, [], null, enabled, 50L * 1024 * 1024 * 1024);
        var directory = MailDirectory.Build(
            [org],
            [User("alice"), User("bob"), User("carol", enabled: false), User("dave")],
            [new DirectoryGroup(org.Id, "team@example.test", [], ["alice@example.test", "bob@example.test"])],
            [new DirectoryPermission("alice@example.test", "dave@example.test", MailboxRights.SendOnBehalf)]);
        var delivery = new RecordingDelivery();
        var options = new SmtpListenerOptions(
            "mx.example.test",
            [
                new SmtpEndpointOptions(SmtpListenerKind.Mx, IPAddress.Loopback, 0),
                new SmtpEndpointOptions(SmtpListenerKind.Submission, IPAddress.Loopback, 0),
                new SmtpEndpointOptions(SmtpListenerKind.Submissions, IPAddress.Loopback, 0),
            ],
            TestCertificates.Provider,
            AllowPlaintextAuth: false,
            limits ?? new SmtpLimits());
        if (spoolDirectory is not null)
            options = options with { SpoolDirectory = spoolDirectory };
        SmtpTestServer? server = null;
        var source = new DirectorySourceProxy(() => server!.Current);
        var listener = new SmtpListener(options, source, delivery, logger ?? NullLogger<SmtpListener>.Instance, credentials: credentials);
        server = new SmtpTestServer(listener, delivery, directory);
        await listener.StartAsync(CancellationToken.None);
        return server;
    }

    /// <summary>Opens a raw client, reads the greeting and says EHLO.</summary>
    public async Task<SmtpLineClient> OpenEhloAsync()
    {
        var (client, greeting) = await SmtpLineClient.OpenAsync(Mx);
        Assert.That(greeting.Code, Is.EqualTo(220));
        Assert.That((await client.CommandAsync("EHLO client.example.net")).Code, Is.EqualTo(250));
        return client;
    }

    public ValueTask DisposeAsync() => Listener.DisposeAsync();

    private sealed class DirectorySourceProxy(Func<MailDirectory> current) : IDirectorySource
    {
        public MailDirectory Current => current();
    }
}

/// <summary>Credentials for protocol tests: every enabled user's password is "pw-" plus its local part.</summary>
public sealed class FixedPasswords(Func<MailDirectory> directory) : MailServer.Protocols.Authentication.ICredentialValidator
{
    public Task<MailServer.Protocols.Authentication.LoginResult> ValidateAsync(string userName, string password, IPAddress remoteAddress,
        MailServer.Protocols.Authentication.LoginProtocol protocol, CancellationToken cancellationToken) =>
        Task.FromResult<MailServer.Protocols.Authentication.LoginResult>(
            directory().FindUser(userName) is { Enabled: true } user && password == "pw-" + user.Email.Split('@')[0]
                ? new MailServer.Protocols.Authentication.LoginResult.Success(user)
                : new MailServer.Protocols.Authentication.LoginResult.InvalidCredentials());
}
