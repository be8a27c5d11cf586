using MailServer.Protocols.Imap.Search;
using MailServer.Storage;
using MailServer.Server.Logging;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Hosting;

/// <summary>
/// Keeps the encrypted search index (IMAP SEARCH BODY / TEXT) caught up behind intake, off the delivery path: at start it
/// removes what a crash left and indexes every folder that is behind (a new server, a restore, a key rotation); then it
/// follows the store's change feed and indexes the folders that received mail, a second after the first of a burst (so
/// a stream of deliveries makes a few segments, not one per message), and looks for stragglers every minute. One
/// indexer for the store: SEARCH reads the messages the index does not cover yet, so answers never wait for it.
/// </summary>
internal sealed class SearchIndexService(IImapStore store, ISearchIndexStore index, ILogger<SearchIndexService> logger) : BackgroundService
{
    private static readonly TimeSpan Debounce = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Sweep = TimeSpan.FromMinutes(1);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Run(() => RunAsync(stoppingToken), CancellationToken.None);

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        var indexer = new SearchIndexer(store, index, logger);
        var subscription = store.Changes.Subscribe(ChangeFeed.AllMailboxes);
        try
        {
            var sweep = true;
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    if (sweep)
                    {
                        await index.PruneSearchIndexesAsync(stoppingToken).ConfigureAwait(false);
                        await indexer.CatchUpAsync(stoppingToken).ConfigureAwait(false);
                    }
                    var (folders, timedOut) = await WaitForNewMailAsync(subscription, stoppingToken).ConfigureAwait(false);
                    if (subscription.Overflowed)
                    {
                        // Changes were dropped: sweep every folder rather than trust the feed.
                        subscription.Dispose();
                        subscription = store.Changes.Subscribe(ChangeFeed.AllMailboxes);
                        sweep = true;
                        continue;
                    }
                    sweep = timedOut;
                    foreach (var folderId in folders)
                        await indexer.IndexFolderAsync(folderId, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    HostLog.SearchIndexerFailed(logger, ex);
                    await Task.Delay(Sweep, stoppingToken).ConfigureAwait(false);
                    sweep = true;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: what is not indexed yet is indexed at the next start.
        }
        finally
        {
            subscription.Dispose();
        }
    }

    /// <summary>The folders that received messages: those of the first change and of everything that came within
    /// <see cref="Debounce"/> after it; none and <c>timedOut</c> after <see cref="Sweep"/> without any.</summary>
    private static async Task<(HashSet<string> Folders, bool TimedOut)> WaitForNewMailAsync(IChangeSubscription subscription, CancellationToken stoppingToken)
    {
        var folders = new HashSet<string>(StringComparer.Ordinal);
        using (var quiet = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
        {
            quiet.CancelAfter(Sweep);
            try
            {
                while (folders.Count == 0)
                {
                    var change = await subscription.Reader.ReadAsync(quiet.Token).ConfigureAwait(false);
                    if (change is MailboxChange.MessageAdded added)
                        folders.Add(added.FolderId);
                }
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                return (folders, true);
            }
            catch (System.Threading.Channels.ChannelClosedException)
            {
                // The store is closing.
                await Task.Delay(Timeout.Infinite, stoppingToken).ConfigureAwait(false);
            }
        }
        await Task.Delay(Debounce, stoppingToken).ConfigureAwait(false);
        while (subscription.Reader.TryRead(out var change))
            if (change is MailboxChange.MessageAdded added)
                folders.Add(added.FolderId);
        return (folders, false);
    }
}
