using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MailServer.Storage.Crypto;

/// <summary>
/// An organization's key ledger: the secrets that live beside the master keys and never in the database or a
/// backup of it, sealed as a whole under the current master key version. It holds
/// <list type="bullet">
/// <item>one random secret per mailbox: a mailbox key is wrapped under a key derived from the master key
/// version <i>and</i> that secret, so deleting the secret (crypto-shredding) makes the mailbox unreadable from
/// every copy of the database, old backups included;</item>
/// <item>the organization's lookup and sealing keys (owner lookups, owner addresses, the outbound queue, the
/// email event log), derived from master key version 1 when the ledger was created (the values those keys always
/// had), so a rotation can retire version 1 without touching the data they protect;</item>
/// <item>the rotation state: the current master key version and the versions still being retired.</item>
/// </list>
/// File: a <c>MSKL 2 &lt;version&gt;</c> line; a line with the base64 AES-256-GCM box of the header (keys, rotation
/// state, shredded mailboxes) under master key &lt;version&gt;; then one line per mailbox secret, each its own box under
/// the same version (associated data: the organization URN, the version and the mailbox id). A new mailbox appends
/// its line and fsyncs (constant cost however many mailboxes there are); anything else (a rotation, a shredding)
/// rewrites the whole file to a temporary name, fsyncs it, renames it into place and fsyncs the directory, so a
/// shredded secret is in no version of the file that remains. Thread-safe.
/// </summary>
public sealed class KeyLedger
{
    private const string Magic = "MSKL 2 ";
    private readonly Lock _lock = new();
    private readonly string _path;
    private readonly IMasterKeyProvider _keys;
    private State _state;

    private KeyLedger(string path, string organizationId, IMasterKeyProvider keys, State state)
    {
        _path = path;
        OrganizationId = organizationId;
        _keys = keys;
        _state = state;
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
    /// Opens the ledger at <paramref name="path"/>; when there is none and <paramref name="mayCreate"/> says so,
    /// creates it from master key version 1 (created itself when the provider does that on first start).
    /// </summary>
    /// <exception cref="InvalidDataException">The ledger is damaged, or missing while data depends on it.</exception>
    /// <exception cref="CryptographicException">The master key version named in the ledger does not open it.</exception>
    /// <exception cref="KeyNotFoundException">The master key version the ledger is sealed under is not available.</exception>
    public static KeyLedger OpenOrCreate(string path, string organizationId, IMasterKeyProvider keys, Func<bool> mayCreate)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(mayCreate);
        if (TryOpen(path, organizationId, keys) is { } existing)
            return existing;
        if (!mayCreate())
            throw new InvalidDataException(
                $"The key ledger {path} of organization {organizationId} is missing, but the database has mailboxes whose keys need it. " +
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
        var ledger = new KeyLedger(path, organizationId, keys, state);
        lock (ledger._lock)
        {
            // Two processes creating at once: the first one linked wins, everybody reads that one.
            ledger.Save(state, linkOnly: true);
        }
        return TryOpen(path, organizationId, keys) ?? throw new InvalidDataException($"The key ledger {path} vanished while it was created.");
    }

    /// <summary>The ledger at <paramref name="path"/>, or null when there is no file.</summary>
    /// <exception cref="InvalidDataException">The file is not a key ledger of this organization.</exception>
    /// <exception cref="CryptographicException">The master key version named in the ledger does not open it.</exception>
    /// <exception cref="KeyNotFoundException">That master key version is not available.</exception>
    public static KeyLedger? TryOpen(string path, string organizationId, IMasterKeyProvider keys)
    {
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.ASCII);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        var newline = text.IndexOf('\n', StringComparison.Ordinal);
        if (!text.StartsWith(Magic, StringComparison.Ordinal) || newline < 0
            || !int.TryParse(text.AsSpan(Magic.Length, newline - Magic.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var version))
            throw new InvalidDataException($"{path} is not a key ledger.");
        var lines = text[(newline + 1)..].Split('\n');
        var master = keys.GetMasterKey(organizationId, version);
        byte[] plain;
        try
        {
            plain = Aead.Open(master, Convert.FromBase64String(lines[0].Trim()), Context(organizationId, version));
        }
        catch (FormatException)
        {
            throw new InvalidDataException($"The key ledger {path} is damaged.");
        }
        State state;
        try
        {
            state = JsonSerializer.Deserialize<State>(plain, Json) ?? throw new InvalidDataException($"The key ledger {path} is empty.");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }
        if (state.Current != version)
            throw new InvalidDataException($"The key ledger {path} names version {state.Current} but is sealed under {version}.");
        var last = lines.Length - 1;
        while (last > 0 && lines[last].Length == 0)
            last--;
        for (var i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0)
                continue;
            try
            {
                var record = JsonSerializer.Deserialize<Record>(Aead.Open(master, Convert.FromBase64String(lines[i]), RecordContext(organizationId, version)), Json)!;
                if (!state.Shredded.ContainsKey(record.Mailbox))
                    state.Mailboxes[record.Mailbox] = record.Secret;
            }
            catch (Exception e) when (i == last && e is FormatException or CryptographicException or JsonException)
            {
                // The last append was cut by a crash before its fsync returned: its mailbox was never committed.
            }
            catch (Exception e) when (e is FormatException or JsonException)
            {
                throw new InvalidDataException($"The key ledger {path} is damaged at line {i + 2}.");
            }
        }
        return new KeyLedger(path, organizationId, keys, state);
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
        lock (_lock)
        {
            var next = _state.Clone();
            var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (var id in mailboxIds)
            {
                if (next.Shredded.ContainsKey(id))
                    throw new InvalidOperationException($"Mailbox {id} was shredded; its id cannot be used again.");
                if (!next.Mailboxes.TryGetValue(id, out var secret))
                    next.Mailboxes[id] = secret = RandomNumberGenerator.GetBytes(32);
                next.Retired.Remove(id);
                result[id] = secret;
            }
            var added = result.Where(p => !_state.Mailboxes.ContainsKey(p.Key)).ToList();
            if (added.Count > 0)
                Append(added);
            _state = next;
            return result;
        }
    }

