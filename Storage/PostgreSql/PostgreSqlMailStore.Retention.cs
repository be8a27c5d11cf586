namespace MailServer.Storage.PostgreSql;

// Retention (WorkMail §16): removing messages whatever their flags, in one commit, exactly as EXPUNGE removes them
// (one new MODSEQ, a tombstone for QRESYNC, the body with its last entry, a MessagesExpunged on every node's feed).
public sealed partial class PostgreSqlMailStore : IRetentionOperations
{
    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such folder.</exception>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed before the commit; nothing was removed.</exception>
    /// <exception cref="WriteOutcomeUnknownException">The commit failed.</exception>
    public Task<IReadOnlyList<uint>> PermanentlyDeleteAsync(string folderId, IReadOnlyCollection<uint> uids, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(uids);
        return WriteAsync<IReadOnlyList<uint>>(async (tx, changes) =>
        {
            var (mailbox, folders) = await LockFolderAsync(tx, [folderId], cancellationToken).ConfigureAwait(false);
            var doomed = await DoomedAsync(
                Command(tx, "SELECT id, uid, flags, size, blob_id FROM entries WHERE folder_id = $1 AND uid = ANY($2) FOR UPDATE",
                    folderId, uids.Select(u => (long)u).Distinct().ToArray()),
                cancellationToken).ConfigureAwait(false);
            if (doomed.Count == 0)
                return [];
            var removed = await RemoveAsync(tx, changes, mailbox, folders[folderId], doomed, tombstone: true, cancellationToken).ConfigureAwait(false);
            await SaveAsync(tx, mailbox, folders.Values, cancellationToken).ConfigureAwait(false);
            return removed;
        }, cancellationToken);
    }
}
