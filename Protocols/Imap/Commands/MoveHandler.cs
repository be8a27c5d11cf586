using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

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
        // RFC 6851 §3.1: MOVE is COPY, STORE \Deleted and EXPUNGE in one; RFC 4314 §4: t and e on the source, i on the target.
        if (selected.SharedOwner is not null)
        {
            var sourceRights = FolderRights.OfSelected(session);
            FolderRights.Require(sourceRights, 't', "move messages out");
            FolderRights.Require(sourceRights, 'e', "move messages out");
        }
        var target = MailboxNames.RequireNamed(session, command.Mailbox, tryCreate: true, auditAs: MailboxAccessAction.MoveTo);
        FolderRights.Require(target.Rights, 'i', "add messages");
        if (messages.Count == 0)
            return ImapCompletion.Ok("MOVE completed; nothing to move");
        IReadOnlyList<CopiedMessage> moved;
        if (target.Folder.FolderId == selected.FolderId)
        {
            // RFC 6851 §3.3 / RFC 9051 §6.4.8: the destination may be the selected mailbox; the messages get new UIDs.
            // The store moves only between two folders, so this is a copy, then the originals go, whatever their flags.
            moved = await session.Store.CopyAsync(selected.FolderId, messages.Select(m => m.Meta.Uid).ToList(), selected.FolderId, cancellationToken);
            var originals = moved.Select(m => m.SourceUid).ToList();
            if (session.Store is IRetentionStore store)
            {
                await store.PermanentlyDeleteAsync(selected.FolderId, originals, cancellationToken);
            }
            else
            {
                await session.Store.SetFlagsAsync(selected.FolderId, originals, FlagOperation.Add, MessageFlags.Deleted, [], cancellationToken);
                await session.Store.ExpungeAsync(selected.FolderId, originals, cancellationToken);
            }
            selected.LoadNewMessages();
        }
        else if (target.Folder.MailboxId == selected.Folder.MailboxId)
        {
            moved = await session.Store.MoveAsync(selected.FolderId, messages.Select(m => m.Meta.Uid).ToList(), target.Folder.FolderId, cancellationToken);
        }
        else
        {
            // Between the user's mailbox and an Other Users one: copy, then flag and expunge exactly the copied UIDs
            // (RFC 6851 §3.3 allows a server to move as COPY + STORE + UID EXPUNGE when it cannot do better; the two
            // mailboxes have different keys, so one transaction cannot move the entries).
            ImapQuota.EnsureRoom(session, messages.Sum(m => m.Meta.Size), target.Owner);
            moved = await CopyHandler.CopyAcrossMailboxesAsync(session, messages, target, cancellationToken);
            var uids = moved.Select(m => m.SourceUid).ToList();
            if (uids.Count > 0)
            {
                await session.Store.SetFlagsAsync(selected.FolderId, uids, FlagOperation.Add, MessageFlags.Deleted, [], cancellationToken);
                await session.Store.ExpungeAsync(selected.FolderId, uids, cancellationToken);
            }
        }
        if (CopyHandler.CopyUid(target.Folder.UidValidity, moved) is { } code)
            session.Writer.Untagged(ImapStatus.Ok, code, "Moved");
        selected.NoteExpunged(moved.Select(m => m.SourceUid));
        // WorkMail Administrator Guide, "Mailbox access logs": "move" on the source folder, "move_to" on the destination.
        session.RecordSelectedAccess(MailboxAccessAction.Move, moved.Select(m => m.SourceUid).ToList());
        session.RecordAccess(MailboxAccessAction.MoveTo, MailboxObjectType.Message, target.Owner?.Email, target.Folder.Name, target.Folder.FolderId,
            moved.Select(m => m.DestinationUid).ToList(), sourceFolderPath: selected.Folder.Name);
        return ImapCompletion.Ok("MOVE completed");
    }
}
