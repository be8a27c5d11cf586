using System.Security.Cryptography.X509Certificates;

namespace MailServer.Server.Reports;

/// <summary>The HTTP client of TLS-RPT's https: destinations (RFC 8460 §5.4): system-trusted certificates, no redirects.</summary>
public static class ReportHttp
{
    /// <summary>A client for report POSTs (the caller bounds each request's time).</summary>
    /// <param name="trustedRoots">Null (the server): the system's CA certificates. Otherwise the only roots trusted, for
    /// a test's collector whose certificate comes from a test CA.</param>
    public static HttpClient Create(X509Certificate2Collection? trustedRoots = null)
    {
        var handler = new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        if (trustedRoots is not null)
        {
            var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            policy.CustomTrustStore.AddRange(trustedRoots);
            handler.SslOptions.CertificateChainPolicy = policy;
        }
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(120) };
    }
}
