using MailServer.Protocols.Imap;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Server.Metrics;

namespace MailServer.Server.Audit;

/// <summary>
/// Turns each audited IMAP mailbox operation into one MailboxAccess audit record (WorkMail Administrator Guide, "Mailbox access logs", protocol
/// <c>IMAP</c>) and one <c>MailboxAction</c> metric sample (denied when the command was refused for lack of
/// permission). The record's <c>item_id</c> lists the UIDs the command acted on as an IMAP UID set (runs written
/// <c>first:last</c>, so a FETCH 1:* over 100,000 messages is one short line), in the folder named by
/// <c>folder_path</c> / <c>folder_id</c> of the owner's mailbox.
/// </summary>
public sealed class MailboxAccessAuditObserver(IAuditLog audit, MailMetrics metrics) : IMailboxAccessObserver
{
    /// <summary>The §19.1 protocol name of IMAP.</summary>
    public const string ImapProtocol = "IMAP";

    /// <inheritdoc />
    public void Observe(MailboxAccess access)
    {
        ArgumentNullException.ThrowIfNull(access);
        metrics.MailboxAction(access.OrganizationId, denied: !access.Allowed);
        audit.Write(ToAuditEvent(access, AuditEvent.NewRequestId()));
    }

    /// <summary>The audit record of one operation.</summary>
    public static MailboxAccessAuditEvent ToAuditEvent(MailboxAccess access, string requestId)
    {
        ArgumentNullException.ThrowIfNull(access);
        return new MailboxAccessAuditEvent(access.OrganizationId, requestId, access.UserId, ImapProtocol,
            access.SourceAddress.ToString(), ActionName(access.Action), access.OwnerId, ObjectTypeName(access.ObjectType),
            access.Allowed,
            ItemId: access.Uids.Count == 0 ? null : ResolvedSequenceSet.FromValues(access.Uids).ToString(),
            FolderPath: access.FolderPath,
            FolderId: access.FolderId,
            AttachmentPath: access.AttachmentPath,
            UserAgent: access.UserAgent,
            Grantee: access.Grantee,
            Rights: access.Rights);
    }

    /// <summary>The §19.1 action name.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a defined action.</exception>
    public static string ActionName(MailboxAccessAction action) => action switch
    {
        MailboxAccessAction.ReadHierarchy => MailboxActions.ReadHierarchy,
        MailboxAccessAction.ReadSummary => MailboxActions.ReadSummary,
        MailboxAccessAction.Read => MailboxActions.Read,
        MailboxAccessAction.ReadAttachment => MailboxActions.ReadAttachment,
        MailboxAccessAction.Create => MailboxActions.Create,
        MailboxAccessAction.Update => MailboxActions.Update,
        MailboxAccessAction.UpdateReadState => MailboxActions.UpdateReadState,
        MailboxAccessAction.Delete => MailboxActions.Delete,
        MailboxAccessAction.Move => MailboxActions.Move,
        MailboxAccessAction.MoveTo => MailboxActions.MoveTo,
        MailboxAccessAction.Copy => MailboxActions.Copy,
        MailboxAccessAction.CopyTo => MailboxActions.CopyTo,
        MailboxAccessAction.ReadPermissions => MailboxActions.ReadPermissions,
        MailboxAccessAction.UpdatePermissions => MailboxActions.UpdatePermissions,
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, "Not a mailbox access action."),
    };

    /// <summary>The §19.1 object type name.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a defined object type.</exception>
    public static string ObjectTypeName(MailboxObjectType type) => type switch
    {
        MailboxObjectType.Folder => "Folder",
        MailboxObjectType.Message => "Message",
        MailboxObjectType.Attachment => "Attachment",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a mailbox object type."),
    };
}
