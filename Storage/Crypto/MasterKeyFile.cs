using System.Security.Cryptography;

namespace MailServer.Storage.Crypto;

/// <summary>
/// An organization's 32-byte master key kept in a file of its own (docs/decisions.md, "Storage and encryption").
/// The key never goes to the database or a log; a missing file can be created with mode 0600.
/// </summary>
public static class MasterKeyFile
{
    /// <summary>The length of a master key in bytes (AES-256).</summary>
    public const int KeyLength = 32;

    /// <summary>
    /// Reads the key in <paramref name="path"/>. When the file does not exist and
    /// <paramref name="createIfMissing"/> is true, writes a fresh random key (mode 0600, fsync'd) first.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file is missing and <paramref name="createIfMissing"/> is false.</exception>
    /// <exception cref="InvalidDataException">The file does not hold exactly 32 bytes.</exception>
    /// <exception cref="IOException">The file could not be read or written.</exception>
    public static byte[] Load(string path, bool createIfMissing)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            if (!createIfMissing)
                throw new FileNotFoundException($"The master key file {path} does not exist.", path);
            TryCreate(path);
        }

        var key = File.ReadAllBytes(path);
        if (key.Length != KeyLength)
        {
            CryptographicOperations.ZeroMemory(key);
            throw new InvalidDataException($"The master key file {path} must hold exactly {KeyLength} bytes.");
        }
        return key;
    }

    /// <summary>
    /// Overwrites the key file with zeros (fsync'd), then deletes it and fsyncs its directory. On a
    /// copy-on-write or flash file system the old blocks may survive the overwrite; the deletion is what counts.
    /// </summary>
    /// <exception cref="IOException">The file could not be overwritten or deleted.</exception>
    public static void Destroy(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            return;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.None))
        {
            stream.Write(new byte[Math.Max(KeyLength, stream.Length)]);
            stream.Flush(flushToDisk: true);
        }
        File.Delete(path);
        Durability.FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>
    /// Creates the file with a random key unless another thread or process won the race. The key is written
    /// and fsync'd under a unique temporary name, then linked into place with link(2), which refuses to
    /// overwrite: a reader never sees a half-written key, and the first creator's key is the one everybody uses.
    /// </summary>
    private static void TryCreate(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var key = RandomNumberGenerator.GetBytes(KeyLength);
        try
        {
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(key);
                stream.Flush(flushToDisk: true);
            }
            // Another creator may have linked its key first: then theirs is the key.
            if (Durability.TryLinkNoClobber(temp, path))
                Durability.FsyncDirectory(directory);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            File.Delete(temp);
        }
    }
}

/// <summary>
/// Gives the store the master keys of an organization. A master key has versions 1, 2, ...: version 1 is the
/// key an organization started with; <c>mailserver keys rotate</c> adds the next one and, once nothing refers
/// to the old one any more, destroys it. The Server implements it from configuration (a file, an environment
/// variable or a systemd credential per organization).
/// </summary>
public interface IMasterKeyProvider
{
    /// <summary>The 32-byte master key version 1 of <paramref name="organizationId"/>. The caller must not keep or log it.</summary>
    /// <exception cref="KeyNotFoundException">No key is configured for the organization.</exception>
    byte[] GetMasterKey(string organizationId);

    /// <summary>The 32-byte master key <paramref name="version"/> of <paramref name="organizationId"/>.</summary>
    /// <exception cref="KeyNotFoundException">That version is not available (never created, destroyed, or not provisioned).</exception>
    byte[] GetMasterKey(string organizationId, int version) =>
        version == 1 ? GetMasterKey(organizationId) : throw new KeyNotFoundException($"Master key version {version} of organization {organizationId} is not available.");

