using System.Net;
using System.Net.Sockets;
using MailServer.Rules.Dns;

namespace MailServer.Tests.Rules.SenderAuthentication;

/// <summary>
/// An in-memory zone for pure Rules unit tests (end-to-end tests use the real loopback DNS server).
/// Counts queries so tests can assert the lookup limits.
/// </summary>
internal sealed class ZoneResolver : IDnsResolver
{
    private readonly Dictionary<string, List<string>> _txt = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, List<IPAddress>> _addresses = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, List<MxRecord>> _mx = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, List<string>> _ptr = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, string> _cname = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _failing = new(StringComparer.OrdinalIgnoreCase);

    public int Queries { get; private set; }

    public ZoneResolver Txt(string name, params string[] records)
    {
        Get(_txt, name).AddRange(records);
        return this;
    }

    public ZoneResolver A(string name, params string[] addresses)
    {
        Get(_addresses, name).AddRange(addresses.Select(IPAddress.Parse));
        return this;
    }

    public ZoneResolver Mx(string name, int preference, string exchange)
    {
        Get(_mx, name).Add(new MxRecord(preference, exchange));
        return this;
    }

    public ZoneResolver Ptr(string address, params string[] names)
    {
        Get(_ptr, address).AddRange(names);
        return this;
    }

    public ZoneResolver Cname(string name, string target)
    {
        _cname[name] = target;
        return this;
    }

    public ZoneResolver ServFail(string name)
    {
        _failing.Add(name);
        return this;
    }

    private static List<T> Get<T>(Dictionary<string, List<T>> map, string key)
    {
        if (!map.TryGetValue(key, out var list))
            map[key] = list = [];
        return list;
    }

    private bool Exists(string name) =>
        _txt.ContainsKey(name) || _addresses.ContainsKey(name) || _mx.ContainsKey(name) || _cname.ContainsKey(name);

    private DnsAnswer<T> Answer<T>(string name, Func<string, IReadOnlyList<T>> records)
    {
        Queries++;
        name = name.TrimEnd('.');
        if (_failing.Contains(name))
            return DnsAnswer<T>.Empty(DnsResultCode.ServerFailure);
        if (_cname.TryGetValue(name, out var target))
            name = target;
        if (!Exists(name))
            return DnsAnswer<T>.Empty(DnsResultCode.NameError);
        return new DnsAnswer<T>(DnsResultCode.NoError, records(name));
    }

    public Task<DnsAnswer<string>> LookupTxtAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(Answer<string>(name, n => _txt.GetValueOrDefault(n) ?? []));

    public Task<DnsAnswer<MxRecord>> LookupMxAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(Answer<MxRecord>(name, n => (_mx.GetValueOrDefault(n) ?? []).OrderBy(m => m.Preference).ToList()));

    public Task<DnsAnswer<IPAddress>> LookupAddressesAsync(string name, AddressFamily family, CancellationToken cancellationToken) =>
        Task.FromResult(Answer<IPAddress>(name, n => (_addresses.GetValueOrDefault(n) ?? []).Where(a => a.AddressFamily == family).ToList()));

    public Task<DnsAnswer<string>> LookupPtrAsync(IPAddress address, CancellationToken cancellationToken)
    {
        Queries++;
        var names = _ptr.GetValueOrDefault(address.ToString());
        return Task.FromResult(names is null ? DnsAnswer<string>.Empty(DnsResultCode.NameError) : new DnsAnswer<string>(DnsResultCode.NoError, names));
    }
}
