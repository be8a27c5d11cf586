using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace MailServer.Server.Security;

/// <summary>
/// Password hashes in PHC string format, PBKDF2-HMAC-SHA256:
/// <c>$pbkdf2-sha256$i=600000,l=32$&lt;salt&gt;$&lt;hash&gt;</c>, salt and hash in standard base64 without padding
/// (PHC string format specification, "B64"). 600,000 iterations is OWASP's 2023 figure for PBKDF2-SHA256.
/// </summary>
/// <remarks>
/// Verifying costs a full PBKDF2 run, so successful verifications are remembered for a short time in memory.
/// The cache key is an HMAC-SHA256, under a random per-process key, of the stored hash and the password:
/// neither the password nor anything that can be tested offline without that key is kept. A changed hash
/// changes the key, so an old password stops working at once. Failures are never cached.
/// Thread-safe.
/// </remarks>
public sealed class PasswordHasher
{
    /// <summary>Iterations used for new hashes.</summary>
    public const int DefaultIterations = 600_000;

    private const string Prefix = "$pbkdf2-sha256$";
    private const int SaltBytes = 16;
    private const int HashBytes = 32;
    private const int MaxCacheEntries = 10_000;

    private readonly byte[] _cacheKey = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _verified = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly TimeSpan _cacheLifetime;

    /// <summary>A hasher whose successful verifications are remembered for <paramref name="cacheLifetime"/> (default 5 minutes).</summary>
    public PasswordHasher(TimeProvider? time = null, TimeSpan? cacheLifetime = null)
    {
        _time = time ?? TimeProvider.System;
        _cacheLifetime = cacheLifetime ?? TimeSpan.FromMinutes(5);
    }

    /// <summary>Hashes <paramref name="password"/> with a fresh random salt.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="iterations"/> is below 1,000.</exception>
    public static string Hash(string password, int iterations = DefaultIterations)
    {
        ArgumentNullException.ThrowIfNull(password);
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1000);
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, HashBytes);
        return string.Create(CultureInfo.InvariantCulture, $"{Prefix}i={iterations},l={HashBytes}${B64(salt)}${B64(hash)}");
    }

    /// <summary>True when <paramref name="phc"/> is a hash this class can verify.</summary>
    public static bool IsSupportedHash(string phc) => TryParse(phc, out _, out _, out _);

    /// <summary>Checks a password against a stored hash, in constant time for the comparison; uses the cache.</summary>
    /// <returns>False for a wrong password or an unsupported or malformed hash.</returns>
    public bool Verify(string password, string? phc)
    {
        if (phc is null || !TryParse(phc, out var iterations, out var salt, out var expected))
            return false;
        var key = CacheKey(password, phc);
        var now = _time.GetUtcNow();
        if (_verified.TryGetValue(key, out var until) && until > now)
            return true;
        if (!Check(password, iterations, salt, expected))
            return false;
        if (_verified.Count >= MaxCacheEntries)
            Prune(now);
        _verified[key] = now + _cacheLifetime;
        return true;
    }

    /// <summary>Checks a password against a stored hash without the cache.</summary>
    public static bool VerifyUncached(string password, string? phc) =>
        phc is not null && TryParse(phc, out var iterations, out var salt, out var expected) && Check(password, iterations, salt, expected);

    private static bool Check(string password, int iterations, byte[] salt, byte[] expected)
    {
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    private string CacheKey(string password, string phc)
    {
        var phcBytes = Encoding.UTF8.GetBytes(phc);
        var pwBytes = Encoding.UTF8.GetBytes(password);
        var input = new byte[4 + phcBytes.Length + pwBytes.Length];
        // Length-prefix the hash so (hash, password) pairs cannot collide by shifting bytes between them.
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(input, phcBytes.Length);
        phcBytes.CopyTo(input, 4);
        pwBytes.CopyTo(input, 4 + phcBytes.Length);
        var mac = HMACSHA256.HashData(_cacheKey, input);
        CryptographicOperations.ZeroMemory(input);
        CryptographicOperations.ZeroMemory(pwBytes);
        return Convert.ToBase64String(mac);
    }

    private void Prune(DateTimeOffset now)
    {
        foreach (var (key, until) in _verified)
            if (until <= now)
                _verified.TryRemove(key, out _);
        if (_verified.Count >= MaxCacheEntries)
            _verified.Clear();
    }

    private static bool TryParse(string phc, out int iterations, out byte[] salt, out byte[] hash)
    {
        iterations = 0;
        salt = hash = [];
        if (!phc.StartsWith(Prefix, StringComparison.Ordinal))
            return false;
        var parts = phc[Prefix.Length..].Split('$');
        if (parts.Length != 3)
            return false;
        int length = HashBytes;
        var sawIterations = false;
        foreach (var parameter in parts[0].Split(','))
        {
            var eq = parameter.IndexOf('=');
            if (eq <= 0 || !int.TryParse(parameter.AsSpan(eq + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var value))
                return false;
            switch (parameter[..eq])
            {
                case "i": iterations = value; sawIterations = true; break;
                case "l": length = value; break;
                default: return false;
            }
        }
        if (!sawIterations || iterations is < 1000 or > 100_000_000 || length is < 16 or > 64)
            return false;
        if (!TryB64(parts[1], out salt) || salt.Length < 8 || !TryB64(parts[2], out hash) || hash.Length != length)
            return false;
        return true;
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=');

    private static bool TryB64(string text, out byte[] bytes)
    {
        bytes = [];
        if (text.Length == 0 || text.Length % 4 == 1 || text.Contains('='))
            return false;
        var padded = text + new string('=', (4 - text.Length % 4) % 4);
        var buffer = new byte[padded.Length];
        if (!Convert.TryFromBase64String(padded, buffer, out var written))
            return false;
        bytes = buffer[..written];
        return true;
    }
}
