using System.Security.Cryptography;
using MailServer.Storage.Crypto;
using Npgsql;

namespace MailServer.Storage.PostgreSql;

// The body search index (ISearchIndexStore) on PostgreSQL. As on LiteDB the store never sees terms: a segment is the
// indexer's plaintext sealed here with AES-256-GCM under the mailbox's search index key (HKDF of the mailbox key), bound
// to mailbox, folder, segment id and key generation (the same binding as MailStore's segment files). Where LiteDB writes
// a segment file and names it in the next commit, here the sealed segment is a row of search_segments written in the
// same transaction as the index row that names it, so a crash never leaves a segment nothing names, and a folder's
// deletion takes its index with it (ON DELETE CASCADE). In clear: folder and mailbox ids, UID ranges, document counts,
// sizes, the cursor, the key generation and the format, none of it content.
public sealed partial class PostgreSqlMailStore : ISearchIndexStore
{
    /// <inheritdoc/>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed the read.</exception>
    public SearchIndexState? ReadSearchIndex(string folderId)
    {
        ArgumentNullException.ThrowIfNull(folderId);
        return Guard(() =>
        {
            using var connection = _data.OpenConnection();
            using var transaction = connection.BeginTransaction(System.Data.IsolationLevel.RepeatableRead);
            var state = ReadSearchIndexAsync(transaction, folderId, CancellationToken.None).GetAwaiter().GetResult();
            transaction.Commit();
            return state;
        });
    }

