using System.Security.Cryptography.X509Certificates;
using MailServer.Protocols.Authentication;
using MailServer.Protocols.Imap;
using MailServer.Protocols.Smtp;
using MailServer.Rules.Directory;
using MailServer.Rules.Dns;
using MailServer.Server.Dns;
using MailServer.Server.Admin;
using MailServer.Server.Configuration;
using MailServer.Server.Delivery;
using MailServer.Server.Dkim;
using MailServer.Rules.SenderAuthentication;
using MailServer.Server.Hooks;
using MailServer.Server.MessageFlow;
using MailServer.Rules.FlowRules;
using MailServer.Server.Logging;
using MailServer.Server.Security;
using MailServer.Storage;
using MailServer.Storage.Crypto;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace MailServer.Server.Hosting;

/// <summary>
/// The composition root: loads the configuration, opens the store, and runs the generic host with one
/// hosted service per listener. Read top to bottom, it is the order things start in; they stop in reverse.
/// </summary>
public static class ServerHost
{
    /// <summary>
    /// Runs the server until <paramref name="cancellationToken"/> fires or the process is asked to stop
    /// (Ctrl+C, SIGTERM). Returns the process exit code: 0 after a clean stop, 1 when the configuration
    /// is invalid, 2 when start-up failed (a port in use, the database held by another process).
    /// </summary>
    /// <param name="configPath">The appsettings.json to load and watch.</param>
    /// <param name="dataDirectoryOverride">The --data option, overriding MailServer:DataDirectory.</param>
    /// <param name="cancellationToken">Stops the server gracefully.</param>
    public static async Task<int> RunAsync(string configPath, string? dataDirectoryOverride, CancellationToken cancellationToken)
    {
        // 1. The config must be valid before anything is created from it.
        if (ConfigLoader.Load(configPath, dataDirectoryOverride) is ConfigLoadResult.Invalid invalid)
        {
            await Console.Error.WriteLineAsync($"mailserver: {configPath} is invalid:");
            foreach (var error in invalid.Errors)
                await Console.Error.WriteLineAsync($"  {error.Path}: {error.Message}");
            return 1;
        }

        // 2. Sample users without a password get one, printed once, hashed into the file.
        await FirstStartPasswords.EnsureAsync(configPath, dataDirectoryOverride, Console.Out, cancellationToken);

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            DisableDefaults = true,
            ContentRootPath = Path.GetDirectoryName(Path.GetFullPath(configPath)),
        });
        ConfigureLogging(builder.Logging);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));

        // 3. Configuration, live: the monitor is the directory source every listener reads.
        builder.Services.AddSingleton(sp => ConfigMonitor.Start(configPath, dataDirectoryOverride,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Configuration")));
        builder.Services.AddSingleton<IDirectorySource>(sp => sp.GetRequiredService<ConfigMonitor>());

        // 4. The store: one owner of the database for the whole process.
        builder.Services.AddSingleton<IMailStore>(sp =>
        {
            var monitor = sp.GetRequiredService<ConfigMonitor>();
            return OpenStore(() => monitor.Config, sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Storage"));
        });
        // 4b. Delivery: local mailboxes and the outbound queue (remote recipients of authenticated submissions).
        builder.Services.AddSingleton<Func<ServerConfig>>(sp => { var monitor = sp.GetRequiredService<ConfigMonitor>(); return () => monitor.Config; });
        // Mailbox rules (§9.8) act at local delivery; their forwards re-enter the whole chain as submissions.
        builder.Services.AddSingleton(sp => new MailServer.Server.MessageFlow.MailboxRuleSetCache(sp.GetRequiredService<Func<ServerConfig>>()));
        builder.Services.AddSingleton(sp => new MailboxRuleActions(sp.GetRequiredService<MailServer.Server.MessageFlow.MailboxRuleSetCache>(),
            sp.GetRequiredService<IMailStore>(), sp.GetRequiredService<IDirectorySource>(), sp.GetRequiredService<Func<ServerConfig>>(),
            sp.GetRequiredService<IMessageDelivery>, sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Delivery.MailboxRules"),
            TimeProvider.System, sp.GetService<MailServer.Server.Events.IEmailEventLog>()));
        builder.Services.AddSingleton(sp => new LocalDelivery(sp.GetRequiredService<IMailStore>(), sp.GetRequiredService<ILogger<LocalDelivery>>(),
            sp.GetService<MailServer.Server.Events.IEmailEventLog>(), sp.GetRequiredService<MailboxRuleActions>()));
        builder.Services.AddSingleton<QueueSignal>();
        // The router carries outbound RouteToSmtpGateway decisions (FlowRuleRouter) over the DefaultSmtpGateway.
        builder.Services.AddSingleton<MailServer.Server.MessageFlow.FlowRuleRouter>();
        builder.Services.AddSingleton<IOutboundRouter>(sp => sp.GetRequiredService<MailServer.Server.MessageFlow.FlowRuleRouter>());
        builder.Services.AddSingleton(sp => new MailServer.Server.MessageFlow.FlowRuleSetCache(sp.GetRequiredService<Func<ServerConfig>>()));
        builder.Services.AddSingleton(sp => new DsnSender(sp.GetRequiredService<IMailStore>(), sp.GetRequiredService<IDirectorySource>(),
            sp.GetRequiredService<Func<ServerConfig>>(), sp.GetRequiredService<QueueSignal>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Delivery.Dsn"), TimeProvider.System));
        builder.Services.AddSingleton(sp => new DeliveryPipeline(
            sp.GetRequiredService<LocalDelivery>(), sp.GetRequiredService<IMailStore>(), sp.GetRequiredService<IDirectorySource>(),
            sp.GetRequiredService<Func<ServerConfig>>(), sp.GetRequiredService<IOutboundRouter>(), sp.GetRequiredService<QueueSignal>(),
            sp.GetRequiredService<DsnSender>(), sp.GetRequiredService<ILogger<DeliveryPipeline>>(), TimeProvider.System,
            sp.GetRequiredService<DkimMessageSigner>(), sp.GetRequiredService<JournalWriter>(),
            sp.GetService<MailServer.Server.Events.IEmailEventLog>()));
        builder.Services.AddSingleton(sp => new JournalWriter(sp.GetRequiredService<IMailStore>(), sp.GetRequiredService<IDirectorySource>(),
            sp.GetRequiredService<Func<ServerConfig>>(), sp.GetRequiredService<QueueSignal>(), sp.GetRequiredService<DsnSender>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Delivery.Journal"), TimeProvider.System,
            sp.GetService<MailServer.Server.Events.IEmailEventLog>()));
        builder.Services.AddSingleton(sp => new RemoteDelivery(sp.GetRequiredService<MailServer.Rules.Dns.IDnsResolver>(),
            () => sp.GetRequiredService<ConfigMonitor>().Config.Delivery, sp.GetRequiredService<ConfigMonitor>().Config.ServerName));
        builder.Services.AddSingleton(sp => new OutboundQueue(sp.GetRequiredService<IMailStore>(), sp.GetRequiredService<RemoteDelivery>(),
            sp.GetRequiredService<DsnSender>(), sp.GetRequiredService<Func<ServerConfig>>(), sp.GetRequiredService<QueueSignal>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Delivery.OutboundQueue"), TimeProvider.System,
            sp.GetService<MailServer.Server.Events.IEmailEventLog>()));

        // 4c. Inbound email flow rules in front of the pipeline (MX transactions only); hooks over HTTP (§9, §10).
        builder.Services.AddSingleton<ISpamClassifier, DmarcOnlySpamClassifier>();
        builder.Services.AddSingleton(_ => HookClient.CreateHttpClient());
        builder.Services.AddSingleton(sp => new HookClient(sp.GetRequiredService<HttpClient>(), new HookClientOptions(), TimeProvider.System,
            sp.GetRequiredService<ILogger<HookClient>>()));
        builder.Services.AddSingleton(sp => (IMessageFlowStore)sp.GetRequiredService<IMailStore>());
        builder.Services.AddSingleton(sp => (IHeldMessageStore)sp.GetRequiredService<IMailStore>());
        //     Synchronous hooks: the message is held durably, one worker calls the hook (§10.5).
        builder.Services.AddSingleton(sp => new HookHolds(sp.GetRequiredService<IHeldMessageStore>(), sp.GetRequiredService<IMessageFlowStore>(),
            sp.GetRequiredService<ILogger<HookHolds>>(), TimeProvider.System));
        //     Outbound rules sit between them (authenticated submissions only): inbound → outbound → pipeline.
        builder.Services.AddSingleton(sp => new OutboundFlowDelivery(
            sp.GetRequiredService<DeliveryPipeline>(), sp.GetRequiredService<FlowRuleSetCache>(), sp.GetRequiredService<FlowRuleRouter>(),
            sp.GetRequiredService<Func<ServerConfig>>(), sp.GetRequiredService<DsnSender>(), sp.GetRequiredService<HookClient>(),
            sp.GetRequiredService<IMessageFlowStore>(), sp.GetRequiredService<ILogger<OutboundFlowDelivery>>(),
            sp.GetService<MailServer.Server.Events.IEmailEventLog>(), TimeProvider.System, sp.GetRequiredService<HookHolds>()));
        builder.Services.AddSingleton(sp => new InboundFlowDelivery(
            sp.GetRequiredService<OutboundFlowDelivery>(), sp.GetRequiredService<ConfigMonitor>(), sp.GetRequiredService<ISpamClassifier>(),
            sp.GetRequiredService<HookClient>(), sp.GetRequiredService<IMessageFlowStore>(), sp.GetRequiredService<ILogger<InboundFlowDelivery>>(),
            sp.GetRequiredService<HookHolds>(), sp.GetRequiredService<FlowRuleSetCache>(), sp.GetService<MailServer.Server.Events.IEmailEventLog>()));
        builder.Services.AddSingleton<IMessageDelivery>(sp => sp.GetRequiredService<InboundFlowDelivery>());
        builder.Services.AddSingleton(sp => new HeldHookWorker(sp.GetRequiredService<IHeldMessageStore>(), sp.GetRequiredService<IMessageFlowStore>(),
            sp.GetRequiredService<HookHolds>(), sp.GetRequiredService<HookClient>(), sp.GetRequiredService<FlowRuleSetCache>(),
            sp.GetRequiredService<IDirectorySource>(), sp.GetRequiredService<Func<ServerConfig>>(), sp.GetRequiredService<InboundFlowDelivery>(),
            sp.GetRequiredService<OutboundFlowDelivery>(), sp.GetRequiredService<ILogger<HeldHookWorker>>(), TimeProvider.System));
        builder.Services.AddSingleton<IAdminEndpoints, MessageFlowEndpoints>();

        // 4b. One DNS resolver for SPF, DKIM, DMARC and MX lookups (Dns section; restart-only).
        builder.Services.AddSingleton<IDnsResolver>(sp => new DnsResolver(sp.GetRequiredService<ConfigMonitor>().Config.Dns,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Dns")));

        // 4c. Governance: metrics (§20), the email event log (§18), the audit log (§19), retention (§16).
        GovernanceServices.Add(builder.Services);
        // 4d. Sender authentication on the MX listener (SPF, DKIM, ARC, DMARC over that resolver) and each
        //     organization's live Dmarc.Enforce; outbound DKIM signing with the keys in <DataDirectory>/dkim.
        builder.Services.AddSingleton(sp => new InboundAuthenticationOptions(
            new SenderAuthenticator(sp.GetRequiredService<IDnsResolver>(), sp.GetRequiredService<ConfigMonitor>().Config.ServerName),
            new ConfiguredDmarcEnforcement(sp.GetRequiredService<ConfigMonitor>())));
        builder.Services.AddSingleton(sp => new DkimMessageSigner(sp.GetRequiredService<ConfigMonitor>().Config.DataDirectory));

        // 5. Security: one TLS certificate for every listener; credentials checked against the live directory.
        builder.Services.AddSingleton(sp =>
        {
            var config = sp.GetRequiredService<ConfigMonitor>().Config;
            return TlsCertificates.LoadOrCreate(config.Tls, config.DataDirectory, config.ServerName);
        });
        builder.Services.AddSingleton(_ => new PasswordHasher());
        builder.Services.AddSingleton<ICredentialValidator>(sp => new CredentialValidator(
            sp.GetRequiredService<IDirectorySource>(), sp.GetRequiredService<PasswordHasher>(),
            sp.GetRequiredService<ILoginAccessRules>(), observer: sp.GetRequiredService<ILoginObserver>()));

        // 6. Listeners, one hosted service each.
        builder.Services.AddSingleton(sp => SmtpOptions(sp.GetRequiredService<ConfigMonitor>().Config, sp.GetRequiredService<X509Certificate2>()));
        builder.Services.AddSingleton<ISubmissionObserver>(sp => new Audit.SubmissionAuditObserver(
            sp.GetRequiredService<Audit.IAuditLog>(), sp.GetRequiredService<Metrics.MailMetrics>()));
        builder.Services.AddHostedService<SmtpListenerService>();
        builder.Services.AddSingleton(sp => ImapOptions(sp.GetRequiredService<ConfigMonitor>().Config, sp.GetRequiredService<X509Certificate2>()));
        builder.Services.AddSingleton<IMailboxAccessObserver>(sp => new Audit.MailboxAccessAuditObserver(
            sp.GetRequiredService<Audit.IAuditLog>(), sp.GetRequiredService<Metrics.MailMetrics>()));
        builder.Services.AddHostedService<ImapListenerService>();
        builder.Services.AddHostedService<OutboundQueueService>();
        builder.Services.AddHostedService(sp => new MetadataCacheWarmupService((MailStore)sp.GetRequiredService<IMailStore>()));
        builder.Services.AddHostedService<HeldHookService>();
        builder.Services.AddSingleton<IAdminEndpoints, QueueAdminEndpoints>();

        // The WorkMail API at POST / on the admin listener (SigV4 keys in Organizations[].AdminApi); writes go into the config file.
        builder.Services.AddSingleton(sp => new ConfigWriter(sp.GetRequiredService<ConfigMonitor>()));
        builder.Services.AddSingleton(sp => new WorkMailApi.MailboxExportJobs(sp.GetRequiredService<ConfigMonitor>().Config.DataDirectory,
            sp.GetRequiredService<IMailStore>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.WorkMailApi")));
        builder.Services.AddSingleton(sp => new WorkMailApi.WorkMailOperations(sp.GetRequiredService<ConfigMonitor>(),
            sp.GetRequiredService<ConfigWriter>(), sp.GetRequiredService<IMailStore>(), sp.GetRequiredService<WorkMailApi.MailboxExportJobs>()));
        builder.Services.AddSingleton(sp => new WorkMailApi.AdminAuditTrail(sp.GetRequiredService<ConfigMonitor>().Config.DataDirectory,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.WorkMailApi")));
        builder.Services.AddSingleton<IAdminEndpoints, WorkMailApi.WorkMailApiEndpoints>();

        // 7. The admin HTTP listener: /health, and each area's IAdminEndpoints (token in <DataDirectory>/admin.token).
        builder.Services.AddSingleton(sp => AdminToken.LoadOrCreate(sp.GetRequiredService<ConfigMonitor>().Config.DataDirectory));
        builder.Services.AddHostedService<AdminHttpService>();

        // Disposing the host disposes the singletons in reverse order of creation: the listeners first,
        // the store (created before them) after, so no session writes to a closed store.
        var host = builder.Build();
        await using var disposeHost = (IAsyncDisposable)host; // the concrete host disposes async-only singletons
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Host");
        try
        {
            _ = host.Services.GetRequiredService<IMailStore>();
        }
        catch (StoreLockedException e)
        {
            await Console.Error.WriteLineAsync($"mailserver: {e.Message}");
            return 2;
        }

        try
        {
            await host.StartAsync(cancellationToken);
            HostLog.Started(logger, host.Services.GetRequiredService<ConfigMonitor>().Config.ServerName);
            await host.WaitForShutdownAsync(cancellationToken);
            HostLog.Stopped(logger);
            return 0;
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException)
        {
            HostLog.StartFailed(logger, e);
            await Console.Error.WriteLineAsync($"mailserver: could not start: {e.Message}");
            return 2;
        }
    }

    /// <summary>
    /// <c>mailserver reindex</c>: opens the store (refused while a server holds it), checks every message,
    /// rebuilds derived metadata and removes what a crash left behind.
    /// </summary>
    /// <exception cref="StoreLockedException">The server is running on this data folder.</exception>
    public static async Task<ReindexReport> ReindexAsync(ServerConfig config, CancellationToken cancellationToken)
    {
        await using var store = OpenStore(() => config, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        return await store.ReindexAsync(cancellationToken);
    }

    /// <summary>Opens the store of a stopped server for a CLI verb (the caller disposes it).</summary>
    /// <exception cref="StoreLockedException">The server is running on this data folder.</exception>
    internal static MailStore OpenStoreForCli(ServerConfig config) =>
        OpenStore(() => config, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
    /// <summary>
    /// <c>mailserver retention run</c> with the server stopped: opens the store and applies the retention policies once.
    /// </summary>
    /// <exception cref="StoreLockedException">The server is running on this data folder.</exception>
    public static async Task<Retention.RetentionReport> RunRetentionAsync(ServerConfig config, bool dryRun, CancellationToken cancellationToken)
    {
        await using var store = OpenStore(() => config, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        using var audit = new Audit.AuditLog(config.DataDirectory);
        return await new Retention.RetentionRunner(store, TimeProvider.System, audit).RunAsync(config, dryRun, cancellationToken);
    }

    /// <summary>Opens the store in the configuration's data folder; master keys follow <paramref name="current"/>.</summary>
    /// <exception cref="StoreLockedException">Another process holds the data folder.</exception>
    private static MailStore OpenStore(Func<ServerConfig> current, ILogger logger) =>
        MailStore.Open(new MailStoreOptions
        {
            DataDirectory = current().DataDirectory,
            MasterKeys = new ConfiguredMasterKeys(current),
            Logger = logger,
        });

    private static ImapListenerOptions ImapOptions(ServerConfig config, X509Certificate2 certificate) => new(
        config.ServerName,
        [
            Endpoint(ImapEndpointKind.Imap, config.Listeners.ImapEndPoint()),
            Endpoint(ImapEndpointKind.Imaps, config.Listeners.ImapsEndPoint()),
        ],
        certificate,
        config.Tls.AllowPlaintextAuth,
        // One per-address cap for the admin to set (Limits.MaxConnectionsPerIp), applied to each protocol.
        new ImapLimits(MaxConnectionsPerAddress: config.Limits.MaxConnectionsPerIp, MaxMessageBytes: config.Limits.MaxMessageBytes));

    private static ImapEndpointOptions Endpoint(ImapEndpointKind kind, System.Net.IPEndPoint endPoint) =>
        new(kind, endPoint.Address, endPoint.Port);

    private static SmtpListenerOptions SmtpOptions(ServerConfig config, X509Certificate2 certificate) => new(
        config.ServerName,
        config.Listeners.SmtpEndpoints(),
        certificate,
        config.Tls.AllowPlaintextAuth,
        config.Limits.ToSmtpLimits());

    private static void ConfigureLogging(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o =>
        {
            o.IncludeScopes = true; // the SMTP and IMAP session ids travel in a scope
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
            o.ColorBehavior = LoggerColorBehavior.Disabled;
        });
        logging.SetMinimumLevel(LogLevel.Information);
        logging.AddFilter("Microsoft", LogLevel.Warning);
    }
}

/// <summary>
/// Master keys from the configuration in force: each organization's key file, created (0600) on first use.
/// An organization added by a live edit gets its key on its first delivery.
/// </summary>
internal sealed class ConfiguredMasterKeys(Func<ServerConfig> config) : IMasterKeyProvider
{
    // Read once per key file: the store asks on every mailbox lookup. An organization's MasterKeyPath only
    // changes with a restart (ConfigMonitor keeps it), so the path is a safe cache key.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> _byPath = new();

    public byte[] GetMasterKey(string organizationId)
    {
        var org = config().Organizations.FirstOrDefault(o => o.Id == organizationId)
                  ?? throw new KeyNotFoundException($"No organization {organizationId} in the configuration.");
        return _byPath.GetOrAdd(org.MasterKeyPath, path => MasterKeyFile.Load(path, createIfMissing: true));
    }
}
