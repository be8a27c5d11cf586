using System.Security.Cryptography;
using LiteDB;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;
using H = MailServer.Storage.Schema.HeldFields;
using JsonSerializer = System.Text.Json.JsonSerializer;

namespace MailServer.Storage;

// Messages held while a synchronous hook decides (§10.5). The body is an encrypted blob in a folder of its own
// (like the message flow copies, so reindex never takes it for an orphan); its message key is wrapped under the
// organization's master key; the details (direction, rule, invocation id, recipients, the caller's envelope) are
// sealed under the message key. In clear: ids, the organization, dates and the attempt count.
public sealed partial class MailStore : IHeldMessageStore
{
    private BlobStore? _heldBlobs;

    private BlobStore HeldBlobs => LazyInitializer.EnsureInitialized(ref _heldBlobs, () => new BlobStore(_blobs.Root.TrimEnd(Path.DirectorySeparatorChar) + ".held"));

    internal sealed record HeldDetails(MessageFlowContext Direction, string Rule, string InvocationId, Guid MessageFlowId,
        IReadOnlyList<string> Recipients, DateTimeOffset Deadline, string? LastError, byte[] Envelope);

    /// <inheritdoc/>
    public async Task HoldAsync(HeldMessage held, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(held);
        var blobId = BlobStore.NewBlobId(Now);
        var messageKey = Aead.NewKey();
        try
        {
            var (wrapped, version) = SealTransitKey(held.OrganizationId, messageKey, HeldKeyContext(held.OrganizationId, held.HeldId, blobId));
            var details = SealHeldDetails(messageKey, held);
            HeldBlobs.Write(blobId, held.OrganizationId, messageKey, message.Span);
            try
            {
                await RunOnWriter(ctx =>
                {
                    if (Ledger(held.OrganizationId).CurrentVersion != version) // a master key rotation began meanwhile (see RotateAsync)
                        (wrapped, version) = SealTransitKey(held.OrganizationId, messageKey, HeldKeyContext(held.OrganizationId, held.HeldId, blobId));
                    ctx.Insert(Schema.Held, new BsonDocument
                    {
                        ["_id"] = held.HeldId,
                        [H.Organization] = held.OrganizationId,
                        [H.BlobId] = blobId,
                        [H.WrappedKey] = wrapped,
                        [Schema.KeyVersionField] = version,
                        [H.DetailsSealed] = details,
                        [H.HeldSinceTicks] = held.HeldSince.UtcTicks,
                        [H.NextAttemptTicks] = held.NextAttemptAt.UtcTicks,
                        [H.Attempts] = held.Attempts,
                    });
                    return true;
                }, HeldBlobs.SyncPaths(blobId), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not WriteOutcomeUnknownException)
            {
                HeldBlobs.Delete(blobId);
                throw;
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<HeldMessage> ListHeld() =>
        Collection(Schema.Held).FindAll().Select(OpenHeld).OrderBy(h => h.HeldSince).ToList();

    /// <inheritdoc/>
    public IReadOnlyList<HeldMessage> DueHeld(DateTimeOffset now, int max) =>
        Collection(Schema.Held)
            .Find(BsonExpression.Create($"$.{H.NextAttemptTicks} <= @0", now.UtcTicks), 0, max)
            .Select(OpenHeld)
            .ToList();

    /// <inheritdoc/>
    public async Task<byte[]> ReadHeldMessageAsync(string heldId, CancellationToken cancellationToken)
    {
        var document = Collection(Schema.Held).FindById(heldId) ?? throw new KeyNotFoundException($"No held message {heldId}.");
        var messageKey = HeldMessageKey(document);
        try
        {
            return await HeldBlobs.ReadAsync(document[H.BlobId].AsString, messageKey, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    /// <inheritdoc/>
    public async Task RecordHeldAttemptAsync(string heldId, int attempts, DateTimeOffset nextAttemptAt, string lastError, CancellationToken cancellationToken)
    {
        var document = Collection(Schema.Held).FindById(heldId) ?? throw new KeyNotFoundException($"No held message {heldId}.");
        var current = OpenHeld(document);
        var messageKey = HeldMessageKey(document);
        byte[] details;
        try
        {
            details = SealHeldDetails(messageKey, current with { LastError = lastError });
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
        await RunOnWriter(ctx =>
        {
            var stored = ctx.Read(Schema.Held).FindById(heldId) ?? throw new KeyNotFoundException($"No held message {heldId}.");
            stored[H.DetailsSealed] = details;
            stored[H.Attempts] = attempts;
            stored[H.NextAttemptTicks] = nextAttemptAt.UtcTicks;
            ctx.Update(Schema.Held, stored);
            return true;
        }, [], cancellationToken).ConfigureAwait(false);
        EndLease("h:" + heldId);
    }

    /// <inheritdoc/>
    public async Task<bool> ReleaseHeldAsync(string heldId, CancellationToken cancellationToken)
    {
        var released = await RunOnWriter(ctx =>
        {
            var stored = ctx.Read(Schema.Held).FindById(heldId);
            if (stored is null)
                return false;
            var blobId = stored[H.BlobId].AsString;
            ctx.Delete(Schema.Held, heldId);
            ctx.AfterCommit.Add(() => DeleteBlob(HeldBlobs, blobId));
            return true;
        }, [], cancellationToken).ConfigureAwait(false);
        EndLease("h:" + heldId);
        return released;
    }

    private HeldMessage OpenHeld(BsonDocument document)
    {
        var heldId = document["_id"].AsString;
        var messageKey = HeldMessageKey(document);
        try
        {
            var plain = Aead.Open(messageKey, document[H.DetailsSealed].AsBinary, HeldDetailsContext(heldId));
            var d = JsonSerializer.Deserialize<HeldDetails>(plain, EnvelopeJson)
                    ?? throw new CryptographicException($"Held message {heldId} has empty details.");
            return new HeldMessage(heldId, document[H.Organization].AsString, d.Direction, d.Rule, d.InvocationId, d.MessageFlowId, d.Recipients,
                new DateTimeOffset(document[H.HeldSinceTicks].AsInt64, TimeSpan.Zero), d.Deadline, document[H.Attempts].AsInt32,
                new DateTimeOffset(document[H.NextAttemptTicks].AsInt64, TimeSpan.Zero), d.LastError, d.Envelope);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    private byte[] HeldMessageKey(BsonDocument document)
    {
        var organizationId = document[H.Organization].AsString;
        return OpenTransitKey(document, organizationId, H.WrappedKey,
            HeldKeyContext(organizationId, document["_id"].AsString, document[H.BlobId].AsString));
    }

    internal static byte[] SealHeldDetails(byte[] messageKey, HeldMessage held) =>
        Aead.Seal(messageKey, JsonSerializer.SerializeToUtf8Bytes(new HeldDetails(held.Direction, held.Rule, held.InvocationId, held.MessageFlowId,
            held.Recipients, held.Deadline, held.LastError, held.Envelope), EnvelopeJson), HeldDetailsContext(held.HeldId));

    internal static byte[] HeldDetailsContext(string heldId) => Aead.Utf8("held-details/" + heldId);

    internal static byte[] HeldKeyContext(string organizationId, string heldId, string blobId) =>
        Aead.Utf8($"urn:mailserver:organization/{organizationId}/held/{heldId}/{blobId}");
}
