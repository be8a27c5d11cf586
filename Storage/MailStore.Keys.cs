using System.Security.Cryptography;
using LiteDB;
using MailServer.Storage.Crypto;
using E = MailServer.Storage.Schema.EntryFields;
using F = MailServer.Storage.Schema.FolderFields;
using M = MailServer.Storage.Schema.MailboxFields;

namespace MailServer.Storage;

// Master key versions, the key ledger, rotation by re-wrap and crypto-shredding (WorkMail Administrator Guide, "Mailbox encryption at rest":
// WorkMail revokes through KMS; here the master key versions come from IMasterKeyProvider and the per-mailbox
// secrets from the KeyLedger beside them).
public sealed partial class MailStore
{
    private readonly Dictionary<string, KeyLedger> _ledgers = new(StringComparer.Ordinal);
    private readonly Lock _ledgerLock = new();
    private readonly SemaphoreSlim _rotationGate = new(1, 1);

    /// <summary>How many documents one rotation batch re-wraps in one commit.</summary>
    internal int RotationBatchSize { get; set; } = 200;

    /// <summary>The key ledger of an organization, opened (or created for a new organization) on first use.</summary>
    /// <exception cref="InvalidDataException">The ledger is missing while mailboxes depend on it, or damaged.</exception>
    public KeyLedger Ledger(string organizationId)
    {
        lock (_ledgerLock)
        {
            if (_ledgers.TryGetValue(organizationId, out var ledger))
                return ledger;
            ledger = KeyLedger.OpenOrCreate(KeyLedger.PathFor(_options.DataDirectory, organizationId), organizationId, _options.MasterKeys,
                mayCreate: () => !Collection(Schema.Mailboxes).FindAll().Any(d =>
                    d[M.Organization].AsString == organizationId && !d[M.KeyVersion].IsNull));
            _ledgers[organizationId] = ledger;
            return ledger;
        }
    }

    /// <summary>The current key of a mailbox document (generation <see cref="KeyGenerationOf"/>).</summary>
    private byte[] UnwrapMailboxKey(BsonDocument mailbox) =>
        UnwrapWrap(mailbox, mailbox[M.WrappedKey].AsBinary, mailbox[M.KeyVersion], KeyGenerationOf(mailbox));

    /// <summary>
    /// The key of generation <paramref name="generation"/> of a mailbox: its current key, or the previous one while a
    /// mailbox key rotation still needs it.
    /// </summary>
    /// <exception cref="StaleKeyGenerationException">The document holds no key of that generation (any more).</exception>
    private byte[] UnwrapMailboxKey(BsonDocument mailbox, int generation)
    {
        if (generation == KeyGenerationOf(mailbox))
            return UnwrapMailboxKey(mailbox);
        if (!mailbox[M.PreviousWrappedKey].IsNull && mailbox[M.PreviousKeyGeneration].AsInt32 == generation)
            return UnwrapWrap(mailbox, mailbox[M.PreviousWrappedKey].AsBinary, mailbox[M.PreviousKeyVersion], generation);
        throw new StaleKeyGenerationException(mailbox["_id"].AsString, generation);
    }

    private byte[] UnwrapWrap(BsonDocument mailbox, byte[] wrapped, BsonValue keyVersion, int generation)
    {
        var organizationId = mailbox[M.Organization].AsString;
        var mailboxId = mailbox["_id"].AsString;
        if (keyVersion.IsNull)
            // Created before ledgers: wrapped directly under master key version 1 (docs/decisions.md, "Storage and encryption").
            return KeyHierarchy.UnwrapMailboxKey(_options.MasterKeys.GetMasterKey(organizationId, 1), organizationId, mailboxId, wrapped);
        var version = keyVersion.AsInt32;
        var ledger = Ledger(organizationId);
        var secret = ledger.MailboxSecret(KeyLedger.SecretId(mailboxId, generation)) ?? throw new MailboxShreddedException(mailboxId);
        return KeyHierarchy.UnwrapMailboxKey(_options.MasterKeys.GetMasterKey(organizationId, version), secret, version, organizationId, mailboxId, wrapped);
    }

    /// <summary>The generation of a mailbox document's current key (0 until its first <c>keys rotate --mailbox</c>).</summary>
    private static int KeyGenerationOf(BsonDocument mailbox) => mailbox[M.KeyGeneration].IsNull ? 0 : mailbox[M.KeyGeneration].AsInt32;

