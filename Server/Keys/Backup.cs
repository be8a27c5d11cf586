using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MailServer.Server.Configuration;
using MailServer.Server.Hosting;
using MailServer.Storage;
using MailServer.Storage.Crypto;

namespace MailServer.Server.Keys;

/// <summary>What one backup run did.</summary>
public sealed record BackupReport(string Directory, string Snapshot, long Mailboxes, long Messages, long Queued, long FilesCopied, long FilesReused,
    long BytesCopied, long TotalBytes, double Seconds, double WriterPausedMilliseconds, bool KeysIncluded, DateTimeOffset CommitPoint);

/// <summary>What a restore did, and the reindex that checked it.</summary>
public sealed record RestoreReport(string DataDirectory, long Messages, long FilesRestored, IReadOnlyList<string> KeysWritten, IReadOnlyList<string> Notes);

/// <summary>What <c>mailserver backup verify</c> found.</summary>
public sealed record BackupVerifyReport(string Snapshot, DateTimeOffset TakenAt, long FilesChecked, long FilesMissing, long FilesDamaged, VerifyReport Messages);

/// <summary>The manifest of a backup folder, written last (atomically): a folder without one holds no finished backup.</summary>
internal sealed record BackupManifest(
    int Format,
    string Snapshot,
    DateTimeOffset TakenAt,
    long Mailboxes,
    long Messages,
    long Queued,
    IReadOnlyList<string> Blobs,
    IReadOnlyList<string> HeldBlobs,
    IReadOnlyList<string> FlowBlobs,
    IReadOnlyDictionary<string, string> Files,
    IReadOnlyList<BackupKeyWrap> FileKeyWraps,
    bool KeysIncluded);

/// <summary>The backup's file key wrapped under one organization's master key version.</summary>
internal sealed record BackupKeyWrap(string Organization, int Version, string Wrapped);

/// <summary>The key material of a backup made with <c>--include-keys</c>, sealed under a passphrase.</summary>
internal sealed record BackupKeys(string FileKey, IReadOnlyList<BackupMasterKey> MasterKeys, IReadOnlyDictionary<string, string> Ledgers);

internal sealed record BackupMasterKey(string Organization, int Version, string Key);

/// <summary>
/// Online backup and restore. A backup folder holds
/// <list type="bullet">
/// <item><c>snapshots/&lt;id&gt;/mail.db</c>: the database copied at a commit point (<see cref="MailStore.BeginBackupAsync"/>);
/// messages, folder names, owners and summaries in it are encrypted as in the live store;</item>
/// <item><c>blobs/</c>, <c>blobs.held/</c>, <c>blobs.messageflow/</c>: the encrypted message files it refers to, copied
/// once (a message file never changes, so an incremental run copies only new ones and drops those no snapshot needs);</item>
/// <item><c>files/&lt;sha256&gt;</c>: the configuration file and the data folder's other files (DKIM keys, TLS, event and
/// audit logs), each AES-256-GCM sealed under the backup's file key and named by the hash of its content (unchanged files are not copied again);</item>
/// <item><c>keys.sealed</c> with <c>--include-keys</c>: every master key version and key ledger, sealed under a key
/// derived from a passphrase (PBKDF2-SHA256, 600,000 iterations);</item>
/// <item><c>manifest.json</c>, written last: the snapshot, the files, and the file key wrapped under each
/// organization's current master key version.</item>
/// </list>
/// Master keys and key ledgers are never in a backup without <c>--include-keys</c>.
/// </summary>
public static class Backup
{
    private const int Format = 1;
    private const int PassphraseIterations = 600_000;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>Runs a backup of the store into <paramref name="target"/> (created when missing).</summary>
    /// <param name="store">The open store (the running server's, or the CLI's on a stopped server).</param>
    /// <param name="config">The configuration in force.</param>
    /// <param name="configPath">The configuration file, backed up sealed.</param>
    /// <param name="keys">The master keys that wrap the backup's file key.</param>
    /// <param name="target">The backup folder, outside the data folder.</param>
    /// <param name="passphrase">With it, the master keys and ledgers are included, sealed under it.</param>
    /// <param name="cancellationToken">Stops the run; the folder's previous backup stays intact.</param>
    /// <exception cref="IOException">A file could not be read or written; the previous backup in the folder is intact.</exception>
    public static async Task<BackupReport> RunAsync(MailStore store, ServerConfig config, string configPath, IMasterKeyProvider keys,
        string target, string? passphrase, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(config);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        target = Path.GetFullPath(target);
        var data = Path.GetFullPath(config.DataDirectory);
        if (IsInside(target, data) || IsInside(data, target))
            throw new ArgumentException($"the backup folder {target} must be outside the data folder {data}");
        Directory.CreateDirectory(target);
        var previous = ReadManifest(target);
        var snapshotId = DateTimeOffset.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        var snapshotDirectory = Path.Combine(target, "snapshots", snapshotId);
        var takenAt = DateTimeOffset.UtcNow;

        long copied = 0, reused = 0, bytes = 0, total = 0;
        SnapshotContents contents;
        TimeSpan paused;
        DateTimeOffset commitPoint;
        using (var session = await store.BeginBackupAsync(snapshotDirectory, cancellationToken).ConfigureAwait(false))
        {
            paused = session.WriterPaused;
            commitPoint = session.CommitPoint;
            contents = MailStore.ReadSnapshot(Path.Combine(snapshotDirectory, "mail.db"));
            total += new FileInfo(Path.Combine(snapshotDirectory, "mail.db")).Length;
            var roots = store.BlobRoots;
            foreach (var (ids, source, name) in new[] { (contents.Blobs, roots.Blobs, "blobs"), (contents.HeldBlobs, roots.Held, "blobs.held"), (contents.FlowBlobs, roots.MessageFlow, "blobs.messageflow") })
            {
                foreach (var id in ids)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var from = Path.Combine(source, id[..2], id);
                    var to = Path.Combine(target, name, id[..2], id);
                    var length = new FileInfo(from).Length;
                    total += length;
                    if (File.Exists(to) && new FileInfo(to).Length == length)
                    {
                        reused++;
                        continue;
                    }
                    Directory.CreateDirectory(Path.GetDirectoryName(to)!);
                    File.Copy(from, to + ".tmp", overwrite: true);
                    File.Move(to + ".tmp", to, overwrite: true);
                    copied++;
                    bytes += length;
                }
            }
        }

