using MailServer.Protocols.Imap.Syntax;
using MailServer.Rules.Directory;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// ACL (RFC 4314) as a read-only view of the configuration's mailbox permissions: a user holds every right on their
/// own folders, and so does a grantee with Full Access on the owner's (WorkMail's Full Access is all or nothing).
/// MYRIGHTS, GETACL and LISTRIGHTS report that; SETACL and DELETEACL are refused, the administrator edits
/// MailboxPermissions in the configuration instead.
/// </summary>
internal static class AclHandler
{
    /// <summary>Every right RFC 4314 §2.1 defines: lookup, read, seen, write, insert, post, create, delete mailbox,
    /// delete message, expunge, administer.</summary>
    public const string AllRights = "lrswipkxtea";

    /// <summary>MYRIGHTS (RFC 4314 §3.5).</summary>
    public static Task<ImapCompletion> RunMyRightsAsync(MyRightsCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var named = MailboxNames.RequireNamed(session, command.Mailbox, auditAs: MailboxAccessAction.ReadPermissions); // NO [NONEXISTENT] without the "l" right (§6)
        RecordRead(session, named);
        session.Writer.BeginUntagged().Atom("MYRIGHTS").Mailbox(named.ClientName).AString(AllRights).End();
        return Task.FromResult(ImapCompletion.Ok("MYRIGHTS completed"));
    }

    /// <summary>GETACL (RFC 4314 §3.3): the owner and every user with Full Access on the owner's mailbox.</summary>
    public static Task<ImapCompletion> RunGetAclAsync(GetAclCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var named = MailboxNames.RequireNamed(session, command.Mailbox, auditAs: MailboxAccessAction.ReadPermissions);
        RecordRead(session, named);
        var w = session.Writer.BeginUntagged().Atom("ACL").Mailbox(named.ClientName);
        foreach (var identifier in Holders(session, named.Owner ?? session.Account.User))
            w.AString(identifier).AString(AllRights);
        w.End();
        return Task.FromResult(ImapCompletion.Ok("GETACL completed"));
    }

    /// <summary>LISTRIGHTS (RFC 4314 §3.4): the owner always holds everything; anyone else gets all the rights or
    /// none, as one group.</summary>
    public static Task<ImapCompletion> RunListRightsAsync(ListRightsCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var named = MailboxNames.RequireNamed(session, command.Mailbox, auditAs: MailboxAccessAction.ReadPermissions);
        RecordRead(session, named);
        var owner = named.Owner ?? session.Account.User;
        var w = session.Writer.BeginUntagged().Atom("LISTRIGHTS").Mailbox(named.ClientName).AString(command.Identifier);
        if (string.Equals(command.Identifier, owner.Email, StringComparison.OrdinalIgnoreCase))
            w.AString(AllRights);
        else
            w.String("").AString(AllRights);
        w.End();
        return Task.FromResult(ImapCompletion.Ok("LISTRIGHTS completed"));
    }

    /// <summary>SETACL (RFC 4314 §3.1): refused, permissions are the administrator's (RFC 5530 NOPERM); audited as a
    /// refused update_permissions (a mailbox the user cannot see stays NO [NONEXISTENT], RFC 4314 §6).</summary>
    public static Task<ImapCompletion> RunSetAclAsync(SetAclCommand command, ImapSession session, CancellationToken cancellationToken) =>
        RefuseUpdate(session, command.Mailbox);

    /// <summary>DELETEACL (RFC 4314 §3.2): refused like SETACL.</summary>
    public static Task<ImapCompletion> RunDeleteAclAsync(DeleteAclCommand command, ImapSession session, CancellationToken cancellationToken) =>
        RefuseUpdate(session, command.Mailbox);

    private static Task<ImapCompletion> RefuseUpdate(ImapSession session, string mailbox)
    {
        var named = MailboxNames.RequireNamed(session, mailbox, auditAs: MailboxAccessAction.UpdatePermissions);
        session.RecordAccess(MailboxAccessAction.UpdatePermissions, MailboxObjectType.Folder, named.Owner?.Email, named.Folder.Name,
            named.Folder.FolderId, allowed: false);
        throw new ImapRefusedException(ResponseCode.NoPermission, "Mailbox permissions are set by the administrator in the configuration");
    }

    // WorkMail Administrator Guide, "Mailbox access logs": GETACL/MYRIGHTS (and LISTRIGHTS) → read_permissions.
    private static void RecordRead(ImapSession session, NamedFolder named) =>
        session.RecordAccess(MailboxAccessAction.ReadPermissions, MailboxObjectType.Folder, named.Owner?.Email, named.Folder.Name, named.Folder.FolderId);

    private static IEnumerable<string> Holders(ImapSession session, DirectoryUser owner)
    {
        yield return owner.Email;
        if (session.Directory?.Current is not { } directory || directory.FindUser(owner.Email) is not { } current)
            yield break;
        foreach (var user in directory.Users)
        {
            if (!string.Equals(user.Email, current.Email, StringComparison.OrdinalIgnoreCase)
                && directory.RightsOn(current, user).HasFlag(MailboxRights.FullAccess))
                yield return user.Email;
        }
    }
}
