using System.Security.Cryptography;
using System.Text;

namespace MailServer.Server.Configuration;

/// <summary>
/// WorkMail-shaped entity ids for users and groups: a UUID (<c>12345678-1234-1234-1234-123456789012</c>, the form
/// WorkMail's API returns and accepts, "Working with entity IDs" in the WorkMail API reference). An entry that has
/// an <c>Id</c> in the file keeps it; one without gets an id derived from its organization and address, so an id
/// is the same across restarts and servers. When the API changes an entry's address, it writes the derived id into
/// the entry first, so the id survives the rename.
/// </summary>
public static class EntityIds
{
    /// <summary>The derived id of the entry with <paramref name="email"/> in <paramref name="organizationId"/>.</summary>
    public static string Derive(string organizationId, string email)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"urn:mailserver:organization/{organizationId}/entity/{email.ToLowerInvariant()}"));
        // RFC 9562 §5.8 (UUIDv8, custom): version 8, variant 10.
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return Format(hash);
    }

    /// <summary>A fresh random id (RFC 9562 UUIDv4), for an entity the API creates.</summary>
    public static string New() => Guid.NewGuid().ToString("D");

    /// <summary>True for a UUID in its lower-case 8-4-4-4-12 form.</summary>
    public static bool IsWellFormed(string id) =>
        id.Length == 36 && Guid.TryParseExact(id, "D", out _) && id == id.ToLowerInvariant();

    private static string Format(byte[] bytes)
    {
        var hex = Convert.ToHexStringLower(bytes.AsSpan(0, 16));
        return $"{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..32]}";
    }
}
