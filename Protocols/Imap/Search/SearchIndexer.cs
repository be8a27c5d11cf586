using System.Diagnostics;
using MailServer.Protocols.Imap.Messages;
using MailServer.Storage;
using Microsoft.Extensions.Logging;

namespace MailServer.Protocols.Imap.Search;

/// <summary>
/// Keeps the encrypted search index of every folder caught up with its messages, behind intake: it reads what is new
/// past each folder's cursor (the highest UID indexed: UIDs only grow, RFC 9051 §2.3.1.1), extracts the texts SEARCH
/// compares (the same <see cref="ImapMessageView"/> calls as <see cref="SearchEvaluator"/>), and commits them as a new
/// sealed segment; segments are merged like a binary counter (the last two when the older is not larger), dropping
/// expunged messages. A folder whose mailbox key rotated is re-sealed under the new key from its old segments while
/// the old key still exists, otherwise rebuilt from its messages. Run one indexer per store.
/// </summary>
public sealed class SearchIndexer
{
    /// <summary>The segment format this indexer writes and <see cref="IndexedSearch"/> reads; another format is rebuilt.</summary>
    public const int Format = 1;

    private readonly IImapStore _store;
    private readonly ISearchIndexStore _index;
    private readonly ILogger _log;

    /// <param name="store">The store, which must also be the <see cref="ISearchIndexStore"/>.</param>
    /// <param name="logger">Where progress and failures go.</param>
    /// <exception cref="ArgumentException">The store keeps no search index.</exception>
    public SearchIndexer(IImapStore store, ILogger logger)
        : this(store, store as ISearchIndexStore ?? throw new ArgumentException("The store keeps no search index.", nameof(store)), logger)
    {
    }

    /// <param name="store">Where messages are read.</param>
    /// <param name="index">Where the index is kept (the same store, seen as its index).</param>
    /// <param name="logger">Where progress and failures go.</param>
    public SearchIndexer(IImapStore store, ISearchIndexStore index, ILogger logger)
    {
        _store = store;
        _index = index;
        _log = logger;
    }

    /// <summary>Messages read per new segment.</summary>
    public int BatchSize { get; init; } = 2_000;

    /// <summary>Messages read and parsed at once.</summary>
    public int Parallelism { get; init; } = Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>Indexes every folder that is behind.</summary>
    /// <returns>Messages indexed.</returns>
    public async Task<long> CatchUpAsync(CancellationToken cancellationToken)
    {
        long indexed = 0;
        foreach (var backlog in _index.ListSearchIndexBacklog(Format))
        {
            cancellationToken.ThrowIfCancellationRequested();
            indexed += await IndexFolderAsync(backlog.FolderId, cancellationToken).ConfigureAwait(false);
        }
        return indexed;
    }

    /// <summary>Brings one folder's index up to date (nothing when the folder is gone).</summary>
    /// <returns>Messages indexed.</returns>
    public async Task<long> IndexFolderAsync(string folderId, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        long indexed = 0;
        for (var conflicts = 0; ;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                var step = await StepAsync(folderId, cancellationToken).ConfigureAwait(false);
                if (step < 0)
                    break;
                indexed += step;
            }
            catch (SearchIndexConflictException) when (++conflicts < 5)
            {
                // Another commit or a key rotation came between reading and committing: read again.
            }
            catch (KeyNotFoundException)
            {
                break; // the folder (or its mailbox) was deleted meanwhile
            }
        }
        if (indexed > 0)
            _log.SearchIndexUpdated(folderId, indexed, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return indexed;
    }

