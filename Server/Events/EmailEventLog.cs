using System.Text.Encodings.Web;
using System.Text.Json;
using MailServer.Server.Audit;
using MailServer.Server.Configuration;
using MailServer.Server.Metrics;
using MailServer.Storage.Crypto;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MailServer.Server.Events;

/// <summary>Where the delivery pipeline reports email events (§18.3). Never throws for an I/O problem.</summary>
public interface IEmailEventLog
{
    /// <summary>
    /// Records one event: the §20 counter it drives is always counted; the JSON line is written when the
    /// organization's EmailEventLog is enabled at this moment.
    /// </summary>
    void Write(EmailEvent emailEvent);
}

/// <summary>
/// The email event log: JSON lines under <c>&lt;DataDirectory&gt;/events/&lt;organizationId&gt;/YYYY-MM-DD.jsonl</c>
/// (UTC days), one line per event shaped as §18.2 says:
/// <c>{"timestamp":"…","traceId":"…","organizationId":"…","event":{"eventName":"…",…}}</c>, each sealed at rest by
/// <see cref="EventLogCipher"/> (events carry subjects and addresses, which stay encrypted on disk).
/// <c>EmailEventLog.Enabled</c> is read from the live configuration on every write (turning it off stops writing
/// and keeps the files, §18.1 [SH]); files older than <c>EmailEventLog.RetentionDays</c> are deleted by
/// <see cref="DeleteExpired"/>. Thread-safe.
/// </summary>
public sealed class EmailEventLog : IEmailEventLog, IDisposable
{
    /// <summary>The serializer settings of the event object: camelCase names, null fields left out.</summary>
    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // subjects stay readable; the files are not HTML
    };

    private readonly DailyJsonLines _files;
    private readonly Func<ServerConfig> _config;
    private readonly MailMetrics? _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> _keys = new(StringComparer.Ordinal);

    /// <summary>Creates the log over the live configuration.</summary>
    /// <param name="config">The configuration in force (data directory, per-organization settings).</param>
    /// <param name="metrics">The §20 counters events drive; none when null.</param>
    /// <param name="time">The clock stamping each record.</param>
    /// <param name="logger">Where write failures are reported.</param>
    public EmailEventLog(Func<ServerConfig> config, MailMetrics? metrics = null, TimeProvider? time = null, ILogger? logger = null)
    {
        _config = config ?? throw new ArgumentNullException(nameof(config));
        _files = new DailyJsonLines(FolderOf(config()));
        _metrics = metrics;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The folder of the event log in a data directory.</summary>
    public static string FolderOf(ServerConfig config) => Path.Combine(config.DataDirectory, "events");

    /// <summary>The folder every organization's day files are under.</summary>
    public string Root => _files.Root;

    /// <inheritdoc />
    public void Write(EmailEvent emailEvent)
    {
        ArgumentNullException.ThrowIfNull(emailEvent);
        Count(emailEvent);
        var org = _config().Organizations.FirstOrDefault(o => o.Id == emailEvent.OrganizationId);
        if (org is null || !org.EmailEventLog.Enabled)
            return;
        var now = _time.GetUtcNow();
        try
        {
            var key = _keys.GetOrAdd(org.Id, _ => EventLogCipher.KeyFor(_config(), org, create: true));
            _files.Append(emailEvent.OrganizationId, now, EventLogCipher.Seal(key, org.Id, Serialize(emailEvent, now)));
        }
        catch (IOException e)
        {
            GovernanceLog.EventLogWriteFailed(_logger, e, emailEvent.OrganizationId);
        }
        catch (UnauthorizedAccessException e)
        {
            GovernanceLog.EventLogWriteFailed(_logger, e, emailEvent.OrganizationId);
        }
        catch (InvalidDataException e)
        {
            GovernanceLog.EventLogWriteFailed(_logger, e, emailEvent.OrganizationId);
        }
        catch (KeyNotFoundException e)
        {
            GovernanceLog.EventLogWriteFailed(_logger, e, emailEvent.OrganizationId);
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            // The organization's key ledger does not open under the configured master key: the event is lost and
            // logged, the message it describes is not (an event log fault never refuses mail).
            GovernanceLog.EventLogWriteFailed(_logger, e, emailEvent.OrganizationId);
        }
    }

    /// <summary>
    /// Deletes day files older than each organization's RetentionDays (30 by default). An organization no
    /// longer configured keeps the default. Returns how many files went.
    /// </summary>
    public int DeleteExpired()
    {
        var config = _config();
        var deleted = _files.DeleteExpired(
            orgId => config.Organizations.FirstOrDefault(o => o.Id == orgId)?.EmailEventLog.RetentionDays
                     ?? EmailEventLogConfig.DefaultRetentionDays,
            _time.GetUtcNow());
        if (deleted > 0)
            GovernanceLog.LogFilesExpired(_logger, deleted, _files.Root);
        return deleted;
    }

    /// <summary>The JSON line of one event (UTF-8, no newline).</summary>
    public static byte[] Serialize(EmailEvent emailEvent, DateTimeOffset timestamp)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JsonOptions.Encoder }))
        {
            json.WriteStartObject();
            json.WriteString("timestamp", timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("traceId", emailEvent.TraceId.ToString("D"));
            json.WriteString("organizationId", emailEvent.OrganizationId);
            json.WriteStartObject("event");
            json.WriteString("eventName", emailEvent.EventName);
            foreach (var field in JsonSerializer.SerializeToElement(emailEvent, emailEvent.GetType(), JsonOptions).EnumerateObject())
                if (field.Name != "eventName")
                    field.WriteTo(json);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>Closes the open file.</summary>
    public void Dispose() => _files.Dispose();

    private void Count(EmailEvent e)
    {
        if (_metrics is null)
            return;
        switch (e)
        {
            case OrganizationEmailReceived: _metrics.OrganizationEmailReceived(e.OrganizationId); break;
            case MailboxEmailDelivered: _metrics.MailboxEmailDelivered(e.OrganizationId); break;
            case IncomingEmailBounced: _metrics.IncomingEmailBounced(e.OrganizationId); break;
            case OutgoingEmailSent: _metrics.OutgoingEmailSent(e.OrganizationId); break;
            case OutgoingEmailBounced: _metrics.OutgoingEmailBounced(e.OrganizationId); break;
        }
    }
}
