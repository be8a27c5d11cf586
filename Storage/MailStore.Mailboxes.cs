using System.Security.Cryptography;
using LiteDB;
using MailServer.Storage.Crypto;
using F = MailServer.Storage.Schema.FolderFields;
using M = MailServer.Storage.Schema.MailboxFields;

namespace MailServer.Storage;

public sealed partial class MailStore
{
    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No master key is configured for <paramref name="organizationId"/>.</exception>
    public async Task<MailboxInfo> EnsureMailboxAsync(string organizationId, string owner, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(organizationId);
        ArgumentException.ThrowIfNullOrEmpty(owner);
        if (FindMailbox(organizationId, owner) is { } existing)
            return existing;

        var ledger = Ledger(organizationId);
        var lookup = OwnerLookup(organizationId, owner);
        var mailboxId = NewId();
        var mailboxKey = Aead.NewKey();
        var committed = false;
        try
        {
            // The secret is durable in the ledger before the mailbox exists: a committed mailbox always has one.
            var secret = ledger.AddMailboxes([mailboxId])[mailboxId];
            var version = ledger.CurrentVersion;
            var wrappedKey = KeyHierarchy.WrapMailboxKey(_options.MasterKeys.GetMasterKey(organizationId, version), secret, version, organizationId, mailboxId, mailboxKey);
            var ownerSealed = SealOwner(ledger, organizationId, mailboxId, owner);
            var folders = NewWellKnownFolders(mailboxKey, mailboxId);

            var document = await RunOnWriter(ctx =>
            {
                // Another caller may have created it since our read: idempotent.
                var found = ctx.Read(Schema.Mailboxes).FindOne(Schema.Equal(M.OwnerLookup, lookup));
                if (found is not null)
                    return found;
                if (ledger.CurrentVersion is var current && current != version)
                {
                    // A master key rotation began since the wrap was computed: wrap under the new version here, on
                    // the writer, where the rotation's last count and retirement also run (RotateAsync).
                    version = current;
                    wrappedKey = KeyHierarchy.WrapMailboxKey(_options.MasterKeys.GetMasterKey(organizationId, version), secret, version, organizationId, mailboxId, mailboxKey);
                }
                var mailbox = new BsonDocument
                {
                    ["_id"] = mailboxId,
                    [M.Organization] = organizationId,
                    [M.OwnerLookup] = lookup,
                    [M.OwnerSealed] = ownerSealed,
                    [M.WrappedKey] = wrappedKey,
                    [M.KeyVersion] = version,
                    [M.UsedBytes] = 0L,
                    [M.MessageCount] = 0L,
                    [M.ModSeq] = 1L,
                };
                ctx.Insert(Schema.Mailboxes, mailbox);
                foreach (var folder in folders)
                {
                    ctx.Insert(Schema.Folders, NewFolderDocument(ctx, folder.Id, mailboxId, folder.Lookup, folder.Sealed, folder.Use));
                }
                return mailbox;
            }, [], cancellationToken).ConfigureAwait(false);
            committed = document["_id"].AsString == mailboxId;
            return ToMailboxInfo(document, owner);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(mailboxKey);
            if (!committed)
            {
                try { ledger.Forget(mailboxId); }
                catch (IOException) { /* an unused secret in the ledger harms nothing */ }
            }
        }
    }

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No master key is configured for <paramref name="organizationId"/>.</exception>
    public MailboxInfo? FindMailbox(string organizationId, string owner)
    {
        var lookup = OwnerLookup(organizationId, owner);
        // Delivery asks at RCPT (quota) and again at DATA: a remembered id is read by primary key, and checked, so a
        // deleted or re-created mailbox is found afresh.
        if (_mailboxIdsByLookup.TryGetValue(lookup, out var knownId)
            && Collection(Schema.Mailboxes).FindById(knownId) is { } known && known[M.OwnerLookup].AsString == lookup)
            return ToMailboxInfo(known, owner);
        var document = Collection(Schema.Mailboxes).FindOne(Schema.Equal(M.OwnerLookup, lookup));
        if (document is null)
            return null;
        if (_mailboxIdsByLookup.Count >= MaxRememberedMailboxIds)
            _mailboxIdsByLookup.Clear();
        _mailboxIdsByLookup[lookup] = document["_id"].AsString;
        return ToMailboxInfo(document, owner);
    }

    private const int MaxRememberedMailboxIds = 100_000;

    /// <summary>Owner lookup → mailbox id, for <see cref="FindMailbox"/> (ids only: every hit is read and checked).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _mailboxIdsByLookup = new(StringComparer.Ordinal);

