using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailServer.Server.Audit;
using MailServer.Server.Events;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.WorkMailApi;

/// <summary>One WorkMail API call for the admin audit trail (§21), with CloudTrail's field names.</summary>
/// <param name="OrganizationId">The caller's organization; null when the call was refused before a key was recognized.</param>
/// <param name="AccessKeyId">The access key that signed the call, as presented (also when it was refused).</param>
/// <param name="EventName">The operation (CloudTrail's eventName), e.g. CreateUser.</param>
/// <param name="ReadOnly">True for an operation that only reads.</param>
/// <param name="Region">The region the request was signed for.</param>
/// <param name="SourceIp">The caller's address.</param>
/// <param name="UserAgent">The caller's User-Agent, or null.</param>
/// <param name="RequestId">The id returned to the caller (x-amzn-RequestId).</param>
/// <param name="Parameters">The request with secrets replaced (<see cref="ApiCall.RedactedInput"/>).</param>
/// <param name="Response">What the call returned; null for a write with no output or an error.</param>
/// <param name="ErrorCode">The WorkMail error type, or null on success.</param>
/// <param name="ErrorMessage">The error's message, or null on success.</param>
public sealed record AdminApiAuditRecord(
    string? OrganizationId,
    string? AccessKeyId,
    string EventName,
    bool ReadOnly,
    string? Region,
    string SourceIp,
    string? UserAgent,
    string RequestId,
    JsonNode? Parameters,
    JsonNode? Response,
    string? ErrorCode,
    string? ErrorMessage);

/// <summary>
/// The admin audit trail: every WorkMail API call as one JSON line under
/// <c>&lt;DataDirectory&gt;/admin-audit/&lt;organizationId&gt;/YYYY-MM-DD.jsonl</c> (UTC days), beside the audit log of
/// §19 (<c>audit/</c>); calls refused before their key was known go under <c>admin-audit/unauthenticated/</c>.
/// Fields as CloudTrail's (§21): eventVersion, eventTime, eventSource, eventName, awsRegion, sourceIPAddress,
/// userAgent, userIdentity.accessKeyId, requestParameters, responseElements, errorCode, errorMessage, requestID,
/// eventID, readOnly, eventType. Never throws for an I/O problem; never holds a password or secret.
/// </summary>
public sealed class AdminAuditTrail : IDisposable
{
    /// <summary>The folder name under the data directory.</summary>
    public const string FolderName = "admin-audit";

    /// <summary>The sub-folder of calls whose key was not recognized.</summary>
    public const string Unauthenticated = "unauthenticated";

    private static readonly JsonSerializerOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly DailyJsonLines _files;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Creates the trail under <paramref name="dataDirectory"/>.</summary>
    public AdminAuditTrail(string dataDirectory, ILogger logger, TimeProvider? time = null)
    {
        _files = new DailyJsonLines(Path.Combine(dataDirectory, FolderName));
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The folder the day files are under.</summary>
    public string Root => _files.Root;

    /// <summary>Appends one record.</summary>
    public void Write(AdminApiAuditRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var now = _time.GetUtcNow();
        var line = new JsonObject
        {
            ["eventVersion"] = "1.08",
            ["eventTime"] = now.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
            ["eventSource"] = "workmail.amazonaws.com",
            ["eventName"] = record.EventName,
            ["awsRegion"] = record.Region,
            ["sourceIPAddress"] = record.SourceIp,
            ["userAgent"] = record.UserAgent,
            ["userIdentity"] = new JsonObject { ["type"] = "AccessKey", ["accessKeyId"] = record.AccessKeyId },
            ["requestParameters"] = record.Parameters,
            ["responseElements"] = record.Response,
            ["requestID"] = record.RequestId,
            ["eventID"] = Guid.NewGuid().ToString("D"),
            ["readOnly"] = record.ReadOnly,
            ["eventType"] = "AwsApiCall",
            ["recipientAccountId"] = record.OrganizationId is null ? null : AuditLog.OrganizationArn(record.OrganizationId),
        };
        if (record.ErrorCode is not null)
        {
            line["errorCode"] = record.ErrorCode;
            line["errorMessage"] = record.ErrorMessage;
        }
        try
        {
            _files.Append(record.OrganizationId ?? Unauthenticated, now, JsonSerializer.SerializeToUtf8Bytes(line, JsonOptions));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WorkMailApiLog.AuditWriteFailed(_logger, e);
        }
    }

    /// <summary>Closes the open file.</summary>
    public void Dispose() => _files.Dispose();
}
