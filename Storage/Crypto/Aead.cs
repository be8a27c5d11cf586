using System.Security.Cryptography;
using System.Text;

namespace MailServer.Storage.Crypto;

/// <summary>
/// AES-256-GCM with a random 96-bit nonce and a 128-bit tag. A sealed box is laid out as
/// nonce (12) | tag (16) | ciphertext. Opening a box with a wrong key, wrong associated data or a
/// changed byte throws <see cref="CryptographicException"/> (AuthenticationTagMismatchException).
/// </summary>
internal static class Aead
{
    public const int KeySize = 32;
    public const int NonceSize = 12;
    public const int TagSize = 16;
    public const int Overhead = NonceSize + TagSize;

    public static byte[] Seal(ReadOnlySpan<byte> key, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        var box = new byte[Overhead + plaintext.Length];
        var nonce = box.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var gcm = new AesGcm(key, TagSize);
        gcm.Encrypt(nonce, plaintext, box.AsSpan(Overhead), box.AsSpan(NonceSize, TagSize), associatedData);
        return box;
    }

    /// <exception cref="CryptographicException">The box was not sealed with this key and associated data, or was altered.</exception>
    public static byte[] Open(ReadOnlySpan<byte> key, ReadOnlySpan<byte> box, ReadOnlySpan<byte> associatedData)
    {
        if (box.Length < Overhead)
            throw new CryptographicException("The sealed box is shorter than its nonce and tag.");
        var plaintext = new byte[box.Length - Overhead];
        using var gcm = new AesGcm(key, TagSize);
        gcm.Decrypt(box[..NonceSize], box[Overhead..], box.Slice(NonceSize, TagSize), plaintext, associatedData);
        return plaintext;
    }

    /// <summary>A fresh random 256-bit key in a pinned array (the GC never copies it around).</summary>
    public static byte[] NewKey()
    {
        var key = GC.AllocateArray<byte>(KeySize, pinned: true);
        RandomNumberGenerator.Fill(key);
        return key;
    }

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}

/// <summary>
/// The key hierarchy of docs/decisions.md, "Storage and encryption": organization master key → mailbox key → message key, each
/// wrap bound by associated data to where it belongs so a wrapped key cannot be moved to another mailbox or blob.
/// </summary>
internal static class KeyHierarchy
{
    /// <summary>The associated data of a mailbox key wrap: the organization URN plus the mailbox id.</summary>
    public static byte[] MailboxKeyContext(string organizationId, string mailboxId) =>
        Aead.Utf8($"urn:mailserver:organization/{organizationId}/mailbox/{mailboxId}");

    public static byte[] WrapMailboxKey(byte[] masterKey, string organizationId, string mailboxId, byte[] mailboxKey) =>
        Aead.Seal(masterKey, mailboxKey, MailboxKeyContext(organizationId, mailboxId));

    /// <exception cref="CryptographicException">Wrong master key, or the wrapped key was altered or moved.</exception>
    public static byte[] UnwrapMailboxKey(byte[] masterKey, string organizationId, string mailboxId, byte[] wrapped)
    {
        var plain = Aead.Open(masterKey, wrapped, MailboxKeyContext(organizationId, mailboxId));
        return Pin(plain);
    }

