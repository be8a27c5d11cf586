using System.Net;

namespace MailServer.Protocols.Imap;

/// <summary>
/// The kinds of mailbox operation an IMAP command performs, one per audited command (our mapping onto
/// WorkMail Administrator Guide, "Mailbox access logs"). The host turns them into that section's action names.
/// </summary>
public enum MailboxAccessAction
{
    /// <summary>LIST, LSUB, STATUS: the folder hierarchy was read.</summary>
    ReadHierarchy,
    /// <summary>FETCH of flags, envelope, headers or structure only.</summary>
    ReadSummary,
    /// <summary>FETCH of a body (BODY[...], BINARY[...], RFC822, RFC822.TEXT).</summary>
    Read,
    /// <summary>FETCH of attachment parts only (BODY[2], BINARY[2] where part 2 is an attachment).</summary>
    ReadAttachment,
    /// <summary>APPEND (a message) or CREATE (a folder).</summary>
    Create,
    /// <summary>RENAME, or STORE of flags other than \Seen alone.</summary>
    Update,
    /// <summary>STORE of \Seen alone.</summary>
    UpdateReadState,
    /// <summary>EXPUNGE, UID EXPUNGE, CLOSE expunging, DELETE.</summary>
    Delete,
    /// <summary>MOVE, on the source folder.</summary>
    Move,
    /// <summary>MOVE, on the destination folder.</summary>
    MoveTo,
    /// <summary>COPY, on the source folder.</summary>
    Copy,
    /// <summary>COPY, on the destination folder.</summary>
    CopyTo,
    /// <summary>MYRIGHTS, GETACL, LISTRIGHTS: the folder's permissions were read.</summary>
    ReadPermissions,
    /// <summary>SETACL, DELETEACL: the owner's sharing of a folder (RFC 4314 §3.1–§3.2).</summary>
    UpdatePermissions,
}

/// <summary>Whether an operation acted on a folder or on messages.</summary>
public enum MailboxObjectType
{
    /// <summary>A folder (LIST, STATUS, SELECT, EXAMINE, CREATE, RENAME, DELETE, the ACL commands).</summary>
    Folder,
    /// <summary>Messages (FETCH, STORE, APPEND, EXPUNGE, MOVE, COPY).</summary>
    Message,
    /// <summary>Attachments of messages (a FETCH of attachment parts only).</summary>
    Attachment,
}

/// <summary>One audited IMAP command on a mailbox.</summary>
/// <param name="OrganizationId">The organization of the authenticated user.</param>
/// <param name="UserId">The authenticated user's address.</param>
/// <param name="OwnerId">The address of the mailbox owner: the user, or the other user whose mailbox was opened
/// through Full Access (the Other Users namespace).</param>
/// <param name="Action">What the command did.</param>
/// <param name="ObjectType">Folder or messages.</param>
/// <param name="FolderPath">The folder's name inside the owner's mailbox; null for a LIST of the whole hierarchy.</param>
/// <param name="FolderId">The store id of the folder, when it exists.</param>
/// <param name="Uids">The UIDs of the messages acted on (empty for folder operations).</param>
/// <param name="Allowed">False when the command was refused for lack of permission.</param>
/// <param name="SourceAddress">The client's address.</param>
/// <param name="UserAgent">The client's name and version as it gave them in an RFC 2971 ID command
/// (<c>Thunderbird/128.5.0</c>), or null when it sent none.</param>
/// <param name="AttachmentPath">For <see cref="MailboxAccessAction.ReadAttachment"/>: the attachments' display names,
/// comma-separated in the order fetched, each once.</param>
/// <param name="SourceFolderPath">For <see cref="MailboxAccessAction.MoveTo"/> and <see cref="MailboxAccessAction.CopyTo"/>: the
/// folder the messages came from (the server learns spam and ham from moves into and out of Junk E-mail).</param>
/// <param name="Grantee">For <see cref="MailboxAccessAction.UpdatePermissions"/>: the user or group whose sharing entry
/// was set or removed (as the client named it when refused).</param>
/// <param name="Rights">For an allowed <see cref="MailboxAccessAction.UpdatePermissions"/>: the rights the entry holds
/// now (RFC 4314 §2.1 letters), empty when it was removed.</param>
public sealed record MailboxAccess(
    string OrganizationId,
    string UserId,
    string OwnerId,
    MailboxAccessAction Action,
    MailboxObjectType ObjectType,
    string? FolderPath,
    string? FolderId,
    IReadOnlyList<uint> Uids,
    bool Allowed,
    IPAddress SourceAddress,
    string? UserAgent = null,
    string? AttachmentPath = null,
    string? SourceFolderPath = null,
    string? Grantee = null,
    string? Rights = null);

/// <summary>
/// Told of every audited mailbox operation, once per command (not per message). Called on the session's thread
/// after the command's outcome is known; an implementation must not block and must not throw.
/// </summary>
public interface IMailboxAccessObserver
{
    /// <summary>Records one operation.</summary>
    void Observe(MailboxAccess access);
}
