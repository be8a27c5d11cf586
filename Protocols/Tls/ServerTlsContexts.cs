using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;

namespace MailServer.Protocols.Tls;

/// <summary>
/// One <see cref="SslStreamCertificateContext"/> per server certificate, shared by every SMTP and IMAP handshake.
/// Given a bare certificate, <see cref="SslStream"/> builds the chain again on each handshake (a walk over the
/// system trust store, most of a STARTTLS's server CPU); a reused context builds it once and lets OpenSSL resume
/// TLS sessions. A reloaded certificate is a new object and gets its own context; the old one goes with it.
/// </summary>
public static class ServerTlsContexts
{
    private static readonly ConditionalWeakTable<X509Certificate, SslStreamCertificateContext> Contexts = new();

    /// <summary>
    /// Builds the context of <paramref name="certificate"/> now, sending <paramref name="intermediates"/> after it in
    /// every handshake (the rest of a full-chain file); replaces a context built before.
    /// </summary>
    /// <exception cref="ArgumentException">The certificate has no private key.</exception>
    public static void Prepare(X509Certificate2 certificate, X509Certificate2Collection intermediates)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(intermediates);
        if (!certificate.HasPrivateKey)
            throw new ArgumentException("A server certificate needs its private key.", nameof(certificate));
        Contexts.AddOrUpdate(certificate, SslStreamCertificateContext.Create(certificate, intermediates, offline: true));
    }

    /// <summary>The context for <paramref name="certificate"/>, built on first use unless prepared.</summary>
    /// <exception cref="ArgumentException">The certificate is not an <see cref="X509Certificate2"/> with a private key.</exception>
    public static SslStreamCertificateContext For(X509Certificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Contexts.GetValue(certificate, static c =>
        {
            if (c is not X509Certificate2 { HasPrivateKey: true } withKey)
                throw new ArgumentException("A server certificate needs its private key.", nameof(certificate));
            // offline: intermediates come from the certificate file or the local stores, never fetched over the network.
            return SslStreamCertificateContext.Create(withKey, additionalCertificates: null, offline: true);
        });
    }
}
