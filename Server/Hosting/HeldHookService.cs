using MailServer.Server.Hooks;
using MailServer.Server.MessageFlow;
using MailServer.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Hosting;

/// <summary>
/// Runs <see cref="HeldHookWorker"/> for the host's lifetime: starts every due held message, then waits for a newly
/// held one (or polls each second). On stop, calls under way are cancelled; their messages are still held on disk and
/// are resumed after the restart with the same invocation id.
/// </summary>
internal sealed class HeldHookService(HeldHookWorker worker, IHeldMessageStore store, ILogger<HeldHookService> logger) : BackgroundService
{
    /// <summary>How often the held messages are looked at when nothing wakes the loop.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        if (store.ListHeld().Count is var held and > 0)
            HeldHookLog.Resumed(logger, held);
        var running = new List<Task>();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    running.AddRange(await worker.StartDueAsync(stoppingToken).ConfigureAwait(false));
                }
                catch (IOException e)
                {
                    // The store is unreachable this round: claim again at the next one.
                    HeldHookLog.ClaimFailed(logger, e);
                }
                running.RemoveAll(t => t.IsCompleted);
                await worker.Signal.WaitAsync(PollInterval, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
        await Task.WhenAll(running).ConfigureAwait(false);
    }
}
