using System.Net;
using MailKit.Net.Imap;
using MailKit.Security;
using MailServer.Protocols.Imap;
using MailServer.Rules.Directory;
using MailServer.Server.Security;
using MailServer.Storage;
using MailServer.Tests.Storage;
using MailServer.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

/// <summary>
/// A real <see cref="ImapListener"/> on loopback ephemeral ports over a real file-backed <see cref="MailStore"/> in a
/// temp folder and a real <see cref="CredentialValidator"/> over an example.test directory.
/// Users: alice (alias ali@example.test), bob, carol (disabled); every password is "secret-pw".
/// </summary>
public sealed class ImapTestServer : IAsyncDisposable, IDirectorySource
{
    public const string Password = "secret-pw";
    public const string OrgId = "m-0123456789abcdef0123456789abcdef";

    private readonly string _directory;

    private ImapTestServer(string directory, MailStore store, ImapListener listener, MailDirectory mailDirectory)
    {
        _directory = directory;
        Store = store;
        Listener = listener;
        Current = mailDirectory;
    }

    public MailStore Store { get; }

    /// <summary>The store's data directory (to look at what is on disk).</summary>
    public string DataDirectory => _directory;
    public ImapListener Listener { get; }
    public MailDirectory Current { get; private set; }

    /// <summary>Changes a user's mailbox quota as a configuration reload would.</summary>
    public void SetQuota(string email, long bytes) =>
        Current = MailDirectory.Build([Current.OrganizationOf(email)!],
            Current.Users.Select(u => u.Email == email ? u with { MailboxQuotaBytes = bytes } : u).ToList(), [], Current.Permissions);

    /// <summary>Replaces the mailbox permissions as a configuration reload would.</summary>
    public void SetPermissions(params DirectoryPermission[] grants) =>
        Current = MailDirectory.Build(Current.Organizations, Current.Users.ToList(), [], grants);
    /// <summary>Replaces the distribution groups (of the one organization) as a configuration reload would; mailbox
    /// permissions are kept.</summary>
    public void SetGroups(params (string Name, string[] Members)[] groups) =>
        Current = MailDirectory.Build(Current.Organizations, Current.Users.ToList(),
            groups.Select(g => new DirectoryGroup(OrgId, $"{g.Name}@example.test", [], g.Members)).ToList(), Current.Permissions);

    public IPEndPoint Imap => Listener.BoundEndpoints.Single(e => e.Kind == ImapEndpointKind.Imap).EndPoint;
    public IPEndPoint Imaps => Listener.BoundEndpoints.Single(e => e.Kind == ImapEndpointKind.Imaps).EndPoint;

    public static async Task<ImapTestServer> StartAsync(bool allowPlaintextAuth = true, ImapLimits? limits = null, Microsoft.Extensions.Logging.ILogger<ImapListener>? logger = null, int feedCapacity = 1024, Func<IMailStore, IMailStore>? wrapStore = null)
    {
        var org = new DirectoryOrganization(OrgId, "example", ["example.test"], "example.test");
        var hash = PasswordHasher.Hash(Password, iterations: 1000);
        DirectoryUser User(string name, string[] aliases, bool enabled = true) =>
            new(org.Id, $"{name}@example.test", name, aliases, hash, enabled, 1024L * 1024 * 1024);
        var directory = MailDirectory.Build([org],
            [User("alice", ["ali@example.test"]), User("bob", []), User("carol", [], enabled: false)], []);
        var folder = StoreHarness.NewTempDirectory();
        var store = MailStore.Open(new MailStoreOptions { DataDirectory = folder, MasterKeys = FixedKeys.Random(OrgId), ChangeFeedCapacity = feedCapacity });
        ImapTestServer? server = null;
        var validator = new CredentialValidator(new Proxy(() => server!.Current), new PasswordHasher(),
            throttle: new LoginThrottleOptions(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(50), 10, TimeSpan.FromMinutes(1)));
        var options = new ImapListenerOptions("imap.example.test",
            [new ImapEndpointOptions(ImapEndpointKind.Imap, IPAddress.Loopback, 0), new ImapEndpointOptions(ImapEndpointKind.Imaps, IPAddress.Loopback, 0)],
            TestCertificates.Provider, allowPlaintextAuth, limits ?? new ImapLimits());
        var listener = new ImapListener(options, wrapStore?.Invoke(store) ?? store, validator, logger ?? NullLogger<ImapListener>.Instance,
            directory: new Proxy(() => server!.Current));
        server = new ImapTestServer(folder, store, listener, directory);
        await listener.StartAsync(CancellationToken.None);
        return server;
    }

    /// <summary>The store mailbox of a user (created on first use).</summary>
    public async Task<string> MailboxIdAsync(string user) =>
        (await Store.EnsureMailboxAsync(OrgId, $"{user}@example.test", CancellationToken.None)).MailboxId;

    /// <summary>Delivers a message as SMTP delivery would.</summary>
    public Task DeliverAsync(string user, string subject, string folder = "INBOX", MessageFlags flags = MessageFlags.None) =>
        DeliverRawAsync(user, $"From: sender@example.net\r\nTo: {user}@example.test\r\nSubject: {subject}\r\n\r\nHello {subject}\r\n", folder, flags);

    /// <summary>Delivers a message given as text (headers, blank line, body; CRLF line ends) as SMTP delivery would.</summary>
    public async Task DeliverRawAsync(string user, string message, string folder = "INBOX", MessageFlags flags = MessageFlags.None) =>
        await Store.DeliverAsync(System.Text.Encoding.UTF8.GetBytes(message), DateTimeOffset.UtcNow,
            [new DeliveryTarget(await MailboxIdAsync(user), folder, flags)], CancellationToken.None);

    /// <summary>Opens a raw client on the plain port, reads the greeting and logs in.</summary>
    public async Task<ImapLineClient> LoggedInAsync(string user = "alice")
    {
        var (client, greeting) = await ImapLineClient.OpenAsync(Imap);
        Assert.That(greeting, Does.StartWith("* OK "));
        var reply = await client.CommandAsync("L1", $"LOGIN {user}@example.test {Password}");
        Assert.That(reply[^1], Does.StartWith("L1 OK "));
        return client;
    }

    /// <summary>
    /// Logs in, selects INBOX and expunges its first message (delivered \Deleted by the caller), so that sequence
    /// numbers and UIDs differ by one in what follows.
    /// </summary>
    public async Task<ImapLineClient> SelectedAfterFirstExpungedAsync()
    {
        var client = await LoggedInAsync();
        await client.CommandAsync("s", "SELECT INBOX");
        Assert.That(await client.CommandAsync("x", "EXPUNGE"), Is.EqualTo(new[] { "* 1 EXPUNGE", "x OK EXPUNGE completed" }));
        return client;
    }

    /// <summary>A MailKit client connected with STARTTLS and logged in.</summary>
    public async Task<ImapClient> MailKitAsync(string user = "alice@example.test")
    {
        var client = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 15000 };
        await client.ConnectAsync(Imap.Address.ToString(), Imap.Port, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync(user, Password);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await Listener.DisposeAsync();
        await Store.DisposeAsync();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    private sealed class Proxy(Func<MailDirectory> current) : IDirectorySource
    {
        public MailDirectory Current => current();
    }
}