    /// <summary>One commit: re-seal, rebuild, a new segment or a merge. Negative when nothing was left to do.</summary>
    private async Task<long> StepAsync(string folderId, CancellationToken cancellationToken)
    {
        var folder = _store.GetFolder(folderId);
        if (folder is null)
            return -1;
        var existing = _index.ReadSearchIndex(folderId);
        var state = existing;
        if (state is not null && state.Format == Format && !state.Current)
        {
            // keys rotate --mailbox: carry the segments over to the new key while the old one still opens them.
            if (await TryMergeAsync(state, state.Segments, reset: true, cancellationToken).ConfigureAwait(false))
                return 0;
            state = null;
        }
        else if (state is not null && state.Format != Format)
        {
            state = null;
        }
        else if (await MergeIfDueAsync(state, cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }
        var reset = existing is not null && state is null;
        var version = existing?.Version ?? 0;
        var from = state?.IndexedThrough ?? 0;
        var last = folder.UidNext - 1;
        if (last <= from && !reset)
            return -1;

        // The cursor only moves over what this listing showed: a listing may lag the folder's UIDNEXT by a commit (the
        // metadata cache learns of a commit just after it), and a UID the cursor passed unseen would never be indexed.
        var messages = last <= from ? [] : _store.ListMessages(folderId, from + 1);
        var batch = messages.Where(m => m.Uid <= last).Take(BatchSize).ToList();
        if (batch.Count == 0 && !reset)
            return -1; // nothing new (the newest messages were expunged, or are not listed yet)
        var through = batch.Count == 0 ? from : batch[^1].Uid;
        var (builder, failed) = await BuildAsync(folder.MailboxId, batch, cancellationToken).ConfigureAwait(false);
        var unindexed = (state?.Unindexed ?? []).Concat(failed).Distinct().Order().ToList();
        await _index.CommitSearchIndexAsync(folderId, new SearchIndexUpdate(version, Format, through, unindexed, reset, [],
            builder.Documents == 0 ? null : new SearchSegmentContent(builder.Build(), builder.FirstUid, builder.LastUid, builder.Documents)),
            cancellationToken).ConfigureAwait(false);
        return builder.Documents;
    }

    /// <summary>Messages from this size up are indexed from their stored stream: the structure scanned, the text parts
    /// read by range, so a big attachment is never decrypted into memory (issue 21); the same size FETCH streams from.</summary>
    private const long StreamedBytes = 1024 * 1024;

    // The texts of a big message read off its stored stream, or null when its header sections are too large to hold
    // apart (it is then read whole, as a smaller message is).
    private MessageTexts? Streamed(string mailboxId, string entryId, CancellationToken cancellationToken)
    {
        using var body = _store.OpenMessage(mailboxId, entryId);
        try
        {
            return MessageTexts.Of(ImapMessageView.ScanStream(body, cancellationToken: cancellationToken), body);
        }
        catch (MimeStructureTooLargeException)
        {
            return null;
        }
    }

    /// <summary>Reads and indexes <paramref name="messages"/>; those that cannot be read or parsed are returned apart
    /// (SEARCH decrypts them); those expunged meanwhile are left out.</summary>
    private async Task<(IndexSegmentBuilder Builder, List<uint> Failed)> BuildAsync(string mailboxId, IReadOnlyList<MessageMeta> messages,
        CancellationToken cancellationToken)
    {
        var texts = new MessageTexts?[messages.Count];
        var failed = new System.Collections.Concurrent.ConcurrentBag<uint>();
        var options = new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Enumerable.Range(0, messages.Count), options, async (i, token) =>
        {
            try
            {
                texts[i] = messages[i].Size >= StreamedBytes ? Streamed(mailboxId, messages[i].EntryId, token) : null;
                texts[i] ??= MessageTexts.Of(ImapMessageView.Parse(await _store.ReadMessageAsync(mailboxId, messages[i].EntryId, token).ConfigureAwait(false)));
            }
            catch (KeyNotFoundException)
            {
                // Expunged since it was listed.
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                failed.Add(messages[i].Uid);
                _log.SearchIndexMessageSkipped(messages[i].Uid, ex.GetType().Name);
            }
        }).ConfigureAwait(false);
        var builder = new IndexSegmentBuilder();
        for (var i = 0; i < messages.Count; i++)
            if (texts[i] is { } t)
                builder.AddMessage(messages[i].Uid, t.Body, t.Headers, t.Addresses);
        return (builder, failed.ToList());
    }