    /// <summary>The generation of the mailbox key an entry's message key is wrapped under.</summary>
    private static int EntryKeyGenerationOf(BsonDocument entry) => entry[E.KeyGeneration].IsNull ? 0 : entry[E.KeyGeneration].AsInt32;

    /// <summary>The message key of a held or in-transit document: wrapped under master key version <c>kv</c> (1 when absent).</summary>
    private byte[] OpenTransitKey(BsonDocument document, string organizationId, string wrappedField, byte[] context)
    {
        var version = document[Schema.KeyVersionField].IsNull ? 1 : document[Schema.KeyVersionField].AsInt32;
        return Aead.Open(_options.MasterKeys.GetMasterKey(organizationId, version), document[wrappedField].AsBinary, context);
    }

    /// <summary>
    /// On the writer, before a document that names master key version <paramref name="version"/> is written: refuses
    /// a version a finished rotation retired while the wrap was being computed. The rotation retires versions on the
    /// writer too (<see cref="RotateAsync"/>), so a write either commits before that check, and the rotation sees and
    /// re-wraps it, or comes after it and is refused here.
    /// </summary>
    /// <exception cref="MasterKeyVersionRetiredException">The version is retired; the caller's operation may be retried.</exception>
    private void RequireUsableVersion(string organizationId, int version)
    {
        if (!Ledger(organizationId).IsUsable(version))
            throw new MasterKeyVersionRetiredException(organizationId, version);
    }

    /// <summary>Wraps a held or in-transit message key under the current master key version; returns the wrap and the version.</summary>
    private (byte[] Wrapped, int Version) SealTransitKey(string organizationId, byte[] messageKey, byte[] context)
    {
        var version = Ledger(organizationId).CurrentVersion;
        return (Aead.Seal(_options.MasterKeys.GetMasterKey(organizationId, version), messageKey, context), version);
    }

    /// <inheritdoc/>
    public int BeginRotation(string organizationId) => Ledger(organizationId).BeginRotation();

