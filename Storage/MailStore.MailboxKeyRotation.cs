using System.Security.Cryptography;
using LiteDB;
using MailServer.Storage.Crypto;
using E = MailServer.Storage.Schema.EntryFields;
using F = MailServer.Storage.Schema.FolderFields;
using M = MailServer.Storage.Schema.MailboxFields;

namespace MailServer.Storage;

// keys rotate --mailbox: one mailbox gets a new key (the WorkMail Administrator Guide, "Mailbox encryption at rest": WorkMail re-keys through KMS; here the
// mailbox key is ours). Steps, each a short writer commit, so the server keeps serving mail:
//  1. switch: a new random key (generation g+1) under a new ledger secret, saved in the ledger first; in one commit the
//     mailbox document takes the new wrap and keeps the old one as "previous", and the folder names, their lookups
//     and the subscription list (few documents) are re-sealed under the new key;
//  2. re-wrap: every entry's message key still under generation g is re-wrapped under g+1, RotationBatchSize entries
//     per commit (bodies and summaries are sealed under message keys and are not touched); the entries' "kg" field
//     is the persisted progress;
//     then the folders' search index segments are re-sealed under the new key (each a new file, swapped in one commit);
//  3. finish: when a scan finds nothing left under g and no COPY/MOVE made new ones since (kgDirty), the previous
//     wrap leaves the mailbox document, then the ledger destroys the old secret: no copy of the database opens the
//     old key any more.
// Readers pick the key by the entry's generation; a key from a document read before a step is caught where it is used
// (folder lookups retry with the fresh key, writes check the generation on the writer and start again).
public sealed partial class MailStore
{
    /// <summary>
    /// Gives the mailbox <paramref name="mailboxId"/> a new key, or resumes the rotation a crash or a cancellation
    /// interrupted: every message key of the mailbox is re-wrapped under the new key, the folder names and the
    /// subscription list are re-sealed, bodies are not touched; then the old key's ledger secret is destroyed.
    /// Runs in short writer commits while the mailbox is read and receives mail; safe to interrupt at any point.
    /// </summary>
    /// <param name="mailboxId">The mailbox.</param>
    /// <param name="progress">Told after each batch.</param>
    /// <param name="cancellationToken">Stops between batches; the next call (or the server's start) resumes.</param>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    /// <exception cref="IOException">The key ledger could not be written.</exception>
    public async Task<MailboxKeyRotationResult> RotateMailboxKeyAsync(string mailboxId, IProgress<MailboxKeyRotationProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(mailboxId);
        await _rotationGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var mailbox = Collection(Schema.Mailboxes).FindById(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
            var resumed = !mailbox[M.PreviousWrappedKey].IsNull;
            if (!resumed)
                await SwitchMailboxKeyAsync(mailbox, cancellationToken).ConfigureAwait(false);
            return await ContinueMailboxKeyRotationAsync(mailboxId, resumed, progress, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _rotationGate.Release();
        }
    }

    /// <summary>
    /// Finishes every mailbox key rotation of <paramref name="organizationId"/> that a crash or a stop interrupted, and
    /// destroys ledger secrets of replaced keys that a crash left behind. Returns the rotations finished.
    /// </summary>
    /// <exception cref="IOException">The key ledger could not be written.</exception>
    public async Task<IReadOnlyList<MailboxKeyRotationResult>> ResumeMailboxKeyRotationsAsync(string organizationId, IProgress<MailboxKeyRotationProgress>? progress,
        CancellationToken cancellationToken)
    {
        await _rotationGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await ResumeMailboxKeyRotationsCoreAsync(organizationId, progress, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _rotationGate.Release();
        }
    }

    /// <summary>The mailboxes of an organization whose key rotation has not finished.</summary>
    public IReadOnlyList<string> MailboxKeyRotationsPending(string organizationId) =>
        Collection(Schema.Mailboxes).FindAll()
            .Where(d => d[M.Organization].AsString == organizationId && !d[M.PreviousWrappedKey].IsNull)
            .Select(d => d["_id"].AsString).ToList();

    /// <summary>Called with the rotation gate held (also by a master key rotation, before it re-wraps mailbox keys).</summary>
    private async Task<IReadOnlyList<MailboxKeyRotationResult>> ResumeMailboxKeyRotationsCoreAsync(string organizationId, IProgress<MailboxKeyRotationProgress>? progress,
        CancellationToken cancellationToken)
    {
        var results = new List<MailboxKeyRotationResult>();
        foreach (var mailboxId in MailboxKeyRotationsPending(organizationId))
            results.Add(await ContinueMailboxKeyRotationAsync(mailboxId, resumed: true, progress, cancellationToken).ConfigureAwait(false));
        DestroyReplacedSecrets(organizationId);
        return results;
    }

    /// <summary>
    /// Ledger secrets of key generations no mailbox document refers to: the old key of a rotation that ended just
    /// before a crash, or the new key of a switch that never committed. Destroyed (nothing can need them).
    /// </summary>
    private void DestroyReplacedSecrets(string organizationId)
    {
        var ledger = Ledger(organizationId);
        var rotated = ledger.SecretIds.Where(id => id.Contains("/k", StringComparison.Ordinal))
            .Select(id => id[..id.IndexOf('/', StringComparison.Ordinal)]).ToHashSet(StringComparer.Ordinal);
        if (rotated.Count == 0)
            return;
        var orphans = new List<string>();
        foreach (var mailboxId in rotated)
        {
            var document = Collection(Schema.Mailboxes).FindById(mailboxId);
            if (document is null)
                continue; // shredding removes every generation itself
            var live = new HashSet<string>(StringComparer.Ordinal) { KeyLedger.SecretId(mailboxId, KeyGenerationOf(document)) };
            if (!document[M.PreviousKeyGeneration].IsNull)
                live.Add(KeyLedger.SecretId(mailboxId, document[M.PreviousKeyGeneration].AsInt32));
            orphans.AddRange(ledger.SecretIds.Where(id => (id == mailboxId || id.StartsWith(mailboxId + "/k", StringComparison.Ordinal)) && !live.Contains(id)));
        }
        if (orphans.Count > 0)
            ledger.DestroySecrets(orphans, Now);
    }

    /// <summary>Step 1: the new key becomes current; folder names, lookups and subscriptions are re-sealed in the same commit.</summary>
    private async Task SwitchMailboxKeyAsync(BsonDocument mailbox, CancellationToken cancellationToken)
    {
        var mailboxId = mailbox["_id"].AsString;
        var organizationId = mailbox[M.Organization].AsString;
        var ledger = Ledger(organizationId);
        var (oldKey, oldGeneration) = CurrentMailboxKey(mailbox);
        var generation = oldGeneration + 1;
        var secretId = KeyLedger.SecretId(mailboxId, generation);
        // Durable in the ledger before any document refers to it (a crash before the commit leaves an orphan secret,
        // destroyed by the next resume).
        var secret = ledger.AddMailboxes([secretId])[secretId];
        var version = ledger.CurrentVersion;
        var newKey = Aead.NewKey();
        var newNameKey = KeyHierarchy.FolderNameHmacKey(newKey);
        try
        {
            var wrapped = KeyHierarchy.WrapMailboxKey(_options.MasterKeys.GetMasterKey(organizationId, version), secret, version, organizationId, mailboxId, newKey);
            await RunOnWriter(ctx =>
            {
                var document = ctx.Read(Schema.Mailboxes).FindById(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
                if (KeyGenerationOf(document) != oldGeneration || !document[M.PreviousWrappedKey].IsNull)
                    throw new MailboxKeyChangedException(mailboxId);
                if (ledger.CurrentVersion is var current && current != version) // a master key rotation began meanwhile (see RotateAsync)
                {
                    version = current;
                    wrapped = KeyHierarchy.WrapMailboxKey(_options.MasterKeys.GetMasterKey(organizationId, version), secret, version, organizationId, mailboxId, newKey);
                }
                var folders = ctx.Read(Schema.Folders).Find(Schema.Equal(F.MailboxId, mailboxId)).ToList();
                // Two passes, as a rename does: the lookup index is unique.
                foreach (var folder in folders)
                {
                    var name = OpenFolderName(oldKey, folder["_id"].AsString, folder[F.NameSealed].AsBinary);
                    folder[F.NameLookup] = "rekeying|" + folder["_id"].AsString;
                    folder[F.NameSealed] = SealFolderName(newKey, folder["_id"].AsString, name);
                    ctx.Update(Schema.Folders, folder);
                }
                foreach (var folder in folders)
                {
                    var name = OpenFolderName(newKey, folder["_id"].AsString, folder[F.NameSealed].AsBinary);
                    folder[F.NameLookup] = FolderLookup(newNameKey, mailboxId, name);
                    ctx.Update(Schema.Folders, folder);
                }
                if (!document[M.SubscriptionsSealed].IsNull)
                    document[M.SubscriptionsSealed] = SealSubscriptionNames(newKey, mailboxId, OpenSubscriptionNames(oldKey, document));
                if (!document[M.MetadataSealed].IsNull)
                    document[M.MetadataSealed] = SealMetadata(newKey, mailboxId, OpenMetadata(oldKey, document));
                document[M.PreviousWrappedKey] = document[M.WrappedKey];
                document[M.PreviousKeyVersion] = document[M.KeyVersion];
                document[M.PreviousKeyGeneration] = oldGeneration;
                document[M.WrappedKey] = wrapped;
                document[M.KeyVersion] = version;
                document[M.KeyGeneration] = generation;
                document[M.KeyRotationDirty] = true;
                ctx.Update(Schema.Mailboxes, document);
                return true;
            }, [], cancellationToken).ConfigureAwait(false);
            StoreLog.MailboxKeyRotationStarted(_log, mailboxId, generation);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(oldKey);
            CryptographicOperations.ZeroMemory(newKey);
            CryptographicOperations.ZeroMemory(newNameKey);
        }
    }

    /// <summary>Steps 2 and 3: re-wrap what is left, then retire the previous key.</summary>
    private async Task<MailboxKeyRotationResult> ContinueMailboxKeyRotationAsync(string mailboxId, bool resumed, IProgress<MailboxKeyRotationProgress>? progress,
        CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        long done = 0;
        var document = Collection(Schema.Mailboxes).FindById(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}.");
        var organizationId = document[M.Organization].AsString;
        var generation = KeyGenerationOf(document);
        if (document[M.PreviousWrappedKey].IsNull)
            return new MailboxKeyRotationResult(mailboxId, generation, 0, TimeSpan.Zero, resumed, false);
        var previous = document[M.PreviousKeyGeneration].AsInt32;
        var legacy = document[M.PreviousKeyVersion].IsNull;
        while (true)
        {
            // A scan with the dirty mark cleared first: a COPY or MOVE of an old entry after this point marks it again.
            await RunOnWriter(ctx =>
            {
                var d = ctx.Read(Schema.Mailboxes).FindById(mailboxId);
                if (d is not null && d[M.KeyRotationDirty].AsBoolean)
                {
                    d[M.KeyRotationDirty] = false;
                    ctx.Update(Schema.Mailboxes, d);
                }
                return true;
            }, [], cancellationToken).ConfigureAwait(false);
            var pending = OutdatedEntries(mailboxId, generation);
            var total = done + pending.Count;
            progress?.Report(new MailboxKeyRotationProgress(mailboxId, generation, done, total));
            foreach (var chunk in pending.Chunk(RotationBatchSize))
            {
                cancellationToken.ThrowIfCancellationRequested();
                done += await RewrapEntriesAsync(mailboxId, generation, chunk, cancellationToken).ConfigureAwait(false);
                progress?.Report(new MailboxKeyRotationProgress(mailboxId, generation, done, Math.Max(total, done)));
            }
            // The search index segments are sealed under a key derived from the mailbox key: re-sealed while the old
            // key still exists, so searches stay fast after the rotation.
            await ResealSearchIndexesAsync(mailboxId, generation, cancellationToken).ConfigureAwait(false);
            var finished = await RunOnWriter(ctx =>
            {
                var d = ctx.Read(Schema.Mailboxes).FindById(mailboxId);
                if (d is null)
                    return true; // deleted meanwhile: shredding took every generation
                if (d[M.KeyRotationDirty].AsBoolean)
                    return false;
                d.Remove(M.PreviousWrappedKey);
                d.Remove(M.PreviousKeyVersion);
                d.Remove(M.PreviousKeyGeneration);
                d.Remove(M.KeyRotationDirty);
                ctx.Update(Schema.Mailboxes, d);
                return true;
            }, [], cancellationToken).ConfigureAwait(false);
            if (finished && OutdatedEntries(mailboxId, generation).Count == 0)
                break;
            if (finished)
                // Not reachable while every writer keeps the rules above; never destroy a key something still needs.
                throw new InvalidOperationException($"Mailbox {mailboxId} still has entries under key generation {previous} after its rotation ended.");
        }
        Ledger(organizationId).DestroySecrets([KeyLedger.SecretId(mailboxId, previous)], Now);
        _keyCache.Evict(KeyLedger.SecretId(mailboxId, previous));
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        StoreLog.MailboxKeyRotationFinished(_log, mailboxId, generation, done, (long)elapsed.TotalMilliseconds);
        return new MailboxKeyRotationResult(mailboxId, generation, done, elapsed, resumed, legacy);
    }

    /// <summary>Ids of the mailbox's entries whose message key is not under <paramref name="generation"/>, folder by folder.</summary>
    private List<string> OutdatedEntries(string mailboxId, int generation)
    {
        var result = new List<string>();
        var projection = BsonExpression.Create($"{{ _id: $._id, {E.KeyGeneration}: $.{E.KeyGeneration} }}");
        foreach (var folder in Collection(Schema.Folders).Find(Schema.Equal(F.MailboxId, mailboxId)))
            foreach (var d in Collection(Schema.Entries).Query().Where(Schema.EntriesOfFolder(folder["_id"].AsString)).Select(projection).ToDocuments())
                if ((d[E.KeyGeneration].IsNull ? 0 : d[E.KeyGeneration].AsInt32) != generation)
                    result.Add(d["_id"].AsString);
        return result;
    }

    /// <summary>One batch: unwraps with the entry's key and wraps under the new one outside the writer, then swaps each
    /// wrap in the writer only when the entry still holds the wrap it was computed from.</summary>
    private async Task<int> RewrapEntriesAsync(string mailboxId, int generation, IReadOnlyList<string> entryIds, CancellationToken cancellationToken)
    {
        var changes = new List<(string Id, byte[] Old, byte[] New)>(entryIds.Count);
        var newKey = MailboxKey(mailboxId, generation);
        try
        {
            foreach (var id in entryIds)
            {
                var entry = Collection(Schema.Entries).FindById(id);
                if (entry is null || EntryKeyGenerationOf(entry) == generation)
                    continue;
                var oldKey = MailboxKey(mailboxId, EntryKeyGenerationOf(entry));
                byte[] messageKey;
                try
                {
                    messageKey = KeyHierarchy.UnwrapMessageKey(oldKey, mailboxId, entry[E.BlobId].AsString, entry[E.WrappedKey].AsBinary);
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(oldKey);
                }
                changes.Add((id, entry[E.WrappedKey].AsBinary, KeyHierarchy.WrapMessageKey(newKey, mailboxId, entry[E.BlobId].AsString, messageKey)));
                CryptographicOperations.ZeroMemory(messageKey);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(newKey);
        }
        if (changes.Count == 0)
            return 0;
        return await RunOnWriter(ctx =>
        {
            var swapped = 0;
            foreach (var (id, old, rewrapped) in changes)
            {
                var entry = ctx.Read(Schema.Entries).FindById(id);
                if (entry is null || !entry[E.WrappedKey].AsBinary.AsSpan().SequenceEqual(old))
                    continue; // expunged, or changed meanwhile: the next scan decides
                entry[E.WrappedKey] = rewrapped;
                entry[E.KeyGeneration] = generation;
                ctx.Update(Schema.Entries, entry);
                swapped++;
            }
            return swapped;
        }, [], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>On the writer, before an entry wrapped under key generation <paramref name="generation"/> is linked: that
    /// must still be the mailbox's current key, or the caller starts again with the new one.</summary>
    private static void RequireCurrentKeyGeneration(BsonDocument mailbox, int generation)
    {
        if (KeyGenerationOf(mailbox) != generation)
            throw new MailboxKeyChangedException(mailbox["_id"].AsString);
    }

    /// <summary>Runs <paramref name="operation"/> again (up to three times) when a mailbox key rotation switched keys between
    /// its key lookup and its commit.</summary>
    private static async Task<T> RetryOnKeyChangeAsync<T>(Func<Task<T>> operation)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await operation().ConfigureAwait(false);
            }
            catch (MailboxKeyChangedException) when (attempt < 3)
            {
            }
        }
    }
}

/// <summary>Progress of a mailbox key rotation: entries re-wrapped so far out of about <paramref name="Total"/>.</summary>
public sealed record MailboxKeyRotationProgress(string MailboxId, int Generation, long Done, long Total);

/// <summary>
/// A finished mailbox key rotation: the new key generation, entries re-wrapped, time taken, whether it resumed an
/// interrupted one, and whether the replaced key predated key ledgers (then copies of the database from before stay
/// readable with master key version 1 until a master key rotation retires it).
/// </summary>
public sealed record MailboxKeyRotationResult(string MailboxId, int Generation, long Rewrapped, TimeSpan Elapsed, bool Resumed, bool OlderCopiesNeedRotation);

/// <summary>A mailbox key rotation switched keys while an operation held the old one; the store retries the operation.</summary>
internal sealed class MailboxKeyChangedException(string mailboxId) : InvalidOperationException($"The key of mailbox {mailboxId} changed during the operation.");

/// <summary>The mailbox holds no key of the generation asked for any more (its rotation ended after the entry was read).</summary>
internal sealed class StaleKeyGenerationException(string mailboxId, int generation)
    : CryptographicException($"Mailbox {mailboxId} no longer has a key of generation {generation}.");
