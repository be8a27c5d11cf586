using MailServer.Protocols.Admission;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using MailServer.Protocols.Tls;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// The limits an SMTP listener enforces. Server fills it from the config's Limits section;
/// defaults are those of docs/decisions.md, "Limits" ("MB" is MiB) and Postfix's for input caps.
/// </summary>
public sealed record SmtpLimits
{
    /// <summary>Largest message accepted, as MIME bytes on the wire (advertised as SIZE).</summary>
    public long MaxMessageBytes { get; init; } = 40L * 1024 * 1024;

    /// <summary>Envelope recipients per transaction (RFC 5321 §4.5.3.1.8 asks for at least 100).</summary>
    public int MaxRecipients { get; init; } = 500;

    /// <summary>Longest command line, CRLF included; Postfix's line_length_limit.</summary>
    public int MaxCommandLineBytes { get; init; } = 2048;

    /// <summary>Largest header section of a message, before MimeKit parses anything.</summary>
    public int MaxHeaderSectionBytes { get; init; } = 100 * 1024;

    /// <summary>Deepest MIME nesting accepted.</summary>
    public int MaxMimeDepth { get; init; } = 100;

    /// <summary>Most MIME parts in one message.</summary>
    public int MaxMimeParts { get; init; } = 1000;

    /// <summary>Most attachments in one message.</summary>
    public int MaxAttachments { get; init; } = 500;

    /// <summary>Recipients outside the organization one user may address per UTC day (§17).</summary>
    public int ExternalRecipientsPerUserPerDay { get; init; } = 10_000;

    /// <summary>
    /// Message bytes held in memory at once, server-wide (<see cref="BytesInFlight"/>): a message read from its spool
    /// for the mail flow waits for room; a DATA begun while it is used up is answered 452 4.3.1.
    /// </summary>
    public long MaxBytesInFlight { get; init; } = 256L * 1024 * 1024;

    /// <summary>
    /// How long a received message waits for room in <see cref="MaxBytesInFlight"/> before it is answered 452 4.3.1
    /// (the client waits 10 minutes for the reply to its final dot, RFC 5321 §4.5.3.2.6).
    /// </summary>
    public TimeSpan BytesInFlightWait { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Concurrent connections from one IP address.</summary>
    public int MaxConnectionsPerIp { get; init; } = 50;

    /// <summary>Idle time before a session is closed.</summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromMinutes(5);
}

/// <summary>One SMTP endpoint to listen on.</summary>
public sealed record SmtpEndpointOptions(SmtpListenerKind Kind, IPAddress Address, int Port);

/// <summary>What the SMTP listener needs from the configuration.</summary>
public sealed record SmtpListenerOptions(
    string ServerName,
    IReadOnlyList<SmtpEndpointOptions> Endpoints,
    ServerCertificateProvider Certificates,
    bool AllowPlaintextAuth,
    SmtpLimits Limits)
{
    /// <summary>
    /// Where a DATA section bigger than <see cref="SpooledData.MemoryThreshold"/> is kept while its transaction runs
    /// (an encrypted temporary file per message, removed when the transaction ends). The server uses
    /// <c>&lt;DataDirectory&gt;/tmp/smtp-spool</c> and sweeps it at start; the default is a folder in the system's
    /// temporary directory, which nothing sweeps.
    /// </summary>
    public string SpoolDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "mailserver-smtp-spool");
}
