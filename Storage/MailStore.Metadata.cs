using System.Security.Cryptography;
using LiteDB;
using MailServer.Storage.Crypto;
using JsonSerializer = System.Text.Json.JsonSerializer;
using M = MailServer.Storage.Schema.MailboxFields;

namespace MailServer.Storage;

/// <summary>Too many annotations for one mailbox or folder (IMAP METADATA, RFC 5464 §4.3: NO [METADATA TOOMANY]);
/// nothing was changed.</summary>
public sealed class MetadataLimitException(int limit) : Exception($"At most {limit} annotations are kept per mailbox or folder.")
{
    /// <summary>The number of entries allowed.</summary>
    public int Limit { get; } = limit;
}

// Annotations (IMAP METADATA, RFC 5464): one sealed JSON map on the mailbox document, encrypted under the mailbox key
// like the folder names and subscriptions (and re-sealed by a mailbox key rotation). Scopes: "" for the server
// entries of this user, a folder id for a folder's (kept across RENAME; a deleted folder's scope is dropped at the next
// write and never read). Entry names are stored lower-cased (they are case-insensitive, RFC 5464 §3.2).
public sealed partial class MailStore
{
    /// <summary>The sealed annotation map of one mailbox holds at most this many octets of JSON (the mailbox document
    /// must stay small: it is read at every login).</summary>
    public const int MaxMetadataBytes = 1024 * 1024;

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, byte[]> ReadMetadata(string mailboxId, string? folderId)
    {
        try
        {
            return ReadMetadataOnce(mailboxId, folderId);
        }
        catch (CryptographicException)
        {
            return ReadMetadataOnce(mailboxId, folderId); // a mailbox key rotation re-sealed the map between our reads
        }
    }

