using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>CLOSE (RFC 9051 §6.4.1): expunges \Deleted messages silently (not after EXAMINE) and deselects.</summary>
internal static class CloseHandler
{
    public static async Task<ImapCompletion> RunAsync(CloseCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var selected = session.Selected!;
        var account = session.Account;
        // RFC 4314 §4: CLOSE needs no right, and expunges only with e.
        if (!selected.ReadOnly && (selected.SharedOwner is null || FolderRights.OfSelected(session).Contains('e', StringComparison.Ordinal)))
        {
            var expunged = await session.Store.ExpungeAsync(selected.FolderId, null, cancellationToken);
            if (expunged.Count > 0)
                session.RecordSelectedAccess(MailboxAccessAction.Delete, expunged.ToList()); // WorkMail Administrator Guide, "Mailbox access logs"
        }
        selected.Dispose();
        session.State = new ImapSessionState.Authenticated(account);
        return ImapCompletion.Ok("CLOSE completed");
    }
}
