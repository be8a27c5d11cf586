using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using MailServer.Rules.Dns;
using MailServer.Rules.TransportSecurity;
using MailServer.Server.Configuration;
using MtaStsMode = MailServer.Rules.TransportSecurity.MtaStsMode;
using MailServer.Server.Logging;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Delivery;

/// <summary>
/// The MTA-STS policies of recipient domains (RFC 8461 §3, §5.1): the <c>_mta-sts</c> TXT record says whether a
/// policy exists and its id; the policy is fetched from <c>https://mta-sts.DOMAIN/.well-known/mta-sts.txt</c> (a
/// certificate valid for that name from a CA the system trusts, no redirects, <c>text/plain</c>, at most 64 KiB)
/// and cached for its <c>max_age</c>, in memory and in <c>&lt;data&gt;/mta-sts/policies.json</c> so a restart does not
/// open a window for a downgrade. A cached policy is used until it expires when the TXT record disappears or the
/// fetch fails (§5.1); a new id fetches the policy again.
/// </summary>
public sealed class MtaStsPolicies : IDisposable
{
    /// <summary>The most a policy may weigh (RFC 8461 §3.3 leaves the limit to the sender; 64 KiB as Postfix's and mox's).</summary>
    public const int MaxPolicyBytes = 64 * 1024;

    private sealed record Cached(MtaStsPolicy Policy, DateTimeOffset FetchedAt)
    {
        public bool Fresh(DateTimeOffset now) => now < FetchedAt + Policy.MaxAge;
    }

    private sealed record Stored(string Id, string Mode, List<string> Mx, long MaxAgeSeconds, DateTimeOffset FetchedAt);

    private readonly IDnsResolver _dns;
    private readonly Func<DeliveryConfig> _config;
    private readonly string? _file;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly ConcurrentDictionary<string, Cached> _cache = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _writeLock = new();

