using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>DELETE (RFC 9051 §6.3.5); the store refuses INBOX and folders with children.</summary>
internal static class DeleteHandler
{
    public static async Task<ImapCompletion> RunAsync(DeleteCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var name = MailboxNames.FromWire(session, command.Mailbox);
        if (session.Selected is { } selected && selected.Name == name)
            throw new ImapRefusedException(ResponseCode.InUse, "Close the mailbox before deleting it");
        await session.Store.DeleteFolderAsync(session.Account.MailboxId, name, cancellationToken);
        return ImapCompletion.Ok("DELETE completed");
    }
}
