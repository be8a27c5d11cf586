using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MailServer.Storage.Crypto;

/// <summary>
/// An organization's key ledger: the secrets that live beside the master keys and never in the database or a
/// backup of it, sealed under the current master key version. It holds
/// <list type="bullet">
/// <item>one random secret per mailbox: a mailbox key is wrapped under a key derived from the master key
/// version <i>and</i> that secret, so deleting the secret (crypto-shredding) makes the mailbox unreadable from
/// every copy of the database, old backups included;</item>
/// <item>the organization's lookup and sealing keys (owner lookups, owner addresses, the outbound queue, the
/// email event log), derived from master key version 1 when the ledger was created (the values those keys always
/// had), so a rotation can retire version 1 without touching the data they protect;</item>
/// <item>the rotation state: the current master key version and the versions still being retired.</item>
/// </list>
/// Stored (<see cref="IKeyLedgerStorage"/>: a file for one process, a key database several nodes share) as one
/// AES-256-GCM box for the header (keys, rotation state, shredded mailboxes) under the current master key version and
/// one box per mailbox secret under the same version (associated data: the organization URN, the version and, inside
/// the box, the mailbox id). A new mailbox appends its box (constant cost however many mailboxes there are); anything
/// else (a rotation, a shredding) rewrites the whole ledger from what is stored at that moment, under the storage's
/// exclusive lock, so a secret another node appended meanwhile is kept and a shredded one is in no version that
/// remains. Thread-safe.
/// </summary>
public sealed class KeyLedger
{
    private readonly Lock _lock = new();
    private readonly IKeyLedgerStorage _storage;
    private readonly IMasterKeyProvider _keys;
    private State _state;
    private long _generation;

    private KeyLedger(IKeyLedgerStorage storage, string organizationId, IMasterKeyProvider keys, State state, long generation)
    {
        _storage = storage;
        OrganizationId = organizationId;
        _keys = keys;
        _state = state;
        _generation = generation;
    }

    /// <summary>The ledger file of an organization in a data directory: <c>keys/ledger/&lt;id&gt;.ledger</c>.</summary>
    public static string PathFor(string dataDirectory, string organizationId) =>
        Path.Combine(Path.GetFullPath(dataDirectory), "keys", "ledger", organizationId + ".ledger");

    /// <summary>The organization this ledger belongs to.</summary>
    public string OrganizationId { get; }

    /// <summary>The master key version new wraps use.</summary>
    public int CurrentVersion { get { lock (_lock) return _state.Current; } }

    /// <summary>Older versions a rotation is still moving data away from (empty when no rotation runs).</summary>
    public IReadOnlyList<int> RetiringVersions { get { lock (_lock) return [.. _state.Retiring]; } }

    /// <summary>
    /// True while a wrap under master key version <paramref name="version"/> may still be stored: it is the current
    /// version or one a running rotation has not retired yet. A write that computed its wrap before a rotation and
    /// commits after the rotation finished must not store it (the version may already be destroyed).
    /// </summary>
    public bool IsUsable(int version)
    {
        lock (_lock)
            return version == _state.Current || _state.Retiring.Contains(version);
    }

    /// <summary>How many mailboxes have a secret.</summary>
    public int MailboxCount { get { lock (_lock) return _state.Mailboxes.Count; } }

    /// <summary>
    /// The ledger id of the secret of generation <paramref name="generation"/> of a mailbox's key: the mailbox id for
    /// generation 0 (every mailbox's first key), <c>&lt;mailbox id&gt;/k&lt;generation&gt;</c> after <c>keys rotate --mailbox</c>.
    /// </summary>
    public static string SecretId(string mailboxId, int generation) =>
        generation == 0 ? mailboxId : mailboxId + "/k" + generation.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Ids of every secret the ledger holds (mailbox ids and <see cref="SecretId"/>s of later generations).</summary>
    public IReadOnlyList<string> SecretIds { get { lock (_lock) return [.. _state.Mailboxes.Keys]; } }

    /// <summary>Secrets of replaced mailbox keys destroyed by <see cref="DestroySecrets"/>, with when.</summary>
    public IReadOnlyDictionary<string, DateTimeOffset> Retired { get { lock (_lock) return new Dictionary<string, DateTimeOffset>(_state.Retired); } }

    /// <summary>Mailboxes whose secret was destroyed, with when.</summary>
    public IReadOnlyDictionary<string, DateTimeOffset> Shredded { get { lock (_lock) return new Dictionary<string, DateTimeOffset>(_state.Shredded); } }