    /// <summary>True when version <paramref name="version"/> can be read now.</summary>
    bool HasVersion(string organizationId, int version)
    {
        try
        {
            var key = GetMasterKey(organizationId, version);
            return key.Length == MasterKeyFile.KeyLength;
        }
        catch (Exception e) when (e is KeyNotFoundException or FileNotFoundException or InvalidDataException or IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Makes version <paramref name="version"/> available: a provider that can create keys writes a fresh random
    /// one; one that cannot (environment, systemd credential) succeeds only when the operator provisioned it.
    /// </summary>
    /// <exception cref="NotSupportedException">The provider cannot create keys and the version was not provisioned; the message says what to provide.</exception>
    void CreateVersion(string organizationId, int version)
    {
        if (!HasVersion(organizationId, version))
            throw new NotSupportedException($"Master key version {version} of organization {organizationId} cannot be created by this provider.");
    }

    /// <summary>
    /// Destroys version <paramref name="version"/> when the provider can (a file is overwritten and deleted);
    /// returns false when the operator has to remove it (an environment variable, a credential).
    /// </summary>
    bool DestroyVersion(string organizationId, int version) => false;

    /// <summary>Where version <paramref name="version"/> lives, for operators (a path, a variable name), never the key.</summary>
    string Describe(string organizationId, int version) => $"organization {organizationId} version {version}";
}

/// <summary>
/// Master keys read from one key file per organization, loaded on first use and kept in memory for the
/// life of the process. Version 1 is the configured file (<c>keys/example.key</c>); version N is the same name
/// with <c>.vN</c> before the extension (<c>keys/example.v2.key</c>).
/// </summary>
public sealed class FileMasterKeyProvider : IMasterKeyProvider
{
    private readonly IReadOnlyDictionary<string, string> _paths;
    private readonly bool _createMissing;
    private readonly Dictionary<(string, int), byte[]> _keys = new();
    private readonly Lock _lock = new();

    /// <param name="keyFilesByOrganization">Organization id → key file path of version 1.</param>
    /// <param name="createMissing">Create a missing version-1 key file with a random key (first start).</param>
    public FileMasterKeyProvider(IReadOnlyDictionary<string, string> keyFilesByOrganization, bool createMissing = true)
    {
        ArgumentNullException.ThrowIfNull(keyFilesByOrganization);
        _paths = keyFilesByOrganization;
        _createMissing = createMissing;
    }

    /// <summary>The file of <paramref name="version"/> given the file of version 1.</summary>
    public static string VersionPath(string versionOnePath, int version)
    {
        if (version == 1)
            return versionOnePath;
        var extension = Path.GetExtension(versionOnePath);
        return Path.Combine(Path.GetDirectoryName(versionOnePath) ?? "",
            Path.GetFileNameWithoutExtension(versionOnePath) + ".v" + version.ToString(System.Globalization.CultureInfo.InvariantCulture) + extension);
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidDataException">The key file is not 32 bytes long.</exception>
    /// <exception cref="IOException">The key file could not be read or created.</exception>
    public byte[] GetMasterKey(string organizationId) => GetMasterKey(organizationId, 1);

    /// <inheritdoc/>
    /// <exception cref="InvalidDataException">The key file is not 32 bytes long.</exception>
    /// <exception cref="IOException">The key file could not be read or created.</exception>
    public byte[] GetMasterKey(string organizationId, int version)
    {
        lock (_lock)
        {
            if (_keys.TryGetValue((organizationId, version), out var key))
                return key;
            var path = PathOf(organizationId, version);
            if (version != 1 && !File.Exists(path))
                throw new KeyNotFoundException($"Master key version {version} of organization {organizationId} ({path}) does not exist.");
            key = MasterKeyFile.Load(path, _createMissing && version == 1);
            _keys[(organizationId, version)] = key;
            return key;
        }
    }

    /// <inheritdoc/>
    public bool HasVersion(string organizationId, int version)
    {
        lock (_lock)
            if (_keys.ContainsKey((organizationId, version)))
                return true;
        return _paths.TryGetValue(organizationId, out var first) && File.Exists(VersionPath(first, version));
    }

    /// <inheritdoc/>
    public void CreateVersion(string organizationId, int version)
    {
        var path = PathOf(organizationId, version);
        MasterKeyFile.Load(path, createIfMissing: true);
    }

    /// <inheritdoc/>
    public bool DestroyVersion(string organizationId, int version)
    {
        var path = PathOf(organizationId, version);
        lock (_lock)
        {
            if (_keys.Remove((organizationId, version), out var cached))
                CryptographicOperations.ZeroMemory(cached);
        }
        MasterKeyFile.Destroy(path);
        return true;
    }

    /// <inheritdoc/>
    public string Describe(string organizationId, int version) => PathOf(organizationId, version);

    private string PathOf(string organizationId, int version) =>
        _paths.TryGetValue(organizationId, out var path)
            ? VersionPath(path, version)
            : throw new KeyNotFoundException($"No master key file is configured for organization {organizationId}.");
}
