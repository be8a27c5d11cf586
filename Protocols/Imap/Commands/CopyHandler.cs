using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>COPY / UID COPY (RFC 9051 §6.4.7) with COPYUID (RFC 4315).</summary>
internal static class CopyHandler
{
    public static async Task<ImapCompletion> RunAsync(CopyCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var selected = session.Selected!;
        var messages = selected.Resolve(command.Set, command.Uid);
        var target = MailboxNames.Require(session, command.Mailbox, tryCreate: true);
        if (messages.Count == 0)
            return ImapCompletion.Ok("COPY completed; nothing to copy");
        ImapQuota.EnsureRoom(session, messages.Sum(m => m.Meta.Size)); // each copy counts (RFC 9208 §4.3); MOVE adds nothing
        var copied = await session.Store.CopyAsync(selected.FolderId, messages.Select(m => m.Meta.Uid).ToList(), target.FolderId, cancellationToken);
        if (target.FolderId == selected.FolderId)
            selected.LoadNewMessages();
        return new ImapCompletion(CopyUid(target.UidValidity, copied), "COPY completed");
    }

    /// <summary>The COPYUID code: source and destination UIDs in matching order (RFC 4315 §3).</summary>
    public static ResponseCode? CopyUid(uint uidValidity, IReadOnlyList<Storage.CopiedMessage> copied)
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
