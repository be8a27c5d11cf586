using System.Security.Cryptography;
using JsonSerializer = System.Text.Json.JsonSerializer;
using LiteDB;
using MailServer.Storage.Crypto;
using F = MailServer.Storage.Schema.FolderFields;
using M = MailServer.Storage.Schema.MailboxFields;

namespace MailServer.Storage;

// Subscriptions (RFC 9051 §6.3.7–6.3.8). Design: an existing folder carries its subscription as the folder's
// Subscribed flag (so it follows RENAME with the folder and needs no name lookup), and the few subscribed names
// that are not folders (RFC 9051 §6.3.7 allows subscribing to a name that does not exist) are one sealed JSON
// list on the mailbox document, encrypted under the mailbox key like folder names (docs/decisions.md, "Storage and encryption"). Creating a
// folder moves its name out of that list onto the new folder, which is subscribed by default.
public sealed partial class MailStore
{
    /// <inheritdoc/>
    public Task SetSubscribedAsync(string mailboxId, string name, bool subscribed, CancellationToken cancellationToken) =>
        RetryOnKeyChangeAsync(() => SetSubscribedOnceAsync(mailboxId, name, subscribed, cancellationToken));

    private async Task<bool> SetSubscribedOnceAsync(string mailboxId, string name, bool subscribed, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var normalised = NormaliseFolderName(name);
        using var keys = FolderKeys.For(this, mailboxId);
        var lookup = FolderLookup(keys.NameKey, mailboxId, normalised);
        var mailboxKey = keys.MailboxKey;
        return await RunOnWriter(ctx =>
        {
            var mailbox = ctx.Read(Schema.Mailboxes).FindById(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
            RequireCurrentKeyGeneration(mailbox, keys.Generation);
            var folder = ctx.Read(Schema.Folders).FindOne(Schema.Equal(F.NameLookup, lookup));
            if (folder is not null)
            {
                if (folder[F.Subscribed].AsBoolean != subscribed)
                {
                    folder[F.Subscribed] = subscribed;
                    ctx.Update(Schema.Folders, folder);
                    ctx.Changes.Add(new MailboxChange.SubscriptionsChanged(mailboxId));
                }
                return true;
            }
            var names = OpenSubscriptionNames(mailboxKey, mailbox);
            if (subscribed ? names.Add(normalised) : names.Remove(normalised))
            {
                mailbox[M.SubscriptionsSealed] = SealSubscriptionNames(mailboxKey, mailboxId, names);
                ctx.Update(Schema.Mailboxes, mailbox);
                ctx.Changes.Add(new MailboxChange.SubscriptionsChanged(mailboxId));
            }
            return true;
        }, [], cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public IReadOnlyList<string> ListSubscriptions(string mailboxId)
    {
        try
        {
            return ListSubscriptionsOnce(mailboxId);
        }
        catch (CryptographicException)
        {
            return ListSubscriptionsOnce(mailboxId); // a mailbox key rotation re-sealed the names between our reads
        }
    }

    private List<string> ListSubscriptionsOnce(string mailboxId)
    {
        var mailbox = Collection(Schema.Mailboxes).FindById(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
        var key = MailboxKey(mailbox);
        try
        {
            var names = OpenSubscriptionNames(key, mailbox);
            foreach (var folder in Collection(Schema.Folders).Find(Schema.Equal(F.MailboxId, mailboxId)))
                if (folder[F.Subscribed].AsBoolean)
                    names.Add(OpenFolderName(key, folder["_id"].AsString, folder[F.NameSealed].AsBinary));
            return names.Order(StringComparer.Ordinal).ToList();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Inside a writer operation that creates the folder <paramref name="normalisedName"/>: the name leaves
    /// the list of subscribed non-folders (the new folder's own flag holds the subscription now).</summary>
    private static void MoveSubscriptionOntoFolder(WriterContext ctx, byte[] mailboxKey, BsonDocument mailbox, string normalisedName)
    {
        var names = OpenSubscriptionNames(mailboxKey, mailbox);
        if (!names.Remove(normalisedName))
            return;
        mailbox[M.SubscriptionsSealed] = SealSubscriptionNames(mailboxKey, mailbox["_id"].AsString, names);
        ctx.Update(Schema.Mailboxes, mailbox);
    }

    private static HashSet<string> OpenSubscriptionNames(byte[] mailboxKey, BsonDocument mailbox)
    {
        var sealedNames = mailbox[M.SubscriptionsSealed];
        if (sealedNames.IsNull)
            return new HashSet<string>(StringComparer.Ordinal);
        var json = Aead.Open(mailboxKey, sealedNames.AsBinary, Aead.Utf8("subscriptions/" + mailbox["_id"].AsString));
        return new HashSet<string>(JsonSerializer.Deserialize<string[]>(json) ?? [], StringComparer.Ordinal);
    }

    private static byte[] SealSubscriptionNames(byte[] mailboxKey, string mailboxId, HashSet<string> names) =>
        Aead.Seal(mailboxKey, JsonSerializer.SerializeToUtf8Bytes(names.Order(StringComparer.Ordinal).ToArray()), Aead.Utf8("subscriptions/" + mailboxId));

    /// <inheritdoc/>
    public uint? ReadRecentMark(string folderId)
    {
        var folder = Collection(Schema.Folders).FindById(folderId);
        return folder is not null && folder[F.RecentMark].IsNumber ? (uint)folder[F.RecentMark].AsInt64 : null;
    }

    /// <inheritdoc/>
    public Task RaiseRecentMarkAsync(string folderId, uint uid, CancellationToken cancellationToken) =>
        RunOnWriter(ctx =>
        {
            var folder = ctx.Read(Schema.Folders).FindById(folderId);
            if (folder is not null && (!folder[F.RecentMark].IsNumber || folder[F.RecentMark].AsInt64 < uid))
            {
                folder[F.RecentMark] = (long)uid;
                ctx.Update(Schema.Folders, folder);
            }
            return true;
        }, [], cancellationToken);
}
