using System.Net;
using System.Text.Json;
using MailServer.Rules.SenderAuthentication;
using MailServer.Server.Configuration;
using MailServer.Server.Logging;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Reports;

/// <summary>The rows one organization counted for one From domain on one UTC day.</summary>
public sealed record DmarcReportDay(string OrganizationId, DateOnly Day, string FromDomain, IReadOnlyList<DmarcReportRow> Rows);

/// <summary>
/// Counts the DMARC results of the mail each opted-in organization (<c>Dmarc.AggregateReports</c>) receives, per UTC
/// day and From domain, as rows of an aggregate report (RFC 7489 §7.2). Messages from domains without a DMARC record
/// are not counted (nobody asked for their reports). Kept in memory and written to <c>data/reports/dmarc-results.json</c>
/// every few seconds. Thread-safe.
/// </summary>
public sealed class DmarcReportLedger : IDisposable
{
    private readonly object _gate = new();
    private readonly Dictionary<(string Organization, DateOnly Day, string FromDomain), Dictionary<string, DmarcReportRow>> _days = [];
    private readonly Func<ServerConfig> _config;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _path;
    private readonly ITimer _saver;
    private bool _dirty;

    /// <summary>Opens the ledger in <paramref name="dataDirectory"/>; an unreadable file is logged and counting starts afresh.</summary>
    public DmarcReportLedger(Func<ServerConfig> config, string dataDirectory, TimeProvider time, ILogger logger)
    {
        _config = config;
        _time = time;
        _logger = logger;
        _path = Path.Combine(dataDirectory, "reports", "dmarc-results.json");
        Load();
        _saver = TimeProvider.System.CreateTimer(_ => Save(), null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
    }

    /// <summary>Counts one message for <paramref name="organizationId"/> when it opted in and the From domain has a DMARC record.</summary>
    /// <param name="organizationId">The receiving organization.</param>
    /// <param name="verdict">The message's verdicts.</param>
    /// <param name="client">The SMTP client's address.</param>
    /// <param name="disposition">What this organization did with it.</param>
    public void Record(string organizationId, SenderAuthenticationVerdict verdict, IPAddress client, DmarcDisposition disposition)
    {
        if (verdict.Dmarc.Result == DmarcResult.None || verdict.Dmarc.FromDomain is not { } from
            || _config().Organizations.FirstOrDefault(o => o.Id == organizationId) is not { Dmarc.AggregateReports: true })
            return;
        var applied = disposition switch
        {
            DmarcDisposition.Reject => "reject",
            DmarcDisposition.Quarantine => "quarantine",
            _ => "none",
        };
        // The published (sampled) policy asked for more than was done: enforcement is off here (RFC 7489 appendix C local_policy).
        var asked = verdict.Dmarc.Result == DmarcResult.Fail ? verdict.Dmarc.AppliedPolicy : null;
        var localPolicy = asked is DmarcPolicy.Reject or DmarcPolicy.Quarantine && applied == "none";
        var row = new DmarcReportRow(
            client.IsIPv4MappedToIPv6 ? client.MapToIPv4().ToString() : client.ToString(),
            from.ToLowerInvariant(), applied,
            verdict.Dmarc.DkimAligned ? "pass" : "fail",
            verdict.Dmarc.SpfAligned ? "pass" : "fail",
            localPolicy,
            verdict.Dkim.Where(d => d.Domain.Length > 0).Select(d => (d.Domain.ToLowerInvariant(), d.Selector, d.Result.ToString().ToLowerInvariant())).ToList(),
            verdict.Spf.Domain.ToLowerInvariant(),
            verdict.Spf.Identity == SpfIdentity.Helo ? "helo" : "mfrom",
            verdict.Spf.Result.ToString().ToLowerInvariant(),
            1);
        var key = (organizationId, DateOnly.FromDateTime(_time.GetUtcNow().UtcDateTime), from.ToLowerInvariant());
        lock (_gate)
        {
            if (!_days.TryGetValue(key, out var rows))
                _days[key] = rows = new Dictionary<string, DmarcReportRow>(StringComparer.Ordinal);
            rows[row.Key] = rows.TryGetValue(row.Key, out var existing) ? existing with { Count = existing.Count + 1 } : row;
            _dirty = true;
        }
    }

    /// <summary>Takes out the rows of every day before <paramref name="today"/> (to be reported).</summary>
    public IReadOnlyList<DmarcReportDay> TakeBefore(DateOnly today)
    {
        List<DmarcReportDay> due;
        lock (_gate)
        {
            var keys = _days.Keys.Where(k => k.Day < today).ToList();
            due = keys.Select(k => new DmarcReportDay(k.Organization, k.Day, k.FromDomain, _days[k].Values.ToList())).ToList();
            foreach (var key in keys)
                _days.Remove(key);
            _dirty |= keys.Count > 0;
        }
        Save();
        return due.OrderBy(d => d.Day).ThenBy(d => d.FromDomain, StringComparer.Ordinal).ToList();
    }

    /// <summary>Writes the rows now (also done every few seconds and on dispose).</summary>
    public void Save()
    {
        List<StoredDay> snapshot;
        lock (_gate)
        {
            if (!_dirty)
                return;
            snapshot = _days.Select(d => new StoredDay(d.Key.Organization, d.Key.Day, d.Key.FromDomain,
                d.Value.Values.Select(StoredRow.Of).ToList())).ToList();
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

    private void Load()
    {
        if (!File.Exists(_path))
            return;
        try
        {
            foreach (var day in JsonSerializer.Deserialize<List<StoredDay>>(File.ReadAllBytes(_path)) ?? [])
                _days[(day.Organization, day.Day, day.FromDomain)] = day.Rows.Select(r => r.ToRow()).ToDictionary(r => r.Key, StringComparer.Ordinal);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            ReportLog.LedgerUnreadable(_logger, _path, e.Message);
        }
    }

    /// <summary>The stored form of a row (a stored format: keep the names).</summary>
    private sealed record StoredRow(string SourceIp, string HeaderFrom, string Disposition, string DkimAligned, string SpfAligned, bool LocalPolicy,
        List<string[]> Dkim, string SpfDomain, string SpfScope, string SpfResult, long Count)
    {
        public static StoredRow Of(DmarcReportRow r) => new(r.SourceIp, r.HeaderFrom, r.Disposition, r.DkimAligned, r.SpfAligned, r.LocalPolicy,
            r.Dkim.Select(d => new[] { d.Domain, d.Selector, d.Result }).ToList(), r.SpfDomain, r.SpfScope, r.SpfResult, r.Count);

        public DmarcReportRow ToRow() => new(SourceIp, HeaderFrom, Disposition, DkimAligned, SpfAligned, LocalPolicy,
            Dkim.Where(d => d.Length == 3).Select(d => (d[0], d[1], d[2])).ToList(), SpfDomain, SpfScope, SpfResult, Count);
    }

    private sealed record StoredDay(string Organization, DateOnly Day, string FromDomain, List<StoredRow> Rows);
}
