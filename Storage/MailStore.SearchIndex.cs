using System.Security.Cryptography;
using LiteDB;
using MailServer.Storage.Crypto;
using F = MailServer.Storage.Schema.FolderFields;
using M = MailServer.Storage.Schema.MailboxFields;
using S = MailServer.Storage.Schema.SearchIndexFields;

namespace MailServer.Storage;

// Encrypted search index segments (ISearchIndexStore). The database holds, per folder, the list of segments, the
// cursor and the key generation, all in clear and none of it content; each segment is a file
// <data>/search/<folderId>/<segmentId>.seg sealed under the mailbox's search index key, written to a temporary name,
// fsync'd and renamed before the commit that names it (a crash in between leaves a file no index names, which
// PruneSearchIndexesAsync deletes).
public sealed partial class MailStore : ISearchIndexStore
{
    private static ReadOnlySpan<byte> SegmentMagic => "MSIX"u8;
    private const byte SegmentFileVersion = 1;

    private string SearchRoot => Path.Combine(_options.DataDirectory, "search");

    private string SegmentPath(string folderId, string segmentId) => Path.Combine(SearchRoot, folderId, segmentId + ".seg");

    /// <inheritdoc/>
    public SearchIndexState? ReadSearchIndex(string folderId)
    {
        ArgumentNullException.ThrowIfNull(folderId);
        var document = Collection(Schema.SearchIndex).FindById(folderId);
        if (document is null)
            return null;
        var mailbox = Collection(Schema.Mailboxes).FindById(document[S.MailboxId].AsString);
        return ToSearchIndexState(document, mailbox is null ? -1 : KeyGenerationOf(mailbox));
    }

    private static SearchIndexState ToSearchIndexState(BsonDocument d, int currentGeneration)
    {
        var generation = d[S.KeyGeneration].AsInt32;
        return new SearchIndexState(
            d["_id"].AsString,
            d[S.MailboxId].AsString,
            generation,
            generation == currentGeneration,
            d[S.Format].AsInt32,
            (uint)d[S.IndexedThrough].AsInt64,
            d[S.Segments].AsArray.Select(s => s.AsDocument).Select(s => new SearchIndexSegment(
                s["id"].AsString, (uint)s["first"].AsInt64, (uint)s["last"].AsInt64, s["docs"].AsInt32, s["bytes"].AsInt64)).ToList(),
            d[S.Unindexed].AsArray.Select(u => (uint)u.AsInt64).ToList(),
            d[S.Version].AsInt64);
    }

    /// <inheritdoc/>
    public IReadOnlyList<SearchIndexBacklog> ListSearchIndexBacklog(int format)
    {
        var generations = Collection(Schema.Mailboxes).Query()
            .Select(BsonExpression.Create($"{{ _id: $._id, {M.KeyGeneration}: $.{M.KeyGeneration} }}")).ToDocuments()
            .ToDictionary(d => d["_id"].AsString, KeyGenerationOf, StringComparer.Ordinal);
        var indexes = Collection(Schema.SearchIndex).Query()
            .Select(BsonExpression.Create($"{{ _id: $._id, {S.KeyGeneration}: $.{S.KeyGeneration}, {S.Format}: $.{S.Format}, {S.IndexedThrough}: $.{S.IndexedThrough} }}"))
            .ToDocuments().ToDictionary(d => d["_id"].AsString, StringComparer.Ordinal);
        var backlog = new List<SearchIndexBacklog>();
        foreach (var folder in Collection(Schema.Folders).Query()
            .Select(BsonExpression.Create($"{{ _id: $._id, {F.MailboxId}: $.{F.MailboxId}, {F.UidNext}: $.{F.UidNext}, {F.MessageCount}: $.{F.MessageCount} }}"))
            .ToDocuments())
        {
            var folderId = folder["_id"].AsString;
            var mailboxId = folder[F.MailboxId].AsString;
            var uidNext = (uint)folder[F.UidNext].AsInt64;
            var count = folder[F.MessageCount].AsInt32;
            var behind = indexes.TryGetValue(folderId, out var index)
                ? index[S.Format].AsInt32 != format
                  || (generations.TryGetValue(mailboxId, out var generation) && index[S.KeyGeneration].AsInt32 != generation)
                  || index[S.IndexedThrough].AsInt64 < uidNext - 1L
                : count > 0;
            if (behind)
                backlog.Add(new SearchIndexBacklog(folderId, mailboxId, uidNext, count));
        }
        return backlog;
    }

