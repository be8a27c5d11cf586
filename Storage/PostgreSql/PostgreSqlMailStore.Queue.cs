using System.Security.Cryptography;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;
using Npgsql;
using JsonSerializer = System.Text.Json.JsonSerializer;

namespace MailServer.Storage.PostgreSql;

// The outbound queue, the daily sending counters, held messages and in-transit copies, sealed exactly as the LiteDB
// engine seals them (same keys, same contexts): a queued body under a fresh message key wrapped under the
// organization's queue key, the envelope sealed under the message key; held and in-transit message keys wrapped under
// the current master key version. Bodies are rows of `blobs`, written in the transaction that inserts their row.
//
// Leases: a claim marks rows with this instance's owner id and an expiry (UTC ticks of the caller's clock) in one
// UPDATE over a SELECT ... FOR UPDATE SKIP LOCKED, so two nodes claiming at once lock disjoint rows, and a row whose
// lease ran out is claimable again (its node died). Writing the outcome checks the lease (a write by a node whose
// lease was taken over is refused with LeaseHeldElsewhereException) and ends it. Nodes' clocks must agree to well
// within a lease (NTP).
public sealed partial class PostgreSqlMailStore : IQueueStore, IHeldMessageStore, IMessageFlowStore
{
    private const string QueueColumns = "id, org, blob_id, wrapped_key, envelope_sealed, size, created_ticks, version";
    private const string HeldColumns = "id, org, blob_id, wrapped_key, key_version, details_sealed, held_since_ticks, next_attempt_ticks, attempts";
    private long _lastFlowPurgeTicks;

    /// <summary>This instance's lease owner id (one per open store: a restarted node does not inherit its old leases).</summary>
    internal string LeaseOwner => _origin;

    /// <summary>The queue id was taken between the check and the insert (a part of the same message queued elsewhere).</summary>
    private sealed class QueueIdTakenException : Exception;

