using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MailServer.Protocols.Tls;
using MailServer.Server.Configuration;

namespace MailServer.Server.Security;

/// <summary>
/// The server certificate: the configured PEM pair, or a self-signed one generated once into
/// <c>&lt;data&gt;/tls/cert.pem</c> and <c>key.pem</c> (mode 0600) and reused on later starts (docs/decisions.md, "Listeners and TLS").
/// </summary>
public static class TlsCertificates
{
    /// <summary>Folder under the data directory holding the generated certificate.</summary>
    public const string GeneratedFolder = "tls";

    /// <summary>
    /// Loads the configured certificate, or the generated one, generating it when missing, unreadable or
    /// expiring within a day. The result carries its private key and works with SslStream on Linux.
    /// </summary>
    /// <param name="tls">The Tls section (absolute paths, as <see cref="ConfigLoader"/> resolves them).</param>
    /// <param name="dataDirectory">The resolved data directory.</param>
    /// <param name="serverName">Put in the subject and the subject alternative names of a generated certificate.</param>
    /// <param name="time">Clock for validity checks; default system time.</param>
    /// <exception cref="CryptographicException">The configured PEM files do not hold a matching certificate and key.</exception>
    /// <exception cref="IOException">The files cannot be read, or the generated files cannot be written.</exception>
    public static X509Certificate2 LoadOrCreate(TlsConfig tls, string dataDirectory, string serverName, TimeProvider? time = null)
    {
        // ACME: the certificate issued before, when it still covers the names; else the generated one until the
        // first issuance (AcmeCertificateService swaps it in).
        if (tls.Acme is not null
            && Acme.AcmeStore.LoadCertificate(dataDirectory, tls.Acme, (time ?? TimeProvider.System).GetUtcNow(), out var chain) is { } issued)
        {
            ServerTlsContexts.Prepare(issued, chain);
            return issued;
        }
        if (tls.CertificatePath is not null && tls.KeyPath is not null)
        {
            var configured = Usable(X509Certificate2.CreateFromPemFile(tls.CertificatePath, tls.KeyPath));
            // A full-chain file (fullchain.pem) also holds the intermediates: every handshake must send them, or
            // clients that do not fetch missing intermediates refuse the certificate.
            ServerTlsContexts.Prepare(configured, Intermediates(tls.CertificatePath, configured));
            return configured;
        }

        var now = (time ?? TimeProvider.System).GetUtcNow();
        var folder = Path.Combine(dataDirectory, GeneratedFolder);
        var certPath = Path.Combine(folder, "cert.pem");
        var keyPath = Path.Combine(folder, "key.pem");
        if (File.Exists(certPath) && File.Exists(keyPath))
        {
            try
            {
                var existing = Usable(X509Certificate2.CreateFromPemFile(certPath, keyPath));
                if (existing.NotAfter.ToUniversalTime() > now.UtcDateTime.AddDays(1))
                    return existing;
                existing.Dispose();
            }
            catch (CryptographicException)
            {
                // A damaged pair (say, a crash between the two writes): generate a new one below.
            }
        }
        return Generate(folder, certPath, keyPath, serverName, now);
    }

    /// <summary>
    /// The certificate's SHA-256 fingerprint as colon-separated upper-case hex pairs, the form browsers, mail
    /// clients and <c>openssl x509 -fingerprint -sha256</c> show.
    /// </summary>
    public static string Sha256Fingerprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return string.Join(':', certificate.GetCertHash(HashAlgorithmName.SHA256).Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>True for a certificate that signed itself (the generated one, or a configured self-signed one).</summary>
    public static bool IsSelfSigned(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData);
    }

    private static X509Certificate2 Generate(string folder, string certPath, string keyPath, string serverName, DateTimeOffset now)
    {
        Directory.CreateDirectory(folder);
        // RSA 2048 rather than ECDSA: older mail clients still negotiate only RSA certificates.
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={serverName}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(serverName);
        if (!string.Equals(serverName, "localhost", StringComparison.OrdinalIgnoreCase))
            san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        san.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(1));

        WriteFile(keyPath, key.ExportPkcs8PrivateKeyPem(), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        WriteFile(certPath, certificate.ExportCertificatePem(),
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return Usable(X509Certificate2.CreateFromPemFile(certPath, keyPath));
    }

    /// <summary>
    /// Loads a PEM certificate (the first of a full chain) with its key, usable by SslStream, and the rest of the
    /// chain as <paramref name="intermediates"/>.
    /// </summary>
    /// <exception cref="CryptographicException">The files do not hold a matching certificate and key.</exception>
    /// <exception cref="IOException">The files cannot be read.</exception>
    public static X509Certificate2 LoadPemPair(string certificatePath, string keyPath, out X509Certificate2Collection intermediates)
    {
        var certificate = Usable(X509Certificate2.CreateFromPemFile(certificatePath, keyPath));
        intermediates = Intermediates(certificatePath, certificate);
        return certificate;
    }

    /// <summary>The certificates of a PEM file other than <paramref name="leaf"/>, in file order.</summary>
    private static X509Certificate2Collection Intermediates(string certificatePath, X509Certificate2 leaf)
    {
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(certificatePath);
        var intermediates = new X509Certificate2Collection();
        foreach (var certificate in all)
        {
            if (certificate.Thumbprint == leaf.Thumbprint)
                certificate.Dispose();
            else
                intermediates.Add(certificate);
        }
        return intermediates;
    }

    /// <summary>Re-imports through PKCS#12 so the private key is a persisted handle SslStream accepts on every platform.</summary>
    private static X509Certificate2 Usable(X509Certificate2 pem)
    {
        using (pem)
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Writes <paramref name="text"/> to a temporary file with <paramref name="mode"/>, flushed, then moves it over <paramref name="path"/>.</summary>
    /// <exception cref="IOException">The file cannot be written.</exception>
    internal static void WriteFile(string path, string text, UnixFileMode mode)
    {
        var temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = mode;
        using (var stream = new FileStream(temp, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(text);
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(temp, mode); // FileMode.Create on an existing temp keeps its old mode
        File.Move(temp, path, overwrite: true);
    }
}
