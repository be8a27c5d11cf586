using MailServer.Protocols.Imap.Syntax;
using MailServer.Rules.Directory;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// ACL (RFC 4314 §3) over the two sources of rights (<see cref="FolderRights"/>): the configuration's Full Access, which
/// IMAP only reports, and the owner's per-folder sharing entries, which SETACL and DELETEACL change. Identifiers are the
/// users and groups of the owner's organization (address or alias; answered by primary address); "anyone" and negative
/// rights ("-id") are refused (RFC 4314 §2 lets a server do without them). A rights string is put onto one of the roles
/// of <see cref="FolderRights.Roles"/> (RFC 4314 §3.7: rights the server ties together are granted together).
/// </summary>
internal static class AclHandler
{
    /// <summary>MYRIGHTS (RFC 4314 §3.5): allowed with any right (§4: any of l, r, i, k, x, a; l is needed to see the folder).</summary>
    public static Task<ImapCompletion> RunMyRightsAsync(MyRightsCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var named = MailboxNames.RequireNamed(session, command.Mailbox, auditAs: MailboxAccessAction.ReadPermissions); // NO [NONEXISTENT] without the "l" right (§6)
        RecordRead(session, named);
        session.Writer.BeginUntagged().Atom("MYRIGHTS").Mailbox(named.ClientName).AString(FolderRights.WithVirtual(named.Rights)).End();
        return Task.FromResult(ImapCompletion.Ok("MYRIGHTS completed"));
    }

    /// <summary>GETACL (RFC 4314 §3.3, needs a): the owner, every user with Full Access on the owner's mailbox, and the
    /// folder's sharing entries.</summary>
    public static Task<ImapCompletion> RunGetAclAsync(GetAclCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var named = MailboxNames.RequireNamed(session, command.Mailbox, auditAs: MailboxAccessAction.ReadPermissions);
        RequireAdminister(session, named, MailboxAccessAction.ReadPermissions, "read the access control list");
        RecordRead(session, named);
        var w = session.Writer.BeginUntagged().Atom("ACL").Mailbox(named.ClientName);
        foreach (var (identifier, rights) in Entries(session, named))
            w.AString(identifier).AString(FolderRights.WithVirtual(rights));
        w.End();
        return Task.FromResult(ImapCompletion.Ok("GETACL completed"));
    }

    /// <summary>LISTRIGHTS (RFC 4314 §3.4, needs a): the owner always holds everything; a Full Access grantee always holds
    /// what the configuration gives; anyone else of the organization can be given the roles' groups, tied as
    /// <see cref="FolderRights.GrantableGroups"/>; "anyone" and other identifiers can be given nothing. The identifier is
    /// answered as the client wrote it (§3.4 MUST).</summary>
    public static Task<ImapCompletion> RunListRightsAsync(ListRightsCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var named = MailboxNames.RequireNamed(session, command.Mailbox, auditAs: MailboxAccessAction.ReadPermissions);
        RequireAdminister(session, named, MailboxAccessAction.ReadPermissions, "list rights");
        RecordRead(session, named);
        var owner = named.Owner ?? session.Account.User;
        var w = session.Writer.BeginUntagged().Atom("LISTRIGHTS").Mailbox(named.ClientName).AString(command.Identifier);
        var resolved = Resolve(session, owner, command.Identifier);
        if (resolved is { } identifier && string.Equals(identifier, owner.Email, StringComparison.OrdinalIgnoreCase))
            w.AString(FolderRights.WithVirtual(FolderRights.All));
        else if (resolved is { } grantee && HasFullAccess(session, owner, grantee))
            w.AString(FolderRights.WithVirtual(FolderRights.FullAccess));
        else if (resolved is not null)
        {
            w.String("");
            foreach (var group in FolderRights.GrantableGroups)
                w.AString(group);
        }
        else
            w.String("");
        w.End();
        return Task.FromResult(ImapCompletion.Ok("LISTRIGHTS completed"));
    }