    /// <summary>The key of owner lookups (HMAC).</summary>
    public byte[] OwnerHmacKey => _state.OwnerHmac;

    /// <summary>The key that seals the owner address of a mailbox document.</summary>
    public byte[] OwnerSealKey => _state.OwnerSeal;

    /// <summary>The key that wraps the message keys of the outbound queue.</summary>
    public byte[] QueueKey => _state.Queue;

    /// <summary>The key that seals the email event log lines.</summary>
    public byte[] EventLogKey => _state.Events;

    /// <summary>
    /// Opens the ledger file at <paramref name="path"/>; when there is none and <paramref name="mayCreate"/> says so,
    /// creates it from master key version 1 (created itself when the provider does that on first start).
    /// </summary>
    /// <exception cref="InvalidDataException">The ledger is damaged, or missing while data depends on it.</exception>
    /// <exception cref="CryptographicException">The master key version named in the ledger does not open it.</exception>
    /// <exception cref="KeyNotFoundException">The master key version the ledger is sealed under is not available.</exception>
    public static KeyLedger OpenOrCreate(string path, string organizationId, IMasterKeyProvider keys, Func<bool> mayCreate) =>
        OpenOrCreate(new KeyLedgerFile(path), organizationId, keys, mayCreate);

    /// <summary>
    /// Opens the ledger in <paramref name="storage"/>; when there is none and <paramref name="mayCreate"/> says so,
    /// creates it from master key version 1 (created itself when the provider does that on first start). Two nodes
    /// creating at once: the first one stored wins, both read that one.
    /// </summary>
    /// <exception cref="InvalidDataException">The ledger is damaged, or missing while data depends on it.</exception>
    /// <exception cref="CryptographicException">The master key version named in the ledger does not open it.</exception>
    /// <exception cref="KeyNotFoundException">The master key version the ledger is sealed under is not available.</exception>
    /// <exception cref="IOException">The storage cannot be read or written.</exception>
    public static KeyLedger OpenOrCreate(IKeyLedgerStorage storage, string organizationId, IMasterKeyProvider keys, Func<bool> mayCreate)
    {
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(mayCreate);
        if (TryOpen(storage, organizationId, keys) is { } existing)
            return existing;
        if (!mayCreate())
            throw new InvalidDataException(
                $"The key ledger {storage.Description} of organization {organizationId} is missing, but the database has mailboxes whose keys need it. " +
                "Restore it from the backup of your keys; without it those mailboxes cannot be read.");
        var master = keys.GetMasterKey(organizationId, 1);
        var state = new State
        {
            Current = 1,
            OwnerHmac = KeyHierarchy.OwnerHmacKey(master),
            OwnerSeal = KeyHierarchy.OwnerSealKey(master),
            Queue = KeyHierarchy.QueueKey(master),
            Events = HKDF.DeriveKey(HashAlgorithmName.SHA256, master, 32, Encoding.UTF8.GetBytes(organizationId),
                "urn:mailserver:email-event-log:v1"u8.ToArray()),
        };
        storage.CreateIfAbsent(Seal(organizationId, keys, state, 0));
        return TryOpen(storage, organizationId, keys) ?? throw new InvalidDataException($"The key ledger {storage.Description} vanished while it was created.");
    }

    /// <summary>The ledger file at <paramref name="path"/>, or null when there is no file.</summary>
    /// <exception cref="InvalidDataException">The file is not a key ledger of this organization.</exception>
    /// <exception cref="CryptographicException">The master key version named in the ledger does not open it.</exception>
    /// <exception cref="KeyNotFoundException">That master key version is not available.</exception>
    public static KeyLedger? TryOpen(string path, string organizationId, IMasterKeyProvider keys) =>
        TryOpen(new KeyLedgerFile(path), organizationId, keys);

    /// <summary>The ledger in <paramref name="storage"/>, or null when there is none.</summary>
    /// <exception cref="InvalidDataException">What is stored is not a key ledger of this organization.</exception>
    /// <exception cref="CryptographicException">The master key version named in the ledger does not open it.</exception>
    /// <exception cref="KeyNotFoundException">That master key version is not available.</exception>
    /// <exception cref="IOException">The storage cannot be read.</exception>
    public static KeyLedger? TryOpen(IKeyLedgerStorage storage, string organizationId, IMasterKeyProvider keys)
    {
        ArgumentNullException.ThrowIfNull(storage);
        return storage.Read() is { } stored ? new KeyLedger(storage, organizationId, keys, Open(storage, organizationId, keys, stored), stored.Generation) : null;
    }