    // ---- the outbound queue ------------------------------------------------------------------------------------

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No master key for the envelope's organization.</exception>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed before the commit; nothing was queued.</exception>
    /// <exception cref="WriteOutcomeUnknownException">The commit failed; the message may or may not be queued.</exception>
    public async Task<QueuedMessage> EnqueueAsync(OutboundEnvelope envelope, ReadOnlyMemory<byte> message, string? countAgainstUser, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        if (envelope.Recipients.Count == 0)
            throw new ArgumentException("A queued message needs at least one recipient.", nameof(envelope));
        cancellationToken.ThrowIfCancellationRequested();
        var organizationId = envelope.OrganizationId;
        var queueKey = Ledger(organizationId).QueueKey;
        var counter = countAgainstUser is null ? null : SendCountId(organizationId, countAgainstUser, DateOnly.FromDateTime(envelope.ReceivedAt.UtcDateTime));
        // One id for the client, the queue and the event log: the trace id, unless a part of the same message is queued already.
        var queueId = envelope.TraceId is { } trace && FindQueuedRow(trace.ToString("N")) is null ? trace.ToString("N") : MailStore.NewId();
        for (var attempt = 0; ; attempt++)
        {
            var blobId = BlobStore.NewBlobId(Now);
            var messageKey = Aead.NewKey();
            try
            {
                var wrapped = Aead.Seal(queueKey, messageKey, MailStore.QueueKeyContext(organizationId, blobId));
                var sealedEnvelope = MailStore.SealEnvelope(messageKey, queueId, envelope);
                var body = BlobStore.Seal(blobId, organizationId, messageKey, message.Span);
                var now = Now;
                var id = queueId;
                await WriteAsync(async (tx, _) =>
                {
                    await _bodies.PutAsync(body, tx, cancellationToken).ConfigureAwait(false);
                    await using (var insert = Command(tx,
                        "INSERT INTO queue (id, org, blob_id, wrapped_key, envelope_sealed, size, created_ticks, next_attempt_ticks, pending) " +
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
                        id, organizationId, blobId, wrapped, sealedEnvelope, (long)message.Length, now.UtcTicks, MailStore.NextAttemptTicks(envelope),
                        envelope.Recipients.Count(r => r.State == QueuedRecipientState.Pending)))
                    {
                        if (await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
                            throw new QueueIdTakenException(); // rolls back the body with it
                    }
                    if (counter is not null)
                    {
                        // The day's count rises in the transaction that queues the message: counted exactly when queued.
                        await using var count = Command(tx,
                            "INSERT INTO send_counts (id, count) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET count = send_counts.count + excluded.count",
                            counter, (long)envelope.Recipients.Count);
                        await count.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }
                    return true;
                }, cancellationToken).ConfigureAwait(false);
                return new QueuedMessage(queueId, envelope, message.Length, now);
            }
            catch (QueueIdTakenException) when (attempt == 0)
            {
                queueId = MailStore.NewId();
            }
            finally
            {
                CryptographicOperations.ZeroMemory(messageKey);
            }
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<QueuedMessage> ListQueue() =>
        ReadQueueRows($"SELECT {QueueColumns} FROM queue ORDER BY created_ticks").Select(OpenQueued).ToList();

    /// <inheritdoc/>
    public IReadOnlyList<QueuedMessage> DueQueueEntries(DateTimeOffset now, int max) =>
        ReadQueueRows($"SELECT {QueueColumns} FROM queue WHERE next_attempt_ticks <= $1 ORDER BY next_attempt_ticks LIMIT $2", now.UtcTicks, max)
            .Select(OpenQueued).ToList();

    /// <inheritdoc/>
    public IReadOnlyList<string> DueQueueIds(DateTimeOffset now, int max) => Guard(() =>
    {
        using var command = Command("SELECT id FROM queue WHERE next_attempt_ticks <= $1 ORDER BY next_attempt_ticks LIMIT $2", now.UtcTicks, max);
        using var reader = command.ExecuteReader();
        var ids = new List<string>();
        while (reader.Read())
            ids.Add(reader.GetString(0));
        return ids;
    });

    /// <inheritdoc/>
    public QueuedMessage? FindQueued(string queueId) => FindQueuedRow(queueId) is { } row ? OpenQueued(row) : null;

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such queued message.</exception>
    /// <exception cref="CryptographicException">The body or a key was tampered with.</exception>
    public async Task<byte[]> ReadQueuedMessageAsync(string queueId, CancellationToken cancellationToken)
    {
        var row = FindQueuedRow(queueId) ?? throw new KeyNotFoundException($"No queued message {queueId}.");
        var messageKey = QueuedMessageKey(row);
        try
        {
            return await ReadBodyAsync(row.BlobId, messageKey, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="max"/> or <paramref name="lease"/> is not positive.</exception>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed; nothing was claimed.</exception>
    public async Task<IReadOnlyList<string>> ClaimDueQueueAsync(DateTimeOffset now, int max, TimeSpan lease, CancellationToken cancellationToken)
    {
        MailStore.CheckClaim(max, lease);
        var claimed = await ClaimAsync("queue", now, max, lease, cancellationToken).ConfigureAwait(false);
        return claimed.Select(c => c.Id).ToList();
    }

    /// <inheritdoc/>
    public Task<bool> RenewQueueLeaseAsync(string queueId, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken) =>
        WriteAsync(async (tx, _) =>
        {
            await using var renew = Command(tx, "UPDATE queue SET lease_expires_ticks = $3 WHERE id = $1 AND lease_owner = $2", queueId, _origin, (now + lease).UtcTicks);
            return await renew.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
        }, cancellationToken);

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such queued message.</exception>
    /// <exception cref="LeaseHeldElsewhereException">Another node holds a live lease on it.</exception>
    public Task UpdateQueuedAsync(string queueId, IReadOnlyList<QueuedRecipient> recipients, CancellationToken cancellationToken) =>
        UpdateQueuedAsync(queueId, recipients, null, cancellationToken);

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such queued message.</exception>
    /// <exception cref="LeaseHeldElsewhereException">Another node holds a live lease on it.</exception>
    /// <exception cref="QueuedMessageChangedException">The message is no longer at <paramref name="expectedVersion"/>.</exception>
    public async Task UpdateQueuedAsync(string queueId, IReadOnlyList<QueuedRecipient> recipients, long? expectedVersion, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(recipients);
        var row = FindQueuedRow(queueId) ?? throw new KeyNotFoundException($"No queued message {queueId}.");
        var pending = recipients.Count(r => r.State == QueuedRecipientState.Pending);
        byte[]? sealedEnvelope = null;
        var next = long.MaxValue;
        if (pending > 0)
        {
            // Only a message that stays queued needs its envelope sealed again; a settled one is deleted.
            var envelope = OpenQueued(row).Envelope with { Recipients = recipients };
            next = MailStore.NextAttemptTicks(envelope);
            var messageKey = QueuedMessageKey(row);
            try
            {
                sealedEnvelope = MailStore.SealEnvelope(messageKey, queueId, envelope);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(messageKey);
            }
        }
        var now = Now;
        await WriteAsync(async (tx, _) =>
        {
            var blobId = await LockLeasedAsync(tx, "queue", queueId, now, cancellationToken).ConfigureAwait(false)
                         ?? throw new KeyNotFoundException($"No queued message {queueId}.");
            if (expectedVersion is { } expected)
            {
                await using var read = Command(tx, "SELECT version FROM queue WHERE id = $1", queueId);
                var version = (long)(await read.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
                if (version != expected)
                    throw new QueuedMessageChangedException(queueId, expected, version);
            }
            if (sealedEnvelope is null)
            {
                // Every recipient is settled: the message and its body leave the queue in this transaction.
                await DeleteRowAndBodyAsync(tx, "queue", queueId, blobId, cancellationToken).ConfigureAwait(false);
                return true;
            }
            await using var update = Command(tx,
                "UPDATE queue SET envelope_sealed = $2, next_attempt_ticks = $3, pending = $4, version = version + 1, lease_owner = NULL, lease_expires_ticks = 0 WHERE id = $1",
                queueId, sealedEnvelope, next, pending);
            await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public Task<bool> DeleteQueuedAsync(string queueId, CancellationToken cancellationToken) =>
        WriteAsync(async (tx, _) =>
        {
            string? blobId;
            await using (var select = Command(tx, "SELECT blob_id FROM queue WHERE id = $1 FOR UPDATE", queueId))
                blobId = await select.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
            if (blobId is null)
                return false;
            await DeleteRowAndBodyAsync(tx, "queue", queueId, blobId, cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    /// <inheritdoc/>
    public long ExternalRecipientsOn(string organizationId, string user, DateOnly day)
    {
        var id = SendCountId(organizationId, user, day);
        return Guard(() =>
        {
            using var command = Command("SELECT count FROM send_counts WHERE id = $1", id);
            return command.ExecuteScalar() is long count ? count : 0;
        });
    }

    /// <summary>"org|HMAC(user)|yyyymmdd", as the LiteDB engine keys it: a per-user daily counter without the address in clear.</summary>
    private string SendCountId(string organizationId, string user, DateOnly day) =>
        OwnerLookup(organizationId, user) + "|" + day.ToString("yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture);

    private sealed record QueueRow(string Id, string Org, string BlobId, byte[] WrappedKey, byte[] EnvelopeSealed, long Size, long CreatedTicks, long Version);

    private QueueRow? FindQueuedRow(string queueId) => ReadQueueRows($"SELECT {QueueColumns} FROM queue WHERE id = $1", queueId).FirstOrDefault();

    private List<QueueRow> ReadQueueRows(string sql, params object?[] arguments) => Guard(() =>
    {
        using var command = Command(sql, arguments);
        using var reader = command.ExecuteReader();
        var rows = new List<QueueRow>();
        while (reader.Read())
            rows.Add(new QueueRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetFieldValue<byte[]>(3),
                reader.GetFieldValue<byte[]>(4), reader.GetInt64(5), reader.GetInt64(6), reader.GetInt64(7)));
        return rows;
    });

    private QueuedMessage OpenQueued(QueueRow row)
    {
        var messageKey = QueuedMessageKey(row);
        try
        {
            var plain = Aead.Open(messageKey, row.EnvelopeSealed, MailStore.EnvelopeContext(row.Id));
            var envelope = JsonSerializer.Deserialize<OutboundEnvelope>(plain, MailStore.EnvelopeJson)
                           ?? throw new CryptographicException($"Queued message {row.Id} has an empty envelope.");
            return new QueuedMessage(row.Id, envelope, row.Size, new DateTimeOffset(row.CreatedTicks, TimeSpan.Zero)) { Version = row.Version };
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    private byte[] QueuedMessageKey(QueueRow row) =>
        Aead.Open(Ledger(row.Org).QueueKey, row.WrappedKey, MailStore.QueueKeyContext(row.Org, row.BlobId));

    // ---- held messages -----------------------------------------------------------------------------------------

    /// <inheritdoc/>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed before the commit; nothing was held.</exception>
    /// <exception cref="WriteOutcomeUnknownException">The commit failed.</exception>
    public Task HoldAsync(HeldMessage held, ReadOnlyMemory<byte> message, CancellationToken cancellationToken) =>
        WithUsableVersionAsync(async () =>
        {
            await HoldOnceAsync(held, message, cancellationToken).ConfigureAwait(false);
            return true;
        });

    private async Task HoldOnceAsync(HeldMessage held, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(held);
        var blobId = BlobStore.NewBlobId(Now);
        var messageKey = Aead.NewKey();
        try
        {
            var (wrapped, version) = SealTransitKey(held.OrganizationId, messageKey, MailStore.HeldKeyContext(held.OrganizationId, held.HeldId, blobId));
            var details = MailStore.SealHeldDetails(messageKey, held);
            var body = BlobStore.Seal(blobId, held.OrganizationId, messageKey, message.Span);
            await WriteAsync(async (tx, _) =>
            {
                await RequireUsableVersionAsync(tx, held.OrganizationId, version, cancellationToken).ConfigureAwait(false);
                await _bodies.PutAsync(body, tx, cancellationToken).ConfigureAwait(false);
                await using var insert = Command(tx,
                    $"INSERT INTO held ({HeldColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    held.HeldId, held.OrganizationId, blobId, wrapped, version, details, held.HeldSince.UtcTicks, held.NextAttemptAt.UtcTicks, held.Attempts);
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<HeldMessage> ListHeld() =>
        ReadHeldRows($"SELECT {HeldColumns} FROM held ORDER BY held_since_ticks").Select(OpenHeld).ToList();

    /// <inheritdoc/>
    public IReadOnlyList<HeldMessage> DueHeld(DateTimeOffset now, int max) =>
        ReadHeldRows($"SELECT {HeldColumns} FROM held WHERE next_attempt_ticks <= $1 ORDER BY next_attempt_ticks LIMIT $2", now.UtcTicks, max)
            .Select(OpenHeld).ToList();

    /// <inheritdoc/>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed; nothing was claimed.</exception>
    public async Task<IReadOnlyList<HeldMessage>> ClaimDueHeldAsync(DateTimeOffset now, int max, TimeSpan lease, CancellationToken cancellationToken)
    {
        MailStore.CheckClaim(max, lease);
        var claimed = await ClaimAsync("held", now, max, lease, cancellationToken).ConfigureAwait(false);
        if (claimed.Count == 0)
            return [];
        var rows = ReadHeldRows($"SELECT {HeldColumns} FROM held WHERE id = ANY($1)", (object)claimed.Select(c => c.Id).ToArray());
        var order = claimed.Select((c, i) => (c.Id, i)).ToDictionary(p => p.Id, p => p.i, StringComparer.Ordinal);
        return rows.OrderBy(r => order[r.Id]).Select(OpenHeld).ToList();
    }

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such held message.</exception>
    public async Task<byte[]> ReadHeldMessageAsync(string heldId, CancellationToken cancellationToken)
    {
        var row = FindHeldRow(heldId) ?? throw new KeyNotFoundException($"No held message {heldId}.");
        var messageKey = HeldMessageKey(row);
        try
        {
            return await ReadBodyAsync(row.BlobId, messageKey, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="KeyNotFoundException">No such held message.</exception>
    /// <exception cref="LeaseHeldElsewhereException">Another node holds a live lease on it.</exception>
    public async Task RecordHeldAttemptAsync(string heldId, int attempts, DateTimeOffset nextAttemptAt, string lastError, CancellationToken cancellationToken)
    {
        var row = FindHeldRow(heldId) ?? throw new KeyNotFoundException($"No held message {heldId}.");
        var current = OpenHeld(row);
        var messageKey = HeldMessageKey(row);
        byte[] details;
        try
        {
            details = MailStore.SealHeldDetails(messageKey, current with { LastError = lastError });
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
        var now = Now;
        await WriteAsync(async (tx, _) =>
        {
            if (await LockLeasedAsync(tx, "held", heldId, now, cancellationToken).ConfigureAwait(false) is null)
                throw new KeyNotFoundException($"No held message {heldId}.");
            await using var update = Command(tx,
                "UPDATE held SET details_sealed = $2, attempts = $3, next_attempt_ticks = $4, lease_owner = NULL, lease_expires_ticks = 0 WHERE id = $1",
                heldId, details, attempts, nextAttemptAt.UtcTicks);
            await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public Task<bool> ReleaseHeldAsync(string heldId, CancellationToken cancellationToken) =>
        WriteAsync(async (tx, _) =>
        {
            string? blobId;
            await using (var select = Command(tx, "SELECT blob_id FROM held WHERE id = $1 FOR UPDATE", heldId))
                blobId = await select.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
            if (blobId is null)
                return false;
            await DeleteRowAndBodyAsync(tx, "held", heldId, blobId, cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    private sealed record HeldRow(string Id, string Org, string BlobId, byte[] WrappedKey, int KeyVersion, byte[] DetailsSealed, long HeldSinceTicks,
        long NextAttemptTicks, int Attempts);

    private HeldRow? FindHeldRow(string heldId) => ReadHeldRows($"SELECT {HeldColumns} FROM held WHERE id = $1", heldId).FirstOrDefault();

    private List<HeldRow> ReadHeldRows(string sql, params object?[] arguments) => Guard(() =>
    {
        using var command = Command(sql, arguments);
        using var reader = command.ExecuteReader();
        var rows = new List<HeldRow>();
        while (reader.Read())
            rows.Add(new HeldRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetFieldValue<byte[]>(3), reader.GetInt32(4),
                reader.GetFieldValue<byte[]>(5), reader.GetInt64(6), reader.GetInt64(7), reader.GetInt32(8)));
        return rows;
    });

    private HeldMessage OpenHeld(HeldRow row)
    {
        var messageKey = HeldMessageKey(row);
        try
        {
            var plain = Aead.Open(messageKey, row.DetailsSealed, MailStore.HeldDetailsContext(row.Id));
            var d = JsonSerializer.Deserialize<MailStore.HeldDetails>(plain, MailStore.EnvelopeJson)
                    ?? throw new CryptographicException($"Held message {row.Id} has empty details.");
            return new HeldMessage(row.Id, row.Org, d.Direction, d.Rule, d.InvocationId, d.MessageFlowId, d.Recipients,
                new DateTimeOffset(row.HeldSinceTicks, TimeSpan.Zero), d.Deadline, row.Attempts, new DateTimeOffset(row.NextAttemptTicks, TimeSpan.Zero),
                d.LastError, d.Envelope);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    private byte[] HeldMessageKey(HeldRow row) =>
        Aead.Open(_options.MasterKeys.GetMasterKey(row.Org, row.KeyVersion), row.WrappedKey, MailStore.HeldKeyContext(row.Org, row.Id, row.BlobId));

    // ---- in-transit copies (message flow API) --------------------------------------------------------------------

    /// <inheritdoc/>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed before the commit; nothing was stored.</exception>
    public Task<Guid> StoreInTransitAsync(string organizationId, MessageFlowContext context, ReadOnlyMemory<byte> message, bool updatable,
        CancellationToken cancellationToken) =>
        WithUsableVersionAsync(() => StoreInTransitOnceAsync(organizationId, context, message, updatable, cancellationToken));

    private async Task<Guid> StoreInTransitOnceAsync(string organizationId, MessageFlowContext context, ReadOnlyMemory<byte> message, bool updatable,
        CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid();
        var idText = id.ToString("D");
        var (body, wrapped, version) = SealFlowBody(organizationId, idText, message.Span);
        var now = Now;
        await WriteAsync(async (tx, _) =>
        {
            await RequireUsableVersionAsync(tx, organizationId, version, cancellationToken).ConfigureAwait(false);
            await _bodies.PutAsync(body, tx, cancellationToken).ConfigureAwait(false);
            await using var insert = Command(tx,
                "INSERT INTO message_flow (id, org, context, stored_at_ticks, blob_id, wrapped_key, key_version, updatable) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                idText, organizationId, (int)context, now.UtcTicks, body.BlobId, wrapped, version, updatable);
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
        // Expired copies go on the way: at most one sweep every ten minutes per node.
        var last = Interlocked.Read(ref _lastFlowPurgeTicks);
        if (now.UtcTicks - last > TimeSpan.FromMinutes(10).Ticks && Interlocked.CompareExchange(ref _lastFlowPurgeTicks, now.UtcTicks, last) == last)
            await PurgeInTransitAsync(cancellationToken).ConfigureAwait(false);
        return id;
    }

    /// <inheritdoc/>
    public InTransitMessage? FindInTransit(Guid messageId) =>
        FindFlowRow(messageId) is { } row ? new InTransitMessage(messageId, row.Org, row.Context, new DateTimeOffset(row.StoredAtTicks, TimeSpan.Zero), row.Updatable) : null;

    /// <inheritdoc/>
    public async Task<byte[]?> ReadInTransitAsync(Guid messageId, CancellationToken cancellationToken)
    {
        if (FindFlowRow(messageId) is not { } row)
            return null;
        var idText = messageId.ToString("D");
        var key = Aead.Open(_options.MasterKeys.GetMasterKey(row.Org, row.KeyVersion), row.WrappedKey, MailStore.FlowKeyContext(row.Org, idText, row.BlobId));
        try
        {
            return await ReadBodyAsync(row.BlobId, key, cancellationToken).ConfigureAwait(false);
        }
        catch (FileNotFoundException)
        {
            return null; // replaced or purged between the lookup and the read
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    public Task<bool> ReplaceInTransitAsync(Guid messageId, ReadOnlyMemory<byte> message, CancellationToken cancellationToken) =>
        WithUsableVersionAsync(() => ReplaceInTransitOnceAsync(messageId, message, cancellationToken));

    private async Task<bool> ReplaceInTransitOnceAsync(Guid messageId, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        if (FindFlowRow(messageId) is not { Updatable: true } current)
            return false;
        var idText = messageId.ToString("D");
        var (body, wrapped, version) = SealFlowBody(current.Org, idText, message.Span);
        return await WriteAsync(async (tx, _) =>
        {
            string? previous;
            await using (var select = Command(tx, "SELECT blob_id FROM message_flow WHERE id = $1 AND updatable FOR UPDATE", idText))
                previous = await select.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
            if (previous is null)
                return false; // sealed or purged meanwhile
            await RequireUsableVersionAsync(tx, current.Org, version, cancellationToken).ConfigureAwait(false);
            await _bodies.PutAsync(body, tx, cancellationToken).ConfigureAwait(false);
            await using (var update = Command(tx, "UPDATE message_flow SET blob_id = $2, wrapped_key = $3, key_version = $4 WHERE id = $1",
                idText, body.BlobId, wrapped, version))
                await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await using (var delete = Command(tx, "DELETE FROM blobs WHERE id = $1", previous))
                await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public Task<bool> SealInTransitAsync(Guid messageId, CancellationToken cancellationToken) =>
        WriteAsync(async (tx, _) =>
        {
            await using var update = Command(tx, "UPDATE message_flow SET updatable = false WHERE id = $1", messageId.ToString("D"));
            return await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
        }, cancellationToken);

    /// <inheritdoc/>
    public Task<int> PurgeInTransitAsync(CancellationToken cancellationToken)
    {
        var cutoff = (Now - IMessageFlowStore.Window).UtcTicks;
        return WriteAsync(async (tx, _) =>
        {
            var blobs = new List<string>();
            await using (var delete = Command(tx, "DELETE FROM message_flow WHERE stored_at_ticks < $1 RETURNING blob_id", cutoff))
            await using (var reader = await delete.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    blobs.Add(reader.GetString(0));
            if (blobs.Count > 0)
            {
                await using var bodies = Command(tx, "DELETE FROM blobs WHERE id = ANY($1)", (object)blobs.ToArray());
                await bodies.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            return blobs.Count;
        }, cancellationToken);
    }

    private sealed record FlowRow(string Org, MessageFlowContext Context, long StoredAtTicks, string BlobId, byte[] WrappedKey, int KeyVersion, bool Updatable);

    /// <summary>The copy's row, or null when there is none or it is older than the 24-hour window.</summary>
    private FlowRow? FindFlowRow(Guid messageId)
    {
        var cutoff = (Now - IMessageFlowStore.Window).UtcTicks;
        return Guard(() =>
        {
            using var command = Command(
                "SELECT org, context, stored_at_ticks, blob_id, wrapped_key, key_version, updatable FROM message_flow WHERE id = $1 AND stored_at_ticks >= $2",
                messageId.ToString("D"), cutoff);
            using var reader = command.ExecuteReader();
            return reader.Read()
                ? new FlowRow(reader.GetString(0), (MessageFlowContext)reader.GetInt32(1), reader.GetInt64(2), reader.GetString(3),
                    reader.GetFieldValue<byte[]>(4), reader.GetInt32(5), reader.GetBoolean(6))
                : null;
        });
    }

    private (SealedBody Body, byte[] WrappedKey, int Version) SealFlowBody(string organizationId, string messageId, ReadOnlySpan<byte> message)
    {
        var blobId = BlobStore.NewBlobId(Now);
        var messageKey = Aead.NewKey();
        try
        {
            var (wrapped, version) = SealTransitKey(organizationId, messageKey, MailStore.FlowKeyContext(organizationId, messageId, blobId));
            return (BlobStore.Seal(blobId, organizationId, messageKey, message), wrapped, version);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(messageKey);
        }
    }

    // ---- shared steps ------------------------------------------------------------------------------------------

    /// <summary>Wraps a held or in-transit message key under the organization's current master key version.</summary>
    private (byte[] Wrapped, int Version) SealTransitKey(string organizationId, byte[] messageKey, byte[] context)
    {
        var version = Ledger(organizationId).CurrentVersion;
        return (Aead.Seal(_options.MasterKeys.GetMasterKey(organizationId, version), messageKey, context), version);
    }

    private async Task<byte[]> ReadBodyAsync(string blobId, byte[] messageKey, CancellationToken cancellationToken)
    {
        await using var stream = Guard(() => _bodies.OpenRead(blobId, messageKey));
        var plaintext = new byte[stream.Length];
        await stream.ReadExactlyAsync(plaintext, cancellationToken).ConfigureAwait(false);
        return plaintext;
    }

    /// <summary>
    /// Claims due rows of <paramref name="table"/> (queue or held): one statement locks at most <paramref name="max"/> due
    /// rows nobody holds a live lease on, skipping rows another claimer has locked this instant, and marks them with
    /// this instance's lease. Returns the claimed ids, earliest due first.
    /// </summary>
    private Task<List<(string Id, long Due)>> ClaimAsync(string table, DateTimeOffset now, int max, TimeSpan lease, CancellationToken cancellationToken) =>
        WriteAsync(async (tx, _) =>
        {
            var claimed = new List<(string Id, long Due)>();
            await using (var claim = Command(tx,
                $"UPDATE {table} t SET lease_owner = $1, lease_expires_ticks = $2 FROM (" +
                $"SELECT id FROM {table} WHERE next_attempt_ticks <= $3 AND (lease_owner IS NULL OR lease_expires_ticks <= $3) " +
                "ORDER BY next_attempt_ticks LIMIT $4 FOR UPDATE SKIP LOCKED) due WHERE t.id = due.id RETURNING t.id, t.next_attempt_ticks",
                _origin, (now + lease).UtcTicks, now.UtcTicks, max))
            await using (var reader = await claim.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    claimed.Add((reader.GetString(0), reader.GetInt64(1)));
            return claimed.OrderBy(c => c.Due).ThenBy(c => c.Id, StringComparer.Ordinal).ToList();
        }, cancellationToken);

    /// <summary>
    /// Locks a queue or held row for the rest of the transaction and checks its lease: free, expired or this instance's
    /// may be written; another node's live lease refuses the write. Returns the row's blob id, or null when it is gone.
    /// </summary>
    /// <exception cref="LeaseHeldElsewhereException">Another node holds a live lease on the row.</exception>
    private async Task<string?> LockLeasedAsync(NpgsqlTransaction tx, string table, string id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var select = Command(tx, $"SELECT blob_id, lease_owner, lease_expires_ticks FROM {table} WHERE id = $1 FOR UPDATE", id);
        await using var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            return null;
        var blobId = reader.GetString(0);
        var owner = reader.IsDBNull(1) ? null : reader.GetString(1);
        if (owner is not null && owner != _origin && reader.GetInt64(2) > now.UtcTicks)
            throw new LeaseHeldElsewhereException(id);
        return blobId;
    }

    /// <summary>Hands back every lease this instance holds (best effort, bounded: when it fails the leases simply run out).</summary>
    private async Task ReleaseLeasesAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await using var connection = await _data.OpenConnectionAsync(timeout.Token).ConfigureAwait(false);
            await using var batch = new NpgsqlBatch(connection);
            foreach (var table in new[] { "queue", "held" })
            {
                var release = new NpgsqlBatchCommand($"UPDATE {table} SET lease_owner = NULL, lease_expires_ticks = 0 WHERE lease_owner = $1");
                release.Parameters.Add(new NpgsqlParameter { Value = _origin });
                batch.BatchCommands.Add(release);
            }
            await batch.ExecuteNonQueryAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException or IOException)
        {
            // The leases run out on their own.
        }
    }

    private static async Task DeleteRowAndBodyAsync(NpgsqlTransaction tx, string table, string id, string blobId, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(tx.Connection, tx);
        var row = new NpgsqlBatchCommand($"DELETE FROM {table} WHERE id = $1");
        row.Parameters.Add(new NpgsqlParameter { Value = id });
        batch.BatchCommands.Add(row);
        var body = new NpgsqlBatchCommand("DELETE FROM blobs WHERE id = $1");
        body.Parameters.Add(new NpgsqlParameter { Value = blobId });
        batch.BatchCommands.Add(body);
        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