    /// <summary>SETACL (RFC 4314 §3.1): by a holder of a on the folder (its owner, or a sharee given the owner role).
    /// Audited as update_permissions, allowed or refused, with the grantee and the rights.</summary>
    public static async Task<ImapCompletion> RunSetAclAsync(SetAclCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var (mode, asked) = FolderRights.ParseModification(command.Rights); // BAD for an unknown right (§3.1)
        var named = MailboxNames.RequireNamed(session, command.Mailbox, auditAs: MailboxAccessAction.UpdatePermissions);
        RequireAdminister(session, named, MailboxAccessAction.UpdatePermissions, "share this folder", command.Identifier);
        var owner = named.Owner ?? session.Account.User;
        var identifier = RequireGrantee(session, named, owner, command.Identifier);
        var rights = FolderRights.Apply(Stored(session, named).GetValueOrDefault(identifier) ?? "", mode, asked);
        await WriteAsync(session, named, identifier, rights.Length == 0 ? null : rights, cancellationToken);
        return ImapCompletion.Ok("SETACL completed");
    }

    /// <summary>DELETEACL (RFC 4314 §3.2): removes the identifier's sharing entry (none: nothing to do, OK).</summary>
    public static async Task<ImapCompletion> RunDeleteAclAsync(DeleteAclCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var named = MailboxNames.RequireNamed(session, command.Mailbox, auditAs: MailboxAccessAction.UpdatePermissions);
        RequireAdminister(session, named, MailboxAccessAction.UpdatePermissions, "share this folder", command.Identifier);
        var owner = named.Owner ?? session.Account.User;
        var identifier = RequireGrantee(session, named, owner, command.Identifier);
        await WriteAsync(session, named, identifier, null, cancellationToken);
        return ImapCompletion.Ok("DELETEACL completed");
    }

    private static async Task WriteAsync(ImapSession session, NamedFolder named, string identifier, string? rights,
        CancellationToken cancellationToken)
    {
        var mailboxId = named.Folder.MailboxId;
        try
        {
            await session.Store.SetFolderAclAsync(mailboxId, named.Folder.FolderId, identifier, rights, cancellationToken);
        }
        catch (KeyNotFoundException)
        {
            throw new ImapRefusedException(ResponseCode.NonExistent, "No such mailbox"); // deleted meanwhile
        }
        session.RecordAccess(MailboxAccessAction.UpdatePermissions, MailboxObjectType.Folder, named.Owner?.Email, named.Folder.Name,
            named.Folder.FolderId, grantee: identifier, rights: rights ?? "");
    }

    /// <summary>RFC 4314 §4: GETACL, LISTRIGHTS, SETACL and DELETEACL need a.</summary>
    /// <exception cref="ImapRefusedException">NO [NOPERM], audited as refused.</exception>
    private static void RequireAdminister(ImapSession session, NamedFolder named, MailboxAccessAction action, string what, string? grantee = null)
    {
        if (named.Rights.Contains('a', StringComparison.Ordinal))
            return;
        session.RecordAccess(action, MailboxObjectType.Folder, named.Owner?.Email, named.Folder.Name, named.Folder.FolderId, allowed: false,
            grantee: grantee);
        FolderRights.Require(named.Rights, 'a', what);
    }

    /// <summary>The identifier a SETACL or DELETEACL may change, as stored (the primary address).</summary>
    /// <exception cref="ImapSyntaxException">An empty identifier (RFC 4314 §3: BAD).</exception>
    /// <exception cref="ImapRefusedException">"anyone", a negative identifier, an unknown one, the owner, or a Full
    /// Access grantee (the administrator's).</exception>
    private static string RequireGrantee(ImapSession session, NamedFolder named, DirectoryUser owner, string wire)
    {
        try
        {
            return ResolveGrantee(session, owner, wire);
        }
        catch (ImapRefusedException)
        {
            // README "Sharing folders": every SETACL / DELETEACL, allowed or refused, is in the mailbox access log.
            session.RecordAccess(MailboxAccessAction.UpdatePermissions, MailboxObjectType.Folder, named.Owner?.Email, named.Folder.Name,
                named.Folder.FolderId, allowed: false, grantee: wire);
            throw;
        }
    }