    /// <summary>
    /// Reads the ledger again when another node rewrote it since this copy was read (a rotation began or ended, a
    /// mailbox was shredded); a storage with one writer never is. Returns true when it was read again.
    /// </summary>
    /// <exception cref="IOException">The storage cannot be read.</exception>
    public bool Refresh()
    {
        lock (_lock)
        {
            if (_storage.Generation() is not { } stored || stored == _generation)
                return false;
            ReloadCore();
            return true;
        }
    }

    /// <summary>Reads the ledger again whatever its generation (a secret appended by another node since is then known).</summary>
    /// <exception cref="InvalidDataException">The ledger is gone or damaged.</exception>
    /// <exception cref="IOException">The storage cannot be read.</exception>
    public void Reload()
    {
        lock (_lock)
            ReloadCore();
    }

    private void ReloadCore()
    {
        {
            var stored = _storage.Read() ?? throw new InvalidDataException($"The key ledger {_storage.Description} of organization {OrganizationId} vanished.");
            _state = Open(_storage, OrganizationId, _keys, stored);
            _generation = stored.Generation;
        }
    }

    /// <summary>The secret of a mailbox, or null when it has none (created before ledgers, or shredded).</summary>
    public byte[]? MailboxSecret(string mailboxId)
    {
        lock (_lock)
            return _state.Mailboxes.GetValueOrDefault(mailboxId);
    }

    /// <summary>True when the mailbox's secret was destroyed.</summary>
    public bool IsShredded(string mailboxId)
    {
        lock (_lock)
            return _state.Shredded.ContainsKey(mailboxId);
    }

    /// <summary>Gives each mailbox a fresh random secret (those that have one keep it) and saves durably. Returns them.</summary>
    /// <exception cref="IOException">The ledger could not be written; nothing changed.</exception>
    public IReadOnlyDictionary<string, byte[]> AddMailboxes(IEnumerable<string> mailboxIds)
    {
        var ids = mailboxIds.ToList();
        lock (_lock)
        {
            var fresh = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            while (true)
            {
                var next = _state.Clone();
                var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
                foreach (var id in ids)
                {
                    if (next.Shredded.ContainsKey(id))
                        throw new InvalidOperationException($"Mailbox {id} was shredded; its id cannot be used again.");
                    if (!next.Mailboxes.TryGetValue(id, out var secret))
                    {
                        if (!fresh.TryGetValue(id, out secret))
                            fresh[id] = secret = RandomNumberGenerator.GetBytes(32);
                        next.Mailboxes[id] = secret;
                    }
                    next.Retired.Remove(id);
                    result[id] = secret;
                }
                var added = result.Where(p => !_state.Mailboxes.ContainsKey(p.Key)).ToList();
                if (added.Count > 0)
                {
                    var master = _keys.GetMasterKey(OrganizationId, _state.Current);
                    var records = added.Select(p => SealRecord(master, OrganizationId, _state.Current, p.Key, p.Value)).ToList();
                    if (!_storage.Append(_state.Current, records))
                    {
                        // Another node re-sealed the ledger under a newer version meanwhile: learn it and seal again.
                        ReloadCore();
                        continue;
                    }
                }
                _state = next;
                return result;
            }
        }
    }

    /// <summary>Forgets a secret that no committed mailbox uses (a creation that lost a race). Best effort.</summary>
    public void Forget(string mailboxId) =>
        Mutate(state =>
        {
            if (!state.Mailboxes.ContainsKey(mailboxId))
                return null;
            var next = state.Clone();
            next.Mailboxes.Remove(mailboxId);
            return next;
        });

