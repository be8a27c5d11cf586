using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using MailServer.Server.Configuration;
using MailServer.Server.Events;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MailServer.Server.Audit;

/// <summary>
/// One audit event of §19. <see cref="OrganizationId"/> chooses the file; the writer adds <c>log_type</c>,
/// <c>event_timestamp</c> (ms since the Unix epoch) and <c>organization_arn</c>; the other properties are the
/// fields with WorkMail's exact (snake_case) names. Null fields are left out.
/// </summary>
/// <param name="OrganizationId">The organization whose audit log gets the event.</param>
/// <param name="RequestId">One id per request; a login's authentication and access control events share it.</param>
public abstract record AuditEvent(
    [property: JsonIgnore] string OrganizationId,
    string RequestId)
{
    /// <summary>Which of §19's log types: Authentication, AccessControl or MailboxAccess.</summary>
    [JsonIgnore]
    public abstract string LogType { get; }

    /// <summary>A fresh request id.</summary>
    public static string NewRequestId() => Guid.NewGuid().ToString("D");
}

/// <summary>An authentication attempt (§19.3). Never carries the password.</summary>
/// <param name="OrganizationId">The organization whose audit log gets the record.</param>
/// <param name="RequestId">The record's own id.</param>
/// <param name="UserId">The user the name resolved to (primary address), when one was found.</param>
/// <param name="User">The user name the attempt was made with.</param>
/// <param name="Protocol">IMAP or SMTP.</param>
/// <param name="SourceIp">The client's address.</param>
/// <param name="Method">Always "basic" (a password), as in WorkMail.</param>
/// <param name="AuthSuccessful">True when the login succeeded.</param>
/// <param name="AuthFailedReason">Why it failed (InvalidCredentials, UserDisabled, AccessDenied, Throttled); absent on success.</param>
/// <param name="UserAgent">The client's self-description (IMAP ID), when it gave one.</param>
public sealed record AuthenticationAuditEvent(
    string OrganizationId, string RequestId,
    string? UserId,
    string User,
    string Protocol,
    string SourceIp,
    string Method,
    bool AuthSuccessful,
    string? AuthFailedReason,
    string? UserAgent = null) : AuditEvent(OrganizationId, RequestId)
{
    /// <inheritdoc />
    public override string LogType => "Authentication";
}

/// <summary>An access control evaluation (§19.2). <see cref="RuleId"/> is absent when no rule matched.</summary>
public sealed record AccessControlAuditEvent(
    string OrganizationId, string RequestId,
    string UserId,
    string Protocol,
    string SourceIp,
    string Scope,
    string? RuleId,
    bool AccessGranted) : AuditEvent(OrganizationId, RequestId)
{
    /// <summary>The scope of user login rules.</summary>
    public const string AccessControlScope = "AccessControl";

    /// <inheritdoc />
    public override string LogType => "AccessControl";
}

/// <summary>
/// An operation on an item or folder of a mailbox (§19.1). <see cref="Action"/> is one of
/// <see cref="MailboxActions"/>; <see cref="ObjectType"/> is Folder, Message or Attachment.
/// </summary>
public sealed record MailboxAccessAuditEvent(
    string OrganizationId, string RequestId,
    string UserId,
    string Protocol,
    string SourceIp,
    string Action,
    string OwnerId,
    string ObjectType,
    bool ActionAllowed,
    string? ItemId = null,
    string? FolderPath = null,
    string? FolderId = null,
    string? AttachmentPath = null,
    string? UserAgent = null,
    string? Grantee = null,
    string? Rights = null) : AuditEvent(OrganizationId, RequestId)
{
    /// <inheritdoc />
    public override string LogType => "MailboxAccess";
}

/// <summary>The action names of §19.1, exactly.</summary>
public static class MailboxActions
{
    public const string Read = "read";
    public const string ReadHierarchy = "read_hierarchy";
    public const string ReadSummary = "read_summary";
    public const string ReadAttachment = "read_attachment";
    public const string ReadPermissions = "read_permissions";
    public const string Create = "create";
    public const string Update = "update";
    public const string UpdatePermissions = "update_permissions";
    public const string UpdateReadState = "update_read_state";
    public const string Delete = "delete";
    public const string SubmitEmailForSending = "submit_email_for_sending";
    public const string AbortSendingEmail = "abort_sending_email";
    public const string Move = "move";
    public const string MoveTo = "move_to";
    public const string Copy = "copy";
    public const string CopyTo = "copy_to";
}

