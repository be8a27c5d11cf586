using System.Security.Cryptography;
using LiteDB;
using M = MailServer.Storage.Schema.MailboxFields;

namespace MailServer.Storage;

// Owner folder sharing (IMAP SETACL / DELETEACL, RFC 4314 §3.1–§3.2; docs/decisions.md "Folder sharing by the owner"):
// the entries live in the folder's scope of the sealed annotation map (MailStore.Metadata.cs), under names no annotation
// can have, so the identifiers are never in clear in the database and the entries follow the folder.
public sealed partial class MailStore
{
    /// <inheritdoc/>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> ReadFolderAcl(string mailboxId)
    {
        try
        {
            return ReadFolderAclOnce(mailboxId);
        }
        catch (CryptographicException)
        {
            return ReadFolderAclOnce(mailboxId); // a mailbox key rotation re-sealed the map between our reads
        }
    }

    private IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> ReadFolderAclOnce(string mailboxId)
    {
        var mailbox = Collection(Schema.Mailboxes).FindById(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
        if (mailbox[M.MetadataSealed].IsNull)
            return new Dictionary<string, IReadOnlyDictionary<string, string>>();
        var key = MailboxKey(mailbox);
        try
        {
            return FolderAclOf(OpenMetadata(key, mailbox), FolderExists);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    public Task SetFolderAclAsync(string mailboxId, string folderId, string identifier, string? rights, CancellationToken cancellationToken) =>
        RetryOnKeyChangeAsync(() => SetFolderAclOnceAsync(mailboxId, folderId, identifier, rights, cancellationToken));

    private async Task<bool> SetFolderAclOnceAsync(string mailboxId, string folderId, string identifier, string? rights, CancellationToken cancellationToken)
    {
        using var keys = FolderKeys.For(this, mailboxId);
        var mailboxKey = keys.MailboxKey;
        return await RunOnWriter(ctx =>
        {
            var mailbox = ctx.Read(Schema.Mailboxes).FindById(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
            RequireCurrentKeyGeneration(mailbox, keys.Generation);
            if (ctx.Read(Schema.Folders).FindById(folderId) is null)
                throw new KeyNotFoundException($"No folder {folderId}.");
            var scopes = OpenMetadata(mailboxKey, mailbox);
            ApplyFolderAcl(scopes, s => ctx.Read(Schema.Folders).FindById(s) is not null, folderId, identifier, rights);
            mailbox[M.MetadataSealed] = scopes.Count == 0 ? BsonValue.Null : SealMetadata(mailboxKey, mailboxId, scopes);
            ctx.Update(Schema.Mailboxes, mailbox);
            ctx.Changes.Add(new MailboxChange.FoldersChanged(mailboxId, folderId, 0));
            return true;
        }, [], cancellationToken).ConfigureAwait(false);
    }
}
