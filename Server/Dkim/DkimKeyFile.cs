using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.OpenSsl;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace MailServer.Server.Dkim;

/// <summary>
/// One DKIM signing key on disk: <c>&lt;DataDirectory&gt;/dkim/&lt;domain&gt;/&lt;selector&gt;.key</c>, a PKCS#8 PEM
/// private key (RSA 2048 or Ed25519), mode 0600. The selector is the file name; the algorithm is the key's type.
/// </summary>
public sealed record DkimKeyFile(string Domain, string Selector, string Path, DkimSignatureAlgorithm Algorithm, AsymmetricKeyParameter PrivateKey)
{
    /// <summary>RSA modulus size generated (RFC 8301 §3.2: at least 1024, 2048 recommended).</summary>
    public const int RsaBits = 2048;

    /// <summary>The key folder of a domain.</summary>
    public static string FolderOf(string dataDirectory, string domain) =>
        System.IO.Path.Combine(dataDirectory, "dkim", domain.ToLowerInvariant());

    /// <summary>The <c>p=</c> value to publish: SubjectPublicKeyInfo for RSA (RFC 6376 §3.6.1), the raw 32 bytes for Ed25519 (RFC 8463 §4.2).</summary>
    public string PublicKeyBase64 => Convert.ToBase64String(Algorithm == DkimSignatureAlgorithm.Ed25519Sha256
        ? ((Ed25519PrivateKeyParameters)PrivateKey).GeneratePublicKey().GetEncoded()
        : SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(PublicOf(PrivateKey)).GetDerEncoded());

    /// <summary>The TXT record text for <c>&lt;selector&gt;._domainkey.&lt;domain&gt;</c>.</summary>
    public string DnsRecordText => $"v=DKIM1; k={(Algorithm == DkimSignatureAlgorithm.Ed25519Sha256 ? "ed25519" : "rsa")}; p={PublicKeyBase64}";

    /// <summary>Generates a key and writes it with mode 0600 (never overwriting an existing file).</summary>
    /// <exception cref="IOException">The file exists already, or could not be written.</exception>
    /// <exception cref="ArgumentException">The domain or selector is not a DNS label sequence.</exception>
    public static DkimKeyFile Generate(string dataDirectory, string domain, string selector, DkimSignatureAlgorithm algorithm)
    {
        if (!IsDnsName(domain) || !IsDnsName(selector))
            throw new ArgumentException("The domain and selector must be DNS names (letters, digits, hyphens, dots).");
        var random = new SecureRandom();
        AsymmetricKeyParameter privateKey;
        if (algorithm == DkimSignatureAlgorithm.Ed25519Sha256)
        {
            privateKey = new Ed25519PrivateKeyParameters(random);
        }
        else
        {
            var generator = new RsaKeyPairGenerator();
            generator.Init(new KeyGenerationParameters(random, RsaBits));
            privateKey = generator.GenerateKeyPair().Private;
        }
        var folder = FolderOf(dataDirectory, domain);
        Directory.CreateDirectory(folder);
        var path = System.IO.Path.Combine(folder, selector + ".key");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(path, options))
        using (var writer = new StreamWriter(stream))
        {
            new PemWriter(writer).WriteObject(new Org.BouncyCastle.Utilities.IO.Pem.PemObject("PRIVATE KEY",
                PrivateKeyInfoFactory.CreatePrivateKeyInfo(privateKey).GetDerEncoded()));
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }
        return new DkimKeyFile(domain.ToLowerInvariant(), selector, path, algorithm, privateKey);
    }

    /// <summary>Reads a key file written by <see cref="Generate"/> (or any PKCS#8 / traditional RSA PEM key).</summary>
    /// <exception cref="IOException">The file could not be read.</exception>
    /// <exception cref="InvalidDataException">The file holds no RSA or Ed25519 private key.</exception>
    public static DkimKeyFile Load(string domain, string path)
    {
        using var reader = new StreamReader(path);
        var pem = new PemReader(reader).ReadObject();
        var key = pem switch
        {
            AsymmetricCipherKeyPair pair => pair.Private,
            AsymmetricKeyParameter { IsPrivate: true } k => k,
            _ => throw new InvalidDataException($"{path} holds no private key."),
        };
        var algorithm = key switch
        {
            RsaKeyParameters => DkimSignatureAlgorithm.RsaSha256,
            Ed25519PrivateKeyParameters => DkimSignatureAlgorithm.Ed25519Sha256,
            _ => throw new InvalidDataException($"{path} holds neither an RSA nor an Ed25519 key."),
        };
        return new DkimKeyFile(domain.ToLowerInvariant(), System.IO.Path.GetFileNameWithoutExtension(path), path, algorithm, key);
    }

    /// <summary>Every key of a domain, RSA first (RFC 8463 §3: sign with both while verifiers adopt Ed25519).</summary>
    /// <exception cref="IOException">A key file could not be read.</exception>
    /// <exception cref="InvalidDataException">A key file holds no usable key.</exception>
    public static IReadOnlyList<DkimKeyFile> LoadAll(string dataDirectory, string domain)
    {
        var folder = FolderOf(dataDirectory, domain);
        if (!Directory.Exists(folder))
            return [];
        return Directory.GetFiles(folder, "*.key")
            .Order(StringComparer.Ordinal)
            .Select(path => Load(domain, path))
            .OrderBy(k => k.Algorithm == DkimSignatureAlgorithm.RsaSha256 ? 0 : 1)
            .ToList();
    }

    private static AsymmetricKeyParameter PublicOf(AsymmetricKeyParameter key) => key switch
    {
        RsaPrivateCrtKeyParameters rsa => new RsaKeyParameters(false, rsa.Modulus, rsa.PublicExponent),
        _ => throw new InvalidDataException("Not an RSA private key with CRT parameters."),
    };

    private static bool IsDnsName(string name) =>
        !string.IsNullOrEmpty(name) && name.Length <= 253
        && name.Split('.').All(l => l.Length is > 0 and <= 63 && l.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') && l[0] != '-' && l[^1] != '-');
}
