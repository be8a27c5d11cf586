using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>CREATE (RFC 9051 §6.3.4). A trailing delimiter is dropped; missing superior levels are created too.
/// CREATE-SPECIAL-USE (RFC 6154 §3): <c>(USE (\Archive))</c> marks the new folder; <c>\Sent</c>, <c>\Drafts</c>,
/// <c>\Trash</c> and <c>\Junk</c> only when the mailbox has no folder of that use (the WorkMail folders have them);
/// <c>\All</c> and <c>\Flagged</c> (virtual mailboxes), an unknown use or more than one use: <c>NO [USEATTR]</c>
/// and nothing is created.</summary>
internal static class CreateHandler
{
    public static async Task<ImapCompletion> RunAsync(CreateCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var name = MailboxNames.NewName(session, command.Mailbox);
        var location = MailboxNames.Locate(session, name, MailboxAccessAction.Create); // "Other Users/<owner>/<folder>": created in the owner's mailbox
        if (location.FolderName.Equals(MailboxName.Inbox, StringComparison.OrdinalIgnoreCase))
            throw new ImapRefusedException(ResponseCode.AlreadyExists, "INBOX exists already");
        MailboxNames.RequireRight(session, location, location.FolderName, 'k', "create folders", onParent: true); // RFC 4314 §4: k on the parent
        var use = SpecialUseOf(session, location.MailboxId, command.SpecialUse);
        var parent = NearestExistingParent(session, location);
        var created = await session.Store.CreateFolderAsync(location.MailboxId, location.FolderName, use, cancellationToken);
        await InheritSharingAsync(session, location.MailboxId, parent, created.FolderId, cancellationToken);
        await CreateSuperiorsAsync(session, location, cancellationToken);
        session.RecordAccess(MailboxAccessAction.Create, MailboxObjectType.Folder, location.Owner?.Email, location.FolderName,
            created.FolderId); // WorkMail Administrator Guide, "Mailbox access logs"
        return new ImapCompletion(new ResponseCode.MailboxObjectId(ObjectIds.MailboxId(created)), "CREATE completed"); // RFC 8474 §4
    }

    /// <summary>The nearest folder above the new name that exists (RFC 4314 §4 CREATE), or null.</summary>
    private static FolderInfo? NearestExistingParent(ImapSession session, MailboxLocation location)
    {
        var name = location.FolderName;
        for (var slash = name.LastIndexOf('/'); slash > 0; slash = name.LastIndexOf('/', slash - 1))
        {
            if (session.Store.FindFolder(location.MailboxId, name[..slash]) is { } parent)
                return parent;
        }
        return null;
    }

    /// <summary>RFC 4314 §4: a new folder SHOULD inherit the ACL of its parent, so a folder created below a shared one
    /// is shared with the same users and groups (the co-owner who made it can see it).</summary>
    private static async Task InheritSharingAsync(ImapSession session, string mailboxId, FolderInfo? parent, string folderId,
        CancellationToken cancellationToken)
    {
        if (parent is null || session.Store.ReadFolderAcl(mailboxId).GetValueOrDefault(parent.FolderId) is not { } entries)
            return;
        foreach (var (identifier, rights) in entries)
            await session.Store.SetFolderAclAsync(mailboxId, folderId, identifier, rights, cancellationToken);
    }

    /// <summary>The special use CREATE asks for (RFC 6154 §3), or <c>NO [USEATTR]</c> when it cannot be given.</summary>
    private static SpecialUse SpecialUseOf(ImapSession session, string mailboxId, IReadOnlyList<string> uses)
    {
        if (uses.Count == 0)
            return SpecialUse.None;
        if (uses.Count > 1)
            throw new ImapRefusedException(ResponseCode.UseAttribute, "A folder has at most one special use here");
        var use = uses[0].ToUpperInvariant() switch
        {
            @"\ARCHIVE" => SpecialUse.Archive,
            @"\SENT" => SpecialUse.Sent,
            @"\DRAFTS" => SpecialUse.Drafts,
            @"\TRASH" => SpecialUse.Trash,
            @"\JUNK" => SpecialUse.Junk,
            @"\ALL" or @"\FLAGGED" => throw new ImapRefusedException(ResponseCode.UseAttribute, $"{uses[0]} mailboxes are not offered"),
            _ => throw new ImapRefusedException(ResponseCode.UseAttribute, $"{uses[0]} is not a special use"),
        };
        if (use != SpecialUse.Archive && session.Store.ListFolders(mailboxId).Any(f => f.SpecialUse == use))
            throw new ImapRefusedException(ResponseCode.UseAttribute, $"{uses[0]} is the use of another folder");
        return use;
    }

    /// <summary>RFC 9051 §6.3.4, §6.3.6: the server "SHOULD create any superior hierarchical names that are needed",
    /// so "a/b/c" also makes "a" and "a/b" real folders and LIST never meets a level that is not a mailbox. Run after
    /// the folder itself was created or renamed, so a refused command leaves nothing behind.</summary>
    internal static async Task CreateSuperiorsAsync(ImapSession session, MailboxLocation location, CancellationToken cancellationToken)
    {
        var name = location.FolderName;
        for (var slash = name.IndexOf('/', StringComparison.Ordinal); slash > 0; slash = name.IndexOf('/', slash + 1))
        {
            var superior = name[..slash];
            if (superior.Equals(MailboxName.Inbox, StringComparison.OrdinalIgnoreCase) || session.Store.FindFolder(location.MailboxId, superior) is not null)
                continue;
            try
            {
                var created = await session.Store.CreateFolderAsync(location.MailboxId, superior, cancellationToken);
                session.RecordAccess(MailboxAccessAction.Create, MailboxObjectType.Folder, location.Owner?.Email, superior, created.FolderId); // WorkMail Administrator Guide, "Mailbox access logs"
            }
            catch (FolderOperationException e) when (e.Refusal == FolderRefusal.AlreadyExists)
            {
                // Another session created it meanwhile.
            }
        }
    }
}