    /// <summary>
    /// Destroys a mailbox's secret and records the shredding, durably: from then on no copy of the database opens
    /// that mailbox's key. Idempotent.
    /// </summary>
    /// <exception cref="IOException">The ledger could not be written; the secret is still there.</exception>
    public void Shred(string mailboxId, DateTimeOffset at) =>
        Mutate(state =>
        {
            var prefix = mailboxId + "/";
            if (state.Shredded.ContainsKey(mailboxId) && !state.Mailboxes.Keys.Any(k => k == mailboxId || k.StartsWith(prefix, StringComparison.Ordinal)))
                return null;
            var next = state.Clone();
            next.Mailboxes.Remove(mailboxId);
            // The secrets of the mailbox's later key generations (keys rotate --mailbox) go with it.
            foreach (var id in next.Mailboxes.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).ToList())
                next.Mailboxes.Remove(id);
            next.Shredded.TryAdd(mailboxId, at);
            return next;
        });

    /// <summary>
    /// Destroys the secrets <paramref name="secretIds"/> of replaced mailbox keys (the mailbox lives on under a newer
    /// key generation), durably: the ledger is rewritten without them. From then on no copy of the database opens those
    /// keys. Idempotent.
    /// </summary>
    /// <exception cref="IOException">The ledger could not be written; the secrets are still there.</exception>
    public void DestroySecrets(IReadOnlyCollection<string> secretIds, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(secretIds);
        Mutate(state =>
        {
            if (!secretIds.Any(state.Mailboxes.ContainsKey))
                return null;
            var next = state.Clone();
            foreach (var id in secretIds)
                if (next.Mailboxes.Remove(id))
                    next.Retired[id] = at;
            return next;
        });
    }

    /// <summary>
    /// Starts a rotation: makes <c>current + 1</c> available through the provider, re-seals the ledger under it and
    /// marks the old current version retiring. Returns the new version. When a rotation is already running (begun by
    /// this node or another), returns its version unchanged (resume).
    /// </summary>
    /// <exception cref="NotSupportedException">The provider cannot create the next version and it was not provisioned.</exception>
    /// <exception cref="IOException">The ledger could not be written.</exception>
    public int BeginRotation()
    {
        var state = Mutate(state =>
        {
            if (state.Retiring.Count > 0)
                return null;
            var next = state.Clone();
            var version = state.Current + 1;
            _keys.CreateVersion(OrganizationId, version);
            next.Retiring.Add(state.Current);
            next.Current = version;
            return next;
        });
        return state.Current;
    }

    /// <summary>
    /// Ends a rotation once nothing refers to the retiring versions: the ledger forgets them (saved durably first),
    /// then the provider destroys them. Returns the versions whose destruction is left to the operator.
    /// </summary>
    /// <exception cref="IOException">The ledger could not be written.</exception>
    /// <param name="version">The version the finished pass re-wrapped everything under; when another rotation has
    /// begun since (a newer current version), nothing is retired here: that rotation finishes the job.</param>
    public IReadOnlyList<int> FinishRotation(int version)
    {
        {
            var state = Mutate(state =>
            {
                if (state.Current != version || state.Retiring.Count == 0)
                    return null;
                var next = state.Clone();
                next.Retiring.Clear();
                return next;
            });
            if (state.Current != version)
                return [];
            // Every version below the current one is unreferenced once no rotation runs (a crash between the save
            // above and the destruction below leaves a version that this removes on the next run).
            var leftToOperator = new List<int>();
            for (var v = 1; v < state.Current; v++)
            {
                if (!_keys.HasVersion(OrganizationId, v))
                    continue;
                if (!_keys.DestroyVersion(OrganizationId, v))
                    leftToOperator.Add(v);
            }
            return leftToOperator;
        }
    }

    /// <summary>
    /// Rewrites the ledger with <paramref name="change"/> applied to what is stored now (another node's appends and
    /// rewrites included), or leaves it when the change returns null; this copy then holds the result. Returns it.
    /// </summary>
    private State Mutate(Func<State, State?> change)
    {
        lock (_lock)
        {
            State? result = null;
            long generation = 0;
            _storage.Rewrite(stored =>
            {
                var current = stored is null
                    ? throw new InvalidDataException($"The key ledger {_storage.Description} of organization {OrganizationId} vanished.")
                    : Open(_storage, OrganizationId, _keys, stored);
                var next = change(current);
                result = next ?? current;
                generation = stored.Generation + (next is null ? 0 : 1);
                return next is null ? null : Seal(OrganizationId, _keys, next, generation);
            });
            _state = result!;
            _generation = generation;
            return _state;
        }
    }

    /// <summary>Opens a stored ledger: the header, then every record (a last record cut by a crash is skipped).</summary>
    private static State Open(IKeyLedgerStorage storage, string organizationId, IMasterKeyProvider keys, SealedLedger stored)
    {
        var version = stored.Version;
        var master = keys.GetMasterKey(organizationId, version);
        var plain = Aead.Open(master, stored.Header, Context(organizationId, version));
        State state;
        try
        {
            state = JsonSerializer.Deserialize<State>(plain, Json) ?? throw new InvalidDataException($"The key ledger {storage.Description} is empty.");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }
        if (state.Current != version)
            throw new InvalidDataException($"The key ledger {storage.Description} names version {state.Current} but is sealed under {version}.");
        var last = stored.Records.Count - 1;
        for (var i = 0; i < stored.Records.Count; i++)
        {
            try
            {
                var record = JsonSerializer.Deserialize<Record>(Aead.Open(master, stored.Records[i], RecordContext(organizationId, version)), Json)!;
                if (!state.Shredded.ContainsKey(record.Mailbox))
                    state.Mailboxes[record.Mailbox] = record.Secret;
            }
            catch (Exception e) when (stored.LastRecordMayBeTorn && i == last && e is CryptographicException or JsonException)
            {
                // The last append was cut by a crash before its fsync returned: its mailbox was never committed.
            }
            catch (Exception e) when (e is CryptographicException or JsonException)
            {
                throw new InvalidDataException($"The key ledger {storage.Description} is damaged at record {i + 1}.", e);
            }
        }
        return state;
    }

    /// <summary>Seals a whole state under its current version.</summary>
    private static SealedLedger Seal(string organizationId, IMasterKeyProvider keys, State state, long generation)
    {
        var master = keys.GetMasterKey(organizationId, state.Current);
        var header = new State
        {
            Current = state.Current, Retiring = state.Retiring, OwnerHmac = state.OwnerHmac, OwnerSeal = state.OwnerSeal,
            Queue = state.Queue, Events = state.Events, Shredded = state.Shredded, Retired = state.Retired,
        };
        var plain = JsonSerializer.SerializeToUtf8Bytes(header, Json);
        byte[] box;
        try
        {
            box = Aead.Seal(master, plain, Context(organizationId, state.Current));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }
        var records = state.Mailboxes.Select(p => SealRecord(master, organizationId, state.Current, p.Key, p.Value)).ToList();
        return new SealedLedger(state.Current, box, records, generation);
    }

    private static byte[] SealRecord(byte[] master, string organizationId, int version, string mailboxId, byte[] secret)
    {
        var plain = JsonSerializer.SerializeToUtf8Bytes(new Record(mailboxId, secret), Json);
        try
        {
            return Aead.Seal(master, plain, RecordContext(organizationId, version));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }
    }

    private static byte[] Context(string organizationId, int version) =>
        Aead.Utf8($"urn:mailserver:organization/{organizationId}/key-ledger/v{version}");

    private static byte[] RecordContext(string organizationId, int version) =>
        Aead.Utf8($"urn:mailserver:organization/{organizationId}/key-ledger/v{version}/mailbox");

    private sealed record Record(string Mailbox, byte[] Secret);

    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    private sealed class State
    {
        public int Current { get; set; }
        public List<int> Retiring { get; set; } = [];
        public byte[] OwnerHmac { get; set; } = [];
        public byte[] OwnerSeal { get; set; } = [];
        public byte[] Queue { get; set; } = [];
        public byte[] Events { get; set; } = [];
        public Dictionary<string, byte[]> Mailboxes { get; set; } = new(StringComparer.Ordinal);
        public Dictionary<string, DateTimeOffset> Shredded { get; set; } = new(StringComparer.Ordinal);
        public Dictionary<string, DateTimeOffset> Retired { get; set; } = new(StringComparer.Ordinal);

        public State Clone() => new()
        {
            Current = Current,
            Retiring = [.. Retiring],
            OwnerHmac = OwnerHmac,
            OwnerSeal = OwnerSeal,
            Queue = Queue,
            Events = Events,
            Mailboxes = new Dictionary<string, byte[]>(Mailboxes, StringComparer.Ordinal),
            Shredded = new Dictionary<string, DateTimeOffset>(Shredded, StringComparer.Ordinal),
            Retired = new Dictionary<string, DateTimeOffset>(Retired, StringComparer.Ordinal),
        };
    }
}

/// <summary>The mailbox was crypto-shredded: its key's secret is gone, so nothing of it can be decrypted.</summary>
public sealed class MailboxShreddedException(string mailboxId)
    : CryptographicException($"Mailbox {mailboxId} was deleted and its key destroyed.")
{
    /// <summary>The shredded mailbox.</summary>
    public string MailboxId { get; } = mailboxId;
}
