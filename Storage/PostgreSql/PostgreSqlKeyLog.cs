using Microsoft.Extensions.Logging;

namespace MailServer.Storage.PostgreSql;

/// <summary>The PostgreSQL engine's key administration events (4110–4119), the LiteDB engine's 4020–4022 on this engine.</summary>
internal static partial class PostgreSqlLog
{
    [LoggerMessage(EventId = 4110, Level = LogLevel.Information, Message = "Master key rotation of organization {OrganizationId} to version {Version}: {Outdated} rows to re-wrap")]
    public static partial void RotationStarted(ILogger logger, string organizationId, int version, long outdated);

    [LoggerMessage(EventId = 4111, Level = LogLevel.Information, Message = "Master key rotation of organization {OrganizationId} to version {Version} finished: {Rewrapped} rows re-wrapped in {Milliseconds} ms; older versions retired")]
    public static partial void RotationFinished(ILogger logger, string organizationId, int version, long rewrapped, long milliseconds);

    [LoggerMessage(EventId = 4112, Level = LogLevel.Warning, Message = "Mailbox {MailboxId} of organization {OrganizationId} deleted and its key destroyed ({Messages} messages)")]
    public static partial void MailboxShredded(ILogger logger, string organizationId, string mailboxId, int messages);

    [LoggerMessage(EventId = 4113, Level = LogLevel.Information, Message = "Mailbox key rotation of {MailboxId}: generation {Generation} is current")]
    public static partial void MailboxKeyRotationStarted(ILogger logger, string mailboxId, int generation);

    [LoggerMessage(EventId = 4114, Level = LogLevel.Information, Message = "Mailbox key rotation of {MailboxId} to generation {Generation} finished: {Rewrapped} message keys re-wrapped in {Milliseconds} ms; the replaced key destroyed")]
    public static partial void MailboxKeyRotationFinished(ILogger logger, string mailboxId, int generation, long rewrapped, long milliseconds);
}