    /// <summary>Forgets a secret that no committed mailbox uses (a creation that lost a race). Best effort.</summary>
    public void Forget(string mailboxId)
    {
        lock (_lock)
        {
            if (!_state.Mailboxes.ContainsKey(mailboxId))
                return;
            var next = _state.Clone();
            next.Mailboxes.Remove(mailboxId);
            Save(next, linkOnly: false);
            _state = next;
        }
    }

    /// <summary>
    /// Destroys a mailbox's secret and records the shredding, durably: from then on no copy of the database opens
    /// that mailbox's key. Idempotent.
    /// </summary>
    /// <exception cref="IOException">The ledger could not be written; the secret is still there.</exception>
    public void Shred(string mailboxId, DateTimeOffset at)
    {
        lock (_lock)
        {
            if (_state.Shredded.ContainsKey(mailboxId) && !_state.Mailboxes.ContainsKey(mailboxId))
                return;
            var next = _state.Clone();
            next.Mailboxes.Remove(mailboxId);
            // The secrets of the mailbox's later key generations (keys rotate --mailbox) go with it.
            foreach (var id in next.Mailboxes.Keys.Where(k => k.StartsWith(mailboxId + "/", StringComparison.Ordinal)).ToList())
                next.Mailboxes.Remove(id);
            next.Shredded[mailboxId] = at;
            Save(next, linkOnly: false);
            _state = next;
        }
    }

    /// <summary>
    /// Destroys the secrets <paramref name="secretIds"/> of replaced mailbox keys (the mailbox lives on under a newer
    /// key generation), durably: the file is rewritten without them. From then on no copy of the database opens those
    /// keys. Idempotent.
    /// </summary>
    /// <exception cref="IOException">The ledger could not be written; the secrets are still there.</exception>
    public void DestroySecrets(IReadOnlyCollection<string> secretIds, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(secretIds);
        lock (_lock)
        {
            if (!secretIds.Any(_state.Mailboxes.ContainsKey))
                return;
            var next = _state.Clone();
            foreach (var id in secretIds)
                if (next.Mailboxes.Remove(id))
                    next.Retired[id] = at;
            Save(next, linkOnly: false);
            _state = next;
        }
    }

