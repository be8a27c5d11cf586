using System.Security.Cryptography.X509Certificates;
using MailServer.Protocols.Tls;
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
using MailServer.Server.MailFlow;
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
using MailServer.Rules.Sending;

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
        var loadResult = ConfigLoader.Load(configPath, dataDirectoryOverride);
        if (loadResult is not ConfigLoadResult.Ok { Config: var loaded })
        {
            await Console.Error.WriteLineAsync($"mailserver: {configPath} is invalid:");
            foreach (var error in ((ConfigLoadResult.Invalid)loadResult).Errors)
                await Console.Error.WriteLineAsync($"  {error.Path}: {error.Message}");
            return 1;
        }

        // 1b. Master keys in a PKCS#11 token: log in now, so a wrong PIN or a missing token stops the start with a clear
        //     error (exit 2) instead of failing the first delivery.
        {
            var keys = new ConfiguredMasterKeys(() => loaded);
            foreach (var org in loaded.Organizations.Where(o => o.MasterKeySource.Provider == MasterKeyProviderKind.Pkcs11))
            {
                try
                {
                    keys.OpenToken(org.Id);
                }
                catch (InvalidOperationException e)
                {
                    await Console.Error.WriteLineAsync($"mailserver: the master key of organization {org.Alias} cannot be reached: {e.Message}");
                    return 2;
                }
            }
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

        // 4. The store the config names, under its contract interfaces, with what only that engine has (StoreModule.cs).
        builder.Services.AddStore(loaded.Storage);
        // 4b. The mail-flow core: one door, its stages in order, local delivery, the outbound queue, DSNs, journaling,
        //     hooks (Server/MailFlow/MailFlowModule.cs). Every message, from SMTP or written by the server, goes through it.
        builder.Services.AddSingleton<Func<ServerConfig>>(sp => { var monitor = sp.GetRequiredService<ConfigMonitor>(); return () => monitor.Config; });
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddMailFlow();

        // 4b. One DNS resolver for SPF, DKIM, DMARC and MX lookups (Dns section; restart-only).
        builder.Services.AddSingleton<IDnsResolver>(sp => new DnsResolver(sp.GetRequiredService<ConfigMonitor>().Config.Dns,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Dns")));

        // 4c. Governance: metrics (§20), the email event log (§18), the audit log (§19), retention (§16).
        GovernanceServices.Add(builder.Services);
        // 5. Security: one TLS certificate for every listener; credentials checked against the live directory.
        //    Every listener asks the provider on each handshake, so an ACME renewal swaps it without a restart.
        builder.Services.AddSingleton(sp =>
        {
            var config = sp.GetRequiredService<ConfigMonitor>().Config;
            return new ServerCertificateProvider(TlsCertificates.LoadOrCreate(config.Tls, config.DataDirectory, config.ServerName));
        });
        builder.Services.AddSingleton(_ => new PasswordHasher());
        builder.Services.AddSingleton<ICredentialValidator>(sp => new CredentialValidator(
            sp.GetRequiredService<IDirectorySource>(), sp.GetRequiredService<PasswordHasher>(),
            sp.GetRequiredService<ILoginAccessRules>(), observer: sp.GetRequiredService<ILoginObserver>()));

        // 6. Listeners, one hosted service each.
        builder.Services.AddSingleton(sp => SmtpOptions(sp.GetRequiredService<ConfigMonitor>().Config, sp.GetRequiredService<ServerCertificateProvider>()));
        builder.Services.AddSingleton<ISubmissionObserver>(sp => new Audit.SubmissionAuditObserver(
            sp.GetRequiredService<Audit.IAuditLog>(), sp.GetRequiredService<Metrics.MailMetrics>()));
        // One budget of message bytes held in memory for SMTP messages being processed and IMAP APPEND (Limits.MaxBytesInFlightMiB).
        builder.Services.AddSingleton(sp => new MailServer.Protocols.Admission.BytesInFlight(
            sp.GetRequiredService<SmtpListenerOptions>().Limits.MaxBytesInFlight));
        builder.Services.AddHostedService<SmtpListenerService>();
        builder.Services.AddSingleton(sp => ImapOptions(sp.GetRequiredService<ConfigMonitor>().Config, sp.GetRequiredService<ServerCertificateProvider>()));
        // Every IMAP mailbox operation is audited (§19.1); moves into and out of Junk E-mail also teach rspamd.
        builder.Services.AddSingleton<ContentFiltering.JunkTrainingQueue>();
        builder.Services.AddSingleton<IMailboxAccessObserver>(sp => new ContentFiltering.MailboxAccessObservers(
            [
                new Audit.MailboxAccessAuditObserver(sp.GetRequiredService<Audit.IAuditLog>(), sp.GetRequiredService<Metrics.MailMetrics>()),
                new ContentFiltering.JunkTrainingObserver(sp.GetRequiredService<ContentFiltering.JunkTrainingQueue>(), sp.GetRequiredService<Func<ServerConfig>>(),
                    sp.GetRequiredService<ILogger<ContentFiltering.JunkTrainingObserver>>()),
            ], sp.GetRequiredService<ILogger<ContentFiltering.MailboxAccessObservers>>()));
        builder.Services.AddHostedService(sp => new ContentFiltering.JunkTrainingService(sp.GetRequiredService<ContentFiltering.JunkTrainingQueue>(),
            sp.GetRequiredService<IImapSessionReads>(), sp.GetRequiredService<ContentFiltering.RspamdClient>(), sp.GetRequiredService<Func<ServerConfig>>(),
            sp.GetRequiredService<ILogger<ContentFiltering.JunkTrainingService>>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<Metrics.MailMetrics>()));
        builder.Services.AddSingleton(sp => new ContentFiltering.ContentEngineHealth(sp.GetRequiredService<ContentFiltering.RspamdClient>(),
            sp.GetRequiredService<ContentFiltering.ClamdClient>(), sp.GetRequiredService<Func<ServerConfig>>()));
        builder.Services.AddHostedService<ImapListenerService>();
        builder.Services.AddHostedService<OutboundQueueService>();
        builder.Services.AddHostedService<AggregateReportService>();
        builder.Services.AddHostedService<HeldHookService>();
        builder.Services.AddSingleton<IAdminEndpoints, QueueAdminEndpoints>();
        // 6b. Key administration, mailbox imports and the search indexer come with the store engine that has them (step 4).

        // The WorkMail API at POST / on the admin listener (SigV4 keys in Organizations[].AdminApi); writes go into the config file.
        builder.Services.AddSingleton(sp => new ConfigWriter(sp.GetRequiredService<ConfigMonitor>()));
        builder.Services.AddSingleton(sp => new WorkMailApi.MailboxExportJobs(sp.GetRequiredService<ConfigMonitor>().Config.DataDirectory,
            sp.GetRequiredService<IImapSessionReads>(), sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.WorkMailApi")));
        builder.Services.AddSingleton(sp => new WorkMailApi.WorkMailOperations(sp.GetRequiredService<ConfigMonitor>(),
            sp.GetRequiredService<ConfigWriter>(), sp.GetRequiredService<IMailboxLookup>(), sp.GetService<IKeyAdministrationStore>(),
            sp.GetRequiredService<WorkMailApi.MailboxExportJobs>()));
        builder.Services.AddSingleton(sp => new WorkMailApi.AdminAuditTrail(sp.GetRequiredService<ConfigMonitor>().Config.DataDirectory,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.WorkMailApi")));
        builder.Services.AddSingleton<IAdminEndpoints, WorkMailApi.WorkMailApiEndpoints>();

        // 7. The admin HTTP listener: /health, and each area's IAdminEndpoints (token in <DataDirectory>/admin.token).
        builder.Services.AddSingleton(sp => AdminToken.LoadOrCreate(sp.GetRequiredService<ConfigMonitor>().Config.DataDirectory));
        builder.Services.AddHostedService<AdminHttpService>();
        // 8. The domain's public HTTPS endpoints (autoconfig, autodiscover, Apple profile, MTA-STS) and start-up notices.
        builder.Services.AddDomainEndpoints();

        // Disposing the host disposes the singletons in reverse order of creation: the listeners first,
        // the store (created before them) after, so no session writes to a closed store.
        var host = builder.Build();
        await using var disposeHost = (IAsyncDisposable)host; // the concrete host disposes async-only singletons
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Host");
        try
        {
            _ = host.Services.GetRequiredService<IMailboxLookup>();
        }
        catch (Exception e) when (e is StoreLockedException or StoreUnavailableException or Storage.PostgreSql.StoreSchemaTooNewException)
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
        var report = await store.ReindexAsync(cancellationToken);
        // The search index is derived data: dropped and rebuilt from the messages (under the mailboxes' current keys).
        await store.DropSearchIndexesAsync(cancellationToken);
        var indexed = await new Protocols.Imap.Search.SearchIndexer(store, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)
        {
            Parallelism = Environment.ProcessorCount,
        }.CatchUpAsync(cancellationToken);
        return report with { SearchIndexMessages = indexed };
    }

    /// <summary>
    /// <c>mailserver reindex</c> on PostgreSQL: drops the body search index and rebuilds it from the messages. The rest
    /// of the LiteDB reindex (entries whose file is gone, counters, leftovers of a crash) has no counterpart: bodies are
    /// rows written in the transaction of their entry, and counters change in the same transaction as what they count.
    /// </summary>
    /// <returns>How many messages the rebuilt index holds.</returns>
    /// <exception cref="StoreUnavailableException">PostgreSQL cannot be reached.</exception>
    public static async Task<long> RebuildSearchIndexAsync(ServerConfig config, CancellationToken cancellationToken)
    {
        await using var store = OfflineStore.Open(config);
        await store.Index.DropSearchIndexesAsync(cancellationToken);
        return await new Protocols.Imap.Search.SearchIndexer(store.Imap, store.Index, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)
        {
            Parallelism = Environment.ProcessorCount,
        }.CatchUpAsync(cancellationToken);
    }

    /// <summary><c>mailserver reindex --rewrite-bodies</c>: rewrites version 1 message files in the segmented format,
    /// with the server stopped (see <see cref="MailStore.RewriteLegacyBodiesAsync"/>).</summary>
    /// <exception cref="StoreLockedException">The server is running on this data folder.</exception>
    public static async Task<RewriteBodiesReport> RewriteBodiesAsync(ServerConfig config, CancellationToken cancellationToken)
    {
        await using var store = OpenStore(() => config, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        return await store.RewriteLegacyBodiesAsync(null, cancellationToken);
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
        await using var store = OfflineStore.Open(config);
        using var audit = new Audit.AuditLog(config.DataDirectory);
        return await new Retention.RetentionRunner(store.Retention, TimeProvider.System, audit).RunAsync(config, dryRun, cancellationToken);
    }

    /// <summary>
    /// Runs an import with the server stopped: opens the store here and runs the job in this process, calling
    /// <paramref name="progress"/> at each checkpoint.
    /// </summary>
    /// <exception cref="StoreLockedException">The server holds the data folder.</exception>
    /// <exception cref="ArgumentException">The request is invalid.</exception>
    /// <exception cref="Import.ImportSourceException">The source file cannot be opened.</exception>
    public static async Task<Import.ImportJobRecord> RunImportAsync(ServerConfig config, Import.ImportRequest request,
        Action<Import.ImportJobRecord> progress, CancellationToken cancellationToken)
    {
        var directory = config.ToDirectory();
        var user = request.Validate(directory);
        await using var store = OfflineStore.Open(config);
        await using var source = request.Open();
        var job = request.NewOrResumed(config.DataDirectory, user, source.Description);
        var target = new Import.ImportTarget(user.OrganizationId, user.Email, () => user.MailboxQuotaBytes);
        return await new Import.MailboxImporter(store.Imap, config.DataDirectory, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)
            .RunAsync(job, source, target, request.MarkSeen, request.RatePerSecond, progress, cancellationToken);
    }

    /// <summary>Opens the store in the configuration's data folder; master keys follow <paramref name="current"/>.</summary>
    /// <exception cref="StoreLockedException">Another process holds the data folder.</exception>
    private static MailStore OpenStore(Func<ServerConfig> current, ILogger logger) => OpenLiteDb(current, logger);

    /// <summary>Opens the LiteDB store in the configuration's data folder; master keys follow <paramref name="current"/>.</summary>
    /// <exception cref="StoreLockedException">Another process holds the data folder.</exception>
    internal static MailStore OpenLiteDb(Func<ServerConfig> current, ILogger logger) =>
        MailStore.Open(new MailStoreOptions
        {
            DataDirectory = current().DataDirectory,
            MasterKeys = new ConfiguredMasterKeys(current),
            Logger = logger,
        });

    /// <summary>
    /// Opens the PostgreSQL store the configuration names (migrating its schema), with the key ledgers in the key database
    /// <c>Storage.KeyLedgerConnectionString</c>. Blocks until it is open: it runs once, at start, before any listener.
    /// </summary>
    /// <exception cref="StoreUnavailableException">PostgreSQL cannot be reached or refused the connection.</exception>
    /// <exception cref="Storage.PostgreSql.StoreSchemaTooNewException">The database was written by a newer server.</exception>
    internal static Storage.PostgreSql.PostgreSqlMailStore OpenPostgreSql(Func<ServerConfig> current, ILogger logger)
    {
        var config = current();
        return Storage.PostgreSql.PostgreSqlMailStore.OpenAsync(new Storage.PostgreSql.PostgreSqlStoreOptions
        {
            ConnectionString = config.Storage.ConnectionString
                ?? throw new InvalidOperationException("MailServer.Storage.ConnectionString is required with Engine PostgreSql."),
            KeyLedgerConnectionString = config.Storage.KeyLedgerConnectionString
                ?? throw new InvalidOperationException("MailServer.Storage.KeyLedgerConnectionString is required with Engine PostgreSql."),
            MasterKeys = new ConfiguredMasterKeys(current),
            Logger = logger,
        }, CancellationToken.None).GetAwaiter().GetResult();
    }

    private static ImapListenerOptions ImapOptions(ServerConfig config, ServerCertificateProvider certificate) => new(
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

    private static SmtpListenerOptions SmtpOptions(ServerConfig config, ServerCertificateProvider certificate)
    {
        // Big DATA sections wait in encrypted temporary files here while their transaction runs. Their keys lived only
        // in the process that wrote them, so what a crash left behind is unreadable and goes before the listener starts.
        var spool = Path.Combine(config.DataDirectory, "tmp", "smtp-spool");
        MailServer.Storage.Spool.MessageSpool.Sweep(spool);
        return new(config.ServerName, config.Listeners.SmtpEndpoints(), certificate, config.Tls.AllowPlaintextAuth, config.Limits.ToSmtpLimits())
        {
            SpoolDirectory = spool,
        };
    }

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
/// Master keys from the configuration in force, per organization from its provider: key files (created 0600 on
/// first use, <see cref="FileMasterKeyProvider"/>), environment variables or systemd credentials (read only; the
/// server never writes such a key anywhere). An organization added by a live edit gets its key on first use.
/// </summary>
internal sealed class ConfiguredMasterKeys(Func<ServerConfig> config, Func<string, string?>? environment = null, bool createMissing = true) : IMasterKeyProvider
{
    // Read once per source and version: the store asks on every unwrap. An organization's key source only
    // changes with a restart (ConfigMonitor keeps it), so the source is a safe cache key.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Source, int Version), byte[]> _keys = new();
    private readonly Func<string, string?> _environment = environment ?? Environment.GetEnvironmentVariable;

    private OrganizationConfig Org(string organizationId) =>
        config().Organizations.FirstOrDefault(o => o.Id == organizationId)
        ?? throw new KeyNotFoundException($"No organization {organizationId} in the configuration.");

    public byte[] GetMasterKey(string organizationId) => GetMasterKey(organizationId, 1);

    public byte[] GetMasterKey(string organizationId, int version)
    {
        var org = Org(organizationId);
        var location = Describe(org, version);
        if (_keys.TryGetValue((location, version), out var cached))
            return cached;
        var key = org.MasterKeySource.Provider switch
        {
            MasterKeyProviderKind.File => version == 1
                ? MasterKeyFile.Load(location, createIfMissing: createMissing)
                : File.Exists(location) ? MasterKeyFile.Load(location, createIfMissing: false)
                : throw new KeyNotFoundException($"Master key version {version} ({location}) does not exist."),
            MasterKeyProviderKind.Environment => MasterKeyText.Parse(_environment(location)
                ?? throw new KeyNotFoundException($"The environment variable {location} (master key version {version} of {org.Alias}) is not set."), location),
            MasterKeyProviderKind.Pkcs11 => Token(org).Derive(org.Id, version, Label(org, version), create: createMissing && version == 1),
            _ => ReadCredential(location, version, org.Alias),
        };
        return _keys.GetOrAdd((location, version), key);
    }

    public bool HasVersion(string organizationId, int version)
    {
        var org = Org(organizationId);
        var location = Describe(org, version);
        return _keys.ContainsKey((location, version)) || org.MasterKeySource.Provider switch
        {
            MasterKeyProviderKind.File => File.Exists(location),
            MasterKeyProviderKind.Environment => !string.IsNullOrEmpty(_environment(location)),
            MasterKeyProviderKind.Pkcs11 => Token(org).Exists(Label(org, version)),
            _ => CredentialPath(location) is { } path && File.Exists(path),
        };
    }

    // One logged-in token session per module, token and PIN source for the whole process (a PKCS#11 login belongs
    // to the application, and the CLI and the host may build several of these providers).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Pkcs11Config, Keys.Pkcs11MasterKeys> Tokens = new();

    /// <summary>Logs in to the organization's PKCS#11 token (nothing for the other providers).</summary>
    /// <exception cref="InvalidOperationException">The module, the token or the login failed (a wrong PIN, say).</exception>
    public void OpenToken(string organizationId)
    {
        var org = Org(organizationId);
        if (org.MasterKeySource.Provider == MasterKeyProviderKind.Pkcs11)
            _ = Token(org).Exists(Label(org, 1));
    }

    private Keys.Pkcs11MasterKeys Token(OrganizationConfig org) =>
        Tokens.GetOrAdd(org.Pkcs11 ?? throw new KeyNotFoundException($"Organization {org.Alias} has no Pkcs11 settings."), c => new Keys.Pkcs11MasterKeys(c, _environment));

    private static string Label(OrganizationConfig org, int version) =>
        version == 1 ? org.MasterKeySource.Name : org.MasterKeySource.Name + ".v" + version.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public void CreateVersion(string organizationId, int version)
    {
        var org = Org(organizationId);
        if (org.MasterKeySource.Provider == MasterKeyProviderKind.File)
        {
            MasterKeyFile.Load(Describe(org, version), createIfMissing: true);
            return;
        }
        if (org.MasterKeySource.Provider == MasterKeyProviderKind.Pkcs11)
        {
            // Generated inside the token, unextractable.
            _keys.TryAdd((Describe(org, version), version), Token(org).Derive(org.Id, version, Label(org, version), create: true));
            return;
        }
        if (!HasVersion(organizationId, version))
            throw new NotSupportedException(org.MasterKeySource.Provider == MasterKeyProviderKind.Environment
                ? $"the master key of {org.Alias} comes from the environment: set {Describe(org, version)} to 32 random bytes in base64 " +
                  "(head -c32 /dev/urandom | base64), restart the server, and run the rotation again"
                : $"the master key of {org.Alias} is a systemd credential: add the credential {Describe(org, version)} (32 random bytes) " +
                  "to the unit (LoadCredentialEncrypted=), restart the service, and run the rotation again");
        _ = GetMasterKey(organizationId, version);
    }

    public bool DestroyVersion(string organizationId, int version)
    {
        var org = Org(organizationId);
        var location = Describe(org, version);
        if (_keys.TryRemove((location, version), out var key))
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
        if (org.MasterKeySource.Provider == MasterKeyProviderKind.Pkcs11)
        {
            Token(org).Destroy(Label(org, version)); // C_DestroyObject: the key is gone from the token
            return true;
        }
        if (org.MasterKeySource.Provider != MasterKeyProviderKind.File)
            return false; // the operator removes the variable or credential
        MasterKeyFile.Destroy(location);
        return true;
    }

    public string Describe(string organizationId, int version) => Describe(Org(organizationId), version);

    private static string Describe(OrganizationConfig org, int version)
    {
        var v = version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return org.MasterKeySource.Provider switch
        {
            MasterKeyProviderKind.File => FileMasterKeyProvider.VersionPath(org.MasterKeyPath, version),
            MasterKeyProviderKind.Environment => version == 1 ? org.MasterKeySource.Name : org.MasterKeySource.Name + "_V" + v,
            MasterKeyProviderKind.Pkcs11 => $"pkcs11:token={Uri.EscapeDataString(org.Pkcs11?.TokenLabel ?? "")};object={Uri.EscapeDataString(Label(org, version))}",
            _ => version == 1 ? org.MasterKeySource.Name : org.MasterKeySource.Name + ".v" + v,
        };
    }

    private string? CredentialPath(string name) =>
        _environment("CREDENTIALS_DIRECTORY") is { Length: > 0 } directory ? Path.Combine(directory, name) : null;

    private byte[] ReadCredential(string name, int version, string alias)
    {
        // systemd.exec(5) "Credentials": the service manager decrypts the credential into a private tmpfs and names
        // the folder in $CREDENTIALS_DIRECTORY; only this service can read it.
        var path = CredentialPath(name)
                   ?? throw new KeyNotFoundException($"CREDENTIALS_DIRECTORY is not set: the master key of {alias} is the systemd credential {name} (LoadCredential= or LoadCredentialEncrypted= in the unit).");
        if (!File.Exists(path))
            throw new KeyNotFoundException($"The systemd credential {name} (master key version {version} of {alias}) is missing from $CREDENTIALS_DIRECTORY.");
        var bytes = File.ReadAllBytes(path);
        try
        {
            return bytes.Length == MasterKeyFile.KeyLength ? (byte[])bytes.Clone() : MasterKeyText.Parse(System.Text.Encoding.ASCII.GetString(bytes), name);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(bytes);
        }
    }
}

/// <summary>A master key written as text: base64 (44 characters) or hex (64 digits) of 32 bytes.</summary>
internal static class MasterKeyText
{
    /// <exception cref="InvalidDataException">The text is not 32 bytes in base64 or hex (the message names the source, never the value).</exception>
    public static byte[] Parse(string text, string source)
    {
        var trimmed = text.Trim();
        try
        {
            var key = trimmed.Length == 64 && trimmed.All(char.IsAsciiHexDigit) ? Convert.FromHexString(trimmed) : Convert.FromBase64String(trimmed);
            if (key.Length == MasterKeyFile.KeyLength)
                return key;
        }
        catch (FormatException)
        {
        }
        throw new InvalidDataException($"{source} must hold a master key of exactly 32 bytes in base64 or hex.");
    }
}
