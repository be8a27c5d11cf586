using System.Security.Cryptography;
using LiteDB;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;

namespace MailServer.Storage;

// In-transit copies for the message flow API (§11). Documents in "messageflow" hold ids, dates and a message key
// wrapped under the organization's master key; the content is an encrypted blob in a folder of its own (so
// reindex, which owns the mailbox blob folder, never takes these for orphans).
public sealed partial class MailStore : IMessageFlowStore
{
    private const string FlowCollection = "messageflow";
    private const string FlowOrganization = "org";
    private const string FlowContext = "ctx";
    private const string FlowStoredAt = "storedAt";
    private const string FlowBlobId = "blobId";
    private const string FlowWrappedKey = "wrappedKey";
    private const string FlowUpdatable = "updatable";

    private BlobStore? _flowBlobs;
    private long _lastFlowPurgeTicks;

    private BlobStore FlowBlobs => LazyInitializer.EnsureInitialized(ref _flowBlobs, () => new BlobStore(_blobs.Root.TrimEnd(Path.DirectorySeparatorChar) + ".messageflow"));

    internal static byte[] FlowKeyContext(string organizationId, string messageId, string blobId) =>
        Aead.Utf8($"urn:mailserver:organization/{organizationId}/messageflow/{messageId}/{blobId}");

    /// <inheritdoc/>
    public async Task<Guid> StoreInTransitAsync(string organizationId, MessageFlowContext context, ReadOnlyMemory<byte> message, bool updatable,
        CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid();
        var idText = id.ToString("D");
        var (blobId, wrapped, version) = WriteFlowBlob(organizationId, idText, message.Span);
        var now = Now;
        try
        {
            await RunOnWriter(ctx =>
            {
                RequireUsableVersion(organizationId, version);
                ctx.Insert(FlowCollection, new BsonDocument
                {
                    ["_id"] = idText,
                    [FlowOrganization] = organizationId,
                    [FlowContext] = context.ToString(),
                    [FlowStoredAt] = now.UtcDateTime,
                    [FlowBlobId] = blobId,
                    [FlowWrappedKey] = wrapped,
                    [Schema.KeyVersionField] = version,
                    [FlowUpdatable] = updatable,
                });
                return true;
            }, FlowBlobs.SyncPaths(blobId), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not WriteOutcomeUnknownException)
        {
            FlowBlobs.Delete(blobId);
            throw;
        }
        // Expired copies go on the way: at most one sweep every ten minutes.
        var last = Interlocked.Read(ref _lastFlowPurgeTicks);
        if (now.UtcTicks - last > TimeSpan.FromMinutes(10).Ticks && Interlocked.CompareExchange(ref _lastFlowPurgeTicks, now.UtcTicks, last) == last)
            await PurgeInTransitAsync(cancellationToken).ConfigureAwait(false);
        return id;
    }

    /// <inheritdoc/>
    public InTransitMessage? FindInTransit(Guid messageId)
    {
        var doc = Collection(FlowCollection).FindById(messageId.ToString("D"));
        if (doc is null)
            return null;
        var storedAt = new DateTimeOffset(DateTime.SpecifyKind(doc[FlowStoredAt].AsDateTime, DateTimeKind.Utc));
        if (Now - storedAt > IMessageFlowStore.Window)
            return null;
        return new InTransitMessage(messageId, doc[FlowOrganization].AsString, Enum.Parse<MessageFlowContext>(doc[FlowContext].AsString),
            storedAt, doc[FlowUpdatable].AsBoolean);
    }

    /// <inheritdoc/>
    public async Task<byte[]?> ReadInTransitAsync(Guid messageId, CancellationToken cancellationToken)
    {
        if (FindInTransit(messageId) is null)
            return null;
        var doc = Collection(FlowCollection).FindById(messageId.ToString("D"));
        if (doc is null)
            return null;
        var org = doc[FlowOrganization].AsString;
        var blobId = doc[FlowBlobId].AsString;
        var key = OpenTransitKey(doc, org, FlowWrappedKey, FlowKeyContext(org, messageId.ToString("D"), blobId));
        try
        {
            return await FlowBlobs.ReadAsync(blobId, key, cancellationToken).ConfigureAwait(false);
        }
        catch (FileNotFoundException)
        {
            return null; // purged between the lookup and the read
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    public async Task<bool> ReplaceInTransitAsync(Guid messageId, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var current = FindInTransit(messageId);
        if (current is not { Updatable: true })
            return false;
        var idText = messageId.ToString("D");
        var (blobId, wrapped, version) = WriteFlowBlob(current.OrganizationId, idText, message.Span);
        string? oldBlob;
        try
        {
            oldBlob = await RunOnWriter(ctx =>
            {
                var doc = ctx.Read(FlowCollection).FindById(idText);
                if (doc is null || !doc[FlowUpdatable].AsBoolean)
                    return null;
                RequireUsableVersion(current.OrganizationId, version);
                var previous = doc[FlowBlobId].AsString;
                doc[FlowBlobId] = blobId;
                doc[FlowWrappedKey] = wrapped;
                doc[Schema.KeyVersionField] = version;
                ctx.Update(FlowCollection, doc);
                return previous;
            }, FlowBlobs.SyncPaths(blobId), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not WriteOutcomeUnknownException)
        {
            FlowBlobs.Delete(blobId);
            throw;
        }
        if (oldBlob is null)
        {
            FlowBlobs.Delete(blobId);
            return false;
        }
        DeleteBlob(FlowBlobs, oldBlob);
        return true;
    }

    /// <inheritdoc/>
    public Task<bool> SealInTransitAsync(Guid messageId, CancellationToken cancellationToken)
    {
        var idText = messageId.ToString("D");
        return RunOnWriter(ctx =>
        {
            var doc = ctx.Read(FlowCollection).FindById(idText);
            if (doc is null)
                return false;
            if (doc[FlowUpdatable].AsBoolean)
            {
                doc[FlowUpdatable] = false;
                ctx.Update(FlowCollection, doc);
            }
            return true;
        }, [], cancellationToken);
    }

    /// <inheritdoc/>
    public async Task<int> PurgeInTransitAsync(CancellationToken cancellationToken)
    {
        var cutoff = (Now - IMessageFlowStore.Window).UtcDateTime;
        var blobs = await RunOnWriter(ctx =>
        {
            var expired = ctx.Read(FlowCollection).Find(Query.LT(FlowStoredAt, cutoff)).ToList();
            foreach (var doc in expired)
                ctx.Delete(FlowCollection, doc["_id"]);
            return expired.Select(d => d[FlowBlobId].AsString).ToList();
        }, [], cancellationToken).ConfigureAwait(false);
        foreach (var blobId in blobs)
        {
            try { DeleteBlob(FlowBlobs, blobId); }
            catch (IOException) { /* a leftover file holds only ciphertext; the next sweep is by document */ }
        }
        return blobs.Count;
    }

    private (string BlobId, byte[] WrappedKey, int Version) WriteFlowBlob(string organizationId, string messageId, ReadOnlySpan<byte> message)
    {
        var blobId = BlobStore.NewBlobId(Now);
        var messageKey = Aead.NewKey();
        try
        {
            var (wrapped, version) = SealTransitKey(organizationId, messageKey, FlowKeyContext(organizationId, messageId, blobId));
            FlowBlobs.Write(blobId, organizationId, messageKey, message);
            return (blobId, wrapped, version);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }
}
