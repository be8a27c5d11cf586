using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>CREATE (RFC 9051 §6.3.4). A trailing delimiter is dropped; special-use creation (RFC 6154 §3) is not offered.</summary>
internal static class CreateHandler
{
    public static async Task<ImapCompletion> RunAsync(CreateCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        if (command.SpecialUse.Count > 0)
            throw new ImapRefusedException(ResponseCode.Cannot, "Creating special-use mailboxes is not supported");
        var name = MailboxNames.FromWire(session, command.Mailbox).TrimEnd('/');
        if (name.Length == 0 || name.Contains("//", StringComparison.Ordinal) || name.StartsWith('/'))
            throw new ImapRefusedException(ResponseCode.Cannot, "Invalid mailbox name");
        if (name.Equals(MailboxName.Inbox, StringComparison.OrdinalIgnoreCase))
            throw new ImapRefusedException(ResponseCode.AlreadyExists, "INBOX exists already");
        if (name.Equals(MailboxNames.OtherUsersRoot, StringComparison.OrdinalIgnoreCase))
            throw new ImapRefusedException(ResponseCode.Cannot, "That name is the Other Users namespace");
        var location = MailboxNames.Locate(session, name, MailboxAccessAction.Create); // "Other Users/<owner>/<folder>": created in the owner's mailbox
        if (location.FolderName.Equals(MailboxName.Inbox, StringComparison.OrdinalIgnoreCase))
            throw new ImapRefusedException(ResponseCode.AlreadyExists, "INBOX exists already");
        await session.Store.CreateFolderAsync(location.MailboxId, location.FolderName, cancellationToken);
        session.RecordAccess(MailboxAccessAction.Create, MailboxObjectType.Folder, location.Owner?.Email, location.FolderName,
            session.Store.FindFolder(location.MailboxId, location.FolderName)?.FolderId); // workmail-behaviour §19.1
        return ImapCompletion.Ok("CREATE completed");
    }
}