    private Dictionary<string, byte[]> ReadMetadataOnce(string mailboxId, string? folderId)
    {
        var mailbox = Collection(Schema.Mailboxes).FindById(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
        if (folderId is not null && !FolderExists(folderId))
            return new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var key = MailboxKey(mailbox);
        try
        {
            return AnnotationsOnly(OpenMetadata(key, mailbox).GetValueOrDefault(folderId ?? ""));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    public Task SetMetadataAsync(string mailboxId, string? folderId, IReadOnlyList<KeyValuePair<string, byte[]?>> entries, int maxEntries,
        CancellationToken cancellationToken) =>
        RetryOnKeyChangeAsync(() => SetMetadataOnceAsync(mailboxId, folderId, entries, maxEntries, cancellationToken));

    private async Task<bool> SetMetadataOnceAsync(string mailboxId, string? folderId, IReadOnlyList<KeyValuePair<string, byte[]?>> entries, int maxEntries,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        using var keys = FolderKeys.For(this, mailboxId);
        var mailboxKey = keys.MailboxKey;
        return await RunOnWriter(ctx =>
        {
            var mailbox = ctx.Read(Schema.Mailboxes).FindById(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
            RequireCurrentKeyGeneration(mailbox, keys.Generation);
            if (folderId is not null && ctx.Read(Schema.Folders).FindById(folderId) is null)
                throw new KeyNotFoundException($"No folder {folderId}.");
            var scopes = OpenMetadata(mailboxKey, mailbox);
            ApplyMetadata(scopes, s => ctx.Read(Schema.Folders).FindById(s) is not null, folderId, entries, maxEntries); // before any write: nothing to roll back
            mailbox[M.MetadataSealed] = scopes.Count == 0 ? BsonValue.Null : SealMetadata(mailboxKey, mailboxId, scopes);
            ctx.Update(Schema.Mailboxes, mailbox);
            ctx.Changes.Add(new MailboxChange.MetadataChanged(mailboxId, folderId ?? "")); // names no entry (NOTIFY, RFC 5465)
            return true;
        }, [], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Applies a SETMETADATA to an opened annotation map, the same on every engine: scopes of folders that no longer
    /// exist go, each entry is set (names folded to lower case) or removed (a null value), an emptied scope goes.
    /// </summary>
    /// <param name="scopes">Scope ("" or a folder id) → entry name → value; changed in place.</param>
    /// <param name="folderExists">Whether a folder id still names a folder of the mailbox.</param>
    /// <param name="folderId">The folder whose annotations change; null for the server's (the mailbox's).</param>
    /// <param name="entries">The entries to set or remove.</param>
    /// <param name="maxEntries">The most entries one scope may hold.</param>
    /// <exception cref="MetadataLimitException">The scope would hold more than <paramref name="maxEntries"/>, or the map
    /// more than <see cref="MaxMetadataBytes"/>: the caller writes nothing.</exception>
    internal static void ApplyMetadata(Dictionary<string, Dictionary<string, byte[]>> scopes, Func<string, bool> folderExists, string? folderId,
        IReadOnlyList<KeyValuePair<string, byte[]?>> entries, int maxEntries)
    {
        foreach (var gone in scopes.Keys.Where(s => s.Length > 0 && !folderExists(s)).ToList())
            scopes.Remove(gone);
        var scope = scopes.GetValueOrDefault(folderId ?? "") ?? new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (name, value) in entries)
        {
            if (value is null)
                scope.Remove(name.ToLowerInvariant());
            else
                scope[name.ToLowerInvariant()] = value;
        }
        if (scope.Keys.Count(n => !IsAclEntry(n)) > maxEntries)
            throw new MetadataLimitException(maxEntries);
        if (scope.Count == 0)
            scopes.Remove(folderId ?? "");
        else
            scopes[folderId ?? ""] = scope;
        if (JsonSerializer.SerializeToUtf8Bytes(scopes).Length > MaxMetadataBytes)
            throw new MetadataLimitException(maxEntries);
    }

    /// <summary>The name prefix of a folder's sharing entries (IMAP SETACL, RFC 4314) inside its annotation scope. An
    /// annotation name always starts with '/' (RFC 5464 §3.2), so the two never meet.</summary>
    internal const string AclEntryPrefix = "acl:";

    internal static bool IsAclEntry(string name) => name.StartsWith(AclEntryPrefix, StringComparison.Ordinal);

    /// <summary>A scope's annotations without its sharing entries (empty for none).</summary>
    internal static Dictionary<string, byte[]> AnnotationsOnly(Dictionary<string, byte[]>? scope) =>
        scope is null
            ? new Dictionary<string, byte[]>(StringComparer.Ordinal)
            : scope.Where(p => !IsAclEntry(p.Key)).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);

    /// <summary>The sharing entries of every folder scope that still names a folder: folder id → identifier → rights.</summary>
    internal static IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> FolderAclOf(
        Dictionary<string, Dictionary<string, byte[]>> scopes, Func<string, bool> folderExists)
    {
        var result = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
        foreach (var (scope, entries) in scopes)
        {
            if (scope.Length == 0 || !entries.Keys.Any(IsAclEntry) || !folderExists(scope))
                continue;
            result[scope] = entries.Where(p => IsAclEntry(p.Key))
                .ToDictionary(p => p.Key[AclEntryPrefix.Length..], p => System.Text.Encoding.UTF8.GetString(p.Value), StringComparer.Ordinal);
        }
        return result;
    }

    /// <summary>
    /// Sets (rights) or removes (null) one sharing entry in an opened annotation map, the same on every engine: scopes of
    /// folders that no longer exist go, an emptied scope goes.
    /// </summary>
    /// <exception cref="ArgumentException">An empty identifier or rights string.</exception>
    internal static void ApplyFolderAcl(Dictionary<string, Dictionary<string, byte[]>> scopes, Func<string, bool> folderExists, string folderId,
        string identifier, string? rights)
    {
        ArgumentException.ThrowIfNullOrEmpty(identifier);
        if (rights is { Length: 0 })
            throw new ArgumentException("An entry grants at least one right; remove it instead.", nameof(rights));
        foreach (var gone in scopes.Keys.Where(s => s.Length > 0 && !folderExists(s)).ToList())
            scopes.Remove(gone);
        var scope = scopes.GetValueOrDefault(folderId) ?? new Dictionary<string, byte[]>(StringComparer.Ordinal);
        if (rights is null)
            scope.Remove(AclEntryPrefix + identifier);
        else
            scope[AclEntryPrefix + identifier] = System.Text.Encoding.UTF8.GetBytes(rights);
        if (scope.Count == 0)
            scopes.Remove(folderId);
        else
            scopes[folderId] = scope;
    }

    private static Dictionary<string, Dictionary<string, byte[]>> OpenMetadata(byte[] mailboxKey, BsonDocument mailbox) =>
        OpenMetadata(mailboxKey, mailbox["_id"].AsString, mailbox[M.MetadataSealed].IsNull ? null : mailbox[M.MetadataSealed].AsBinary);

    /// <summary>Opens a sealed annotation map (null: none): scope ("" or a folder id) → entry name → value.</summary>
    internal static Dictionary<string, Dictionary<string, byte[]>> OpenMetadata(byte[] mailboxKey, string mailboxId, byte[]? sealedMap)
    {
        if (sealedMap is null)
            return new Dictionary<string, Dictionary<string, byte[]>>(StringComparer.Ordinal);
        var json = Aead.Open(mailboxKey, sealedMap, Aead.Utf8("metadata/" + mailboxId));
        var map = JsonSerializer.Deserialize<Dictionary<string, Dictionary<string, byte[]>>>(json) ?? [];
        return map.ToDictionary(p => p.Key, p => new Dictionary<string, byte[]>(p.Value, StringComparer.Ordinal), StringComparer.Ordinal);
    }

    internal static byte[] SealMetadata(byte[] mailboxKey, string mailboxId, Dictionary<string, Dictionary<string, byte[]>> scopes) =>
        Aead.Seal(mailboxKey, JsonSerializer.SerializeToUtf8Bytes(scopes), Aead.Utf8("metadata/" + mailboxId));
}
