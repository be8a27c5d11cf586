using System.Net;
using MailServer.Protocols.Tls;

namespace MailServer.Protocols.Imap;

/// <summary>Which kind of IMAP port an endpoint is.</summary>
public enum ImapEndpointKind
{
    /// <summary>Plain IMAP with STARTTLS (RFC 9051 §6.2.1); default port 2143 here.</summary>
    Imap,
    /// <summary>Implicit TLS (RFC 8314 §3.3); default port 2993 here.</summary>
    Imaps,
}

/// <summary>One listening socket.</summary>
public sealed record ImapEndpointOptions(ImapEndpointKind Kind, IPAddress Address, int Port);

/// <summary>Bounds on sessions.</summary>
/// <param name="MaxConnectionsPerAddress">Open connections one remote address may hold.</param>
/// <param name="IdleTimeout">Inactivity after which a session is closed: at least 30 minutes (RFC 9051 §5.4).</param>
/// <param name="MaxMessageBytes">The largest APPEND accepted, advertised as APPENDLIMIT (RFC 7889).</param>
/// <param name="MaxFailedLoginsPerConnection">Failed logins after which the connection is closed.</param>
/// <param name="TlsHandshakeTimeout">Time a client has to finish the TLS handshake.</param>
/// <param name="StreamedFetchBytes">Messages of at least this size answer FETCH BODYSTRUCTURE, BODY[part] and BINARY
/// from a structure scanned off the stored stream (the body read by range, never held whole); smaller ones are read
/// whole, which costs less for them. 1 MiB when not given.</param>
public sealed record ImapLimits(
    int MaxConnectionsPerAddress = 20,
    TimeSpan? IdleTimeout = null,
    long MaxMessageBytes = 40L * 1024 * 1024,
    int MaxFailedLoginsPerConnection = 6,
    TimeSpan? TlsHandshakeTimeout = null,
    long StreamedFetchBytes = 1024 * 1024)
{
    /// <summary>The idle timeout in force (30 minutes when not given).</summary>
    public TimeSpan EffectiveIdleTimeout => IdleTimeout ?? TimeSpan.FromMinutes(30);

    /// <summary>The TLS handshake timeout in force (30 seconds when not given).</summary>
    public TimeSpan EffectiveTlsHandshakeTimeout => TlsHandshakeTimeout ?? TimeSpan.FromSeconds(30);
}

/// <summary>What the IMAP listener needs from the configuration.</summary>
/// <param name="ServerName">Host name shown in the greeting.</param>
/// <param name="Endpoints">The sockets to listen on.</param>
/// <param name="Certificates">The TLS certificate, asked on every handshake (the same provider SMTP and HTTPS use).</param>
/// <param name="AllowPlaintextAuth">When false, LOGIN and AUTHENTICATE are refused before TLS (LOGINDISABLED, RFC 9051 §6.2.3).</param>
/// <param name="Limits">Session bounds.</param>
public sealed record ImapListenerOptions(
    string ServerName,
    IReadOnlyList<ImapEndpointOptions> Endpoints,
    ServerCertificateProvider Certificates,
    bool AllowPlaintextAuth,
    ImapLimits Limits)
{
    /// <summary>Checks the options.</summary>
    /// <exception cref="ArgumentException">No endpoint, no server name, a certificate without a private key, or limits out of range.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ServerName))
            throw new ArgumentException("The IMAP listener needs a server name.");
        if (Endpoints.Count == 0)
            throw new ArgumentException("The IMAP listener needs at least one endpoint.");
        if (!Certificates.Certificate.HasPrivateKey)
            throw new ArgumentException("The TLS certificate has no private key.");
        if (Limits.MaxConnectionsPerAddress < 1 || Limits.MaxMessageBytes < 1 || Limits.MaxFailedLoginsPerConnection < 1)
            throw new ArgumentException("IMAP limits must be positive.");
        if (Limits.EffectiveIdleTimeout <= TimeSpan.Zero || Limits.EffectiveTlsHandshakeTimeout <= TimeSpan.Zero)
            throw new ArgumentException("IMAP timeouts must be positive.");
    }
}
