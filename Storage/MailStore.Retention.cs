using E = MailServer.Storage.Schema.EntryFields;

namespace MailServer.Storage;

/// <summary>
/// What retention policies (§16) need of the store beyond <see cref="IMailStore"/>: removing messages whatever
/// their flags. Age comes from <see cref="MessageMeta.LastActionAt"/>, which the writer sets on delivery, APPEND,
/// flag changes, COPY and MOVE; moving to Deleted Items goes through <see cref="IMailStore.MoveAsync"/>.
/// </summary>
public interface IRetentionStore : IMailStore
{
    /// <summary>
    /// Removes the messages <paramref name="uids"/> of a folder at once, \Deleted or not, in one commit: their
    /// entries and wrapped keys go (crypto-erase), a blob goes with its last entry, and IMAP sessions see a
    /// <see cref="MailboxChange.MessagesExpunged"/>. UIDs that do not exist are ignored.
    /// </summary>
    /// <returns>The removed UIDs, ascending.</returns>
    /// <exception cref="KeyNotFoundException">No such folder.</exception>
    Task<IReadOnlyList<uint>> PermanentlyDeleteAsync(string folderId, IReadOnlyCollection<uint> uids, CancellationToken cancellationToken);
}

public sealed partial class MailStore : IRetentionStore
{
    /// <inheritdoc />
    public Task<IReadOnlyList<uint>> PermanentlyDeleteAsync(string folderId, IReadOnlyCollection<uint> uids, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(uids);
        return RunOnWriter<IReadOnlyList<uint>>(ctx =>
        {
            var folder = ctx.Read(Schema.Folders).FindById(folderId) ?? throw new KeyNotFoundException($"No folder {folderId}.");
            var entries = ctx.Read(Schema.Entries);
            var doomed = uids.Distinct().Order()
                .Select(uid => entries.FindOne(Schema.Equal(E.FolderUid, Schema.FolderUidKey(folderId, uid))))
                .Where(e => e is not null)
                .ToList();
            return RemoveEntries(ctx, folder, doomed!);
        }, [], cancellationToken);
    }
}