    /// <summary>The index row and its segments as one snapshot (the caller's transaction), or null.</summary>
    private static async Task<SearchIndexState?> ReadSearchIndexAsync(NpgsqlTransaction tx, string folderId, CancellationToken cancellationToken)
    {
        string mailboxId;
        int generation, current, format;
        long indexedThrough, version;
        long[] unindexed;
        await using (var command = Command(tx,
            "SELECT s.mailbox_id, s.key_generation, COALESCE(m.key_generation, -1), s.format, s.indexed_through, s.unindexed, s.version " +
            "FROM search_index s LEFT JOIN mailboxes m ON m.id = s.mailbox_id WHERE s.folder_id = $1", folderId))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                return null;
            mailboxId = reader.GetString(0);
            generation = reader.GetInt32(1);
            current = reader.GetInt32(2);
            format = reader.GetInt32(3);
            indexedThrough = reader.GetInt64(4);
            unindexed = reader.GetFieldValue<long[]>(5);
            version = reader.GetInt64(6);
        }
        var segments = new List<SearchIndexSegment>();
        await using (var command = Command(tx,
            "SELECT id, first_uid, last_uid, documents, bytes FROM search_segments WHERE folder_id = $1 ORDER BY first_uid, id", folderId))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                segments.Add(new SearchIndexSegment(reader.GetString(0), (uint)reader.GetInt64(1), (uint)reader.GetInt64(2), reader.GetInt32(3),
                    reader.GetInt64(4)));
        }
        return new SearchIndexState(folderId, mailboxId, generation, generation == current, format, (uint)indexedThrough, segments,
            unindexed.Select(u => (uint)u).ToList(), version);
    }

    /// <inheritdoc/>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed the read.</exception>
    public IReadOnlyList<SearchIndexBacklog> ListSearchIndexBacklog(int format) => Guard(() =>
    {
        // A folder with messages and no index, or an index of another format, under another key generation, or behind UIDNEXT.
        using var command = Command(
            "SELECT f.id, f.mailbox_id, f.uid_next, f.message_count FROM folders f JOIN mailboxes m ON m.id = f.mailbox_id " +
            "LEFT JOIN search_index s ON s.folder_id = f.id " +
            "WHERE (s.folder_id IS NULL AND f.message_count > 0) " +
            "OR (s.folder_id IS NOT NULL AND (s.format <> $1 OR s.key_generation <> m.key_generation OR s.indexed_through < f.uid_next - 1)) " +
            "ORDER BY f.id", format);
        using var reader = command.ExecuteReader();
        var backlog = new List<SearchIndexBacklog>();
        while (reader.Read())
            backlog.Add(new SearchIndexBacklog(reader.GetString(0), reader.GetString(1), (uint)reader.GetInt64(2), reader.GetInt32(3)));
        return backlog;
    });

    /// <inheritdoc/>
    /// <exception cref="FileNotFoundException">The segment is no longer in the index (replaced or dropped since
    /// <paramref name="state"/> was read).</exception>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed the read.</exception>
    public byte[] OpenSearchSegment(SearchIndexState state, string segmentId)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(segmentId);
        var (sealedSegment, currentGeneration) = Guard(() =>
        {
            using var command = Command(
                "SELECT g.sealed, m.key_generation FROM search_segments g JOIN mailboxes m ON m.id = $3 WHERE g.folder_id = $1 AND g.id = $2",
                state.FolderId, segmentId, state.MailboxId);
            using var reader = command.ExecuteReader();
            return reader.Read() ? (reader.GetFieldValue<byte[]>(0), reader.GetInt32(1)) : ((byte[]?)null, -1);
        });
        if (sealedSegment is null)
            throw new FileNotFoundException($"Search index segment {segmentId} of folder {state.FolderId} is gone.");
        // This engine holds one mailbox key per mailbox (the current generation's): a segment sealed under another
        // generation no longer opens, as on LiteDB once an old generation is destroyed.
        if (state.KeyGeneration != currentGeneration)
            throw new CryptographicException($"Search index segment {segmentId} is sealed under key generation {state.KeyGeneration}, not the mailbox's current one.");
        var mailboxKey = MailboxKey(state.MailboxId);
        var indexKey = KeyHierarchy.SearchIndexKey(mailboxKey, state.MailboxId);
        try
        {
            return Aead.Open(indexKey, sealedSegment, MailStore.SegmentContext(state.MailboxId, state.FolderId, segmentId, state.KeyGeneration));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(mailboxKey);
            CryptographicOperations.ZeroMemory(indexKey);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed before the commit; nothing was written.</exception>
    /// <exception cref="WriteOutcomeUnknownException">The commit failed.</exception>
    public async Task<SearchIndexState> CommitSearchIndexAsync(string folderId, SearchIndexUpdate update, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(folderId);
        ArgumentNullException.ThrowIfNull(update);
        var (mailboxId, generation) = Guard(() =>
        {
            using var command = Command("SELECT f.mailbox_id, m.key_generation FROM folders f JOIN mailboxes m ON m.id = f.mailbox_id WHERE f.id = $1", folderId);
            using var reader = command.ExecuteReader();
            return reader.Read() ? (reader.GetString(0), reader.GetInt32(1)) : throw new KeyNotFoundException($"No folder {folderId}.");
        });
        (string Id, byte[] Sealed)? added = null;
        if (update.Added is { } content)
        {
            // Sealed before the transaction: a segment can be tens of megabytes, and no row is locked meanwhile.
            var segmentId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            var mailboxKey = MailboxKey(mailboxId);
            var indexKey = KeyHierarchy.SearchIndexKey(mailboxKey, mailboxId);
            try
            {
                added = (segmentId, Aead.Seal(indexKey, content.Plaintext, MailStore.SegmentContext(mailboxId, folderId, segmentId, generation)));
            }
            finally
            {
                CryptographicOperations.ZeroMemory(mailboxKey);
                CryptographicOperations.ZeroMemory(indexKey);
            }
        }

        return await WriteAsync(async (tx, _) =>
        {
            // The folder row is held (KEY SHARE: writers' UID allocation still proceeds) so that it cannot be deleted under
            // the commit; its deletion takes the index with it afterwards. Then the index row, in that one order.
            int current;
            await using (var folder = Command(tx,
                "SELECT m.key_generation FROM folders f JOIN mailboxes m ON m.id = f.mailbox_id WHERE f.id = $1 FOR KEY SHARE OF f", folderId))
            {
                var found = await folder.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
                current = found is int g ? g : throw new KeyNotFoundException($"No folder {folderId}.");
            }
            if (current != generation)
                throw new SearchIndexConflictException($"The key of mailbox {mailboxId} changed while its search index was written.");
            long version = 0;
            int? indexGeneration = null;
            await using (var existing = Command(tx, "SELECT version, key_generation FROM search_index WHERE folder_id = $1 FOR UPDATE", folderId))
            await using (var reader = await existing.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    version = reader.GetInt64(0);
                    indexGeneration = reader.GetInt32(1);
                }
            }
            if (version != update.ExpectedVersion)
                throw new SearchIndexConflictException($"The search index of folder {folderId} changed meanwhile.");
            if (indexGeneration is { } g2 && g2 != generation && !update.Reset)
                throw new SearchIndexConflictException($"The search index of folder {folderId} is sealed under an older key.");
            var unindexed = update.Unindexed.Select(u => (long)u).ToArray();
            if (indexGeneration is null)
            {
                // Two first commits racing: the second waits on the primary key, then fails here and is told to redo.
                await using var insert = Command(tx,
                    "INSERT INTO search_index (folder_id, mailbox_id, key_generation, format, indexed_through, unindexed, version) " +
                    "VALUES ($1, $2, $3, $4, $5, $6, 1) ON CONFLICT (folder_id) DO NOTHING",
                    folderId, mailboxId, generation, update.Format, (long)update.IndexedThrough, unindexed);
                if (await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
                    throw new SearchIndexConflictException($"The search index of folder {folderId} changed meanwhile.");
            }
            else
            {
                await using (var remove = update.Reset
                    ? Command(tx, "DELETE FROM search_segments WHERE folder_id = $1", folderId)
                    : Command(tx, "DELETE FROM search_segments WHERE folder_id = $1 AND id = ANY($2)", folderId, update.Removed.ToArray()))
                    await remove.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                await using var change = Command(tx,
                    "UPDATE search_index SET key_generation = $2, format = $3, indexed_through = $4, unindexed = $5, version = version + 1 WHERE folder_id = $1",
                    folderId, generation, update.Format, (long)update.IndexedThrough, unindexed);
                await change.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            if (added is { } segment)
            {
                await using var insert = Command(tx,
                    "INSERT INTO search_segments (folder_id, id, first_uid, last_uid, documents, bytes, sealed) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    folderId, segment.Id, (long)update.Added!.FirstUid, (long)update.Added.LastUid, update.Added.Documents, (long)segment.Sealed.Length,
                    segment.Sealed);
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            return (await ReadSearchIndexAsync(tx, folderId, cancellationToken).ConfigureAwait(false))!;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    /// <remarks>Nothing to prune on this engine: a segment is written in the transaction that names it, and a folder's
    /// index goes with the folder (ON DELETE CASCADE).</remarks>
    public Task<int> PruneSearchIndexesAsync(CancellationToken cancellationToken) => Task.FromResult(0);

    /// <inheritdoc/>
    /// <exception cref="StoreUnavailableException">PostgreSQL failed before the commit; nothing was dropped.</exception>
    public Task DropSearchIndexesAsync(CancellationToken cancellationToken) =>
        WriteAsync(async (tx, _) =>
        {
            await using var drop = Command(tx, "DELETE FROM search_index");
            return await drop.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }, cancellationToken);
}
