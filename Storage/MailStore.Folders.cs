using System.Security.Cryptography;
using LiteDB;
using MailServer.Storage.Crypto;
using E = MailServer.Storage.Schema.EntryFields;
using F = MailServer.Storage.Schema.FolderFields;
using M = MailServer.Storage.Schema.MailboxFields;

namespace MailServer.Storage;

/// <summary>A folder operation was refused; <see cref="Exception.Message"/> is safe to show the client.</summary>
public sealed class FolderOperationException(FolderRefusal refusal, string message) : InvalidOperationException(message)
{
    public FolderRefusal Refusal { get; } = refusal;
}

/// <summary>Why a folder operation was refused (IMAP turns these into NO with a response code).</summary>
public enum FolderRefusal
{
    /// <summary>RFC 5530 ALREADYEXISTS.</summary>
    AlreadyExists,
    /// <summary>RFC 5530 NONEXISTENT.</summary>
    NonExistent,
    /// <summary>INBOX cannot be deleted or renamed here; a folder with children cannot be deleted (RFC 5530 CANNOT).</summary>
    Cannot,
}

public sealed partial class MailStore
{
    /// <summary>Creates a folder (IMAP CREATE). The name is stored sealed and looked up by keyed HMAC.</summary>
    /// <exception cref="FolderOperationException">The name exists already.</exception>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    public Task<FolderInfo> CreateFolderAsync(string mailboxId, string name, CancellationToken cancellationToken) =>
        CreateFolderAsync(mailboxId, name, SpecialUse.None, cancellationToken);

    /// <summary>Creates a folder with a special use (IMAP CREATE-SPECIAL-USE, RFC 6154 §3).</summary>
    /// <exception cref="FolderOperationException">The name exists already.</exception>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    /// <exception cref="ArgumentException"><paramref name="specialUse"/> is <see cref="SpecialUse.Inbox"/>.</exception>
    public Task<FolderInfo> CreateFolderAsync(string mailboxId, string name, SpecialUse specialUse, CancellationToken cancellationToken) =>
        RetryOnKeyChangeAsync(() => CreateFolderOnceAsync(mailboxId, name, specialUse, cancellationToken));

