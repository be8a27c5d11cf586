using System.Security.Cryptography;

namespace MailServer.Storage.Crypto;

/// <summary>
/// An organization's 32-byte master key kept in a file of its own (decisions.md "Storage and encryption").
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

/// <summary>Gives the store the master key of an organization. The Server implements it from configuration.</summary>
public interface IMasterKeyProvider
{
    /// <summary>The 32-byte master key of <paramref name="organizationId"/>. The caller must not keep or log it.</summary>
    /// <exception cref="KeyNotFoundException">No key is configured for the organization.</exception>
    byte[] GetMasterKey(string organizationId);
}

/// <summary>
/// Master keys read from one key file per organization, loaded on first use and kept in memory for the
/// life of the process. The master key is immutable once mailboxes exist: replacing the file makes them unreadable.
/// </summary>
public sealed class FileMasterKeyProvider : IMasterKeyProvider
{
    private readonly IReadOnlyDictionary<string, string> _paths;
    private readonly bool _createMissing;
    private readonly Dictionary<string, byte[]> _keys = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <param name="keyFilesByOrganization">Organization id → key file path.</param>
    /// <param name="createMissing">Create a missing key file with a random key (first start).</param>
    public FileMasterKeyProvider(IReadOnlyDictionary<string, string> keyFilesByOrganization, bool createMissing = true)
    {
        ArgumentNullException.ThrowIfNull(keyFilesByOrganization);
        _paths = keyFilesByOrganization;
        _createMissing = createMissing;
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidDataException">The key file is not 32 bytes long.</exception>
    /// <exception cref="IOException">The key file could not be read or created.</exception>
    public byte[] GetMasterKey(string organizationId)
    {
        lock (_lock)
        {
            if (_keys.TryGetValue(organizationId, out var key))
                return key;
            if (!_paths.TryGetValue(organizationId, out var path))
                throw new KeyNotFoundException($"No master key file is configured for organization {organizationId}.");
            key = MasterKeyFile.Load(path, _createMissing);
            _keys[organizationId] = key;
            return key;
        }
    }
}
