using System.Net;
using System.Text.Json;
using MailServer.Rules.TransportSecurity;
using MailServer.Server.Configuration;
using MailServer.Server.Delivery;
using MailServer.Server.Logging;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Reports;

/// <summary>
/// Counts outbound sessions per UTC day and per policy (MTA-STS or TLSA) for TLS-RPT (RFC 8460 §4): successes, and
/// failures by result type, MX host and address. Kept in memory and written to <c>data/reports/tls-sessions.json</c> at
/// most every few seconds (a crash loses at most those seconds of counts, never a message). Counts only while
/// <c>Delivery.TlsReports</c> is on. Thread-safe.
/// </summary>
public sealed class TlsReportLedger : ITlsSessionObserver, IDisposable
{
    private readonly object _gate = new();
    private readonly Dictionary<(DateOnly Day, string Key), Entry> _entries = [];
    private readonly Func<ServerConfig> _config;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _path;
    private readonly ITimer _saver;
    private bool _dirty;

    /// <summary>Opens the ledger in <paramref name="dataDirectory"/>; an unreadable file is logged and counting starts afresh.</summary>
    public TlsReportLedger(Func<ServerConfig> config, string dataDirectory, TimeProvider time, ILogger logger)
    {
        _config = config;
        _time = time;
        _logger = logger;
        _path = Path.Combine(dataDirectory, "reports", "tls-sessions.json");
        Load();
        _saver = TimeProvider.System.CreateTimer(_ => Save(), null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
    }

    /// <inheritdoc />
    public void Succeeded(TlsPolicyReference policy)
    {
        if (!_config().Delivery.TlsReports)
            return;
        lock (_gate)
        {
            Of(policy).Successes++;
            _dirty = true;
        }
    }

    /// <inheritdoc />
    public void Failed(TlsPolicyReference policy, string resultType, string? mxHost, IPAddress? address, string reason)
    {
        if (!_config().Delivery.TlsReports)
            return;
        lock (_gate)
        {
            var entry = Of(policy);
            var key = $"{resultType}|{mxHost?.ToLowerInvariant()}|{address}";
            if (!entry.Failures.TryGetValue(key, out var failure))
                entry.Failures[key] = failure = new FailureEntry { ResultType = resultType, MxHost = mxHost?.ToLowerInvariant(), Address = address?.ToString(), Reason = reason };
            failure.Count++;
            _dirty = true;
        }
    }

    /// <summary>Takes out the counts of every day before <paramref name="today"/> (to be reported), grouped by day and policy domain.</summary>
    public IReadOnlyList<(DateOnly Day, string Domain, IReadOnlyList<TlsPolicyCounts> Policies)> TakeBefore(DateOnly today)
    {
        List<((DateOnly Day, string Key) Key, Entry Entry)> due;
        lock (_gate)
        {
            due = _entries.Where(e => e.Key.Day < today).Select(e => (e.Key, e.Value)).ToList();
            foreach (var (key, _) in due)
                _entries.Remove(key);
            _dirty |= due.Count > 0;
        }
        Save();
        return due
            .GroupBy(d => (d.Key.Day, Domain: d.Entry.Policy.Domain.ToLowerInvariant()))
            .OrderBy(g => g.Key.Day).ThenBy(g => g.Key.Domain, StringComparer.Ordinal)
            .Select(g => (g.Key.Day, g.Key.Domain, (IReadOnlyList<TlsPolicyCounts>)g.Select(d => new TlsPolicyCounts(d.Entry.Policy, d.Entry.Successes,
                d.Entry.Failures.Values.Select(f => new TlsFailureCount(f.ResultType, f.MxHost, f.Address, f.Count, f.Reason)).ToList())).ToList()))
            .ToList();
    }

    /// <summary>Writes the counts now (also done every few seconds and on dispose).</summary>
    public void Save()
    {
        List<StoredEntry> snapshot;
        lock (_gate)
        {
            if (!_dirty)
                return;
            snapshot = _entries.Select(e => new StoredEntry(e.Key.Day, e.Value.Policy, e.Value.Successes, e.Value.Failures.Values.ToList())).ToList();
            _dirty = false;
        }
        try
        {
            LedgerFile.Replace(_path, snapshot);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            ReportLog.LedgerUnwritable(_logger, _path, e.Message);
            lock (_gate)
                _dirty = true;
        }
    }

    /// <summary>Stops the periodic save and saves what is left.</summary>
    public void Dispose()
    {
        _saver.Dispose();
        Save();
    }

    private Entry Of(TlsPolicyReference policy)
    {
        var key = (DateOnly.FromDateTime(_time.GetUtcNow().UtcDateTime), policy.Key);
        if (!_entries.TryGetValue(key, out var entry))
            _entries[key] = entry = new Entry(policy);
        return entry;
    }

    private void Load()
    {
        if (!File.Exists(_path))
            return;
        try
        {
            var stored = JsonSerializer.Deserialize<List<StoredEntry>>(File.ReadAllBytes(_path)) ?? [];
            foreach (var s in stored)
            {
                var entry = new Entry(s.Policy) { Successes = s.Successes };
                foreach (var f in s.Failures)
                    entry.Failures[$"{f.ResultType}|{f.MxHost}|{f.Address}"] = f;
                _entries[(s.Day, s.Policy.Key)] = entry;
            }
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            ReportLog.LedgerUnreadable(_logger, _path, e.Message);
        }
    }

    private sealed class Entry(TlsPolicyReference policy)
    {
        public TlsPolicyReference Policy { get; } = policy;
        public long Successes { get; set; }
        public Dictionary<string, FailureEntry> Failures { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>One kind of failure as stored (a stored format: keep the names).</summary>
    private sealed class FailureEntry
    {
        public string ResultType { get; set; } = "";
        public string? MxHost { get; set; }
        public string? Address { get; set; }
        public string? Reason { get; set; }
        public long Count { get; set; }
    }

    private sealed record StoredEntry(DateOnly Day, TlsPolicyReference Policy, long Successes, List<FailureEntry> Failures);
}
