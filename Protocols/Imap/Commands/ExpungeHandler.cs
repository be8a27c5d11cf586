using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1); the EXPUNGE responses are written by the
/// session's post-command update.</summary>
internal static class ExpungeHandler
{
    public static async Task<ImapCompletion> RunAsync(ExpungeCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var selected = session.Selected!;
        if (selected.ReadOnly)
            throw new ImapRefusedException(ResponseCode.ReadOnly, "The mailbox is read-only");
        if (selected.SharedOwner is not null)
            FolderRights.Require(FolderRights.OfSelected(session), 'e', "expunge"); // RFC 4314 §4: e
        IReadOnlyCollection<uint>? only = command.Uids is null ? null : selected.Resolve(command.Uids, uid: true).Select(m => m.Meta.Uid).ToList();
        var expunged = await session.Store.ExpungeAsync(selected.FolderId, only, cancellationToken);
        selected.NoteExpunged(expunged);
        if (expunged.Count > 0)
            session.RecordSelectedAccess(MailboxAccessAction.Delete, expunged.ToList()); // WorkMail Administrator Guide, "Mailbox access logs"
        // RFC 7162 §3.2.10: with QRESYNC on, the tagged OK of EXPUNGE carries the mailbox's new HIGHESTMODSEQ.
        if (session.QResyncEnabled && session.Store.GetFolder(selected.FolderId) is { } folder)
            return new ImapCompletion(new ResponseCode.HighestModSeq(folder.HighestModSeq), "EXPUNGE completed");
        return ImapCompletion.Ok("EXPUNGE completed");
    }
}
