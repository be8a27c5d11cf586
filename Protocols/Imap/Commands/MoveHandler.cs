using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>MOVE / UID MOVE (RFC 6851): untagged <c>OK [COPYUID ...]</c>, then the EXPUNGE responses, then the tagged OK (§4.3).</summary>
internal static class MoveHandler
{
    public static async Task<ImapCompletion> RunAsync(MoveCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var selected = session.Selected!;
        if (selected.ReadOnly)
            throw new ImapRefusedException(ResponseCode.ReadOnly, "The mailbox is read-only");
        var messages = selected.Resolve(command.Set, command.Uid);
        var target = MailboxNames.Require(session, command.Mailbox, tryCreate: true);
        if (target.FolderId == selected.FolderId)
            throw new ImapRefusedException(ResponseCode.Cannot, "The messages are in that mailbox already");
        if (messages.Count == 0)
            return ImapCompletion.Ok("MOVE completed; nothing to move");
        var moved = await session.Store.MoveAsync(selected.FolderId, messages.Select(m => m.Meta.Uid).ToList(), target.FolderId, cancellationToken);
        if (CopyHandler.CopyUid(target.UidValidity, moved) is { } code)
            session.Writer.Untagged(ImapStatus.Ok, code, "Moved");
        selected.NoteExpunged(moved.Select(m => m.SourceUid));
        return ImapCompletion.Ok("MOVE completed");
    }
}