/// <summary>Where audit events go (§19). Never throws for an I/O problem.</summary>
public interface IAuditLog
{
    /// <summary>Appends the event to its organization's audit log.</summary>
    void Write(AuditEvent auditEvent);
}

/// <summary>
/// The audit log: JSON lines under <c>&lt;DataDirectory&gt;/audit/&lt;organizationId&gt;/YYYY-MM-DD.jsonl</c>
/// (UTC days), every log type in one file told apart by <c>log_type</c>. Thread-safe.
/// </summary>
public sealed class AuditLog : IAuditLog, IDisposable
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        // The writer puts log_type and request_id first itself; an override of LogType does not inherit [JsonIgnore].
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver
        {
            Modifiers =
            {
                static info =>
                {
                    if (!typeof(AuditEvent).IsAssignableFrom(info.Type))
                        return;
                    for (var i = info.Properties.Count - 1; i >= 0; i--)
                        if (info.Properties[i].Name is "log_type" or "request_id")
                            info.Properties.RemoveAt(i);
                },
            },
        },
    };

    private readonly DailyJsonLines _files;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Creates the log in <c>audit/</c> under <paramref name="dataDirectory"/>.</summary>
    public AuditLog(string dataDirectory, TimeProvider? time = null, ILogger? logger = null)
    {
        _files = new DailyJsonLines(Path.Combine(dataDirectory, "audit"));
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The folder of the audit log in a configuration's data directory.</summary>
    public static string FolderOf(ServerConfig config) => Path.Combine(config.DataDirectory, "audit");

    /// <summary>The folder every organization's day files are under.</summary>
    public string Root => _files.Root;

    /// <summary>The ARN-like name of an organization in audit records (no AWS account: a URN).</summary>
    public static string OrganizationArn(string organizationId) => "urn:mailserver:organization/" + organizationId;

    /// <inheritdoc />
    public void Write(AuditEvent auditEvent)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        var now = _time.GetUtcNow();
        try
        {
            _files.Append(auditEvent.OrganizationId, now, Serialize(auditEvent, now));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            GovernanceLog.AuditLogWriteFailed(_logger, e, auditEvent.OrganizationId);
        }
    }

    /// <summary>The JSON line of one event (UTF-8, no newline): the writer's fields, then the event's own.</summary>
    public static byte[] Serialize(AuditEvent auditEvent, DateTimeOffset timestamp)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        // The event's properties are serialized straight to bytes and spliced after the common fields (no
        // intermediate document: two or more records are written per login).
        var fields = JsonSerializer.SerializeToUtf8Bytes(auditEvent, auditEvent.GetType(), JsonOptions);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(fields.Length + 256);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JsonOptions.Encoder }))
        {
            json.WriteStartObject();
            json.WriteString("log_type", auditEvent.LogType);
            json.WriteNumber("event_timestamp", timestamp.ToUnixTimeMilliseconds());
            json.WriteString("organization_arn", OrganizationArn(auditEvent.OrganizationId));
            json.WriteString("request_id", auditEvent.RequestId);
            json.Flush(); // the object stays open: its own fields follow
        }
        var line = new byte[buffer.WrittenCount + fields.Length];
        buffer.WrittenSpan.CopyTo(line);
        var rest = line.AsSpan(buffer.WrittenCount);
        if (fields.Length > 2)
        {
            rest[0] = (byte)',';
            fields.AsSpan(1).CopyTo(rest[1..]); // the fields and the closing brace
            return line;
        }
        rest[0] = (byte)'}'; // "{}": nothing of its own
        return line[..(buffer.WrittenCount + 1)];
    }

    /// <summary>
    /// Deletes day files older than each organization's <c>AuditLog.RetentionDays</c> (365 by default); an
    /// organization no longer configured keeps the default. Returns how many files went.
    /// </summary>
    public int DeleteExpired(ServerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var deleted = _files.DeleteExpired(
            orgId => config.Organizations.FirstOrDefault(o => o.Id == orgId)?.AuditLogSettings.RetentionDays ?? AuditLogConfig.DefaultRetentionDays,
            _time.GetUtcNow());
        if (deleted > 0)
            GovernanceLog.LogFilesExpired(_logger, deleted, _files.Root);
        return deleted;
    }

    /// <summary>Closes the open file.</summary>
    public void Dispose() => _files.Dispose();
}
