namespace MailServer.Server.Reports;

/// <summary>The HTTP client of TLS-RPT's https: destinations (RFC 8460 §5.4): system-trusted certificates, no redirects.</summary>
public static class ReportHttp
{
    /// <summary>A client for report POSTs (the caller bounds each request's time).</summary>
    public static HttpClient Create() => new(new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        Timeout = TimeSpan.FromSeconds(120),
    };
}
