using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>RENAME (RFC 9051 §6.3.6): children move with the folder; UIDVALIDITY is kept.</summary>
internal static class RenameHandler
{
    public static async Task<ImapCompletion> RunAsync(RenameCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var from = MailboxNames.FromWire(session, command.Mailbox);
        var to = MailboxNames.FromWire(session, command.NewName).TrimEnd('/');
        if (to.Length == 0)
            throw new ImapRefusedException(ResponseCode.Cannot, "Invalid mailbox name");
        if (to.Equals(MailboxName.Inbox, StringComparison.OrdinalIgnoreCase))
            throw new ImapRefusedException(ResponseCode.AlreadyExists, "INBOX exists already");
        var source = MailboxNames.Locate(session, from, MailboxAccessAction.Update);
        var destination = MailboxNames.Locate(session, to, MailboxAccessAction.Update);
        if (source.MailboxId != destination.MailboxId)
            throw new ImapRefusedException(ResponseCode.Cannot, "A folder cannot be renamed into another user's mailbox");
        if (destination.FolderName.Equals(MailboxName.Inbox, StringComparison.OrdinalIgnoreCase))
            throw new ImapRefusedException(ResponseCode.AlreadyExists, "INBOX exists already");
        await session.Store.RenameFolderAsync(source.MailboxId, source.FolderName, destination.FolderName, cancellationToken);
        session.RecordAccess(MailboxAccessAction.Update, MailboxObjectType.Folder, source.Owner?.Email, destination.FolderName,
            session.Store.FindFolder(source.MailboxId, destination.FolderName)?.FolderId); // workmail-behaviour §19.1
        return ImapCompletion.Ok("RENAME completed");
    }
}