    /// <summary>
    /// Starts a rotation: makes <c>current + 1</c> available through the provider, re-seals the ledger under it and
    /// marks the old current version retiring. Returns the new version. When a rotation is already running, returns
    /// its version unchanged (resume).
    /// </summary>
    /// <exception cref="NotSupportedException">The provider cannot create the next version and it was not provisioned.</exception>
    public int BeginRotation()
    {
        lock (_lock)
        {
            if (_state.Retiring.Count > 0)
                return _state.Current;
            var next = _state.Clone();
            var version = _state.Current + 1;
            _keys.CreateVersion(OrganizationId, version);
            next.Retiring.Add(_state.Current);
            next.Current = version;
            Save(next, linkOnly: false);
            _state = next;
            return version;
        }
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
        lock (_lock)
        {
            if (_state.Current != version)
                return [];
            var retired = _state.Retiring.ToList();
            if (retired.Count > 0)
            {
                var next = _state.Clone();
                next.Retiring.Clear();
                Save(next, linkOnly: false);
                _state = next;
            }
            // Every version below the current one is unreferenced once no rotation runs (a crash between the save
            // above and the destruction below leaves a file that this removes on the next run).
            var leftToOperator = new List<int>();
            for (var v = 1; v < _state.Current; v++)
            {
                if (!_keys.HasVersion(OrganizationId, v))
                    continue;
                if (!_keys.DestroyVersion(OrganizationId, v))
                    leftToOperator.Add(v);
            }
            return leftToOperator;
        }
    }

    /// <summary>Appends one sealed line per new secret and fsyncs.</summary>
    private void Append(IReadOnlyList<KeyValuePair<string, byte[]>> added)
    {
        var master = _keys.GetMasterKey(OrganizationId, _state.Current);
        var text = new StringBuilder();
        foreach (var (id, secret) in added)
            text.Append(RecordLine(master, _state.Current, id, secret));
        using var stream = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read);
        stream.Write(Encoding.ASCII.GetBytes(text.ToString()));
        stream.Flush(flushToDisk: true);
    }

    private string RecordLine(byte[] master, int version, string mailboxId, byte[] secret)
    {
        var plain = JsonSerializer.SerializeToUtf8Bytes(new Record(mailboxId, secret), Json);
        try
        {
            return Convert.ToBase64String(Aead.Seal(master, plain, RecordContext(OrganizationId, version))) + "\n";
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }
    }

    private void Save(State state, bool linkOnly)
    {
        var master = _keys.GetMasterKey(OrganizationId, state.Current);
        var header = new State
        {
            Current = state.Current, Retiring = state.Retiring, OwnerHmac = state.OwnerHmac, OwnerSeal = state.OwnerSeal,
            Queue = state.Queue, Events = state.Events, Shredded = state.Shredded, Retired = state.Retired,
        };
        var plain = JsonSerializer.SerializeToUtf8Bytes(header, Json);
        var builder = new StringBuilder();
        try
        {
            builder.Append(Magic).Append(state.Current.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('\n')
                .Append(Convert.ToBase64String(Aead.Seal(master, plain, Context(OrganizationId, state.Current)))).Append('\n');
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }
        foreach (var (id, secret) in state.Mailboxes)
            builder.Append(RecordLine(master, state.Current, id, secret));
        var text = Encoding.ASCII.GetBytes(builder.ToString());
        var directory = Path.GetDirectoryName(_path)!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, "." + Path.GetFileName(_path) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(text);
                stream.Flush(flushToDisk: true);
            }
            if (linkOnly)
                Durability.TryLinkNoClobber(temp, _path);
            else
                File.Move(temp, _path, overwrite: true);
            Durability.FsyncDirectory(directory);
        }
        finally
        {
            File.Delete(temp);
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
