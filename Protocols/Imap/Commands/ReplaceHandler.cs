using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// REPLACE / UID REPLACE (RFC 8508): the new message is stored in the named mailbox and the old one expunged from the
/// selected mailbox in one store transaction (<see cref="IImapExtensionStore.ReplaceAsync"/>), or neither happens (§3.3).
/// Replies in the order of the RFC's examples: untagged <c>OK [APPENDUID]</c>, EXISTS when the new message lands in
/// the selected mailbox, then EXPUNGE (VANISHED with QRESYNC), then the tagged OK.
/// </summary>
internal static class ReplaceHandler
{
    public static async Task<ImapCompletion> RunAsync(ReplaceCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var selected = session.Selected!;
        var old = Target(selected, command);
        // The old message is expunged: a mailbox opened with EXAMINE cannot lose it (RFC 9051 §6.3.3).
        if (selected.ReadOnly)
            throw new ImapRefusedException(ResponseCode.ReadOnly, "The mailbox is read-only");
        // RFC 9051 §7.5.1: another session expunged it and this one was not told yet.
        if (selected.IsPendingExpunge(old.Uid))
            throw new ImapRefusedException(ResponseCode.ExpungeIssued, "The message to replace was expunged");
        var item = await AppendHandler.PrepareAsync(session, command.Message, cancellationToken);
        // RFC 8508 §3.3: APPEND to the target, then STORE \Deleted and EXPUNGE of the old message (RFC 4314 §4: t and e).
        if (selected.SharedOwner is not null)
        {
            var sourceRights = FolderRights.OfSelected(session);
            FolderRights.Require(sourceRights, 't', "replace messages");
            FolderRights.Require(sourceRights, 'e', "replace messages");
        }
        var named = MailboxNames.RequireNamed(session, command.Mailbox, tryCreate: true, auditAs: MailboxAccessAction.Create);
        FolderRights.Require(named.Rights, 'i', "add messages");
        item = FolderRights.KeepSettableFlags(named.Rights, item);
        var folder = named.Folder;
        // RFC 9208 §4.3: the new message counts; the old one is freed in the same transaction when the two are in the same
        // mailbox (a draft saved again over its previous version must not fail on a full mailbox for its own old copy).
        var sameMailbox = folder.MailboxId == selected.Folder.MailboxId;
        ImapQuota.EnsureRoom(session, item.Message.Length - (sameMailbox ? old.Size : 0), named.Owner);
        StoredMessage stored;
        try
        {
            stored = await session.Store.ReplaceAsync(folder.MailboxId, folder.Name, item, selected.FolderId, old.Uid, cancellationToken);
        }
        catch (KeyNotFoundException) when (session.Store.FolderExists(selected.FolderId))
        {
            // Expunged by another session between the check and the write: nothing was stored (RFC 8508 §3.3).
            throw new ImapRefusedException(ResponseCode.ExpungeIssued, "The message to replace was expunged");
        }
        session.Writer.Untagged(ImapStatus.Ok, new ResponseCode.AppendedUids(folder.UidValidity, ResolvedSequenceSet.FromValues([stored.Uid])),
            "Replacement message ready");
        if (selected.FolderId == folder.FolderId)
        {
            selected.LoadNewMessages();
            selected.WriteUpdates(session.Writer, allowExpunge: false, session.CondStoreEnabled, session.QResyncEnabled, session.UidOnlyEnabled); // EXISTS first
        }
        selected.NoteExpunged([old.Uid]); // announced by the session right before the tagged OK
        session.RecordAccess(MailboxAccessAction.Create, MailboxObjectType.Message, named.Owner?.Email, folder.Name, folder.FolderId, [stored.Uid]);
        session.RecordSelectedAccess(MailboxAccessAction.Delete, [old.Uid]); // workmail-behaviour §19.1
        return ImapCompletion.Ok("REPLACE completed");
    }

    /// <summary>The message to replace: a sequence number must be in range (else BAD, like any command, RFC 9051
    /// §9 seq-number); a UID that names no message of the view is refused.</summary>
    private static MessageMeta Target(SelectedMailbox selected, ReplaceCommand command)
    {
        if (!command.Uid)
        {
            var seq = command.Number ?? (uint)selected.Count;
            if (seq == 0 || seq > selected.Count)
                throw new ImapSyntaxException("Invalid message sequence number", ResponseCode.ClientBug);
            return selected[(int)seq];
        }
        var uid = command.Number ?? selected.MaxUid;
        var index = selected.SequenceOf(uid);
        if (uid == 0 || index == 0)
            throw new ImapRefusedException(ResponseCode.NonExistent, "No message with that UID");
        return selected[index];
    }
}
