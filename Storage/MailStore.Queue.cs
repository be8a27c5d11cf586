using System.Security.Cryptography;
using JsonSerializer = System.Text.Json.JsonSerializer;
using JsonSerializerOptions = System.Text.Json.JsonSerializerOptions;
using JsonSerializerDefaults = System.Text.Json.JsonSerializerDefaults;
using LiteDB;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;
using Q = MailServer.Storage.Schema.QueueFields;

namespace MailServer.Storage;

// The outbound queue: the message body once, as an encrypted blob like a mailbox message; its message key
// wrapped under the organization's queue key (derived from the master key); the envelope and every recipient's
// state sealed under the message key. In clear: ids, sizes, dates, the next attempt and the pending count.
public sealed partial class MailStore
{
    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No master key for the envelope's organization.</exception>
    /// <exception cref="WriteOutcomeUnknownException">The commit or fsync failed; nothing was acknowledged.</exception>
    /// <exception cref="IOException">The blob could not be written.</exception>
    public async Task<QueuedMessage> EnqueueAsync(OutboundEnvelope envelope, ReadOnlyMemory<byte> message, string? countAgainstUser, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        if (envelope.Recipients.Count == 0)
            throw new ArgumentException("A queued message needs at least one recipient.", nameof(envelope));
        cancellationToken.ThrowIfCancellationRequested();

        // One id for the client, the queue and the event log: the message's trace id, unless a part of the same
        // message is queued already (a held recipient released after the others were queued).
        var queueId = envelope.TraceId is { } trace && Collection(Schema.Queue).FindById(trace.ToString("N")) is null ? trace.ToString("N") : NewId();
        var blobId = BlobStore.NewBlobId(Now);
        var messageKey = Aead.NewKey();
        var queueKey = Ledger(envelope.OrganizationId).QueueKey;
        try
        {
            var wrapped = Aead.Seal(queueKey, messageKey, QueueKeyContext(envelope.OrganizationId, blobId));
            var sealedEnvelope = SealEnvelope(messageKey, queueId, envelope);
            var counter = countAgainstUser is null ? null : SendCountId(envelope.OrganizationId, countAgainstUser, DateOnly.FromDateTime(envelope.ReceivedAt.UtcDateTime));
            _inFlightBlobs.TryAdd(blobId, 0);
            _blobs.Write(blobId, envelope.OrganizationId, messageKey, message.Span);
            var now = Now;
            var size = message.Length;
            var next = NextAttemptTicks(envelope);
            var pending = envelope.Recipients.Count(r => r.State == QueuedRecipientState.Pending);
            try
            {
                await RunOnWriter(ctx =>
                {
                    ctx.Insert(Schema.Queue, new BsonDocument
                    {
                        ["_id"] = queueId,
                        [Q.Organization] = envelope.OrganizationId,
                        [Q.BlobId] = blobId,
                        [Q.WrappedKey] = wrapped,
                        [Q.EnvelopeSealed] = sealedEnvelope,
                        [Q.Size] = (long)size,
                        [Q.CreatedTicks] = now.UtcTicks,
                        [Q.NextAttemptTicks] = next,
                        [Q.Pending] = pending,
                    });
                    if (counter is not null)
                        AddToSendCount(ctx, counter, envelope.Recipients.Count);
                    return true;
                }, _blobs.SyncPaths(blobId), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not WriteOutcomeUnknownException)
            {
                _blobs.Delete(blobId);
                throw;
            }
            return new QueuedMessage(queueId, envelope, size, now);
        }
        finally
        {
            _inFlightBlobs.TryRemove(blobId, out _);
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<QueuedMessage> ListQueue() =>
        Collection(Schema.Queue).FindAll().Select(OpenQueued).OrderBy(m => m.CreatedAt).ToList();

    /// <inheritdoc/>
    public IReadOnlyList<QueuedMessage> DueQueueEntries(DateTimeOffset now, int max) =>
        Collection(Schema.Queue)
            .Find(BsonExpression.Create($"$.{Q.NextAttemptTicks} <= @0", now.UtcTicks), 0, max)
            .Select(OpenQueued)
            .ToList();

    /// <inheritdoc/>
    public IReadOnlyList<string> DueQueueIds(DateTimeOffset now, int max) =>
        Collection(Schema.Queue)
            .Find(BsonExpression.Create($"$.{Q.NextAttemptTicks} <= @0", now.UtcTicks), 0, max)
            .Select(d => d["_id"].AsString)
            .ToList();

    /// <inheritdoc/>
    public QueuedMessage? FindQueued(string queueId) =>
        Collection(Schema.Queue).FindById(queueId) is { } document ? OpenQueued(document) : null;

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such queued message.</exception>
    /// <exception cref="CryptographicException">The blob or a key was tampered with.</exception>
    public async Task<byte[]> ReadQueuedMessageAsync(string queueId, CancellationToken cancellationToken)
    {
        var document = Collection(Schema.Queue).FindById(queueId) ?? throw new KeyNotFoundException($"No queued message {queueId}.");
        var messageKey = QueuedMessageKey(document);
        try
        {
            return await _blobs.ReadAsync(document[Q.BlobId].AsString, messageKey, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such queued message.</exception>
    public Task UpdateQueuedAsync(string queueId, IReadOnlyList<QueuedRecipient> recipients, CancellationToken cancellationToken) =>
        UpdateQueuedAsync(queueId, recipients, null, cancellationToken);

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such queued message.</exception>
    /// <exception cref="QueuedMessageChangedException">The message is no longer at <paramref name="expectedVersion"/>.</exception>
    public async Task UpdateQueuedAsync(string queueId, IReadOnlyList<QueuedRecipient> recipients, long? expectedVersion, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(recipients);
        var document = Collection(Schema.Queue).FindById(queueId) ?? throw new KeyNotFoundException($"No queued message {queueId}.");
        var pending = recipients.Count(r => r.State == QueuedRecipientState.Pending);
        var blobId = document[Q.BlobId].AsString;
        byte[]? sealedEnvelope = null;
        var next = long.MaxValue;
        if (pending > 0)
        {
            // Only a message that stays queued needs its envelope opened and sealed again; a settled one is deleted.
            var envelope = OpenQueued(document).Envelope with { Recipients = recipients };
            next = NextAttemptTicks(envelope);
            var messageKey = QueuedMessageKey(document);
            try
            {
                sealedEnvelope = SealEnvelope(messageKey, queueId, envelope);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(messageKey);
            }
        }
        await RunOnWriter(ctx =>
        {
            var stored = ctx.Read(Schema.Queue).FindById(queueId) ?? throw new KeyNotFoundException($"No queued message {queueId}.");
            var version = VersionOfQueued(stored);
            if (expectedVersion is { } expected && expected != version)
                throw new QueuedMessageChangedException(queueId, expected, version);
            if (sealedEnvelope is null)
            {
                // Every recipient is settled: the message leaves the queue and its blob goes after the commit.
                ctx.Delete(Schema.Queue, queueId);
                ctx.AfterCommit.Add(() => DeleteBlob(_blobs, blobId));
                return true;
            }
            stored[Q.EnvelopeSealed] = sealedEnvelope;
            stored[Q.NextAttemptTicks] = next;
            stored[Q.Pending] = pending;
            stored[Q.Version] = version + 1;
            ctx.Update(Schema.Queue, stored);
            return true;
        }, [], cancellationToken).ConfigureAwait(false);
        EndLease("q:" + queueId);
    }

    /// <inheritdoc/>
    public async Task<bool> DeleteQueuedAsync(string queueId, CancellationToken cancellationToken)
    {
        var deleted = await RunOnWriter(ctx =>
        {
            var stored = ctx.Read(Schema.Queue).FindById(queueId);
            if (stored is null)
                return false;
            var blobId = stored[Q.BlobId].AsString;
            ctx.Delete(Schema.Queue, queueId);
            ctx.AfterCommit.Add(() => DeleteBlob(_blobs, blobId));
            return true;
        }, [], cancellationToken).ConfigureAwait(false);
        EndLease("q:" + queueId);
        return deleted;
    }

    /// <inheritdoc/>
    public long ExternalRecipientsOn(string organizationId, string user, DateOnly day)
    {
        var id = SendCountId(organizationId, user, day);
        return Collection(Schema.SendCounts).FindById(id) is { } document ? document[Schema.SendCountFields.Count].AsInt64 : 0;
    }

    /// <summary>Blob ids the queue refers to (reindex must not delete them as orphans).</summary>
    private HashSet<string> QueueBlobIds() =>
        Collection(Schema.Queue).FindAll().Select(d => d[Q.BlobId].AsString).ToHashSet(StringComparer.Ordinal);

    private static void AddToSendCount(WriterContext ctx, string id, int count)
    {
        var document = ctx.Read(Schema.SendCounts).FindById(id);
        if (document is null)
        {
            ctx.Insert(Schema.SendCounts, new BsonDocument { ["_id"] = id, [Schema.SendCountFields.Count] = (long)count });
            return;
        }
        document[Schema.SendCountFields.Count] = document[Schema.SendCountFields.Count].AsInt64 + count;
        ctx.Update(Schema.SendCounts, document);
    }

    /// <summary>"org|HMAC(user)|yyyymmdd": a per-user daily counter without the address in clear.</summary>
    private string SendCountId(string organizationId, string user, DateOnly day) =>
        OwnerLookup(organizationId, user) + "|" + day.ToString("yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture);

    internal static long NextAttemptTicks(OutboundEnvelope envelope) =>
        envelope.Recipients.Where(r => r.State == QueuedRecipientState.Pending).Select(r => r.NextAttemptAt.UtcTicks).DefaultIfEmpty(long.MaxValue).Min();

    private QueuedMessage OpenQueued(BsonDocument document)
    {
        var queueId = document["_id"].AsString;
        var messageKey = QueuedMessageKey(document);
        try
        {
            var plain = Aead.Open(messageKey, document[Q.EnvelopeSealed].AsBinary, EnvelopeContext(queueId));
            var envelope = JsonSerializer.Deserialize<OutboundEnvelope>(plain, EnvelopeJson)
                           ?? throw new CryptographicException($"Queued message {queueId} has an empty envelope.");
            return new QueuedMessage(queueId, envelope, document[Q.Size].AsInt64, new DateTimeOffset(document[Q.CreatedTicks].AsInt64, TimeSpan.Zero))
            {
                Version = VersionOfQueued(document),
            };
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    /// <summary>The recipients' states' write count (absent in documents written before it existed: 0).</summary>
    private static long VersionOfQueued(BsonDocument document) => document[Q.Version].IsNull ? 0 : document[Q.Version].AsInt64;

    private byte[] QueuedMessageKey(BsonDocument document)
    {
        var organizationId = document[Q.Organization].AsString;
        var plain = Aead.Open(Ledger(organizationId).QueueKey, document[Q.WrappedKey].AsBinary, QueueKeyContext(organizationId, document[Q.BlobId].AsString));
        var pinned = GC.AllocateArray<byte>(plain.Length, pinned: true);
        plain.CopyTo(pinned, 0);
        CryptographicOperations.ZeroMemory(plain);
        return pinned;
    }

    internal static byte[] SealEnvelope(byte[] messageKey, string queueId, OutboundEnvelope envelope) =>
        Aead.Seal(messageKey, JsonSerializer.SerializeToUtf8Bytes(envelope, EnvelopeJson), EnvelopeContext(queueId));

    internal static byte[] EnvelopeContext(string queueId) => Aead.Utf8("queue-envelope/" + queueId);

    internal static byte[] QueueKeyContext(string organizationId, string blobId) =>
        Aead.Utf8($"urn:mailserver:organization/{organizationId}/queue/{blobId}");

    internal static readonly JsonSerializerOptions EnvelopeJson = new(JsonSerializerDefaults.General);
}
