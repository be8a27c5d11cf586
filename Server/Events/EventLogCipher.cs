using System.Security.Cryptography;
using System.Text;
using MailServer.Server.Configuration;
using MailServer.Storage.Crypto;

namespace MailServer.Server.Events;

/// <summary>
/// Seals email event log lines at rest. An event names a message's sender, recipients, subject and Message-ID,
/// which docs/decisions.md, "Storage and encryption", keeps encrypted on disk, so each line is AES-256-GCM sealed under
/// a key derived from the organization's master key (HKDF-SHA256, its own purpose string: the master key itself
/// never encrypts data), with the organization id as associated data, and stored as one base64 line:
/// nonce (12) ‖ ciphertext ‖ tag (16). <c>mailserver events query</c> opens them with the same key.
/// </summary>
public static class EventLogCipher
{
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private static readonly byte[] Purpose = "urn:mailserver:email-event-log:v1"u8.ToArray();

    /// <summary>The event log key of an organization.</summary>
    public static byte[] KeyFor(byte[] masterKey, string organizationId)
    {
        ArgumentNullException.ThrowIfNull(masterKey);
        return HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey, 32, Encoding.UTF8.GetBytes(organizationId), Purpose);
    }

    /// <summary>
    /// The event log key of <paramref name="org"/>: from its key ledger when there is one (the key survives master
    /// key rotations there; on PostgreSQL the ledger in the key database), else derived from master key version 1 (the
    /// same value the ledger will hold).
    /// </summary>
    /// <exception cref="IOException">No key could be read (or, with <paramref name="create"/>, created).</exception>
    public static byte[] KeyFor(ServerConfig config, OrganizationConfig org, bool create)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(org);
        var keys = new Hosting.ConfiguredMasterKeys(() => config, createMissing: create);
        // The ledger is a file beside the master keys (LiteDB) or a row set in the key database every node shares.
        var ledgerKey = config.Storage.Engine == StorageEngine.PostgreSql
            ? Storage.PostgreSql.PostgreSqlKeyLedgers.EventLogKeyOf(config.Storage.KeyLedgerConnectionString!, org.Id, keys)
            : KeyLedger.TryOpen(KeyLedger.PathFor(config.DataDirectory, org.Id), org.Id, keys)?.EventLogKey;
        if (ledgerKey is not null)
            return ledgerKey;
        if (!create && !keys.HasVersion(org.Id, 1))
            throw new FileNotFoundException($"No master key for organization {org.Alias}.");
        return KeyFor(keys.GetMasterKey(org.Id, 1), org.Id);
    }

    /// <summary>
    /// Each configured organization's event log key (<see cref="KeyFor(ServerConfig, OrganizationConfig, bool)"/>,
    /// never creating a key); an organization whose key cannot be read is left out.
    /// </summary>
    public static Func<string, byte[]?> KeysFrom(ServerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var keys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var org in config.Organizations)
        {
            try
            {
                keys[org.Id] = KeyFor(config, org, create: false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or CryptographicException or KeyNotFoundException)
            {
                // No key file (nothing was ever written for this organization) or not readable by this user.
            }
        }
        return id => keys.GetValueOrDefault(id);
    }

    /// <summary>Seals one JSON line.</summary>
    public static byte[] Seal(byte[] key, string organizationId, ReadOnlySpan<byte> json)
    {
        var box = new byte[NonceSize + json.Length + TagSize];
        var nonce = box.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, json, box.AsSpan(NonceSize, json.Length), box.AsSpan(NonceSize + json.Length), Encoding.UTF8.GetBytes(organizationId));
        return Encoding.ASCII.GetBytes(Convert.ToBase64String(box));
    }

    /// <summary>Opens one stored line; null when it is not a sealed line of this organization (damaged, cut, other key).</summary>
    public static string? Open(byte[] key, string organizationId, string line)
    {
        try
        {
            var box = Convert.FromBase64String(line);
            if (box.Length < NonceSize + TagSize)
                return null;
            var plain = new byte[box.Length - NonceSize - TagSize];
            using var aes = new AesGcm(key, TagSize);
            aes.Decrypt(box.AsSpan(0, NonceSize), box.AsSpan(NonceSize, plain.Length), box.AsSpan(NonceSize + plain.Length), plain,
                Encoding.UTF8.GetBytes(organizationId));
            return Encoding.UTF8.GetString(plain);
        }
        catch (Exception e) when (e is FormatException or CryptographicException)
        {
            return null;
        }
    }
}