    private async Task<FolderInfo> CreateFolderOnceAsync(string mailboxId, string name, SpecialUse specialUse, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (specialUse == SpecialUse.Inbox || !Enum.IsDefined(specialUse))
            throw new ArgumentException("Only INBOX is the inbox.", nameof(specialUse));
        using var keys = FolderKeys.For(this, mailboxId);
        var folderId = NewId();
        var lookup = FolderLookup(keys.NameKey, mailboxId, name);
        var sealedName = SealFolderName(keys.MailboxKey, folderId, name);
        var document = await RunOnWriter(ctx =>
        {
            if (ctx.Read(Schema.Folders).FindOne(Schema.Equal(F.NameLookup, lookup)) is not null)
                throw new FolderOperationException(FolderRefusal.AlreadyExists, "A folder with that name exists already.");
            var mailbox = ctx.Read(Schema.Mailboxes).FindById(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
            RequireCurrentKeyGeneration(mailbox, keys.Generation);
            var folder = NewFolderDocument(ctx, folderId, mailboxId, lookup, sealedName, specialUse);
            var modSeq = mailbox[M.ModSeq].AsInt64 + 1;
            mailbox[M.ModSeq] = modSeq;
            ctx.Insert(Schema.Folders, folder);
            MoveSubscriptionOntoFolder(ctx, keys.MailboxKey, mailbox, NormaliseFolderName(name));
            ctx.Update(Schema.Mailboxes, mailbox);
            ctx.Changes.Add(new MailboxChange.FoldersChanged(mailboxId, folderId, (ulong)modSeq));
            return folder;
        }, [], cancellationToken).ConfigureAwait(false);
        return ToFolderInfo(document, keys.MailboxKey);
    }

    /// <summary>
    /// Renames a folder and its children ("a" → "b" also renames "a/x" to "b/x"), keeping UIDVALIDITY and
    /// messages (RFC 9051 §6.3.6). Renaming INBOX (which moves its messages in IMAP) is refused.
    /// </summary>
    /// <exception cref="FolderOperationException">No such folder, the new name exists, or the folder is INBOX.</exception>
    public Task RenameFolderAsync(string mailboxId, string oldName, string newName, CancellationToken cancellationToken) =>
        RetryOnKeyChangeAsync(() => RenameFolderOnceAsync(mailboxId, oldName, newName, cancellationToken));

    private async Task<bool> RenameFolderOnceAsync(string mailboxId, string oldName, string newName, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(newName);
        if (NormaliseFolderName(oldName) == WellKnownFolders.Inbox || NormaliseFolderName(newName) == WellKnownFolders.Inbox)
            throw new FolderOperationException(FolderRefusal.Cannot, "INBOX cannot be renamed here.");
        using var keys = FolderKeys.For(this, mailboxId);
        var all = Collection(Schema.Folders).Find(Schema.Equal(F.MailboxId, mailboxId)).Select(d => ToFolderInfo(d, keys.MailboxKey)).ToList();
        var target = all.FirstOrDefault(f => f.Name == NormaliseFolderName(oldName))
            ?? throw new FolderOperationException(FolderRefusal.NonExistent, "No folder with that name.");
        var renames = all.Where(f => f.FolderId == target.FolderId || f.Name.StartsWith(target.Name + "/", StringComparison.Ordinal))
            .Select(f =>
            {
                var name = NormaliseFolderName(newName) + f.Name[target.Name.Length..];
                return (f.FolderId, Lookup: FolderLookup(keys.NameKey, mailboxId, name), Sealed: SealFolderName(keys.MailboxKey, f.FolderId, name));
            })
            .ToList();
        return await RunOnWriter(ctx =>
        {
            var folders = ctx.Read(Schema.Folders);
            RequireCurrentKeyGeneration(ctx.Read(Schema.Mailboxes).FindById(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}."), keys.Generation);
            foreach (var rename in renames)
                if (folders.FindOne(Schema.Equal(F.NameLookup, rename.Lookup)) is { } clash && !renames.Any(r => r.FolderId == clash["_id"].AsString))
                    throw new FolderOperationException(FolderRefusal.AlreadyExists, "A folder with the new name exists already.");
            var mailbox = ctx.Read(Schema.Mailboxes).FindById(mailboxId);
            var modSeq = mailbox[M.ModSeq].AsInt64 + 1;
            mailbox[M.ModSeq] = modSeq;
            // Two passes so a rename never collides with a name it is about to free (the index is unique).
            foreach (var rename in renames)
            {
                var folder = folders.FindById(rename.FolderId) ?? throw new FolderOperationException(FolderRefusal.NonExistent, "The folder was deleted meanwhile.");
                folder[F.NameLookup] = "renaming|" + rename.FolderId;
                ctx.Update(Schema.Folders, folder);
            }
            foreach (var rename in renames)
            {
                var folder = folders.FindById(rename.FolderId);
                folder[F.NameLookup] = rename.Lookup;
                folder[F.NameSealed] = rename.Sealed;
                ctx.Update(Schema.Folders, folder);
                ctx.Changes.Add(new MailboxChange.FoldersChanged(mailboxId, rename.FolderId, (ulong)modSeq));
            }
            ctx.Update(Schema.Mailboxes, mailbox);
            return true;
        }, [], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes a folder and its messages (RFC 9051 §6.3.4). INBOX cannot be deleted; a folder with children is
    /// refused rather than turned into a \Noselect placeholder.
    /// </summary>
    /// <exception cref="FolderOperationException">No such folder, INBOX, or the folder has children.</exception>
    public async Task DeleteFolderAsync(string mailboxId, string name, CancellationToken cancellationToken)
    {
        if (NormaliseFolderName(name) == WellKnownFolders.Inbox)
            throw new FolderOperationException(FolderRefusal.Cannot, "INBOX cannot be deleted.");
        using var keys = FolderKeys.For(this, mailboxId);
        var all = Collection(Schema.Folders).Find(Schema.Equal(F.MailboxId, mailboxId)).Select(d => ToFolderInfo(d, keys.MailboxKey)).ToList();
        var target = all.FirstOrDefault(f => f.Name == NormaliseFolderName(name))
            ?? throw new FolderOperationException(FolderRefusal.NonExistent, "No folder with that name.");
        if (all.Any(f => f.Name.StartsWith(target.Name + "/", StringComparison.Ordinal)))
            throw new FolderOperationException(FolderRefusal.Cannot, "The folder has children; delete them first.");
        await RunOnWriter(ctx =>
        {
            var folder = ctx.Read(Schema.Folders).FindById(target.FolderId)
                ?? throw new FolderOperationException(FolderRefusal.NonExistent, "No folder with that name.");
            var entries = ctx.Read(Schema.Entries).Find(Schema.EntriesOfFolder(target.FolderId)).ToList();
            RemoveEntries(ctx, folder, entries);
            ctx.Delete(Schema.Folders, target.FolderId);
            DeleteSearchIndex(ctx, target.FolderId);
            var mailbox = ctx.Read(Schema.Mailboxes).FindById(mailboxId);
            var modSeq = mailbox[M.ModSeq].AsInt64 + 1;
            mailbox[M.ModSeq] = modSeq;
            ctx.Update(Schema.Mailboxes, mailbox);
            ctx.Changes.Add(new MailboxChange.FoldersChanged(mailboxId, target.FolderId, (ulong)modSeq));
            return true;
        }, [], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The mailbox key and the folder-name HMAC key, zeroed on dispose.</summary>
    private sealed class FolderKeys : IDisposable
    {
        public required byte[] MailboxKey { get; init; }
        public required byte[] NameKey { get; init; }
        /// <summary>The key generation: a write checks on the writer that it is still the mailbox's current one.</summary>
        public required int Generation { get; init; }

        public static FolderKeys For(MailStore store, string mailboxId)
        {
            var mailbox = store.Collection(Schema.Mailboxes).FindById(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
            var (key, generation) = store.CurrentMailboxKey(mailbox);
            return new FolderKeys { MailboxKey = key, NameKey = KeyHierarchy.FolderNameHmacKey(key), Generation = generation };
        }

        public void Dispose()
        {
            CryptographicOperations.ZeroMemory(MailboxKey);
            CryptographicOperations.ZeroMemory(NameKey);
        }
    }
}
