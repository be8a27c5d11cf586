using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace MailServer.Tests.Support;

/// <summary>A throwaway self-signed ECDSA server certificate for TLS tests (localhost, 127.0.0.1, ::1).</summary>
public static class TestCertificates
{
    private static readonly Lazy<X509Certificate2> Shared = new(Create);

    /// <summary>One certificate per test run; clients in tests accept it explicitly.</summary>
    public static X509Certificate2 Localhost => Shared.Value;

    /// <summary>A certificate provider presenting <see cref="Localhost"/>, for listener options.</summary>
    public static MailServer.Protocols.Tls.ServerCertificateProvider Provider => new(Localhost);

    private static X509Certificate2 Create()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var ephemeral = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Round-trip through PKCS#12 so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
    }
}
