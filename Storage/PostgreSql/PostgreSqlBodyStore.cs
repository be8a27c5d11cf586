using MailServer.Storage.Blobs;
using Npgsql;
using NpgsqlTypes;

namespace MailServer.Storage.PostgreSql;

/// <summary>
/// Message bodies in PostgreSQL: one <c>blobs</c> row (the header, lengths) and one <c>blob_segments</c> row per sealed
/// 64 KiB segment, written in the transaction that links the entries, so a body and its entries commit together and a
/// rolled-back delivery leaves nothing behind. The bytes are those a <see cref="BlobStore"/> file would hold.
/// </summary>
internal sealed class PostgreSqlBodyStore(NpgsqlDataSource data) : IBodyStore<NpgsqlTransaction>
{
    /// <summary>Bodies of at most this many segments are fetched whole when opened (one round trip); bigger ones a segment per read.</summary>
    private const int PrefetchSegments = 16;

    /// <inheritdoc/>
    public async Task PutAsync(SealedBody body, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(transaction.Connection, transaction);
        var head = new NpgsqlBatchCommand("INSERT INTO blobs (id, org, header, length, sealed_length, segments) VALUES ($1, $2, $3, $4, $5, $6)");
        head.Parameters.Add(new NpgsqlParameter { Value = body.BlobId });
        head.Parameters.Add(new NpgsqlParameter { Value = body.OrganizationId });
        head.Parameters.Add(new NpgsqlParameter { Value = body.Header, NpgsqlDbType = NpgsqlDbType.Bytea });
        head.Parameters.Add(new NpgsqlParameter { Value = body.Length });
        head.Parameters.Add(new NpgsqlParameter { Value = body.SealedLength });
        head.Parameters.Add(new NpgsqlParameter { Value = body.Segments.Count });
        batch.BatchCommands.Add(head);
        for (var index = 0; index < body.Segments.Count; index++)
        {
            var segment = new NpgsqlBatchCommand("INSERT INTO blob_segments (blob_id, idx, data) VALUES ($1, $2, $3)");
            segment.Parameters.Add(new NpgsqlParameter { Value = body.BlobId });
            segment.Parameters.Add(new NpgsqlParameter { Value = index });
            segment.Parameters.Add(new NpgsqlParameter { Value = body.Segments[index], NpgsqlDbType = NpgsqlDbType.Bytea });
            batch.BatchCommands.Add(segment);
        }
        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task<int> DeleteUnreferencedAsync(IReadOnlyCollection<string> blobIds, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        if (blobIds.Count == 0)
            return 0;
        await using var command = new NpgsqlCommand(
            "DELETE FROM blobs b WHERE b.id = ANY($1) AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.blob_id = b.id)", transaction.Connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = blobIds.ToArray() });
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public Stream OpenRead(string blobId, byte[] messageKey)
    {
        byte[] header;
        long sealedLength;
        int segments;
        using (var command = data.CreateCommand("SELECT header, sealed_length, segments FROM blobs WHERE id = $1"))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = blobId });
            using var reader = command.ExecuteReader();
            if (!reader.Read())
                throw new FileNotFoundException($"No body {blobId}.");
            header = reader.GetFieldValue<byte[]>(0);
            sealedLength = reader.GetInt64(1);
            segments = reader.GetInt32(2);
        }
        BlobStore.CheckHeader(blobId, header);
        var source = new SegmentSource(data, blobId, header.Length, segments);
        if (segments <= PrefetchSegments)
            source.FetchAll();
        return new SegmentedBlobStream(blobId, source.ReadAt, source, messageKey, header, sealedLength);
    }

    /// <summary>The sealed segments of one body, fetched all at once (small bodies) or one per read (big ones).</summary>
    private sealed class SegmentSource(NpgsqlDataSource data, string blobId, int headerLength, int segments) : IDisposable
    {
        private byte[]?[]? _all;
        private long _cachedIndex = -1;
        private byte[]? _cached;

        public void FetchAll()
        {
            var all = new byte[]?[segments];
            using var command = data.CreateCommand("SELECT idx, data FROM blob_segments WHERE blob_id = $1 ORDER BY idx");
            command.Parameters.Add(new NpgsqlParameter { Value = blobId });
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var index = reader.GetInt32(0);
                if (index >= 0 && index < segments)
                    all[index] = reader.GetFieldValue<byte[]>(1);
            }
            _all = all;
        }

        private byte[]? Segment(long index)
        {
            if (index < 0 || index >= segments)
                return null;
            if (_all is not null)
                return _all[index];
            if (index == _cachedIndex)
                return _cached;
            using var command = data.CreateCommand("SELECT data FROM blob_segments WHERE blob_id = $1 AND idx = $2");
            command.Parameters.Add(new NpgsqlParameter { Value = blobId });
            command.Parameters.Add(new NpgsqlParameter { Value = (int)index });
            _cached = command.ExecuteScalar() as byte[];
            _cachedIndex = index;
            return _cached;
        }

        /// <summary>A missing segment reads as the end of the body: the stream then reports the body as cut.</summary>
        public int ReadAt(Span<byte> buffer, long offset)
        {
            if (offset < headerLength)
                return 0;
            var index = (offset - headerLength) / BlobStore.SealedSegmentSize;
            var within = (int)((offset - headerLength) % BlobStore.SealedSegmentSize);
            var segment = Segment(index);
            if (segment is null || within >= segment.Length)
                return 0;
            var count = Math.Min(buffer.Length, segment.Length - within);
            segment.AsSpan(within, count).CopyTo(buffer);
            return count;
        }

        public void Dispose()
        {
            _all = null;
            _cached = null;
        }
    }
}
