using MailServer.Protocols.Smtp;
using MailServer.Rules.Directory;
using MailServer.Rules.Dns;
using MailServer.Rules.Sending;
using MailServer.Rules.FlowRules;
using MailServer.Rules.SenderAuthentication;
using MailServer.Server.Admin;
using MailServer.Server.Configuration;
using MailServer.Server.ContentFiltering;
using MailServer.Server.Delivery;
using MailServer.Server.Dkim;
using MailServer.Server.Events;
using MailServer.Server.Hooks;
using MailServer.Server.MailFlow.Doors;
using MailServer.Server.MailFlow.Stages;
using MailServer.Server.MessageFlow;
using MailServer.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.MailFlow;

/// <summary>
/// Registers the mail-flow core: the door (<see cref="IMailFlowDoor"/>), its stages in their one order, what they act
/// through (local delivery, the outbound queue and its worker, DSNs, journaling, hooks and held messages), and the SMTP
/// listener's door (<see cref="IMessageDelivery"/>). The server and the in-process test harnesses compose it the same way.
/// </summary>
/// <remarks>
/// Needs from the rest of the composition: <see cref="Func{ServerConfig}"/> (the configuration in force),
/// <see cref="IDirectorySource"/>, the store's contract interfaces (<c>StoreModule.AddStoreContract</c>: <see cref="IDeliveryStore"/>,
/// <see cref="IImapStore"/>, <see cref="IQueueStore"/>, <see cref="IHeldMessageStore"/>, <see cref="IMessageFlowStore"/>), <see cref="IDnsResolver"/>, <see cref="TimeProvider"/>,
/// <see cref="ISubmissionObserver"/> (the audit log's submission records) and <see cref="IEmailEventLog"/> (the email event log is part of every message's flow, as in WorkMail; there is no
/// composition without it).
/// </remarks>
public static class MailFlowModule
{
    /// <summary>Adds the mail-flow core to <paramref name="services"/>.</summary>
    public static IServiceCollection AddMailFlow(this IServiceCollection services)
    {
        static ILogger Category(IServiceProvider sp, string name) => sp.GetRequiredService<ILoggerFactory>().CreateLogger(name);

        // The door, resolved late by what the flow itself sends (DSNs, journal records, forwards, hook releases).
        services.AddSingleton<MailFlowPipeline>();
        services.AddSingleton<IMailFlowDoor>(sp => sp.GetRequiredService<MailFlowPipeline>());
        services.AddSingleton<Func<IMailFlowDoor>>(sp => () => sp.GetRequiredService<IMailFlowDoor>());
        services.AddSingleton<MailFlowStages>();
        services.AddSingleton<IMessageDelivery, SmtpDoor>();

        // 1. Sender authentication (MX), with each organization's live Dmarc.Enforce.
        services.AddSingleton<IDmarcEnforcementSource, ConfiguredDmarcEnforcement>();
        // Aggregate reports (TLS-RPT, DMARC): what is counted, and the daily sender.
        services.AddSingleton(sp => new Reports.TlsReportLedger(sp.GetRequiredService<Func<ServerConfig>>(),
            sp.GetRequiredService<Func<ServerConfig>>()().DataDirectory, sp.GetRequiredService<TimeProvider>(), Category(sp, "MailServer.Reports")));
        services.AddSingleton(sp => new Reports.DmarcReportLedger(sp.GetRequiredService<Func<ServerConfig>>(),
            sp.GetRequiredService<Func<ServerConfig>>()().DataDirectory, sp.GetRequiredService<TimeProvider>(), Category(sp, "MailServer.Reports")));
        services.AddSingleton(sp => new Reports.AggregateReportSender(sp.GetRequiredService<Reports.TlsReportLedger>(),
            sp.GetRequiredService<Reports.DmarcReportLedger>(), sp.GetRequiredService<IDnsResolver>(), sp.GetRequiredService<Func<IMailFlowDoor>>(),
            sp.GetRequiredService<IDirectorySource>(), sp.GetRequiredService<Func<ServerConfig>>(), Reports.ReportHttp.Create(),
            sp.GetRequiredService<TimeProvider>(), Category(sp, "MailServer.Reports")));
        services.AddSingleton(sp => new SenderAuthenticationStage(
            new SenderAuthenticator(sp.GetRequiredService<IDnsResolver>(), sp.GetRequiredService<Func<ServerConfig>>()().ServerName),
            sp.GetRequiredService<IDmarcEnforcementSource>(), sp.GetRequiredService<Func<ServerConfig>>()().ServerName,
            sp.GetRequiredService<ILogger<SenderAuthenticationStage>>(), sp.GetRequiredService<IEmailEventLog>(),
            sp.GetRequiredService<Reports.DmarcReportLedger>()));
        // 1. Sending rights (submission, §5).
        services.AddSingleton<SendingRightsStage>();
        // 2. Content filtering: the classifier seam (docs/decisions.md, "Spam verdicts": DMARC quarantine only, until an engine is configured).
        // The engines (rspamd over HTTP, clamd over INSTREAM) when MailServer.ContentFiltering names them.
        services.AddSingleton<ISpamClassifier, DmarcOnlySpamClassifier>();
        services.AddSingleton(_ => new RspamdClient(RspamdClient.CreateHttpClient()));
        services.AddSingleton<ClamdClient>();
        services.AddSingleton(sp => new ContentScanner(sp.GetRequiredService<RspamdClient>(), sp.GetRequiredService<ClamdClient>(),
            sp.GetRequiredService<ILogger<ContentScanner>>(), sp.GetService<Metrics.MailMetrics>()));
        services.AddSingleton(sp => new OutboundSpamThrottle(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new ContentFilterStage(sp.GetRequiredService<ISpamClassifier>(), sp.GetRequiredService<ContentScanner>(),
            sp.GetRequiredService<OutboundSpamThrottle>(), sp.GetRequiredService<Func<ServerConfig>>(), sp.GetRequiredService<ILogger<ContentFilterStage>>(),
            sp.GetRequiredService<IEmailEventLog>(), sp.GetService<Metrics.MailMetrics>()));
        // 3. Flow rules and hooks (§9, §10): compiled once per configuration generation; held messages and their worker.
        services.AddSingleton(sp => new FlowRuleSetCache(sp.GetRequiredService<Func<ServerConfig>>()));
        services.AddSingleton(_ => HookClient.CreateHttpClient());
        services.AddSingleton(sp => new HookClient(sp.GetRequiredService<HttpClient>(), new HookClientOptions(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<HookClient>>()));
        // IMessageFlowStore and IHeldMessageStore: registered by the store engine's module (Server/Hosting/StoreModule.cs).
        services.AddSingleton<HookHolds>();
        services.AddSingleton<HeldHookWorker>();
        services.AddSingleton<IAdminEndpoints, MessageFlowEndpoints>();
        services.AddSingleton<FlowRulesStage>();
        // 4. The folder decision.
        services.AddSingleton<FolderPrecedenceStage>();
        // 5. DKIM signing with the keys in <DataDirectory>/dkim.
        services.AddSingleton(sp => new DkimMessageSigner(sp.GetRequiredService<Func<ServerConfig>>()().DataDirectory));
        services.AddSingleton<DkimSigningStage>();
        // 6. Delivery: mailboxes (with the users' mailbox rules, §9.8) and the durable outbound queue.
        services.AddSingleton(sp => new MailboxRuleSetCache(sp.GetRequiredService<Func<ServerConfig>>()));
        services.AddSingleton(sp => new MailboxRuleActions(sp.GetRequiredService<MailboxRuleSetCache>(), sp.GetRequiredService<IImapStore>(), sp.GetRequiredService<IQueueStore>(),
            sp.GetRequiredService<IDirectorySource>(), sp.GetRequiredService<Func<ServerConfig>>(), Category(sp, "MailServer.Delivery.MailboxRules"),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<IEmailEventLog>()));
        services.AddSingleton<LocalDelivery>();
        services.AddSingleton<QueueSignal>();
        services.AddSingleton(sp => new DsnSender(sp.GetRequiredService<Func<IMailFlowDoor>>(), sp.GetRequiredService<IDirectorySource>(),
            sp.GetRequiredService<Func<ServerConfig>>(), Category(sp, "MailServer.Delivery.Dsn"), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<DeliveryStage>();
        services.AddSingleton(sp => new MtaStsPolicies(sp.GetRequiredService<IDnsResolver>(),
            () => sp.GetRequiredService<Func<ServerConfig>>()().Delivery, sp.GetRequiredService<Func<ServerConfig>>()().DataDirectory,
            sp.GetRequiredService<TimeProvider>(), Category(sp, "MailServer.Delivery.TransportSecurity")));
        services.AddSingleton(sp => new RemoteDelivery(sp.GetRequiredService<IDnsResolver>(),
            () => sp.GetRequiredService<Func<ServerConfig>>()().Delivery, sp.GetRequiredService<Func<ServerConfig>>()().ServerName,
            sp.GetRequiredService<MtaStsPolicies>(), Category(sp, "MailServer.Delivery.TransportSecurity"), sp.GetRequiredService<Reports.TlsReportLedger>()));
        services.AddSingleton(sp => new OutboundQueue(sp.GetRequiredService<IQueueStore>(), sp.GetRequiredService<RemoteDelivery>(),
            sp.GetRequiredService<DsnSender>(), sp.GetRequiredService<Func<ServerConfig>>(), sp.GetRequiredService<QueueSignal>(),
            Category(sp, "MailServer.Delivery.OutboundQueue"), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<IEmailEventLog>()));
        // 7–9. What follows delivery: bounce notices, journaling (§14), mailbox rules' forwards.
        services.AddSingleton<BounceNoticeStage>();
        services.AddSingleton(sp => new JournalWriter(sp.GetRequiredService<Func<IMailFlowDoor>>(), sp.GetRequiredService<IDirectorySource>(),
            sp.GetRequiredService<Func<ServerConfig>>(), sp.GetRequiredService<DsnSender>(), Category(sp, "MailServer.Delivery.Journal"),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<IEmailEventLog>()));
        services.AddSingleton<JournalingStage>();
        services.AddSingleton<MailboxRuleActionsStage>();
        return services;
    }
}