    /// <summary>A mailbox by id, or null.</summary>
    public MailboxInfo? GetMailbox(string mailboxId)
    {
        var document = Collection(Schema.Mailboxes).FindById(mailboxId);
        if (document is null)
            return null;
        var organizationId = document[M.Organization].AsString;
        var owner = Aead.Open(Ledger(organizationId).OwnerSealKey, document[M.OwnerSealed].AsBinary, KeyHierarchy.MailboxKeyContext(organizationId, mailboxId));
        return ToMailboxInfo(document, System.Text.Encoding.UTF8.GetString(owner));
    }

    /// <summary>A new mailbox's owner, sealed under the organization's owner key (every engine stores it so).</summary>
    internal static byte[] SealOwner(KeyLedger ledger, string organizationId, string mailboxId, string owner) =>
        Aead.Seal(ledger.OwnerSealKey, Aead.Utf8(NormaliseOwner(owner)), KeyHierarchy.MailboxKeyContext(organizationId, mailboxId));

    /// <summary>The well-known folders of a new mailbox (RFC 6154 special use): fresh ids, name lookups under the
    /// mailbox's folder-name HMAC key, names sealed under the mailbox key. The same for every engine.</summary>
    internal static List<NewFolder> NewWellKnownFolders(byte[] mailboxKey, string mailboxId)
    {
        var nameKey = KeyHierarchy.FolderNameHmacKey(mailboxKey);
        try
        {
            return WellKnownFolders.All.Select(f => (Id: NewId(), f.Name, f.Use))
                .Select(f => new NewFolder(f.Id, f.Use, FolderLookup(nameKey, mailboxId, f.Name), SealFolderName(mailboxKey, f.Id, f.Name)))
                .ToList();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(nameKey);
        }
    }

    /// <summary>A folder of a new mailbox as every engine writes it.</summary>
    internal sealed record NewFolder(string Id, SpecialUse Use, string Lookup, byte[] Sealed);

    private static BsonDocument NewFolderDocument(WriterContext ctx, string folderId, string mailboxId, string lookup, byte[] nameSealed, SpecialUse use) => new()
    {
        ["_id"] = folderId,
        [F.MailboxId] = mailboxId,
        [F.NameLookup] = lookup,
        [F.NameSealed] = nameSealed,
        [F.SpecialUse] = (int)use,
        [F.UidValidity] = (long)ctx.NextUidValidity(),
        [F.UidNext] = 1L,
        [F.HighestModSeq] = 1L,
        [F.MessageCount] = 0,
        [F.UnseenCount] = 0,
        [F.Subscribed] = true,
        [F.RecentMark] = 0L,
    };

    private static MailboxInfo ToMailboxInfo(BsonDocument d, string owner) => new(
        d["_id"].AsString, d[M.Organization].AsString, owner, d[M.UsedBytes].AsInt64, d[M.MessageCount].AsInt64);

    internal static string NormaliseOwner(string owner) => owner.Trim().ToLowerInvariant();

    // The owner-lookup HMAC key lives in the organization's key ledger (derived once from master key version 1,
    // so lookups keep their values across rotations). It only serves lookups (it opens nothing).
    private string OwnerLookup(string organizationId, string owner) =>
        organizationId + "|" + KeyHierarchy.Hmac(Ledger(organizationId).OwnerHmacKey, NormaliseOwner(owner));

    /// <summary>
    /// The lookup key of a folder name. "INBOX" is case-insensitive, and so is the INBOX part of its children
    /// (RFC 9051 §5.1); every other name is compared exactly.
    /// </summary>
    internal static string NormaliseFolderName(string name)
    {
        if (name.Equals(WellKnownFolders.Inbox, StringComparison.OrdinalIgnoreCase))
            return WellKnownFolders.Inbox;
        if (name.StartsWith(WellKnownFolders.Inbox + "/", StringComparison.OrdinalIgnoreCase))
            return WellKnownFolders.Inbox + name[WellKnownFolders.Inbox.Length..];
        return name;
    }

    internal static string FolderLookup(byte[] nameHmacKey, string mailboxId, string name) =>
        mailboxId + "|" + KeyHierarchy.Hmac(nameHmacKey, NormaliseFolderName(name));

    internal static byte[] SealFolderName(byte[] mailboxKey, string folderId, string name) =>
        Aead.Seal(mailboxKey, Aead.Utf8(NormaliseFolderName(name)), Aead.Utf8("folder-name/" + folderId));

    internal static string OpenFolderName(byte[] mailboxKey, string folderId, byte[] sealedName) =>
        System.Text.Encoding.UTF8.GetString(Aead.Open(mailboxKey, sealedName, Aead.Utf8("folder-name/" + folderId)));

    internal static string NewId() => Guid.NewGuid().ToString("N");
}
