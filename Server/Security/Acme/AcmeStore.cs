using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using MailServer.Server.Configuration;

namespace MailServer.Server.Security.Acme;

/// <summary>
/// What ACME leaves in <c>&lt;data&gt;/acme/</c>: the account key (<c>account.key</c>, mode 0600) and its URL at the
/// CA (<c>account.json</c>), and the issued chain (<c>cert.pem</c>, leaf first) with its key (<c>key.pem</c>, 0600).
/// A restart presents the stored certificate from the first handshake and renews only when it is due.
/// </summary>
public static class AcmeStore
{
    /// <summary>The folder under the data directory.</summary>
    public const string Folder = "acme";

    private sealed record AccountFile(string DirectoryUrl, string AccountUrl);

    /// <summary>The folder's path for <paramref name="dataDirectory"/>.</summary>
    public static string PathIn(string dataDirectory) => Path.Combine(dataDirectory, Folder);

    /// <summary>
    /// The stored certificate when it can be used for <paramref name="acme"/>: it covers every configured name and
    /// has not expired; null otherwise (none yet, damaged, other names, expired).
    /// </summary>
    public static X509Certificate2? LoadCertificate(string dataDirectory, AcmeConfig acme, DateTimeOffset now, out X509Certificate2Collection intermediates)
    {
        intermediates = [];
        var folder = PathIn(dataDirectory);
        var certPath = Path.Combine(folder, "cert.pem");
        var keyPath = Path.Combine(folder, "key.pem");
        if (!File.Exists(certPath) || !File.Exists(keyPath))
            return null;
        X509Certificate2 certificate;
        try
        {
            certificate = TlsCertificates.LoadPemPair(certPath, keyPath, out intermediates);
        }
        catch (CryptographicException)
        {
            return null; // a crash between the two writes: the next issuance replaces both
        }
        if (certificate.NotAfter.ToUniversalTime() <= now.UtcDateTime || !Covers(certificate, acme.Domains))
        {
            certificate.Dispose();
            return null;
        }
        return certificate;
    }

    /// <summary>When a certificate is renewed: two thirds into its lifetime (day 60 of Let's Encrypt's 90).</summary>
    public static DateTimeOffset RenewalTime(X509Certificate2 certificate)
    {
        var from = new DateTimeOffset(certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero);
        var until = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        return from + (until - from) * 2 / 3;
    }

    /// <summary>True when the certificate's DNS names include every one of <paramref name="domains"/>.</summary>
    public static bool Covers(X509Certificate2 certificate, IEnumerable<string> domains)
    {
        var san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        var names = san is null ? [] : san.EnumerateDnsNames().Select(n => n.ToLowerInvariant()).ToHashSet();
        return domains.All(names.Contains);
    }

    /// <summary>Writes a newly issued chain and its key (the key first; both replaced atomically, one at a time).</summary>
    /// <exception cref="IOException">The files cannot be written.</exception>
    public static void SaveCertificate(string dataDirectory, string pemChain, RSA key)
    {
        var folder = PathIn(dataDirectory);
        Directory.CreateDirectory(folder);
        TlsCertificates.WriteFile(Path.Combine(folder, "key.pem"), key.ExportPkcs8PrivateKeyPem(), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        TlsCertificates.WriteFile(Path.Combine(folder, "cert.pem"), pemChain,
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    /// <summary>The account key, created (P-256, mode 0600) when missing.</summary>
    /// <exception cref="IOException">The file cannot be read or written.</exception>
    /// <exception cref="CryptographicException">The file holds no usable key.</exception>
    public static ECDsa LoadOrCreateAccountKey(string dataDirectory)
    {
        var folder = PathIn(dataDirectory);
        var path = Path.Combine(folder, "account.key");
        var key = ECDsa.Create();
        if (File.Exists(path))
        {
            key.ImportFromPem(File.ReadAllText(path));
            return key;
        }
        key.GenerateKey(ECCurve.NamedCurves.nistP256);
        Directory.CreateDirectory(folder);
        TlsCertificates.WriteFile(path, key.ExportPkcs8PrivateKeyPem(), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return key;
    }

    /// <summary>The account URL registered at <paramref name="directoryUrl"/> with the stored key, or null.</summary>
    public static string? LoadAccountUrl(string dataDirectory, Uri directoryUrl)
    {
        var path = Path.Combine(PathIn(dataDirectory), "account.json");
        try
        {
            var account = JsonSerializer.Deserialize<AccountFile>(File.ReadAllText(path));
            return account is not null && account.DirectoryUrl == directoryUrl.ToString() ? account.AccountUrl : null;
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null; // none yet, or unreadable: newAccount finds the account bound to the key again
        }
    }

    /// <summary>Remembers the account URL for <paramref name="directoryUrl"/>.</summary>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public static void SaveAccountUrl(string dataDirectory, Uri directoryUrl, string accountUrl) =>
        TlsCertificates.WriteFile(Path.Combine(PathIn(dataDirectory), "account.json"),
            JsonSerializer.Serialize(new AccountFile(directoryUrl.ToString(), accountUrl)),
            UnixFileMode.UserRead | UnixFileMode.UserWrite);
}