    /// <summary>Policies looked up with <paramref name="dns"/>, cached in <paramref name="dataDirectory"/> (null: memory only).</summary>
    public MtaStsPolicies(IDnsResolver dns, Func<DeliveryConfig> config, string? dataDirectory, TimeProvider time, ILogger logger)
    {
        _dns = dns;
        _config = config;
        _time = time;
        _logger = logger;
        _file = dataDirectory is null ? null : Path.Combine(dataDirectory, "mta-sts", "policies.json");
        _http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false, // RFC 8461 §3.3: "HTTP 3xx redirects MUST NOT be followed"
            ConnectTimeout = TimeSpan.FromSeconds(15),
            // The policy host is resolved by the server's own resolver, like MX hosts (the Dns section).
            ConnectCallback = ConnectAsync,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
        })
        {
            Timeout = TimeSpan.FromSeconds(30),
            MaxResponseContentBufferSize = MaxPolicyBytes,
        };
        Load();
    }

    /// <summary>
    /// The policy in force for <paramref name="domain"/>, or null when it publishes none (or its first fetch failed).
    /// Never throws for DNS or HTTP failures.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public async Task<MtaStsPolicy?> GetAsync(string domain, CancellationToken cancellationToken) =>
        (await LookupAsync(domain, cancellationToken).ConfigureAwait(false)).Policy;

    /// <summary>
    /// The policy in force for <paramref name="domain"/> (null when it publishes none or its first fetch failed), and,
    /// when the domain announces a policy this lookup had to fetch and could not, why (an RFC 8460 §4.3.2.1 result
    /// type). Never throws for DNS or HTTP failures.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public async Task<MtaStsLookup> LookupAsync(string domain, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var cached = _cache.TryGetValue(domain, out var c) && c.Fresh(now) ? c : null;
        var txt = await _dns.LookupTxtAsync("_mta-sts." + domain, cancellationToken).ConfigureAwait(false);
        var id = MtaStsPolicy.RecordId(txt.Records);
        if (id is null)
            return new MtaStsLookup(cached?.Policy, null); // §5.1: no (valid) record: a cached policy stays in force until it expires
        if (cached is not null && cached.Policy.Id == id)
            return new MtaStsLookup(cached.Policy, null);
        var (fetched, failure) = await FetchAsync(domain, id, cancellationToken).ConfigureAwait(false);
        if (fetched is null)
            return new MtaStsLookup(cached?.Policy, failure);
        _cache[domain] = new Cached(fetched, now);
        Save();
        MtaStsLog.PolicyFetched(_logger, domain, fetched.Mode.ToString(), string.Join(", ", fetched.MxPatterns), (long)fetched.MaxAge.TotalSeconds);
        return new MtaStsLookup(fetched, null);
    }

    public void Dispose() => _http.Dispose();

    private async Task<(MtaStsPolicy? Policy, MtaStsFetchFailure? Failure)> FetchAsync(string domain, string id, CancellationToken cancellationToken)
    {
        var port = _config().MtaStsPolicyPort;
        var url = port == 443 ? $"https://mta-sts.{domain}/.well-known/mta-sts.txt" : $"https://mta-sts.{domain}:{port}/.well-known/mta-sts.txt";
        (MtaStsPolicy?, MtaStsFetchFailure?) Failed(string resultType, string reason)
        {
            MtaStsLog.FetchFailed(_logger, domain, reason);
            return (null, new MtaStsFetchFailure(resultType, reason));
        }
        try
        {
            using var response = await _http.GetAsync(url, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
                return Failed(MtaStsFetchFailure.FetchError, $"HTTP {(int)response.StatusCode}");
            if (response.Content.Headers.ContentType?.MediaType is not "text/plain")
                return Failed(MtaStsFetchFailure.PolicyInvalid, $"Content-Type {response.Content.Headers.ContentType?.MediaType ?? "none"}, not text/plain");
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            return MtaStsPolicy.Parse(id, text) is { } policy ? (policy, null) : Failed(MtaStsFetchFailure.PolicyInvalid, "not a valid STSv1 policy");
        }
        catch (HttpRequestException e) when (e.InnerException is System.Security.Authentication.AuthenticationException)
        {
            // §3.3: the policy host's certificate must be valid for mta-sts.DOMAIN from a trusted CA; such a policy is not trusted.
            return Failed(MtaStsFetchFailure.WebPkiInvalid, e.InnerException.Message);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return Failed(MtaStsFetchFailure.FetchError, e.InnerException?.Message ?? e.Message);
        }
    }

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = new List<IPAddress>();
        if (IPAddress.TryParse(host, out var literal))
            addresses.Add(literal);
        else
            foreach (var family in new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 })
                addresses.AddRange((await _dns.LookupAddressesAsync(host, family, cancellationToken).ConfigureAwait(false)).Records);
        if (addresses.Count == 0)
            throw new HttpRequestException($"{host} does not resolve");
        SocketException? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(address, context.DnsEndPoint.Port, cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
        }
        throw new HttpRequestException($"could not connect to {host}", last);
    }

    private void Load()
    {
        if (_file is null || !File.Exists(_file))
            return;
        try
        {
            var stored = JsonSerializer.Deserialize<Dictionary<string, Stored>>(File.ReadAllText(_file)) ?? [];
            foreach (var (domain, s) in stored)
            {
                var mode = Enum.TryParse<MtaStsMode>(s.Mode, out var m) ? m : MtaStsMode.None;
                _cache[domain] = new Cached(new MtaStsPolicy(s.Id, mode, s.Mx, TimeSpan.FromSeconds(s.MaxAgeSeconds)), s.FetchedAt);
            }
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            MtaStsLog.CacheUnreadable(_logger, _file, e.Message); // policies are fetched again
        }
    }

    private void Save()
    {
        if (_file is null)
            return;
        try
        {
            lock (_writeLock)
            {
                // The snapshot is taken under the lock: two fetches finishing together must not write their snapshots in
                // the opposite order (the older one last, losing the newer policy from the file).
                var now = _time.GetUtcNow();
                var snapshot = _cache.Where(p => p.Value.Fresh(now)).ToDictionary(p => p.Key, p => new Stored(p.Value.Policy.Id,
                    p.Value.Policy.Mode.ToString(), p.Value.Policy.MxPatterns.ToList(), (long)p.Value.Policy.MaxAge.TotalSeconds, p.Value.FetchedAt));
                Directory.CreateDirectory(Path.GetDirectoryName(_file)!);
                var temp = _file + ".tmp";
                File.WriteAllText(temp, JsonSerializer.Serialize(snapshot));
                File.Move(temp, _file, overwrite: true);
            }
        }
        catch (IOException e)
        {
            MtaStsLog.CacheUnreadable(_logger, _file, e.Message);
        }
    }
}

/// <summary>What an MTA-STS policy lookup found (<see cref="MtaStsPolicies.LookupAsync"/>).</summary>
/// <param name="Policy">The policy in force: the fetched one, a cached one still fresh, or null.</param>
/// <param name="FetchFailure">Why the announced policy could not be fetched this time, or null when nothing failed.</param>
public sealed record MtaStsLookup(MtaStsPolicy? Policy, MtaStsFetchFailure? FetchFailure);

/// <summary>A failed policy fetch, with its TLS-RPT result type (RFC 8460 §4.3.2.1).</summary>
/// <param name="ResultType"><see cref="FetchError"/>, <see cref="PolicyInvalid"/> or <see cref="WebPkiInvalid"/>.</param>
/// <param name="Reason">What went wrong, in words.</param>
public sealed record MtaStsFetchFailure(string ResultType, string Reason)
{
    /// <summary>The policy could not be retrieved: host unreachable, no address, an HTTP status other than 200, a timeout.</summary>
    public const string FetchError = "sts-policy-fetch-error";

    /// <summary>What was retrieved is not a valid policy (not text/plain, not STSv1).</summary>
    public const string PolicyInvalid = "sts-policy-invalid";

    /// <summary>The policy host's certificate did not pass PKIX validation for <c>mta-sts.DOMAIN</c>.</summary>
    public const string WebPkiInvalid = "sts-webpki-invalid";
}