        // The file key: the previous backup's when the current keys still open it (content-named files stay valid).
        var fileKey = previous is not null ? TryOpenFileKey(previous, keys) : null;
        var sameKey = fileKey is not null;
        fileKey ??= RandomNumberGenerator.GetBytes(32);
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, path) in FilesToBackUp(config, configPath))
        {
            var plain = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
            var hash = Convert.ToHexStringLower(SHA256.HashData(plain));
            files[name] = hash;
            total += plain.Length;
            var sealedPath = Path.Combine(target, "files", hash);
            if (sameKey && File.Exists(sealedPath) && previous!.Files.Values.Contains(hash))
            {
                reused++;
                continue;
            }
            Directory.CreateDirectory(Path.GetDirectoryName(sealedPath)!);
            await File.WriteAllBytesAsync(sealedPath + ".tmp", SealedBox.Seal(fileKey, plain, FileContext(hash)), cancellationToken).ConfigureAwait(false);
            File.Move(sealedPath + ".tmp", sealedPath, overwrite: true);
            copied++;
            bytes += plain.Length;
        }

        var wraps = new List<BackupKeyWrap>();
        foreach (var org in config.Organizations)
        {
            var version = store.Ledger(org.Id).CurrentVersion;
            wraps.Add(new BackupKeyWrap(org.Id, version,
                Convert.ToBase64String(SealedBox.Seal(keys.GetMasterKey(org.Id, version), fileKey, WrapContext(org.Id, version)))));
        }
        var keysPath = Path.Combine(target, "keys.sealed");
        if (passphrase is not null)
        {
            var material = new BackupKeys(Convert.ToBase64String(fileKey),
                config.Organizations.SelectMany(o => Enumerable.Range(1, store.Ledger(o.Id).CurrentVersion)
                    .Where(v => keys.HasVersion(o.Id, v))
                    .Select(v => new BackupMasterKey(o.Id, v, Convert.ToBase64String(keys.GetMasterKey(o.Id, v))))).ToList(),
                config.Organizations.Where(o => File.Exists(KeyLedger.PathFor(data, o.Id)))
                    .ToDictionary(o => o.Id, o => File.ReadAllText(KeyLedger.PathFor(data, o.Id)), StringComparer.Ordinal));
            var plain = JsonSerializer.SerializeToUtf8Bytes(material, Json);
            var salt = RandomNumberGenerator.GetBytes(16);
            var key = Rfc2898DeriveBytes.Pbkdf2(passphrase, salt, PassphraseIterations, HashAlgorithmName.SHA256, 32);
            var sealedKeys = SealedBox.Seal(key, plain, SealedBox.Utf8("urn:mailserver:backup-keys"));
            CryptographicOperations.ZeroMemory(plain);
            CryptographicOperations.ZeroMemory(key);
            await File.WriteAllTextAsync(keysPath + ".tmp", "MSBK 1 pbkdf2-sha256 " + PassphraseIterations + " " + Convert.ToBase64String(salt) + "\n" +
                Convert.ToBase64String(sealedKeys) + "\n", cancellationToken).ConfigureAwait(false);
            File.Move(keysPath + ".tmp", keysPath, overwrite: true);
        }
        else if (File.Exists(keysPath))
        {
            File.Delete(keysPath); // a run without --include-keys leaves no older key copy behind
        }

        var manifest = new BackupManifest(Format, snapshotId, takenAt, contents.Mailboxes, contents.Messages, contents.Queued,
            [.. contents.Blobs.Order(StringComparer.Ordinal)], [.. contents.HeldBlobs.Order(StringComparer.Ordinal)], [.. contents.FlowBlobs.Order(StringComparer.Ordinal)],
            files, wraps, passphrase is not null);
        CryptographicOperations.ZeroMemory(fileKey);
        SyncAll();
        var manifestPath = Path.Combine(target, "manifest.json");
        await File.WriteAllBytesAsync(manifestPath + ".tmp", JsonSerializer.SerializeToUtf8Bytes(manifest, Json), cancellationToken).ConfigureAwait(false);
        File.Move(manifestPath + ".tmp", manifestPath, overwrite: true);
        SyncAll();

        // The manifest names the new snapshot: what only older ones needed goes.
        Prune(target, manifest);
        return new BackupReport(target, snapshotId, contents.Mailboxes, contents.Messages, contents.Queued, copied, reused, bytes, total,
            System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, paused.TotalMilliseconds, passphrase is not null, commitPoint);
    }

    /// <summary>
    /// Restores the backup in <paramref name="source"/> into the configuration's data folder, which must be empty
    /// (or hold only <c>keys/</c>). Master keys come from the configured providers, or with <paramref name="passphrase"/>
    /// from the backup's <c>keys.sealed</c> (written only where nothing is). The configuration file is restored beside
    /// <paramref name="configPath"/> as <c>.restored</c> when one is already there.
    /// </summary>
    /// <exception cref="InvalidOperationException">The data folder is not empty, or the backup is unusable; nothing was written.</exception>
    public static async Task<RestoreReport> RestoreAsync(ServerConfig config, string configPath, string source, string? passphrase, CancellationToken cancellationToken)
    {
        source = Path.GetFullPath(source);
        var manifest = ReadManifest(source) ?? throw new InvalidOperationException($"{source} holds no finished backup (no manifest.json)");
        var data = Path.GetFullPath(config.DataDirectory);
        if (Directory.Exists(data) && Directory.EnumerateFileSystemEntries(data).Any(e => Path.GetFileName(e) != "keys"))
            throw new InvalidOperationException($"the data folder {data} is not empty: restore only into an empty folder (keys/ may be there)");
        var notes = new List<string>();
        var keysWritten = new List<string>();
        IMasterKeyProvider keys = new ConfiguredMasterKeys(() => config, createMissing: false);
        byte[]? fileKey = null;
        if (passphrase is not null)
        {
            var material = OpenBackupKeys(source, passphrase);
            fileKey = Convert.FromBase64String(material.FileKey);
            foreach (var k in material.MasterKeys)
            {
                var org = config.Organizations.FirstOrDefault(o => o.Id == k.Organization);
                if (org is null)
                    continue;
                if (org.MasterKeySource.Provider != MasterKeyProviderKind.File)
                {
                    notes.Add($"master key version {k.Version} of {org.Alias} is in the backup, but {org.Alias} reads its key from {org.MasterKeySource.Provider}: provide it there");
                    continue;
                }
                var path = FileMasterKeyProvider.VersionPath(org.MasterKeyPath, k.Version);
                if (File.Exists(path))
                    continue;
                WriteSecretFile(path, Convert.FromBase64String(k.Key));
                keysWritten.Add(path);
            }
            foreach (var (orgId, text) in material.Ledgers)
            {
                var path = KeyLedger.PathFor(data, orgId);
                if (File.Exists(path))
                    continue;
                WriteSecretFile(path, Encoding.ASCII.GetBytes(text));
                keysWritten.Add(path);
            }
        }
        fileKey ??= TryOpenFileKey(manifest, keys)
                    ?? throw new InvalidOperationException("no configured master key opens this backup: put the keys in place (keys/ and the key ledgers) or restore with --include-keys' passphrase");
        var snapshot = Path.Combine(source, "snapshots", manifest.Snapshot, "mail.db");
        Directory.CreateDirectory(data);
        long restored = 0;
        File.Copy(snapshot, Path.Combine(data, "mail.db"));
        foreach (var (ids, name) in new[] { (manifest.Blobs, "blobs"), (manifest.HeldBlobs, "blobs.held"), (manifest.FlowBlobs, "blobs.messageflow") })
            foreach (var id in ids)
            {
                var to = Path.Combine(data, name, id[..2], id);
                Directory.CreateDirectory(Path.GetDirectoryName(to)!);
                File.Copy(Path.Combine(source, name, id[..2], id), to);
                restored++;
            }
        foreach (var (name, hash) in manifest.Files)
        {
            var sealedFile = await File.ReadAllBytesAsync(Path.Combine(source, "files", hash), cancellationToken).ConfigureAwait(false);
            var plain = SealedBox.Open(fileKey, sealedFile, FileContext(hash));
            string to;
            if (name == ConfigEntry)
            {
                to = File.Exists(configPath) ? configPath + ".restored" : configPath;
                if (to != configPath)
                    notes.Add($"the configuration from the backup is in {to} (the existing {configPath} was kept)");
            }
            else
            {
                to = Path.Combine(data, name);
            }
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            if (name.StartsWith("dkim/", StringComparison.Ordinal) || name.StartsWith("tls/", StringComparison.Ordinal) || name == ConfigEntry)
                WriteSecretFile(to, plain);
            else
                await File.WriteAllBytesAsync(to, plain, cancellationToken).ConfigureAwait(false);
            restored++;
        }
        CryptographicOperations.ZeroMemory(fileKey);
        SyncAll();
        return new RestoreReport(data, manifest.Messages, restored, keysWritten, notes);
    }

    /// <summary>
    /// Checks a backup: every file the manifest names is there and (sealed ones) opens and matches its hash; then the
    /// snapshot's messages (a sample, or all) are decrypted from the backup's message files with the configured keys
    /// and ledgers, or with the backup's own keys when <paramref name="passphrase"/> is given.
    /// </summary>
    /// <exception cref="InvalidOperationException">The folder holds no finished backup, or no key opens it.</exception>
    public static async Task<BackupVerifyReport> VerifyAsync(ServerConfig config, string source, string? passphrase, int? sample, CancellationToken cancellationToken)
    {
        source = Path.GetFullPath(source);
        var manifest = ReadManifest(source) ?? throw new InvalidOperationException($"{source} holds no finished backup (no manifest.json)");
        IMasterKeyProvider keys = new ConfiguredMasterKeys(() => config, createMissing: false);
        var ledgers = config.Organizations.Where(o => File.Exists(KeyLedger.PathFor(config.DataDirectory, o.Id)))
            .ToDictionary(o => o.Id, o => File.ReadAllBytes(KeyLedger.PathFor(config.DataDirectory, o.Id)), StringComparer.Ordinal);
        byte[]? fileKey;
        if (passphrase is not null)
        {
            var material = OpenBackupKeys(source, passphrase);
            fileKey = Convert.FromBase64String(material.FileKey);
            keys = new BackupKeyProvider(material.MasterKeys.ToDictionary(k => (k.Organization, k.Version), k => Convert.FromBase64String(k.Key)));
            ledgers = material.Ledgers.ToDictionary(p => p.Key, p => Encoding.ASCII.GetBytes(p.Value), StringComparer.Ordinal);
        }
        else
        {
            fileKey = TryOpenFileKey(manifest, keys);
        }
        long checkedFiles = 0, missing = 0, damaged = 0;
        foreach (var (ids, name) in new[] { (manifest.Blobs, "blobs"), (manifest.HeldBlobs, "blobs.held"), (manifest.FlowBlobs, "blobs.messageflow") })
            foreach (var id in ids)
            {
                checkedFiles++;
                if (!File.Exists(Path.Combine(source, name, id[..2], id)))
                    missing++;
            }
        foreach (var hash in manifest.Files.Values.Distinct())
        {
            checkedFiles++;
            var path = Path.Combine(source, "files", hash);
            if (!File.Exists(path))
            {
                missing++;
                continue;
            }
            if (fileKey is null)
                continue;
            try
            {
                var sealedFile = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
                var plain = SealedBox.Open(fileKey, sealedFile, FileContext(hash));
                if (Convert.ToHexStringLower(SHA256.HashData(plain)) != hash)
                    damaged++;
            }
            catch (CryptographicException)
            {
                damaged++;
            }
        }
        if (fileKey is null)
            throw new InvalidOperationException("no configured master key opens this backup (rotated since? give --passphrase-stdin for a backup made with --include-keys)");

        // A scratch store over a copy of the snapshot, reading the backup's own message files.
        var scratch = Path.Combine(Path.GetTempPath(), "mailserver-verify-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(scratch);
        try
        {
            File.Copy(Path.Combine(source, "snapshots", manifest.Snapshot, "mail.db"), Path.Combine(scratch, "mail.db"));
            foreach (var name in new[] { "blobs", "blobs.held", "blobs.messageflow" })
                if (Directory.Exists(Path.Combine(source, name)))
                    Directory.CreateSymbolicLink(Path.Combine(scratch, name), Path.Combine(source, name));
            foreach (var (orgId, ledger) in ledgers)
            {
                var path = KeyLedger.PathFor(scratch, orgId);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await File.WriteAllBytesAsync(path, ledger, cancellationToken).ConfigureAwait(false);
            }
            await using var verifyStore = MailStore.Open(new MailStoreOptions { DataDirectory = scratch, MasterKeys = keys, MetadataCacheMessages = 0 });
            var messages = await verifyStore.VerifyAsync(sample, cancellationToken).ConfigureAwait(false);
            return new BackupVerifyReport(manifest.Snapshot, manifest.TakenAt, checkedFiles, missing, damaged, messages);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(fileKey);
            try { Directory.Delete(scratch, recursive: true); }
            catch (IOException) { /* a temporary folder */ }
        }
    }

    private const string ConfigEntry = "config/appsettings.json";

    /// <summary>The configuration file and the data folder's files, except the database, message files, keys, ledgers, runtime files and
    /// search index segments (derived data: the restore's reindex rebuilds them).</summary>
    private static IEnumerable<(string Name, string Path)> FilesToBackUp(ServerConfig config, string configPath)
    {
        if (File.Exists(configPath))
            yield return (ConfigEntry, configPath);
        var data = Path.GetFullPath(config.DataDirectory);
        var keyFiles = config.Organizations.SelectMany(o => Enumerable.Range(1, 64).Select(v => FileMasterKeyProvider.VersionPath(o.MasterKeyPath, v)))
            .ToHashSet(StringComparer.Ordinal);
        string[] skipped = ["mail.db", "mail-log.db", "mailserver.lock", "mailserver.pid", "admin.token", "keys", "blobs", "blobs.held", "blobs.messageflow", "search"];
        foreach (var file in Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(data, file).Replace(Path.DirectorySeparatorChar, '/');
            var first = relative.Split('/')[0];
            if (skipped.Contains(first) || keyFiles.Contains(Path.GetFullPath(file)) || Path.GetFileName(file).StartsWith('.'))
                continue;
            yield return (relative, file);
        }
    }

    private static void Prune(string target, BackupManifest manifest)
    {
        foreach (var directory in Directory.EnumerateDirectories(Path.Combine(target, "snapshots")))
            if (Path.GetFileName(directory) != manifest.Snapshot)
                Directory.Delete(directory, recursive: true);
        foreach (var (ids, name) in new[] { (manifest.Blobs, "blobs"), (manifest.HeldBlobs, "blobs.held"), (manifest.FlowBlobs, "blobs.messageflow") })
        {
            var root = Path.Combine(target, name);
            if (!Directory.Exists(root))
                continue;
            var keep = ids.ToHashSet(StringComparer.Ordinal);
            foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
                if (!keep.Contains(Path.GetFileName(file)))
                    File.Delete(file);
        }
        var files = Path.Combine(target, "files");
        if (Directory.Exists(files))
        {
            var keep = manifest.Files.Values.ToHashSet(StringComparer.Ordinal);
            foreach (var file in Directory.EnumerateFiles(files))
                if (!keep.Contains(Path.GetFileName(file)))
                    File.Delete(file);
        }
    }

    private static BackupManifest? ReadManifest(string directory)
    {
        var path = Path.Combine(directory, "manifest.json");
        if (!File.Exists(path))
            return null;
        var manifest = JsonSerializer.Deserialize<BackupManifest>(File.ReadAllBytes(path), Json)
                       ?? throw new InvalidOperationException($"{path} is empty");
        return manifest.Format == Format ? manifest : throw new InvalidOperationException($"{path} has format {manifest.Format}; this server reads {Format}");
    }

    private static byte[]? TryOpenFileKey(BackupManifest manifest, IMasterKeyProvider keys)
    {
        foreach (var wrap in manifest.FileKeyWraps)
        {
            try
            {
                return SealedBox.Open(keys.GetMasterKey(wrap.Organization, wrap.Version), Convert.FromBase64String(wrap.Wrapped), WrapContext(wrap.Organization, wrap.Version));
            }
            catch (Exception e) when (e is CryptographicException or KeyNotFoundException or IOException or InvalidDataException)
            {
                // Another organization's key may open it.
            }
        }
        return null;
    }

    private static BackupKeys OpenBackupKeys(string source, string passphrase)
    {
        var path = Path.Combine(source, "keys.sealed");
        if (!File.Exists(path))
            throw new InvalidOperationException("this backup was made without --include-keys: it holds no keys");
        var lines = File.ReadAllLines(path);
        var header = lines[0].Split(' ');
        if (lines.Length < 2 || header.Length != 5 || header[0] != "MSBK" || header[2] != "pbkdf2-sha256"
            || !int.TryParse(header[3], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var iterations))
            throw new InvalidOperationException($"{path} is not a sealed key file");
        byte[] salt;
        try { salt = Convert.FromBase64String(header[4]); }
        catch (FormatException) { throw new InvalidOperationException($"{path} is damaged"); }
        var key = Rfc2898DeriveBytes.Pbkdf2(passphrase, salt, iterations, HashAlgorithmName.SHA256, 32);
        try
        {
            var plain = SealedBox.Open(key, Convert.FromBase64String(lines[1]), SealedBox.Utf8("urn:mailserver:backup-keys"));
            return JsonSerializer.Deserialize<BackupKeys>(plain, Json) ?? throw new InvalidOperationException("keys.sealed is empty");
        }
        catch (CryptographicException)
        {
            throw new InvalidOperationException("the passphrase does not open keys.sealed");
        }
        catch (FormatException)
        {
            throw new InvalidOperationException($"{path} is damaged");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    private static void WriteSecretFile(string path, byte[] content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var stream = new FileStream(path, options);
        stream.Write(content);
        stream.Flush(flushToDisk: true);
    }

    private static bool IsInside(string path, string folder) =>
        (path + Path.DirectorySeparatorChar).StartsWith(folder.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    private static byte[] FileContext(string hash) => SealedBox.Utf8("urn:mailserver:backup-file/" + hash);

    private static byte[] WrapContext(string organizationId, int version) => SealedBox.Utf8($"urn:mailserver:backup/{organizationId}/v{version}");

    /// <summary>sync(2): every file copied so far reaches the disk before the manifest names them.</summary>
    private static void SyncAll()
    {
        if (!OperatingSystem.IsWindows())
            Sync();
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "sync")]
    private static extern void Sync();

    /// <summary>Master keys from a backup's keys.sealed, for verification only (never written anywhere).</summary>
    private sealed class BackupKeyProvider(Dictionary<(string, int), byte[]> keys) : IMasterKeyProvider
    {
        public byte[] GetMasterKey(string organizationId) => GetMasterKey(organizationId, 1);

        public byte[] GetMasterKey(string organizationId, int version) =>
            keys.TryGetValue((organizationId, version), out var key) ? key : throw new KeyNotFoundException($"The backup holds no master key version {version} of {organizationId}.");

        public bool HasVersion(string organizationId, int version) => keys.ContainsKey((organizationId, version));
    }
}
