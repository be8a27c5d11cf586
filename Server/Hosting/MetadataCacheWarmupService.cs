using MailServer.Storage;
using Microsoft.Extensions.Hosting;

namespace MailServer.Server.Hosting;

/// <summary>
/// Once at start, in the background: fills the store's folder metadata cache (<see cref="MailStore.WarmMetadataCache"/>),
/// so the first SELECT of a large folder after a restart does not read every entry from the database. Listeners are
/// not held up; a SELECT that comes first lists its folder itself.
/// </summary>
internal sealed class MetadataCacheWarmupService(MailStore store) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Run(() =>
        {
            try
            {
                store.WarmMetadataCache(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // Stopping before the warm-up finished.
            }
        }, CancellationToken.None);
}
