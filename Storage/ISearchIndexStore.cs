namespace MailServer.Storage;

/// <summary>One sealed segment of a folder's search index: the messages of UIDs <see cref="FirstUid"/> to
/// <see cref="LastUid"/> that were indexed together (<see cref="Documents"/> of them), <see cref="Bytes"/> on disk.</summary>
public sealed record SearchIndexSegment(string SegmentId, uint FirstUid, uint LastUid, int Documents, long Bytes);

/// <summary>
/// What the store keeps in clear about a folder's search index: which segments it has, how far it has indexed
/// (every message of the folder with a UID up to <see cref="IndexedThrough"/> is in a segment, except the
/// <see cref="Unindexed"/> ones the indexer could not read), the mailbox key generation its segments are sealed under
/// and the segment format of the indexer that wrote them. <see cref="Current"/> is false once the mailbox key changed
/// (<c>keys rotate --mailbox</c>): the segments may no longer open and the index must be re-sealed or rebuilt.
/// <see cref="Version"/> changes with every commit (optimistic concurrency for <see cref="ISearchIndexStore.CommitSearchIndexAsync"/>).
/// </summary>
public sealed record SearchIndexState(
    string FolderId,
    string MailboxId,
    int KeyGeneration,
    bool Current,
    int Format,
    uint IndexedThrough,
    IReadOnlyList<SearchIndexSegment> Segments,
    IReadOnlyList<uint> Unindexed,
    long Version);

/// <summary>A folder whose search index is missing, behind, stale (another key generation) or of another format.</summary>
public sealed record SearchIndexBacklog(string FolderId, string MailboxId, uint UidNext, int MessageCount);

/// <summary>A new segment's plaintext (the caller's format; the store only seals it) and what it covers.</summary>
public sealed record SearchSegmentContent(byte[] Plaintext, uint FirstUid, uint LastUid, int Documents);

/// <summary>
/// One change to a folder's search index, committed all or nothing: <see cref="Added"/> (sealed and written before
/// the commit) replaces the segments named in <see cref="Removed"/> (every segment when <see cref="Reset"/>), and the
/// cursor moves to <see cref="IndexedThrough"/>. Refused when the index changed since <see cref="ExpectedVersion"/>
/// (0: no index yet) or when the mailbox key changed and <see cref="Reset"/> is not set.
/// </summary>
public sealed record SearchIndexUpdate(
    long ExpectedVersion,
    int Format,
    uint IndexedThrough,
    IReadOnlyList<uint> Unindexed,
    bool Reset,
    IReadOnlyList<string> Removed,
    SearchSegmentContent? Added);

/// <summary>The search index changed or the mailbox key rotated since the caller read it; read it again and redo.</summary>
public sealed class SearchIndexConflictException(string message) : InvalidOperationException(message);

/// <summary>
/// Storage of encrypted per-folder search indexes (IMAP SEARCH BODY / TEXT). The store never sees terms: a segment is
/// an opaque plaintext the indexer builds, sealed here with AES-256-GCM under the mailbox's search index key (HKDF of
/// the mailbox key, so shredding the mailbox key makes every segment unreadable), bound to its mailbox, folder,
/// segment id and key generation. LiteDB writes each segment as a file outside the database, which holds only the
/// segment list and the cursor; PostgreSQL keeps the sealed segment as a row written in the same transaction as the
/// index that names it. Segments are derived data: <c>mailserver reindex</c> drops them and the indexer rebuilds.
/// </summary>
public interface ISearchIndexStore
{
    /// <summary>The folder's index, or null when it has none (never indexed, or dropped).</summary>
    SearchIndexState? ReadSearchIndex(string folderId);

    /// <summary>Folders holding messages whose index is missing, behind the folder's UIDNEXT, sealed under an older
    /// mailbox key generation or of another <paramref name="format"/>.</summary>
    IReadOnlyList<SearchIndexBacklog> ListSearchIndexBacklog(int format);

    /// <summary>The plaintext of one segment of <paramref name="state"/>.</summary>
    /// <exception cref="FileNotFoundException">The segment file is gone.</exception>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The segment was altered, or its key
    /// generation was destroyed (rotation, shredding).</exception>
    byte[] OpenSearchSegment(SearchIndexState state, string segmentId);

    /// <summary>Commits <paramref name="update"/> to the folder's index, durably; files of removed segments are deleted
    /// after the commit.</summary>
    /// <returns>The index as committed.</returns>
    /// <exception cref="KeyNotFoundException">No such folder (deleted meanwhile).</exception>
    /// <exception cref="SearchIndexConflictException">The index changed since <see cref="SearchIndexUpdate.ExpectedVersion"/>,
    /// or the mailbox key rotated and the update is no <see cref="SearchIndexUpdate.Reset"/>.</exception>
    Task<SearchIndexState> CommitSearchIndexAsync(string folderId, SearchIndexUpdate update, CancellationToken cancellationToken);

    /// <summary>Removes the index of folders that no longer exist and segment files no index refers to (left by a crash
    /// between writing a segment and its commit). Run it from the one indexer, never beside another commit.</summary>
    /// <returns>How many segment files were deleted.</returns>
    Task<int> PruneSearchIndexesAsync(CancellationToken cancellationToken);

    /// <summary>Drops every folder's index (reindex rebuilds them).</summary>
    Task DropSearchIndexesAsync(CancellationToken cancellationToken);
}
