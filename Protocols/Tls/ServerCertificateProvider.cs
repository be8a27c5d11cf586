using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace MailServer.Protocols.Tls;

/// <summary>
/// The one server certificate every listener (SMTP, submission, IMAP, HTTPS) asks for on each TLS handshake.
/// <see cref="Swap"/> replaces it in place (a renewed ACME certificate): the next handshake on any listener presents
/// the new certificate, sessions already encrypted keep the one they negotiated, and nothing restarts.
/// </summary>
public sealed class ServerCertificateProvider
{
    private sealed record Entry(X509Certificate2 Certificate, SslStreamCertificateContext Context);

    private volatile Entry _current;

    /// <summary>Starts with <paramref name="certificate"/> (its context prepared before, or built now).</summary>
    /// <exception cref="ArgumentException">The certificate has no private key.</exception>
    public ServerCertificateProvider(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        _current = new Entry(certificate, ServerTlsContexts.For(certificate));
    }

    /// <summary>The certificate presented now.</summary>
    public X509Certificate2 Certificate => _current.Certificate;

    /// <summary>The context to give <see cref="SslServerAuthenticationOptions.ServerCertificateContext"/> for a handshake starting now.</summary>
    public SslStreamCertificateContext Context => _current.Context;

    /// <summary>Raised after <see cref="Swap"/> with the new certificate.</summary>
    public event Action<X509Certificate2>? Changed;

    /// <summary>
    /// Presents <paramref name="certificate"/> from the next handshake on, with <paramref name="intermediates"/>
    /// sent after it. The previous certificate is not disposed: handshakes in flight may still use it.
    /// </summary>
    /// <exception cref="ArgumentException">The certificate has no private key.</exception>
    public void Swap(X509Certificate2 certificate, X509Certificate2Collection intermediates)
    {
        ServerTlsContexts.Prepare(certificate, intermediates);
        _current = new Entry(certificate, ServerTlsContexts.For(certificate));
        Changed?.Invoke(certificate);
    }
}