    /// <summary>
    /// The key that wraps a mailbox key in the ledger scheme: HKDF-SHA256 (RFC 5869) of a master key version
    /// salted with the mailbox's ledger secret. Without the secret (shredded) no copy of
    /// the wrapped key opens, whatever master key version one holds.
    /// </summary>
    public static byte[] MailboxWrapKey(byte[] masterKey, byte[] ledgerSecret, string mailboxId) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey, 32, salt: ledgerSecret, info: Aead.Utf8("mailserver mailbox wrap v2/" + mailboxId));

    /// <summary>The associated data of a ledger-scheme mailbox key wrap: the legacy context plus the master key version.</summary>
    public static byte[] MailboxKeyContext(string organizationId, string mailboxId, int version) =>
        Aead.Utf8($"urn:mailserver:organization/{organizationId}/mailbox/{mailboxId}/v{version}");

    public static byte[] WrapMailboxKey(byte[] masterKey, byte[] ledgerSecret, int version, string organizationId, string mailboxId, byte[] mailboxKey)
    {
        var wrapKey = MailboxWrapKey(masterKey, ledgerSecret, mailboxId);
        try { return Aead.Seal(wrapKey, mailboxKey, MailboxKeyContext(organizationId, mailboxId, version)); }
        finally { CryptographicOperations.ZeroMemory(wrapKey); }
    }

    /// <exception cref="CryptographicException">Wrong master key or secret, or the wrapped key was altered or moved.</exception>
    public static byte[] UnwrapMailboxKey(byte[] masterKey, byte[] ledgerSecret, int version, string organizationId, string mailboxId, byte[] wrapped)
    {
        var wrapKey = MailboxWrapKey(masterKey, ledgerSecret, mailboxId);
        try { return Pin(Aead.Open(wrapKey, wrapped, MailboxKeyContext(organizationId, mailboxId, version))); }
        finally { CryptographicOperations.ZeroMemory(wrapKey); }
    }

    public static byte[] MessageKeyContext(string mailboxId, string blobId) =>
        Aead.Utf8($"urn:mailserver:mailbox/{mailboxId}/blob/{blobId}");

    public static byte[] WrapMessageKey(byte[] mailboxKey, string mailboxId, string blobId, byte[] messageKey) =>
        Aead.Seal(mailboxKey, messageKey, MessageKeyContext(mailboxId, blobId));

    /// <exception cref="CryptographicException">Wrong mailbox key, or the wrapped key was altered or moved.</exception>
    public static byte[] UnwrapMessageKey(byte[] mailboxKey, string mailboxId, string blobId, byte[] wrapped) =>
        Pin(Aead.Open(mailboxKey, wrapped, MessageKeyContext(mailboxId, blobId)));

    /// <summary>The HMAC key for folder-name lookups, derived from the mailbox key (RFC 5869 HKDF-SHA256).</summary>
    public static byte[] FolderNameHmacKey(byte[] mailboxKey) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, mailboxKey, 32, salt: [], info: Aead.Utf8("mailserver folder-name hmac v1"));

    /// <summary>The key that seals a mailbox's search index segments (IMAP SEARCH BODY/TEXT), derived from the mailbox key
    /// (RFC 5869 HKDF-SHA256): destroying the mailbox key (shredding, the end of a key rotation) leaves every segment sealed
    /// under it unreadable.</summary>
    public static byte[] SearchIndexKey(byte[] mailboxKey, string mailboxId) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, mailboxKey, 32, salt: [], info: Aead.Utf8("mailserver search index v1/" + mailboxId));

    /// <summary>The HMAC key of a mailbox's import ledger (which messages an import stored), derived from the mailbox key.</summary>
    public static byte[] ImportHmacKey(byte[] ownerHmacKey) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, ownerHmacKey, 32, salt: [], info: Aead.Utf8("mailserver import ledger hmac v2"));

    /// <summary>The HMAC key for owner lookups, derived from the organization master key.</summary>
    public static byte[] OwnerHmacKey(byte[] masterKey) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey, 32, salt: [], info: Aead.Utf8("mailserver owner hmac v1"));

    /// <summary>The key that encrypts the owner address in the mailbox document, derived from the master key.</summary>
    public static byte[] OwnerSealKey(byte[] masterKey) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey, 32, salt: [], info: Aead.Utf8("mailserver owner seal v1"));

    /// <summary>The key that wraps the message keys of the organization's outbound queue, derived from the master key.</summary>
    public static byte[] QueueKey(byte[] masterKey) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey, 32, salt: [], info: Aead.Utf8("mailserver outbound queue v1"));

    public static string Hmac(byte[] key, string value) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(key, Aead.Utf8(value)));

    private static byte[] Pin(byte[] plain)
    {
        var pinned = GC.AllocateArray<byte>(plain.Length, pinned: true);
        plain.CopyTo(pinned, 0);
        CryptographicOperations.ZeroMemory(plain);
        return pinned;
    }
}

/// <summary>
/// AES-256-GCM sealed boxes for callers outside the store that keep secrets at rest (backups): a random 96-bit
/// nonce, a 128-bit tag, laid out nonce | tag | ciphertext, bound to associated data.
/// </summary>
public static class SealedBox
{
    /// <summary>Seals <paramref name="plaintext"/> under a 32-byte <paramref name="key"/>.</summary>
    public static byte[] Seal(ReadOnlySpan<byte> key, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData) => Aead.Seal(key, plaintext, associatedData);

    /// <summary>Opens a box made by <see cref="Seal"/>.</summary>
    /// <exception cref="CryptographicException">Wrong key or associated data, or the box was altered.</exception>
    public static byte[] Open(ReadOnlySpan<byte> key, ReadOnlySpan<byte> box, ReadOnlySpan<byte> associatedData) => Aead.Open(key, box, associatedData);

    /// <summary>UTF-8 bytes of an associated-data string.</summary>
    public static byte[] Utf8(string text) => Aead.Utf8(text);
}
