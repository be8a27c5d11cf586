using MailServer.Rules.Directory;
using MailServer.Rules.Dns;
using MailServer.Server.Configuration;
using MailServer.Server.Dns;
using MailServer.Server.Events;
using MailServer.Server.Audit;
using MailServer.Server.Metrics;
using MailServer.Rules.Sending;
using MailServer.Server.Hosting;
using MailServer.Server.MailFlow;
using MailServer.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MailServer.Tests.Support;

/// <summary>
/// The mail-flow core composed in process exactly as the server composes it (<see cref="MailFlowModule.AddMailFlow"/>),
/// over a given configuration, store and DNS server: for tests that drive the SMTP listener or the door directly.
/// </summary>
internal sealed class MailFlowServices : IAsyncDisposable, IDirectorySource
{
    private readonly ServiceProvider _provider;
    private Func<ServerConfig> _config;

    private MailFlowServices(ServerConfig config, IMailStore store, DnsConfig dns, TimeProvider? time, Action<IServiceCollection>? configure)
    {
        _config = () => config;
        Current = config.ToDirectory();
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton<Func<ServerConfig>>(_ => () => _config());
        services.AddSingleton<IDirectorySource>(this);
        services.AddSingleton(store);
        services.AddStoreContract<IMailStore>();
        services.AddSingleton<IDnsResolver>(_ => new DnsResolver(dns));
        services.AddSingleton(time ?? TimeProvider.System);
        // The real event log over the config's data directory, as the server composes it; a test may replace it.
        services.AddSingleton<IEmailEventLog>(sp => new EmailEventLog(() => _config(), time: sp.GetRequiredService<TimeProvider>()));
        // And the real audit log's submission records (§19.1), in the same data directory.
        services.AddSingleton<ISubmissionObserver>(sp => new SubmissionAuditObserver(
            new AuditLog(_config().DataDirectory, sp.GetRequiredService<TimeProvider>()), new MailMetrics()));
        services.AddMailFlow();
        configure?.Invoke(services);
        _provider = services.BuildServiceProvider();
    }

    /// <summary>Composes the core over <paramref name="config"/>; <paramref name="configure"/> may add or replace services (an event log).</summary>
    public static MailFlowServices Create(ServerConfig config, IMailStore store, DnsConfig dns, TimeProvider? time = null,
        Action<IServiceCollection>? configure = null) => new(config, store, dns, time, configure);

    /// <inheritdoc />
    public MailDirectory Current { get; private set; }

    /// <summary>Switches to another configuration, as a live edit would.</summary>
    public void Apply(ServerConfig config)
    {
        _config = () => config;
        Current = config.ToDirectory();
    }

    /// <summary>A service of the composition.</summary>
    public T Get<T>() where T : notnull => _provider.GetRequiredService<T>();

    public ValueTask DisposeAsync() => _provider.DisposeAsync();
}
