using System.Net;
using System.Net.Sockets;

namespace MailServer.Rules.Dns;

/// <summary>How a DNS query ended (RFC 1035 §4.1.1 RCODE, folded to what callers act on).</summary>
public enum DnsResultCode
{
    /// <summary>RCODE 0: the name exists; the answer may still hold no record of the type asked.</summary>
    NoError,
    /// <summary>RCODE 3 (NXDOMAIN): the name does not exist.</summary>
    NameError,
    /// <summary>SERVFAIL, REFUSED, a timeout or a network error: try again later (SPF temperror, SMTP 4xx).</summary>
    ServerFailure,
}

/// <summary>The records of one type a query returned, with how it ended.</summary>
public sealed record DnsAnswer<T>(DnsResultCode Code, IReadOnlyList<T> Records)
{
    /// <summary>The query could not be answered now; the result says nothing about the name.</summary>
    public bool IsTemporaryFailure => Code == DnsResultCode.ServerFailure;

    /// <summary>A "void lookup" in the sense of RFC 7208 §4.6.4: NXDOMAIN, or no error with no answer.</summary>
    public bool IsVoid => Code == DnsResultCode.NameError || (Code == DnsResultCode.NoError && Records.Count == 0);

    /// <summary>
    /// The resolver set the AD bit (RFC 4035 §3.2.3): it validated the answer with DNSSEC. Only meaningful from a
    /// validating resolver the server trusts (on the same machine); DANE acts only on such answers (RFC 7672 §2.1).
    /// </summary>
    public bool Authenticated { get; init; }

    /// <summary>An answer of this kind with no records.</summary>
    public static DnsAnswer<T> Empty(DnsResultCode code) => new(code, []);
}

/// <summary>A TLSA record (RFC 6698 §2.1): how a TLS server's certificate is to be matched.</summary>
/// <param name="Usage">0–3: PKIX-TA, PKIX-EE, DANE-TA, DANE-EE (SMTP uses 2 and 3, RFC 7672 §3.1).</param>
/// <param name="Selector">0: the whole certificate, 1: its SubjectPublicKeyInfo.</param>
/// <param name="MatchingType">0: exact, 1: SHA-256, 2: SHA-512.</param>
/// <param name="Data">The certificate association data.</param>
public sealed record TlsaRecord(byte Usage, byte Selector, byte MatchingType, byte[] Data);

/// <summary>An MX record: lower <see cref="Preference"/> is tried first (RFC 5321 §5.1).</summary>
public sealed record MxRecord(int Preference, string Exchange);

/// <summary>
/// The one DNS resolver of the server (SPF, DKIM keys, DMARC policies, MX lookup for remote delivery).
/// Implementations cache answers for their TTL and never throw for DNS-level failures: those come back
/// as <see cref="DnsResultCode.ServerFailure"/>. Names are given and returned without a trailing dot.
/// </summary>
public interface IDnsResolver
{
    /// <summary>TXT records of <paramref name="name"/>; each record's character-strings are concatenated (RFC 7208 §3.3).</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    Task<DnsAnswer<string>> LookupTxtAsync(string name, CancellationToken cancellationToken);

    /// <summary>MX records of <paramref name="name"/>, ordered by preference.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    Task<DnsAnswer<MxRecord>> LookupMxAsync(string name, CancellationToken cancellationToken);

    /// <summary>A records (<see cref="AddressFamily.InterNetwork"/>) or AAAA records (<see cref="AddressFamily.InterNetworkV6"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="family"/> is neither IPv4 nor IPv6.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    Task<DnsAnswer<IPAddress>> LookupAddressesAsync(string name, AddressFamily family, CancellationToken cancellationToken);

    /// <summary>PTR names of <paramref name="address"/> (in-addr.arpa / ip6.arpa).</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    Task<DnsAnswer<string>> LookupPtrAsync(IPAddress address, CancellationToken cancellationToken);

    /// <summary>
    /// TLSA records of <paramref name="name"/> (<c>_25._tcp.mx.example.com</c>), asked with the DO bit so a validating
    /// resolver reports <see cref="DnsAnswer{T}.Authenticated"/>. A resolver without TLSA support answers none.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    Task<DnsAnswer<TlsaRecord>> LookupTlsaAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(DnsAnswer<TlsaRecord>.Empty(DnsResultCode.NoError));
}
