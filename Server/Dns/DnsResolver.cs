using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;
using MailServer.Rules.Dns;
using MailServer.Server.Configuration;
using MailServer.Server.Logging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MxRecord = MailServer.Rules.Dns.MxRecord;

namespace MailServer.Server.Dns;

/// <summary>
/// The server's one DNS resolver, on DnsClient. Answers are cached for their TTL (capped at an hour), queries go
/// over UDP with TCP fallback on truncation, and a DNS failure of any kind comes back as
/// <see cref="DnsResultCode.ServerFailure"/> rather than an exception.
/// </summary>
/// <remarks>
/// Negative answers (NXDOMAIN, and NOERROR with no record of the type asked) are cached as RFC 2308 §5 says: for the
/// SOA record's TTL or its MINIMUM field, whichever is less, and only when the answer carries that SOA record
/// ("negative responses without SOA records SHOULD NOT be cached"). Most mail comes from domains without a DMARC
/// record or an SPF record on a sub-name, so without this every message would ask again. Server failures and
/// timeouts are never cached: the next message asks again.
/// </remarks>
public sealed class DnsResolver : IDnsResolver
{
    private readonly LookupClient _client;
    private readonly LookupClient _dnssecClient;
    private readonly ILogger _logger;
    private readonly NegativeCache _negative = new();

    /// <summary>Creates a resolver for the name servers of <paramref name="config"/>.</summary>
    /// <exception cref="InvalidOperationException">No name server is configured and the system has none.</exception>
    public DnsResolver(DnsConfig config, ILogger? logger = null)
    {
        _logger = logger ?? NullLogger.Instance;
        var servers = config.Servers.Count > 0
            ? config.Servers.Select(ip => new NameServer(ip, config.Port)).ToArray()
            : NameServer.ResolveNameServers(skipIPv6SiteLocal: true, fallbackToGooglePublicDns: false).ToArray();
        if (servers.Length == 0)
            throw new InvalidOperationException("No DNS server is configured (MailServer:Dns:Servers) and the system lists none.");
        _client = new LookupClient(Options(servers, config, dnssec: false));
        // TLSA (DANE) is asked with the DO bit (RFC 3225): a validating resolver then reports AD (RFC 6840 §5.8).
        _dnssecClient = new LookupClient(Options(servers, config, dnssec: true));
    }

    private static LookupClientOptions Options(NameServer[] servers, DnsConfig config, bool dnssec) =>
        new(servers)
        {
            UseCache = true,
            CacheFailedResults = false,
            MaximumCacheTimeout = TimeSpan.FromHours(1),
            Timeout = TimeSpan.FromSeconds(config.TimeoutSeconds),
            Retries = 1,
            UseTcpFallback = true,
            ThrowDnsErrors = false,
            ContinueOnDnsError = false,
            ContinueOnEmptyResponse = false,
            UseRandomNameServer = false,
            RequestDnsSecRecords = dnssec,
        };

    /// <inheritdoc />
    public Task<DnsAnswer<string>> LookupTxtAsync(string name, CancellationToken cancellationToken) =>
        QueryAsync(name, QueryType.TXT, cancellationToken, answers => answers.TxtRecords()
            // RFC 7208 §3.3: a record's character-strings are joined with no separator.
            .Select(r => string.Concat(r.Text))
            .ToList());

    /// <inheritdoc />
    public Task<DnsAnswer<MxRecord>> LookupMxAsync(string name, CancellationToken cancellationToken) =>
        QueryAsync(name, QueryType.MX, cancellationToken, answers => answers.MxRecords()
            .Select(r => new MxRecord(r.Preference, Trim(r.Exchange.Value)))
            .OrderBy(r => r.Preference)
            // With the DO bit, like TLSA: RFC 7672 §2.2.1 (DANE) and RFC 8689 §4.2.1 (REQUIRETLS) need to know whether a
            // validating resolver authenticated the MX answer (AD, RFC 6840 §5.8).
            .ToList(), _dnssecClient);

    /// <inheritdoc />
    public Task<DnsAnswer<IPAddress>> LookupAddressesAsync(string name, AddressFamily family, CancellationToken cancellationToken) =>
        family switch
        {
            AddressFamily.InterNetwork => QueryAsync(name, QueryType.A, cancellationToken,
                answers => answers.ARecords().Select(r => r.Address).ToList()),
            AddressFamily.InterNetworkV6 => QueryAsync(name, QueryType.AAAA, cancellationToken,
                answers => answers.AaaaRecords().Select(r => r.Address).ToList()),
            _ => throw new ArgumentOutOfRangeException(nameof(family), family, "Only IPv4 and IPv6 addresses can be looked up."),
        };

