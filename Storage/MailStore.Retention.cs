using E = MailServer.Storage.Schema.EntryFields;

namespace MailServer.Storage;

/// <summary>
/// What the retention runner takes: the IMAP session operations (it lists folders and moves messages) with
/// <see cref="IRetentionOperations.PermanentlyDeleteAsync"/>. Age comes from <see cref="MessageMeta.LastActionAt"/>,
/// which the store sets on delivery, APPEND, flag changes, COPY and MOVE. Both engines implement it.
/// </summary>
public interface IRetentionStore : IImapSessionStore, IRetentionOperations;

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
