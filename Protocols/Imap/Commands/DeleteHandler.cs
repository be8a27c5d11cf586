using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>DELETE (RFC 9051 §6.3.5); the store refuses INBOX and folders with children.</summary>
internal static class DeleteHandler
{
    public static async Task<ImapCompletion> RunAsync(DeleteCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var location = MailboxNames.Locate(session, MailboxNames.FromWire(session, command.Mailbox), MailboxAccessAction.Delete);
        var existing = session.Store.FindFolder(location.MailboxId, location.FolderName);
        var folderId = existing?.FolderId;
        if (existing is not null)
            MailboxNames.RequireRight(session, location, existing.Name, 'x', "delete this folder"); // RFC 4314 §4: x
        // RFC 5530 INUSE: this session has the folder selected. Other sessions that do are told BYE (ImapSession).
        if (session.Selected is { } selected && session.Store.FindFolder(location.MailboxId, location.FolderName) is { } folder
            && folder.FolderId == selected.FolderId)
            throw new ImapRefusedException(ResponseCode.InUse, "Close the mailbox before deleting it");
        await session.Store.DeleteFolderAsync(location.MailboxId, location.FolderName, cancellationToken);
        // RFC 9051 §6.3.7 / RFC 3501 §6.3.9: the server does not remove a name from the subscriptions because the
        // mailbox is gone; the store drops a folder's subscription with it, so it is kept as a name.
        if (existing is { Subscribed: true })
            await session.Store.SetSubscribedAsync(location.MailboxId, existing.Name, true, cancellationToken);
        session.RecordAccess(MailboxAccessAction.Delete, MailboxObjectType.Folder, location.Owner?.Email, location.FolderName, folderId); // WorkMail Administrator Guide, "Mailbox access logs"
        return ImapCompletion.Ok("DELETE completed");
    }
}
