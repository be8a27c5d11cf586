using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace MailServer.Server.Events;

/// <summary>
/// A filter over the email event log files. <see cref="Subject"/> selects whole messages: every event whose
/// trace has an event with a matching subject (so MAILBOX_EMAIL_DELIVERED lines of a matching message are found).
/// </summary>
/// <param name="EventName">Only this eventName, when set.</param>
/// <param name="Since">Only events at or after this instant.</param>
/// <param name="Until">Only events before this instant, when set.</param>
/// <param name="Subject">Only events of messages whose subject matches, when set.</param>
/// <param name="TraceId">Only events of this trace, when set.</param>
public sealed record EmailEventFilter(string? EventName, DateTimeOffset Since, DateTimeOffset? Until, Regex? Subject, Guid? TraceId);

/// <summary>
/// Reads the event log's JSON-lines files directly (works with the server stopped or running: the files are
/// opened for shared reading). Lines that are not valid JSON (a line cut by a crash) are skipped.
/// </summary>
public static class EmailEventQuery
{
    /// <summary>The matching lines, as stored, oldest first.</summary>
    /// <param name="root">The event log folder (<c>&lt;DataDirectory&gt;/events</c>).</param>
    /// <param name="organizationId">Only this organization's files, when set.</param>
    /// <param name="filter">What to select.</param>
    /// <param name="keyOf">The event log key of an organization (<see cref="EventLogCipher.KeysFrom"/>); files of an
    /// organization without a key are skipped.</param>
    /// <exception cref="RegexMatchTimeoutException">The subject pattern took too long on a subject.</exception>
    public static IReadOnlyList<string> Run(string root, string? organizationId, EmailEventFilter filter, Func<string, byte[]?> keyOf)
    {
        ArgumentNullException.ThrowIfNull(keyOf);
        ArgumentNullException.ThrowIfNull(filter);
        var firstDay = DateOnly.FromDateTime(filter.Since.UtcDateTime);
        var lastDay = filter.Until is { } until ? DateOnly.FromDateTime(until.UtcDateTime) : DateOnly.MaxValue;
        var rows = new List<(string Line, string Name, DateTimeOffset At, Guid Trace, string? Subject)>();
        foreach (var (orgId, day, path) in DailyJsonLines.Files(root, organizationId))
        {
            if (day < firstDay || day > lastDay || keyOf(orgId) is not { } key)
                continue;
            foreach (var line in ReadFile(path, orgId, key))
            {
                if (Parse(line) is not { } row || row.At < filter.Since || (filter.Until is { } u && row.At >= u))
                    continue;
                if (filter.TraceId is { } t && row.Trace != t)
                    continue;
                rows.Add((line, row.Name, row.At, row.Trace, row.Subject));
            }
        }
        HashSet<Guid>? traces = null;
        if (filter.Subject is { } pattern)
            traces = rows.Where(r => r.Subject is not null && pattern.IsMatch(r.Subject)).Select(r => r.Trace).ToHashSet();
        return rows
            .Where(r => filter.EventName is null || string.Equals(r.Name, filter.EventName, StringComparison.OrdinalIgnoreCase))
            .Where(r => traces is null || traces.Contains(r.Trace))
            .OrderBy(r => r.At)
            .Select(r => r.Line)
            .ToList();
    }

    /// <summary>
    /// Parses a time bound: an ISO 8601 date or instant (UTC unless it says otherwise), or a duration before
    /// <paramref name="now"/> such as <c>7d</c>, <c>12h</c> or <c>30m</c>.
    /// </summary>
    public static DateTimeOffset? ParseTime(string text, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(text);
        var m = Regex.Match(text.Trim(), @"^(\d{1,6})([dhm])$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        if (m.Success)
        {
            var n = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            return now - m.Groups[2].Value switch { "d" => TimeSpan.FromDays(n), "h" => TimeSpan.FromHours(n), _ => TimeSpan.FromMinutes(n) };
        }
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)
            ? at
            : null;
    }

    /// <summary>The JSON lines of one day file, opened with the organization's key; lines that do not open are skipped.</summary>
    public static IEnumerable<string> ReadFile(string path, string organizationId, byte[] key)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
            if (line.Length > 0 && EventLogCipher.Open(key, organizationId, line) is { } json)
                yield return json;
    }

    private static (string Name, DateTimeOffset At, Guid Trace, string? Subject)? Parse(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            var e = root.GetProperty("event");
            return (e.GetProperty("eventName").GetString() ?? "",
                DateTimeOffset.Parse(root.GetProperty("timestamp").GetString()!, CultureInfo.InvariantCulture),
                Guid.Parse(root.GetProperty("traceId").GetString()!),
                e.TryGetProperty("subject", out var s) ? s.GetString() : null);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or FormatException or InvalidOperationException or ArgumentNullException)
        {
            return null;
        }
    }
}