    /// <inheritdoc/>
    public byte[] OpenSearchSegment(SearchIndexState state, string segmentId)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(segmentId);
        var file = File.ReadAllBytes(SegmentPath(state.FolderId, segmentId));
        if (file.Length < SegmentMagic.Length + 1 || !file.AsSpan(0, SegmentMagic.Length).SequenceEqual(SegmentMagic) || file[SegmentMagic.Length] != SegmentFileVersion)
            throw new CryptographicException($"Search index segment {segmentId} is not a sealed segment.");
        var mailboxKey = MailboxKey(state.MailboxId, state.KeyGeneration);
        var indexKey = KeyHierarchy.SearchIndexKey(mailboxKey, state.MailboxId);
        try
        {
            return Aead.Open(indexKey, file.AsSpan(SegmentMagic.Length + 1), SegmentContext(state.MailboxId, state.FolderId, segmentId, state.KeyGeneration));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(mailboxKey);
            CryptographicOperations.ZeroMemory(indexKey);
        }
    }

    /// <summary>What a sealed segment is bound to (both engines).</summary>
    internal static byte[] SegmentContext(string mailboxId, string folderId, string segmentId, int generation) =>
        Aead.Utf8($"urn:mailserver:mailbox/{mailboxId}/folder/{folderId}/search-segment/{segmentId}/g{generation}");

    /// <inheritdoc/>
    public async Task<SearchIndexState> CommitSearchIndexAsync(string folderId, SearchIndexUpdate update, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(folderId);
        ArgumentNullException.ThrowIfNull(update);
        var folder = Collection(Schema.Folders).FindById(folderId) ?? throw new KeyNotFoundException($"No folder {folderId}.");
        var mailboxId = folder[F.MailboxId].AsString;
        var mailbox = Collection(Schema.Mailboxes).FindById(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
        string? written = null;
        SearchIndexSegment? added = null;
        var (mailboxKey, generation) = CurrentMailboxKey(mailbox);
        try
        {
            if (update.Added is { } content)
            {
                // Sealed and made durable outside the writer: a segment can be tens of megabytes.
                var segmentId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
                var indexKey = KeyHierarchy.SearchIndexKey(mailboxKey, mailboxId);
                byte[] sealedSegment;
                try
                {
                    sealedSegment = Aead.Seal(indexKey, content.Plaintext, SegmentContext(mailboxId, folderId, segmentId, generation));
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(indexKey);
                }
                written = WriteSegmentFile(folderId, segmentId, sealedSegment);
                added = new SearchIndexSegment(segmentId, content.FirstUid, content.LastUid, content.Documents, sealedSegment.Length + SegmentMagic.Length + 1);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(mailboxKey);
        }

        try
        {
            return await RunOnWriter(ctx =>
            {
                if (ctx.Read(Schema.Folders).FindById(folderId) is null)
                    throw new KeyNotFoundException($"No folder {folderId}.");
                var current = ctx.Read(Schema.Mailboxes).FindById(mailboxId);
                if (current is null || KeyGenerationOf(current) != generation)
                    throw new SearchIndexConflictException($"The key of mailbox {mailboxId} changed while its search index was written.");
                var existing = ctx.Read(Schema.SearchIndex).FindById(folderId);
                var version = existing?[S.Version].AsInt64 ?? 0;
                if (version != update.ExpectedVersion)
                    throw new SearchIndexConflictException($"The search index of folder {folderId} changed meanwhile.");
                if (existing is not null && existing[S.KeyGeneration].AsInt32 != generation && !update.Reset)
                    throw new SearchIndexConflictException($"The search index of folder {folderId} is sealed under an older key.");
                var old = existing is null ? [] : existing[S.Segments].AsArray.Select(s => s.AsDocument).ToList();
                var removed = update.Reset ? old.Select(s => s["id"].AsString).ToHashSet(StringComparer.Ordinal) : update.Removed.ToHashSet(StringComparer.Ordinal);
                var kept = old.Where(s => !removed.Contains(s["id"].AsString)).ToList();
                if (added is not null)
                    kept.Add(new BsonDocument
                    {
                        ["id"] = added.SegmentId,
                        ["first"] = (long)added.FirstUid,
                        ["last"] = (long)added.LastUid,
                        ["docs"] = added.Documents,
                        ["bytes"] = added.Bytes,
                    });
                kept.Sort((a, b) => a["first"].AsInt64.CompareTo(b["first"].AsInt64));
                var document = new BsonDocument
                {
                    ["_id"] = folderId,
                    [S.MailboxId] = mailboxId,
                    [S.KeyGeneration] = generation,
                    [S.Format] = update.Format,
                    [S.IndexedThrough] = (long)update.IndexedThrough,
                    [S.Segments] = new BsonArray(kept),
                    [S.Unindexed] = new BsonArray(update.Unindexed.Select(u => new BsonValue((long)u))),
                    [S.Version] = version + 1,
                };
                if (existing is null)
                    ctx.Insert(Schema.SearchIndex, document);
                else
                    ctx.Update(Schema.SearchIndex, document);
                var gone = old.Select(s => s["id"].AsString).Where(removed.Contains).ToList();
                ctx.AfterCommit.Add(() =>
                {
                    foreach (var id in gone)
                        File.Delete(SegmentPath(folderId, id));
                });
                written = null; // committed: the file is the index's now
                return ToSearchIndexState(document, generation);
            }, written is null ? [] : [Path.GetDirectoryName(written)!], cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Refused or failed: the new file is named by nothing.
            if (written is not null)
                TryDelete(written);
        }
    }

    /// <summary>Writes a sealed segment to a temporary name, fsyncs it and renames it into place (the directory is
    /// fsync'd by the commit that names it).</summary>
    private string WriteSegmentFile(string folderId, string segmentId, byte[] sealedSegment)
    {
        var path = SegmentPath(folderId, segmentId);
        var directory = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory);
            Durability.FsyncDirectory(SearchRoot);
        }
        var temp = Path.Combine(directory, ".tmp-" + segmentId);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(SegmentMagic);
                stream.WriteByte(SegmentFileVersion);
                stream.Write(sealedSegment);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
        return path;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Left for PruneSearchIndexesAsync.
        }
        catch (UnauthorizedAccessException)
        {
            // Left for PruneSearchIndexesAsync.
        }
    }

    /// <inheritdoc/>
    public async Task<int> PruneSearchIndexesAsync(CancellationToken cancellationToken)
    {
        var referenced = await RunOnWriter(ctx =>
        {
            var folders = ctx.Read(Schema.Folders);
            var named = new HashSet<string>(StringComparer.Ordinal);
            foreach (var index in ctx.Read(Schema.SearchIndex).FindAll().ToList())
            {
                var folderId = index["_id"].AsString;
                if (folders.FindById(folderId) is null)
                {
                    ctx.Delete(Schema.SearchIndex, folderId);
                    continue;
                }
                foreach (var segment in index[S.Segments].AsArray)
                    named.Add(Path.Combine(folderId, segment.AsDocument["id"].AsString + ".seg"));
            }
            return named;
        }, [], cancellationToken).ConfigureAwait(false);
        if (!Directory.Exists(SearchRoot))
            return 0;
        var deleted = 0;
        foreach (var directory in Directory.EnumerateDirectories(SearchRoot))
        {
            foreach (var file in Directory.EnumerateFiles(directory))
            {
                if (referenced.Contains(Path.GetRelativePath(SearchRoot, file)))
                    continue;
                TryDelete(file);
                deleted++;
            }
            if (!Directory.EnumerateFileSystemEntries(directory).Any())
                Directory.Delete(directory);
        }
        return deleted;
    }

    /// <inheritdoc/>
    public async Task DropSearchIndexesAsync(CancellationToken cancellationToken)
    {
        await RunOnWriter(ctx =>
        {
            foreach (var id in ctx.Read(Schema.SearchIndex).Query().Select(BsonExpression.Create("$._id")).ToDocuments().Select(d => d["_id"]).ToList())
                ctx.Delete(Schema.SearchIndex, id);
            ctx.AfterCommit.Add(() =>
            {
                if (Directory.Exists(SearchRoot))
                    Directory.Delete(SearchRoot, recursive: true);
            });
            return true;
        }, [], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Step 2 of a mailbox key rotation: every folder index of the mailbox still sealed under an older generation is
    /// re-sealed under <paramref name="generation"/> (new segment files, swapped in one commit per folder, the old files
    /// deleted after it). An index that does not open, or that the indexer changed meanwhile three times over, is dropped:
    /// the indexer rebuilds it from the messages.
    /// </summary>
    private async Task ResealSearchIndexesAsync(string mailboxId, int generation, CancellationToken cancellationToken)
    {
        var indexes = Collection(Schema.SearchIndex).Find(Schema.Equal(S.MailboxId, mailboxId)).Where(d => d[S.KeyGeneration].AsInt32 != generation).ToList();
        foreach (var document in indexes)
        {
            var folderId = document["_id"].AsString;
            for (var attempt = 0; ; attempt++)
            {
                var current = Collection(Schema.SearchIndex).FindById(folderId);
                if (current is null || current[S.KeyGeneration].AsInt32 == generation)
                    break;
                var state = ToSearchIndexState(current, generation);
                var written = new List<(string OldId, string NewId, string Path, long Bytes)>();
                var mailboxKey = MailboxKey(mailboxId, generation);
                var indexKey = KeyHierarchy.SearchIndexKey(mailboxKey, mailboxId);
                var opened = true;
                try
                {
                    foreach (var segment in state.Segments)
                    {
                        byte[] plaintext;
                        try
                        {
                            plaintext = OpenSearchSegment(state, segment.SegmentId);
                        }
                        catch (Exception ex) when (ex is CryptographicException or IOException)
                        {
                            opened = false;
                            break;
                        }
                        var newId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
                        var sealedSegment = Aead.Seal(indexKey, plaintext, SegmentContext(mailboxId, folderId, newId, generation));
                        CryptographicOperations.ZeroMemory(plaintext);
                        written.Add((segment.SegmentId, newId, WriteSegmentFile(folderId, newId, sealedSegment), sealedSegment.Length + SegmentMagic.Length + 1));
                    }
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(mailboxKey);
                    CryptographicOperations.ZeroMemory(indexKey);
                }
                var version = state.Version;
                var swapped = await RunOnWriter(ctx =>
                {
                    var d = ctx.Read(Schema.SearchIndex).FindById(folderId);
                    if (d is null || d[S.Version].AsInt64 != version)
                        return false;
                    var old = d[S.Segments].AsArray.Select(x => x.AsDocument["id"].AsString).ToList();
                    if (!opened || attempt >= 3)
                    {
                        DeleteSearchIndex(ctx, folderId);
                        return true;
                    }
                    var renamed = written.ToDictionary(w => w.OldId, StringComparer.Ordinal);
                    foreach (var segment in d[S.Segments].AsArray.Select(x => x.AsDocument))
                    {
                        var w = renamed[segment["id"].AsString];
                        segment["id"] = w.NewId;
                        segment["bytes"] = w.Bytes;
                    }
                    d[S.KeyGeneration] = generation;
                    d[S.Version] = version + 1;
                    ctx.Update(Schema.SearchIndex, d);
                    ctx.AfterCommit.Add(() =>
                    {
                        foreach (var id in old)
                            TryDelete(SegmentPath(folderId, id));
                    });
                    written.Clear(); // committed: the new files are the index's now
                    return true;
                }, written.Select(w => Path.GetDirectoryName(w.Path)!).Distinct().ToList(), cancellationToken).ConfigureAwait(false);
                foreach (var w in written)
                    TryDelete(w.Path);
                if (swapped)
                    break;
            }
        }
    }

    /// <summary>On the writer, with a folder's deletion: its index goes in the same commit, its files after it.</summary>
    private void DeleteSearchIndex(WriterContext ctx, string folderId)
    {
        if (ctx.Read(Schema.SearchIndex).FindById(folderId) is null)
            return;
        ctx.Delete(Schema.SearchIndex, folderId);
        var directory = Path.Combine(SearchRoot, folderId);
        ctx.AfterCommit.Add(() =>
        {
            if (Directory.Exists(directory))
                Directory.Delete(directory, recursive: true);
        });
    }
}
