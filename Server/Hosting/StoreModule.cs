using MailServer.Server.Configuration;
using MailServer.Storage;
using MailServer.Storage.PostgreSql;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Hosting;

/// <summary>
/// Registers the store the configuration names (<c>MailServer.Storage.Engine</c>), one composition per engine: the
/// store instance, owned by the container (disposed after the listeners and workers that use it), registered under each
/// contract interface it implements (docs/storage-contract.md), and the services that exist only for that engine.
/// Consumers take the narrowest interface: <see cref="IDeliveryStore"/>, <see cref="IImapStore"/>,
/// <see cref="IQueueStore"/>, <see cref="IHeldMessageStore"/>, <see cref="IMessageFlowStore"/>,
/// <see cref="IRetentionStore"/>, <see cref="ISearchIndexStore"/>, <see cref="IChangeFeedSource"/>.
/// </summary>
/// <remarks>Needs <see cref="ConfigMonitor"/> and <see cref="ILoggerFactory"/> from the rest of the composition. The
/// store opens on first resolution (<see cref="IMailboxLookup"/> is what the host resolves to open it before the
/// listeners start).</remarks>
internal static class StoreModule
{
    /// <summary>Adds the store of <paramref name="storage"/> (read at start; changing the engine needs a restart).</summary>
    public static IServiceCollection AddStore(this IServiceCollection services, StorageConfig storage) => storage.Engine switch
    {
        StorageEngine.PostgreSql => services.AddPostgreSqlStore(),
        _ => services.AddLiteDbStore(),
    };

    /// <summary>
    /// Registers an already registered <typeparamref name="TStore"/> under every contract interface the server's
    /// consumers take. The in-process test compositions use it too, so they resolve exactly what the server does.
    /// </summary>
    public static IServiceCollection AddStoreContract<TStore>(this IServiceCollection services)
        where TStore : class, IMailboxImportStore, IDeliveryStore, IQueueStore, IHeldMessageStore, IMessageFlowStore, IRetentionStore
    {
        services.AddSingleton<IMailboxLookup>(sp => sp.GetRequiredService<TStore>());
        services.AddSingleton<IChangeFeedSource>(sp => sp.GetRequiredService<TStore>());
        services.AddSingleton<IDeliveryStore>(sp => sp.GetRequiredService<TStore>());
        services.AddSingleton<IImapSessionReads>(sp => sp.GetRequiredService<TStore>());
        services.AddSingleton<IImapSessionStore>(sp => sp.GetRequiredService<TStore>());
        services.AddSingleton<IImapStore>(sp => sp.GetRequiredService<TStore>());
        services.AddSingleton<IMailboxImportStore>(sp => sp.GetRequiredService<TStore>());
        services.AddSingleton<IQueueStore>(sp => sp.GetRequiredService<TStore>());
        services.AddSingleton<IHeldMessageStore>(sp => sp.GetRequiredService<TStore>());
        services.AddSingleton<IMessageFlowStore>(sp => sp.GetRequiredService<TStore>());
        services.AddSingleton<IRetentionStore>(sp => sp.GetRequiredService<TStore>());
        return services;
    }

