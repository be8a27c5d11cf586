using MailServer.Server.Delivery;
using MailServer.Server.Logging;
using MailServer.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Hosting;

/// <summary>
/// Runs the outbound queue for the host's lifetime: starts every due message, then waits for a new message or
/// a retry request (or polls each second). On stop, deliveries under way are cancelled; their recipients are
/// still pending on disk and are tried again after the restart.
/// </summary>
internal sealed class OutboundQueueService(OutboundQueue queue, IQueueStore store, ILogger<OutboundQueueService> logger) : BackgroundService
{
    /// <summary>How often the queue is looked at when nothing wakes it.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        QueueLog.Started(logger, store.ListQueue().Count);
        var running = new List<Task>();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    running.AddRange(await queue.StartDueAsync(stoppingToken).ConfigureAwait(false));
                }
                catch (IOException e)
                {
                    // The store is unreachable this round (a PostgreSQL failover): claim again at the next one.
                    QueueLog.ClaimFailed(logger, e);
                }
                running.RemoveAll(t => t.IsCompleted);
                queue.CloseIdleConnections();
                await queue.Signal.WaitAsync(PollInterval, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
        await Task.WhenAll(running).ConfigureAwait(false);
    }
}