    private static string ResolveGrantee(ImapSession session, DirectoryUser owner, string wire)
    {
        if (wire.Length == 0)
            throw new ImapSyntaxException("An empty identifier");
        if (wire.StartsWith('-'))
            throw new ImapRefusedException(ResponseCode.Cannot, "Negative rights are not offered");
        if (wire.Equals("anyone", StringComparison.OrdinalIgnoreCase))
            throw new ImapRefusedException(ResponseCode.Cannot, "Folders are shared with users and groups of the organization, not with anyone");
        var identifier = Resolve(session, owner, wire)
            ?? throw new ImapRefusedException(ResponseCode.NonExistent, "No such user or group in the organization");
        if (string.Equals(identifier, owner.Email, StringComparison.OrdinalIgnoreCase))
            throw new ImapRefusedException(ResponseCode.Cannot, "The owner always holds every right");
        if (HasFullAccess(session, owner, identifier))
            throw new ImapRefusedException(ResponseCode.NoPermission, "That user's rights are granted by the administrator");
        return identifier;
    }

    /// <summary>The primary address of a user or group of the owner's organization named by address or alias, else null.</summary>
    private static string? Resolve(ImapSession session, DirectoryUser owner, string identifier)
    {
        if (session.Directory?.Current is not { } directory)
            return null;
        if (directory.FindUser(identifier) is { } user && user.OrganizationId == owner.OrganizationId)
            return user.Email;
        if (directory.FindGroup(identifier) is { } group && group.OrganizationId == owner.OrganizationId)
            return group.Email;
        return null;
    }

    private static bool HasFullAccess(ImapSession session, DirectoryUser owner, string identifier) =>
        session.Directory?.Current is { } directory && directory.FindUser(identifier) is { } user
        && !string.Equals(user.Email, owner.Email, StringComparison.OrdinalIgnoreCase)
        && directory.RightsOn(owner, user).HasFlag(MailboxRights.FullAccess);

    private static IReadOnlyDictionary<string, string> Stored(ImapSession session, NamedFolder named) =>
        session.Store.ReadFolderAcl(named.Folder.MailboxId).GetValueOrDefault(named.Folder.FolderId)
        ?? new Dictionary<string, string>();

    /// <summary>The ACL response's pairs: the owner, the Full Access grantees (configuration order), then the folder's
    /// sharing entries (an identifier that is in both shown once, with the union).</summary>
    private static List<(string Identifier, string Rights)> Entries(ImapSession session, NamedFolder named)
    {
        var owner = named.Owner ?? session.Account.User;
        var result = new List<(string Identifier, string Rights)> { (owner.Email, FolderRights.All) };
        if (session.Directory?.Current is { } directory && directory.FindUser(owner.Email) is { } current)
        {
            foreach (var user in directory.Users)
            {
                if (!string.Equals(user.Email, current.Email, StringComparison.OrdinalIgnoreCase)
                    && directory.RightsOn(current, user).HasFlag(MailboxRights.FullAccess))
                    result.Add((user.Email, FolderRights.FullAccess));
            }
        }
        foreach (var (identifier, rights) in Stored(session, named).OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            var index = result.FindIndex(e => string.Equals(e.Identifier, identifier, StringComparison.OrdinalIgnoreCase));
            if (index >= 0)
                result[index] = (result[index].Identifier, FolderRights.Union(result[index].Rights, rights));
            else
                result.Add((identifier, rights));
        }
        return result;
    }

    // WorkMail Administrator Guide, "Mailbox access logs": GETACL/MYRIGHTS (and LISTRIGHTS) → read_permissions.
    private static void RecordRead(ImapSession session, NamedFolder named) =>
        session.RecordAccess(MailboxAccessAction.ReadPermissions, MailboxObjectType.Folder, named.Owner?.Email, named.Folder.Name, named.Folder.FolderId);
}
