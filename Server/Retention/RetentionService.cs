using MailServer.Server.Audit;
using MailServer.Server.Configuration;
using MailServer.Server.Events;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Retention;

/// <summary>
/// Runs the retention policies shortly after start and then once a day (§16: WorkMail allows 48 hours), and
/// expires email event log and audit log files past their RetentionDays on the same schedule. A failed run is logged and
/// retried at the next tick; it never stops the host.
/// </summary>
public sealed class RetentionService(
    RetentionRunner runner,
    ConfigMonitor config,
    IEmailEventLog events,
    IAuditLog audit,
    ILogger<RetentionService> logger,
    TimeProvider? time = null) : BackgroundService
{
    /// <summary>Delay before the first run after start.</summary>
    public static readonly TimeSpan FirstRunDelay = TimeSpan.FromMinutes(1);

    /// <summary>Time between runs.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromDays(1);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);

    /// <summary>
    /// Runs once now (the admin endpoint and the daily tick both come here; runs never overlap).
    /// </summary>
    public async Task<RetentionReport> RunOnceAsync(bool dryRun, CancellationToken cancellationToken)
    {
        await _oneAtATime.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var report = await runner.RunAsync(config.Config, dryRun, cancellationToken).ConfigureAwait(false);
            GovernanceLog.RetentionRan(logger, report.Moved, report.Deleted, report.MailboxesChecked, dryRun ? " (dry run)" : "");
            if (!dryRun && events is EmailEventLog log)
                log.DeleteExpired();
            if (!dryRun && audit is AuditLog auditLog)
                auditLog.DeleteExpired(config.Config);
            return report;
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = FirstRunDelay;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
                await RunOnceAsync(dryRun: false, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A maintenance job must never stop the mail server (a BackgroundService's exception stops the host).
                GovernanceLog.RetentionFailed(logger, e);
            }
            delay = Interval;
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _oneAtATime.Dispose();
        base.Dispose();
    }
}