    /// <summary>Merges the last two segments while the older is not larger than the newer (a binary counter: at most
    /// about log2(messages) segments, each message rewritten about as often).</summary>
    private async Task<bool> MergeIfDueAsync(SearchIndexState? state, CancellationToken cancellationToken)
    {
        if (state is null || state.Segments.Count < 2)
            return false;
        var segments = state.Segments;
        if (segments[^2].Documents > segments[^1].Documents && segments.Count <= 32)
            return false;
        return await TryMergeAsync(state, [segments[^2], segments[^1]], reset: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Replaces <paramref name="segments"/> of <paramref name="state"/> by one segment holding their messages that
    /// are still in the folder. With <paramref name="reset"/> they are every segment and the new one is sealed under the
    /// mailbox's current key. False when a segment does not open (its key is gone, or it is damaged).</summary>
    private async Task<bool> TryMergeAsync(SearchIndexState state, IReadOnlyList<SearchIndexSegment> segments, bool reset, CancellationToken cancellationToken)
    {
        var readers = new List<IndexSegmentReader>();
        try
        {
            foreach (var segment in segments)
                readers.Add(new IndexSegmentReader(_index.OpenSearchSegment(state, segment.SegmentId)));
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException or InvalidDataException)
        {
            _log.SearchIndexSegmentUnreadable(state.FolderId, ex.GetType().Name);
            return false;
        }
        // Only the UIDs the merged segments cover are looked up: merging the two newest segments of a large folder
        // then lists the newest messages, not the whole folder (the common case, after every few batches).
        var first = segments.Min(s => s.FirstUid);
        var last = segments.Max(s => s.LastUid);
        var live = _store.ListMessages(state.FolderId, first).Select(m => m.Uid).Where(u => u <= last).ToHashSet();
        var builder = new IndexSegmentBuilder();
        for (var i = 0; i < readers.Count; i++)
        {
            foreach (var scope in Enum.GetValues<TermScope>())
                foreach (var (word, uids) in readers[i].Terms(scope))
                {
                    uids.RemoveAll(u => !live.Contains(u));
                    if (uids.Count > 0)
                        builder.AddPostings(scope, word, uids);
                }
            var segment = segments[i];
            var documents = live.Count(u => u >= segment.FirstUid && u <= segment.LastUid);
            builder.AddDocuments(documents, segment.FirstUid, segment.LastUid);
        }
        // An unreadable message outside the merged range stays listed as such (SEARCH reads it whole).
        var unindexed = state.Unindexed.Where(u => u < first || u > last || live.Contains(u)).ToList();
        await _index.CommitSearchIndexAsync(state.FolderId, new SearchIndexUpdate(state.Version, Format, state.IndexedThrough, unindexed, reset,
            segments.Select(s => s.SegmentId).ToList(),
            builder.Documents == 0 ? null : new SearchSegmentContent(builder.Build(), builder.FirstUid, builder.LastUid, builder.Documents)),
            cancellationToken).ConfigureAwait(false);
        return true;
    }
}

/// <summary>The texts of one message that SEARCH compares, extracted as <see cref="SearchEvaluator"/> reads them.</summary>
internal sealed record MessageTexts(List<string> Body, List<string> Headers, List<string> Addresses)
{
    private static readonly string[] AddressFields = ["From", "To", "Cc", "Bcc", "Sender", "Reply-To"];

    /// <param name="view">The message's view.</param>
    /// <param name="body">For a streamed view, the message's stored stream, from which the text parts are read.</param>
    public static MessageTexts Of(ImapMessageView view, Stream? body = null)
    {
        var addresses = new List<string>();
        foreach (var field in AddressFields)
            foreach (var mailbox in view.GetAddresses(field).Mailboxes)
            {
                addresses.Add(mailbox.Address);
                if (!string.IsNullOrEmpty(mailbox.Name))
                    addresses.Add(mailbox.Name);
            }
        return new MessageTexts(view.GetBodyTexts(body).ToList(), view.GetHeaders().Select(h => h.Name + ": " + h.Value).ToList(), addresses);
    }
}