    /// <summary>
    /// LiteDB: one process owns <c>DataDirectory/mail.db</c>. Everything of the contract and key administration, plus what
    /// only this engine has: the folder metadata cache warm-up and online backups (which copy its files).
    /// </summary>
    private static IServiceCollection AddLiteDbStore(this IServiceCollection services)
    {
        services.AddSingleton(sp =>
        {
            var monitor = sp.GetRequiredService<ConfigMonitor>();
            return ServerHost.OpenLiteDb(() => monitor.Config, sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Storage"));
        });
        services.AddSingleton<IMailStore>(sp => sp.GetRequiredService<MailStore>());
        services.AddStoreContract<MailStore>();
        services.AddImports();
        services.AddSingleton<ISearchIndexStore>(sp => sp.GetRequiredService<MailStore>());
        services.AddSingleton<IKeyAdministrationStore>(sp => sp.GetRequiredService<MailStore>());
        services.AddHostedService(sp => new MetadataCacheWarmupService(sp.GetRequiredService<MailStore>()));
        services.AddSearchIndexer();
        services.AddKeyAdministration();
        services.AddSingleton<Admin.IAdminEndpoints, Keys.BackupEndpoints>(); // online backups copy LiteDB's files
        return services;
    }

    /// <summary>
    /// PostgreSQL: one mail database and one key database shared by every node. The whole contract, the search index and
    /// its indexer (every node runs one: a commit against an index another node changed meanwhile is refused and redone,
    /// so two indexers never lose each other's work) and key administration (a rotation runs on the node it was started
    /// on; the key database tells the others). Backups are PostgreSQL's own tools' (README, "Backups on PostgreSQL").
    /// </summary>
    private static IServiceCollection AddPostgreSqlStore(this IServiceCollection services)
    {
        services.AddSingleton(sp =>
        {
            var monitor = sp.GetRequiredService<ConfigMonitor>();
            return ServerHost.OpenPostgreSql(() => monitor.Config, sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Storage"));
        });
        services.AddStoreContract<PostgreSqlMailStore>();
        services.AddImports();
        services.AddSingleton<ISearchIndexStore>(sp => sp.GetRequiredService<PostgreSqlMailStore>());
        services.AddSingleton<IKeyAdministrationStore>(sp => sp.GetRequiredService<PostgreSqlMailStore>());
        services.AddSearchIndexer();
        services.AddKeyAdministration();
        return services;
    }

    /// <summary>Mailbox imports (IMAP, WorkMail export zips, mbox, Maildir) in the background, through the store's import
    /// role (not the mail-flow core); a job runs on the node it was started on, its record in that node's data folder.</summary>
    private static void AddImports(this IServiceCollection services)
    {
        services.AddSingleton(sp => new Import.ImportJobs(sp.GetRequiredService<IMailboxImportStore>(), sp.GetRequiredService<ConfigMonitor>(),
            sp.GetRequiredService<ILogger<Import.ImportJobs>>()));
        services.AddHostedService(sp => sp.GetRequiredService<Import.ImportJobs>());
        services.AddSingleton<Admin.IAdminEndpoints, Import.ImportEndpoints>();
    }

    /// <summary>Key administration on either engine: master and mailbox key rotations in the background (resumed at
    /// start), mailbox deletion with crypto-shredding, and their admin endpoints.</summary>
    private static void AddKeyAdministration(this IServiceCollection services)
    {
        services.AddSingleton(sp => new Keys.KeyRotationService(sp.GetRequiredService<IKeyAdministrationStore>(), sp.GetRequiredService<Func<ServerConfig>>(),
            sp.GetRequiredService<ILogger<Keys.KeyRotationService>>()));
        services.AddHostedService(sp => sp.GetRequiredService<Keys.KeyRotationService>());
        services.AddSingleton<Admin.IAdminEndpoints, Keys.KeysEndpoints>();
    }

    /// <summary>The body search indexer (engine-neutral) for an engine that keeps the index.</summary>
    private static void AddSearchIndexer(this IServiceCollection services) =>
        services.AddHostedService(sp => new SearchIndexService(sp.GetRequiredService<IImapStore>(), sp.GetRequiredService<ISearchIndexStore>(),
            sp.GetRequiredService<ILogger<SearchIndexService>>()));
}

/// <summary>
/// The store of a stopped server opened for one command-line verb, whatever its engine, seen through the contract's
/// parts the offline verbs use. Disposing it closes the store.
/// </summary>
internal sealed class OfflineStore : IAsyncDisposable
{
    private readonly IAsyncDisposable _owner;

    private OfflineStore(IAsyncDisposable owner, IQueueStore queue, IHeldMessageStore held, IRetentionStore retention, IMailboxImportStore imap, ISearchIndexStore index,
        IKeyAdministrationStore keys)
    {
        _owner = owner;
        Keys = keys;
        Queue = queue;
        Held = held;
        Retention = retention;
        Imap = imap;
        Index = index;
    }

    /// <summary>Mailboxes, folders and messages, and mailbox imports.</summary>
    public IMailboxImportStore Imap { get; }

    /// <summary>The body search index.</summary>
    public ISearchIndexStore Index { get; }

    /// <summary>The outbound queue and daily counters.</summary>
    public IQueueStore Queue { get; }

    /// <summary>Messages held for a synchronous hook.</summary>
    public IHeldMessageStore Held { get; }

    /// <summary>What the retention runner uses.</summary>
    public IRetentionStore Retention { get; }

    /// <summary>Key rotations, key status and mailbox deletion.</summary>
    public IKeyAdministrationStore Keys { get; }

    /// <summary>Opens the store <paramref name="config"/> names.</summary>
    /// <exception cref="StoreLockedException">LiteDB: the server is running on this data folder.</exception>
    /// <exception cref="StoreUnavailableException">PostgreSQL cannot be reached.</exception>
    public static OfflineStore Open(ServerConfig config)
    {
        var logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        return config.Storage.Engine == StorageEngine.PostgreSql
            ? Of(ServerHost.OpenPostgreSql(() => config, logger))
            : Of(ServerHost.OpenLiteDb(() => config, logger));
    }

    private static OfflineStore Of<TStore>(TStore store)
        where TStore : IQueueStore, IHeldMessageStore, IRetentionStore, IMailboxImportStore, ISearchIndexStore, IKeyAdministrationStore, IAsyncDisposable =>
        new(store, store, store, store, store, store, store);

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _owner.DisposeAsync();
}
