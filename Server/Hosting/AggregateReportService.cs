using MailServer.Server.Logging;
using MailServer.Server.Reports;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Hosting;

/// <summary>
/// Sends the aggregate reports (TLS-RPT, DMARC) of finished UTC days: once at start (a day that ended while the server
/// was down), then shortly after each midnight UTC, at a random minute of the first hour (RFC 8460 §5.1 asks reporters
/// to spread their reports; RFC 7489 §7.2 has receivers send them once a day).
/// </summary>
internal sealed class AggregateReportService(AggregateReportSender sender, TimeProvider time, ILogger<AggregateReportService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(30), stoppingToken).ConfigureAwait(false); // let the queue start first
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await sender.SendDueAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    ReportLog.RunFailed(logger, e);
                }
                var now = time.GetUtcNow();
                var next = new DateTimeOffset(now.UtcDateTime.Date.AddDays(1), TimeSpan.Zero) + TimeSpan.FromMinutes(Random.Shared.Next(5, 60));
                await Task.Delay(next - now, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: the counts are on disk (the ledgers save on dispose) and are reported after the restart.
        }
    }
}
