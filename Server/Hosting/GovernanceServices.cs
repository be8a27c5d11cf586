using MailServer.Rules.Directory;
using MailServer.Server.Admin;
using MailServer.Server.Audit;
using MailServer.Server.Configuration;
using MailServer.Server.Events;
using MailServer.Server.Metrics;
using MailServer.Server.Quota;
using MailServer.Server.Retention;
using MailServer.Server.Security;
using MailServer.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Hosting;

/// <summary>The governance part of the composition root: one place that registers what issue #7 adds.</summary>
internal static class GovernanceServices
{
    public static void Add(IServiceCollection services)
    {
        services.AddSingleton(_ => new MailMetrics());
        services.AddSingleton<PrometheusExport>();
        services.AddSingleton<IAdminEndpoints, MetricsEndpoints>();
        services.AddSingleton<IEmailEventLog>(sp =>
        {
            var monitor = sp.GetRequiredService<ConfigMonitor>();
            return new EmailEventLog(() => monitor.Config, sp.GetRequiredService<MailMetrics>(), TimeProvider.System,
                sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Events"));
        });
        services.AddSingleton<IAuditLog>(sp => new AuditLog(sp.GetRequiredService<ConfigMonitor>().Config.DataDirectory,
            TimeProvider.System, sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Audit")));
        services.AddSingleton<ILoginAccessRules>(sp =>
        {
            var monitor = sp.GetRequiredService<ConfigMonitor>();
            return new ConfiguredLoginAccessRules(() => monitor.Config);
        });
        services.AddSingleton<ILoginObserver>(sp => new LoginAuditObserver(sp.GetRequiredService<IAuditLog>(),
            sp.GetRequiredService<MailMetrics>(), sp.GetRequiredService<IDirectorySource>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Access")));

        // Retention: through the store's retention role (both engines).
        services.AddSingleton(sp => new RetentionRunner(sp.GetRequiredService<IRetentionStore>(), TimeProvider.System,
            sp.GetRequiredService<IAuditLog>()));
        services.AddSingleton<RetentionService>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionService>());
        services.AddSingleton<IAdminEndpoints, RetentionEndpoints>();

        // The 90% quota warning.
        services.AddSingleton(sp => new QuotaWarnings(sp.GetRequiredService<IDeliveryStore>(),
            sp.GetRequiredService<ConfigMonitor>().Config.DataDirectory, TimeProvider.System,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("MailServer.Quota")));
        services.AddHostedService<QuotaWarningService>();
    }
}
