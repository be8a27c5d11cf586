using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>COPY / UID COPY (RFC 9051 §6.4.7) with COPYUID (RFC 4315).</summary>
internal static class CopyHandler
{
    /// <summary>Bytes read into memory at most per store transaction when copying between two mailboxes.</summary>
    private const long CrossMailboxBatchBytes = 64L * 1024 * 1024;

    public static async Task<ImapCompletion> RunAsync(CopyCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var selected = session.Selected!;
        var messages = selected.Resolve(command.Set, command.Uid);
        var target = MailboxNames.RequireNamed(session, command.Mailbox, tryCreate: true, auditAs: MailboxAccessAction.CopyTo);
        FolderRights.Require(target.Rights, 'i', "add messages"); // RFC 4314 §4: i on the target
        if (messages.Count == 0)
            return ImapCompletion.Ok("COPY completed; nothing to copy");
        // Each copy counts (RFC 9208 §4.3), against the quota of the mailbox it lands in; MOVE within one adds nothing.
        ImapQuota.EnsureRoom(session, messages.Sum(m => m.Meta.Size), target.Owner);
        var copied = target.Folder.MailboxId == selected.Folder.MailboxId
            ? await session.Store.CopyAsync(selected.FolderId, messages.Select(m => m.Meta.Uid).ToList(), target.Folder.FolderId, cancellationToken)
            : await CopyAcrossMailboxesAsync(session, messages, target, cancellationToken);
        if (target.Folder.FolderId == selected.FolderId)
            selected.LoadNewMessages();
        // WorkMail Administrator Guide, "Mailbox access logs": "copy" on the source folder, "copy_to" on the destination.
        session.RecordSelectedAccess(MailboxAccessAction.Copy, copied.Select(m => m.SourceUid).ToList());
        session.RecordAccess(MailboxAccessAction.CopyTo, MailboxObjectType.Message, target.Owner?.Email, target.Folder.Name, target.Folder.FolderId,
            copied.Select(m => m.DestinationUid).ToList(), sourceFolderPath: selected.Folder.Name);
        return new ImapCompletion(CopyUid(target.Folder.UidValidity, copied), "COPY completed");
    }

    /// <summary>
    /// Copies between the user's own mailbox and one opened through Full Access (different mailbox keys, so the
    /// blob cannot be shared): each message is read, decrypted and appended to the destination with its flags,
    /// keywords and internal date, all-or-none per batch of up to 64 MiB. Into a shared folder only the flags the
    /// user's rights allow setting are kept (RFC 4314 §2.1: \Seen with s, \Deleted with t, others with w).
    /// </summary>
    public static async Task<IReadOnlyList<CopiedMessage>> CopyAcrossMailboxesAsync(ImapSession session,
        IReadOnlyList<(int Seq, MessageMeta Meta)> messages, NamedFolder target, CancellationToken cancellationToken)
    {
        var destination = target.Folder;
        var sourceMailbox = session.Selected!.Folder.MailboxId;
        var copied = new List<CopiedMessage>(messages.Count);
        var batch = new List<(uint Uid, AppendItem Item)>();
        long batchBytes = 0;
        async Task FlushAsync()
        {
            if (batch.Count == 0)
                return;
            var stored = await session.Store.AppendAsync(destination.MailboxId, destination.Name, batch.Select(b => b.Item).ToList(), cancellationToken);
            copied.AddRange(batch.Zip(stored, (b, s) => new CopiedMessage(b.Uid, s.Uid, s.EntryId)));
            batch.Clear();
            batchBytes = 0;
        }
        foreach (var (_, meta) in messages)
        {
            byte[] content;
            try
            {
                content = await session.Store.ReadMessageAsync(sourceMailbox, meta.EntryId, cancellationToken);
            }
            catch (KeyNotFoundException)
            {
                continue; // expunged by another session meanwhile (RFC 9051 §6.4.7 lets the rest be copied)
            }
            batch.Add((meta.Uid, FolderRights.KeepSettableFlags(target.Rights, new AppendItem(content, meta.InternalDate, meta.Flags, meta.Keywords))));
            batchBytes += content.Length;
            if (batchBytes >= CrossMailboxBatchBytes)
                await FlushAsync();
        }
        await FlushAsync();
        return copied;
    }

    /// <summary>The COPYUID code: source and destination UIDs in matching order (RFC 4315 §3).</summary>
    public static ResponseCode? CopyUid(uint uidValidity, IReadOnlyList<CopiedMessage> copied)
    {
        if (copied.Count == 0)
            return null;
        var ordered = copied.OrderBy(c => c.SourceUid).ToList();
        var destinations = ordered.Select(c => c.DestinationUid).ToList();
        // Both sets are written in ascending order, so they pair up only when destinations ascend too (they do: the
        // store assigns them in ascending source order).
        return new ResponseCode.CopiedUids(uidValidity, ResolvedSequenceSet.FromValues(ordered.Select(c => c.SourceUid)),
            ResolvedSequenceSet.FromValues(destinations));
    }
}
