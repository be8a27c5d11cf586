using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>RENAME (RFC 9051 §6.3.6): children move with the folder; UIDVALIDITY is kept. Renaming INBOX moves its
/// messages into a new folder and leaves INBOX (and its children) in place. A special-use folder keeps its use under
/// the new name: the use belongs to the folder, not to the name.</summary>
internal static class RenameHandler
{
    public static async Task<ImapCompletion> RunAsync(RenameCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var from = MailboxNames.FromWire(session, command.Mailbox);
        var to = MailboxNames.NewName(session, command.NewName);
        var source = MailboxNames.Locate(session, from, MailboxAccessAction.Update);
        var destination = MailboxNames.Locate(session, to, MailboxAccessAction.Update);
        if (source.MailboxId != destination.MailboxId)
            throw new ImapRefusedException(ResponseCode.Cannot, "A folder cannot be renamed into another user's mailbox");
        if (destination.FolderName.Equals(MailboxName.Inbox, StringComparison.OrdinalIgnoreCase))
            throw new ImapRefusedException(ResponseCode.AlreadyExists, "INBOX exists already");
        // RFC 4314 §4: x on the old name, k on the new name's parent.
        if (session.Store.FindFolder(source.MailboxId, source.FolderName) is { } renamed)
            MailboxNames.RequireRight(session, source, renamed.Name, 'x', "rename this folder");
        MailboxNames.RequireRight(session, destination, destination.FolderName, 'k', "create folders", onParent: true);
        if (source.FolderName.Equals(MailboxName.Inbox, StringComparison.OrdinalIgnoreCase))
            await RenameInboxAsync(session, source, destination.FolderName, cancellationToken);
        else
            await session.Store.RenameFolderAsync(source.MailboxId, source.FolderName, destination.FolderName, cancellationToken);
        await CreateHandler.CreateSuperiorsAsync(session, destination, cancellationToken);
        session.RecordAccess(MailboxAccessAction.Update, MailboxObjectType.Folder, source.Owner?.Email, destination.FolderName,
            session.Store.FindFolder(source.MailboxId, destination.FolderName)?.FolderId); // WorkMail Administrator Guide, "Mailbox access logs"
        return ImapCompletion.Ok("RENAME completed");
    }

    /// <summary>RFC 9051 §6.3.6: renaming INBOX "moves all messages in INBOX to a new mailbox with the given name,
    /// leaving INBOX empty"; its inferior names "are unaffected". Two store steps (create, then one move transaction):
    /// if the move fails, the new folder is left empty and INBOX keeps its messages.</summary>
    private static async Task RenameInboxAsync(ImapSession session, MailboxLocation inbox, string newName, CancellationToken cancellationToken)
    {
        var source = session.Store.FindFolder(inbox.MailboxId, MailboxName.Inbox)
            ?? throw new ImapRefusedException(ResponseCode.NonExistent, "No such mailbox");
        var created = await session.Store.CreateFolderAsync(inbox.MailboxId, newName, cancellationToken);
        var uids = session.Store.ListMessages(source.FolderId).Select(m => m.Uid).ToList();
        if (uids.Count > 0)
            await session.Store.MoveAsync(source.FolderId, uids, created.FolderId, cancellationToken);
    }
}