    /// <inheritdoc />
    public Task<DnsAnswer<string>> LookupPtrAsync(IPAddress address, CancellationToken cancellationToken) =>
        QueryAsync(address.GetArpaName(), QueryType.PTR, cancellationToken, answers => answers.PtrRecords()
            .Select(r => Trim(r.PtrDomainName.Value))
            .ToList());

    /// <inheritdoc />
    public Task<DnsAnswer<Rules.Dns.TlsaRecord>> LookupTlsaAsync(string name, CancellationToken cancellationToken) =>
        QueryAsync(name, QueryType.TLSA, cancellationToken, answers => answers.OfType<DnsClient.Protocol.TlsaRecord>()
            .Select(r => new Rules.Dns.TlsaRecord((byte)r.CertificateUsage, (byte)r.Selector, (byte)r.MatchingType, r.CertificateAssociationData.ToArray()))
            .ToList(), _dnssecClient);

    private async Task<DnsAnswer<T>> QueryAsync<T>(
        string name, QueryType type, CancellationToken cancellationToken, Func<IEnumerable<DnsResourceRecord>, List<T>> select,
        LookupClient? client = null)
    {
        if (_negative.TryGet(name, type) is { } cached)
            return DnsAnswer<T>.Empty(cached);
        IDnsQueryResponse response;
        try
        {
            response = await (client ?? _client).QueryAsync(name, type, QueryClass.IN, cancellationToken);
        }
        catch (DnsResponseException e)
        {
            DnsLog.QueryFailed(_logger, name, type.ToString(), e.Code.ToString());
            return DnsAnswer<T>.Empty(DnsResultCode.ServerFailure);
        }
        catch (ArgumentException)
        {
            // Not a valid DNS name (an empty label, a label over 63 octets): it cannot exist (RFC 1035 §2.3.4).
            return DnsAnswer<T>.Empty(DnsResultCode.NameError);
        }

        switch (response.Header.ResponseCode)
        {
            case DnsHeaderResponseCode.NoError:
                var records = select(response.Answers);
                if (records.Count == 0)
                    _negative.Remember(name, type, DnsResultCode.NoError, response);
                return new DnsAnswer<T>(DnsResultCode.NoError, records) { Authenticated = response.Header.IsAuthenticData };
            case DnsHeaderResponseCode.NotExistentDomain:
                _negative.Remember(name, type, DnsResultCode.NameError, response);
                return DnsAnswer<T>.Empty(DnsResultCode.NameError);
            default:
                DnsLog.QueryFailed(_logger, name, type.ToString(), response.Header.ResponseCode.ToString());
                return DnsAnswer<T>.Empty(DnsResultCode.ServerFailure);
        }
    }

    private static string Trim(string name) => name.EndsWith('.') ? name[..^1] : name;

    /// <summary>RFC 2308 negative caching: (name, type) → the negative answer, until the SOA's negative TTL ends.</summary>
    private sealed class NegativeCache
    {
        private const int MaxEntries = 10_000;
        private static readonly TimeSpan MaxTtl = TimeSpan.FromHours(1);
        private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Name, QueryType Type), (DnsResultCode Code, long Until)> _entries = new();

        public DnsResultCode? TryGet(string name, QueryType type)
        {
            if (!_entries.TryGetValue((name.ToLowerInvariant(), type), out var entry))
                return null;
            if (Environment.TickCount64 < entry.Until)
                return entry.Code;
            _entries.TryRemove((name.ToLowerInvariant(), type), out _);
            return null;
        }

        public void Remember(string name, QueryType type, DnsResultCode code, IDnsQueryResponse response)
        {
            // RFC 2308 §5: the negative TTL is the lesser of the SOA record's TTL and its MINIMUM field.
            if (response.Authorities.SoaRecords().FirstOrDefault() is not { } soa)
                return;
            var ttl = TimeSpan.FromSeconds(Math.Min(soa.TimeToLive, soa.Minimum));
            if (ttl <= TimeSpan.Zero)
                return;
            if (ttl > MaxTtl)
                ttl = MaxTtl;
            if (_entries.Count >= MaxEntries)
                _entries.Clear(); // a burst of distinct names: start over rather than grow without bound
            _entries[(name.ToLowerInvariant(), type)] = (code, Environment.TickCount64 + (long)ttl.TotalMilliseconds);
        }
    }
}