    /// <summary>
    /// Starts (or resumes) the rotation of <paramref name="organizationId"/>'s master key: a new version becomes
    /// current at once (new mailboxes and messages use it), then every mailbox key and every held and in-transit
    /// message key still wrapped under an older version is re-wrapped under it, <see cref="RotationBatchSize"/>
    /// documents per commit through the writer while mail flows; message keys and bodies are not touched. When
    /// nothing refers to the old versions any more, they are forgotten and destroyed (a file provider deletes the
    /// file; for the other providers the operator removes them). Safe to interrupt at any point, kill -9 included:
    /// the next call (or the server's start) carries on from what is on disk.
    /// </summary>
    /// <param name="organizationId">The organization whose master key rotates.</param>
    /// <param name="start">True to start a new rotation when none is running; false only resumes one.</param>
    /// <param name="progress">Told after each batch.</param>
    /// <param name="cancellationToken">Stops between batches; the next call resumes.</param>
    /// <exception cref="NotSupportedException">The provider cannot create the next version and the operator has not provisioned it.</exception>
    public async Task<RotationResult> RotateAsync(string organizationId, bool start, IProgress<RotationProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(organizationId);
        await _rotationGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var ledger = Ledger(organizationId);
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            // A mailbox key rotation left half-way keeps its previous key wrapped under an older master key version:
            // finish it first, so retiring that version loses nothing.
            await ResumeMailboxKeyRotationsCoreAsync(organizationId, null, cancellationToken).ConfigureAwait(false);
            if (start || ledger.RetiringVersions.Count > 0)
                ledger.BeginRotation();
            var version = ledger.CurrentVersion;
            var total = CountOutdated(Collection, ledger, organizationId, version);
            long done = 0;
            StoreLog.RotationStarted(_log, organizationId, version, total);
            IReadOnlyList<int>? left = null;
            while (left is null)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var batch = await RewrapBatchAsync(organizationId, ledger, version, cancellationToken).ConfigureAwait(false);
                if (batch > 0)
                {
                    done += batch;
                    progress?.Report(new RotationProgress(organizationId, version, done, Math.Max(total, done)));
                    continue;
                }
                // Retired on the writer, after a last count there: a mailbox, held or in-transit document whose wrap
                // was computed under the old version before the rotation began either committed before this (counted,
                // so one more pass re-wraps it) or reaches the writer after it and is refused (RequireUsableVersion).
                left = await RunOnWriter(ctx => CountOutdated(ctx.Read, ledger, organizationId, version) == 0 ? ledger.FinishRotation(version) : null,
                    [], cancellationToken).ConfigureAwait(false);
            }
            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            StoreLog.RotationFinished(_log, organizationId, version, done, (long)elapsed.TotalMilliseconds);
            return new RotationResult(organizationId, version, done, elapsed, left);
        }
        finally
        {
            _rotationGate.Release();
        }
    }

    /// <summary>Documents of the organization whose keys are wrapped under another master key version than <paramref name="version"/>.</summary>
    /// <remarks>A shredded mailbox whose document a crash left behind holds nothing to re-wrap and is not counted.</remarks>
    private static long CountOutdated(Func<string, ILiteCollection<BsonDocument>> collection, KeyLedger ledger, string organizationId, int version) =>
        collection(Schema.Mailboxes).FindAll().LongCount(d => d[M.Organization].AsString == organizationId && VersionOf(d) != version
                                                               && !ledger.IsShredded(d["_id"].AsString))
        + collection(Schema.Held).FindAll().LongCount(d => d[Schema.HeldFields.Organization].AsString == organizationId && VersionOf(d) != version)
        + collection(FlowCollection).FindAll().LongCount(d => d[FlowOrganization].AsString == organizationId && VersionOf(d) != version);

    private static int VersionOf(BsonDocument d) => d[Schema.KeyVersionField].IsNull ? 1 : d[Schema.KeyVersionField].AsInt32;

    /// <summary>
    /// One batch: unwraps outside the writer, then swaps each wrap in the writer only when the document still
    /// holds the wrap it was computed from (a concurrent change makes the next batch pick it up again).
    /// </summary>
    private async Task<int> RewrapBatchAsync(string organizationId, KeyLedger ledger, int version, CancellationToken cancellationToken)
    {
        var newMaster = _options.MasterKeys.GetMasterKey(organizationId, version);
        var changes = new List<(string Collection, string Id, string Field, byte[] Old, byte[] New, bool LegacyMailbox)>();
        var mailboxes = Collection(Schema.Mailboxes).FindAll()
            .Where(d => d[M.Organization].AsString == organizationId && (d[M.KeyVersion].IsNull || d[M.KeyVersion].AsInt32 != version)
                        && !ledger.IsShredded(d["_id"].AsString))
            .Take(RotationBatchSize).ToList();
        if (mailboxes.Count > 0)
        {
            // Mailboxes created before ledgers get their secret now: from this commit on, deleting it shreds them.
            var secrets = ledger.AddMailboxes(mailboxes.Select(d => KeyLedger.SecretId(d["_id"].AsString, KeyGenerationOf(d))));
            foreach (var mailbox in mailboxes)
            {
                var id = mailbox["_id"].AsString;
                byte[] key;
                try
                {
                    key = UnwrapMailboxKey(mailbox);
                }
                catch (MailboxShreddedException)
                {
                    continue; // deleted under our feet: nothing to re-wrap
                }
                try
                {
                    changes.Add((Schema.Mailboxes, id, M.WrappedKey, mailbox[M.WrappedKey].AsBinary,
                        KeyHierarchy.WrapMailboxKey(newMaster, secrets[KeyLedger.SecretId(id, KeyGenerationOf(mailbox))], version, organizationId, id, key), mailbox[M.KeyVersion].IsNull));
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(key);
                }
            }
        }
        var room = RotationBatchSize - changes.Count;
        foreach (var held in Collection(Schema.Held).FindAll()
                     .Where(d => d[Schema.HeldFields.Organization].AsString == organizationId && VersionOf(d) != version).Take(Math.Max(room, 0)))
        {
            var context = HeldKeyContext(organizationId, held["_id"].AsString, held[Schema.HeldFields.BlobId].AsString);
            var key = OpenTransitKey(held, organizationId, Schema.HeldFields.WrappedKey, context);
            changes.Add((Schema.Held, held["_id"].AsString, Schema.HeldFields.WrappedKey, held[Schema.HeldFields.WrappedKey].AsBinary, Aead.Seal(newMaster, key, context), false));
            CryptographicOperations.ZeroMemory(key);
        }
        room = RotationBatchSize - changes.Count;
        foreach (var flow in Collection(FlowCollection).FindAll()
                     .Where(d => d[FlowOrganization].AsString == organizationId && VersionOf(d) != version).Take(Math.Max(room, 0)))
        {
            var context = FlowKeyContext(organizationId, flow["_id"].AsString, flow[FlowBlobId].AsString);
            var key = OpenTransitKey(flow, organizationId, FlowWrappedKey, context);
            changes.Add((FlowCollection, flow["_id"].AsString, FlowWrappedKey, flow[FlowWrappedKey].AsBinary, Aead.Seal(newMaster, key, context), false));
            CryptographicOperations.ZeroMemory(key);
        }
        if (changes.Count == 0)
            return 0;
        return await RunOnWriter(ctx =>
        {
            var swapped = 0;
            foreach (var change in changes)
            {
                var document = ctx.Read(change.Collection).FindById(change.Id);
                if (document is null || !document[change.Field].AsBinary.AsSpan().SequenceEqual(change.Old))
                    continue;
                document[change.Field] = change.New;
                document[Schema.KeyVersionField] = version;
                ctx.Update(change.Collection, document);
                swapped++;
            }
            return Math.Max(swapped, 1); // a batch that lost every race is retried by the next scan
        }, [], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>What refers to which master key version, per organization (for <c>mailserver keys status</c>).</summary>
    public KeyStatus KeyStatusOf(string organizationId)
    {
        var ledger = Ledger(organizationId);
        var byVersion = new SortedDictionary<int, long>();
        var legacy = 0L;
        foreach (var d in Collection(Schema.Mailboxes).FindAll().Where(d => d[M.Organization].AsString == organizationId))
        {
            if (d[M.KeyVersion].IsNull)
                legacy++;
            byVersion[VersionOf(d)] = byVersion.GetValueOrDefault(VersionOf(d)) + 1;
        }
        var transit = new SortedDictionary<int, long>();
        foreach (var d in Collection(Schema.Held).FindAll().Where(d => d[Schema.HeldFields.Organization].AsString == organizationId)
                     .Concat(Collection(FlowCollection).FindAll().Where(d => d[FlowOrganization].AsString == organizationId)))
            transit[VersionOf(d)] = transit.GetValueOrDefault(VersionOf(d)) + 1;
        var available = Enumerable.Range(1, ledger.CurrentVersion).Where(v => _options.MasterKeys.HasVersion(organizationId, v))
            .Select(v => new KeyVersionInfo(v, _options.MasterKeys.Describe(organizationId, v))).ToList();
        return new KeyStatus(organizationId, ledger.CurrentVersion, ledger.RetiringVersions, available, byVersion, transit, legacy,
            ledger.Shredded.Count, ledger.Retired.Count);
    }

    /// <summary>The owners of an organization's mailboxes (for listing mailboxes whose user left the configuration).</summary>
    public IReadOnlyList<MailboxInfo> ListMailboxes(string organizationId) =>
        Collection(Schema.Mailboxes).FindAll().Where(d => d[M.Organization].AsString == organizationId)
            .Select(d => GetMailbox(d["_id"].AsString)).OfType<MailboxInfo>().ToList();

    /// <summary>
    /// Deletes a mailbox for good (crypto-shredding): first its ledger secret is destroyed, durably, so its key
    /// cannot be unwrapped from any copy of the database, backups included; then its folders, entries and
    /// expunge records go, and every message file no other mailbox or the queue refers to. Messages it shared
    /// with other recipients stay readable for them (their copies of the message key are wrapped under their own
    /// mailbox keys). A mailbox created before key ledgers existed is given a secret and re-wrapped first; copies
    /// of the database from before that hold its older wrap, which only the retirement of master key version 1 (a
    /// completed rotation) makes unreadable: <see cref="DeleteMailboxResult.OlderCopiesNeedRotation"/> says so.
    /// </summary>
    /// <returns>Null when the owner has no mailbox.</returns>
    public async Task<DeleteMailboxResult?> DeleteMailboxAsync(string organizationId, string owner, CancellationToken cancellationToken)
    {
        if (FindMailbox(organizationId, owner) is not { } info)
            return null;
        var mailboxId = info.MailboxId;
        var document = Collection(Schema.Mailboxes).FindById(mailboxId);
        var legacy = document[M.KeyVersion].IsNull;
        var ledger = Ledger(organizationId);
        ledger.Shred(mailboxId, Now);
        _keyCache.Evict(KeyLedger.SecretId(mailboxId, KeyGenerationOf(document)));
        if (!document[M.PreviousKeyGeneration].IsNull)
            _keyCache.Evict(KeyLedger.SecretId(mailboxId, document[M.PreviousKeyGeneration].AsInt32));
        var (messages, blobs) = await RunOnWriter(ctx =>
        {
            var modSeq = (ulong)(ctx.Read(Schema.Mailboxes).FindById(mailboxId)?[M.ModSeq].AsInt64 ?? 0) + 1;
            var entries = ctx.Read(Schema.Entries).Find(Schema.Equal(E.MailboxId, mailboxId)).ToList();
            var folders = ctx.Read(Schema.Folders).Find(Schema.Equal(F.MailboxId, mailboxId)).ToList();
            foreach (var entry in entries)
                ctx.Delete(Schema.Entries, entry["_id"]);
            foreach (var folder in folders)
            {
                ctx.DeleteMany(Schema.Tombstones, Schema.Equal(Schema.TombstoneFields.FolderId, folder["_id"].AsString));
                ctx.Delete(Schema.Folders, folder["_id"]);
                DeleteSearchIndex(ctx, folder["_id"].AsString); // unreadable already: its key derived from the destroyed one
            }
            ctx.DeleteMany(Schema.Imports, Schema.Equal(Schema.ImportFields.MailboxId, mailboxId));
            ctx.Delete(Schema.Mailboxes, mailboxId);
            var remaining = ctx.Read(Schema.Entries);
            var queue = ctx.Read(Schema.Queue);
            var unreferenced = entries.Select(e => e[E.BlobId].AsString).Distinct(StringComparer.Ordinal)
                .Where(b => remaining.Count(Schema.Equal(E.BlobId, b)) == 0 && queue.Count(Schema.Equal(Schema.QueueFields.BlobId, b)) == 0)
                .ToList();
            ctx.AfterCommit.Add(() =>
            {
                foreach (var blobId in unreferenced)
                    DeleteBlob(_blobs, blobId);
            });
            foreach (var folder in folders)
                ctx.Changes.Add(new MailboxChange.FoldersChanged(mailboxId, folder["_id"].AsString, modSeq));
            return (entries.Count, unreferenced.Count);
        }, [], cancellationToken).ConfigureAwait(false);
        StoreLog.MailboxShredded(_log, organizationId, mailboxId, messages);
        return new DeleteMailboxResult(mailboxId, messages, blobs, legacy && ledger.CurrentVersion == 1);
    }
}

/// <summary>Progress of a rotation: documents re-wrapped so far out of about <paramref name="Total"/>.</summary>
public sealed record RotationProgress(string OrganizationId, int Version, long Done, long Total);

/// <summary>A finished rotation: the new current version, documents re-wrapped, time taken, and older versions the operator must remove.</summary>
public sealed record RotationResult(string OrganizationId, int Version, long Rewrapped, TimeSpan Elapsed, IReadOnlyList<int> VersionsLeftToOperator);

/// <summary>A master key version the provider can read, and where it lives.</summary>
public sealed record KeyVersionInfo(int Version, string Location);

/// <summary>
/// A write computed its key wrap under a master key version that a rotation retired before the write reached the
/// store's writer. Nothing was written; retrying computes the wrap under the current version (a temporary failure).
/// </summary>
public sealed class MasterKeyVersionRetiredException(string organizationId, int version)
    : IOException($"Master key version {version} of organization {organizationId} was retired during the operation; retry it.");

/// <summary>
/// The key state of one organization: the current version, versions being retired, versions the provider holds,
/// mailboxes and held/in-transit messages per version, mailboxes still in the pre-ledger scheme, shredded mailboxes, and
/// the secrets of replaced mailbox keys destroyed so far (<c>keys rotate --mailbox</c>).
/// </summary>
public sealed record KeyStatus(string OrganizationId, int CurrentVersion, IReadOnlyList<int> RetiringVersions, IReadOnlyList<KeyVersionInfo> Available,
    IReadOnlyDictionary<int, long> MailboxesByVersion, IReadOnlyDictionary<int, long> TransitByVersion, long LegacyMailboxes, int ShreddedMailboxes,
    int DestroyedMailboxKeys);

/// <summary>A deleted mailbox: its id, messages removed, files deleted, and whether copies from before need a rotation to be unreadable.</summary>
public sealed record DeleteMailboxResult(string MailboxId, int Messages, int FilesDeleted, bool OlderCopiesNeedRotation);
