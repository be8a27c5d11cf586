using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>STORE / UID STORE (RFC 9051 §6.4.6) with UNCHANGEDSINCE (RFC 7162 §3.1.3).</summary>
internal static class StoreHandler
{
    public static async Task<ImapCompletion> RunAsync(StoreCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var selected = session.Selected!;
        if (selected.ReadOnly)
            throw new ImapRefusedException(ResponseCode.ReadOnly, "The mailbox is read-only");
        var messages = selected.Resolve(command.Set, command.Uid);
        var (wireFlags, wireKeywords) = ImapFlags.FromWire(command.Flags);
        var (flags, keywords) = AllowedChange(session, command.Mode, wireFlags, wireKeywords);
        if (command.UnchangedSince is not null)
            session.EnableCondStore();

        // RFC 7162 §3.1.3: a message changed since the client's MODSEQ is not touched and is reported in MODIFIED.
        var modified = new List<uint>();
        var targets = new List<uint>(messages.Count);
        foreach (var (seq, meta) in messages)
        {
            if (command.UnchangedSince is { } since && meta.ModSeq > since)
                modified.Add(command.Uid ? meta.Uid : (uint)seq);
            else
                targets.Add(meta.Uid);
        }
        var operation = command.Mode switch
        {
            StoreMode.Add => FlagOperation.Add,
            StoreMode.Remove => FlagOperation.Remove,
            _ => FlagOperation.Replace,
        };
        var updated = targets.Count == 0
            ? []
            : await session.Store.SetFlagsAsync(selected.FolderId, targets, operation, flags, keywords, cancellationToken);
        selected.ApplyOwnChanges(updated);
        // WorkMail Administrator Guide, "Mailbox access logs": \Seen alone is a read-state change; any other flag or keyword an update.
        if (targets.Count > 0)
            session.RecordSelectedAccess(flags == MessageFlags.Seen && keywords.Count == 0 ? MailboxAccessAction.UpdateReadState : MailboxAccessAction.Update, targets);
        if (!command.Silent || session.CondStoreEnabled)
        {
            if (!command.Silent)
                selected.AnnounceKeywords(session.Writer, updated); // RFC 9051 §7.3.5
            foreach (var meta in updated)
            {
                var seq = selected.SequenceOf(meta.Uid);
                if (seq == 0)
                    continue;
                var w = UidOnly.BeginFetch(session.Writer, session.UidOnlyEnabled, seq, meta.Uid);
                if (command.Uid && !session.UidOnlyEnabled)
                    w.Atom("UID").Number(meta.Uid);
                if (!command.Silent)
                    w.Atom("FLAGS").FlagList(meta.Flags, meta.Keywords, selected.IsRecent(meta.Uid));
                if (session.CondStoreEnabled)
                    w.Atom("MODSEQ").BeginList().Number(meta.ModSeq).EndList();
                w.EndList().End();
            }
        }
        if (modified.Count > 0)
            return new ImapCompletion(new ResponseCode.ModifiedSince(ResolvedSequenceSet.FromValues(modified)), "Conditional STORE failed for some messages");
        return ImapCompletion.Ok("STORE completed");
    }

    /// <summary>
    /// RFC 4314 §4 on a shared folder: \Seen is changed with s, \Deleted with t, any other flag or keyword with w. An
    /// add or remove changes the flags the rights allow and leaves out the others (§4: STORE SHOULD NOT fail when at
    /// least one flag may be changed); with none allowed it is refused. A FLAGS replace can change every flag, so it
    /// needs all three rights.
    /// </summary>
    /// <exception cref="ImapRefusedException">NO [NOPERM]: nothing asked for may be changed.</exception>
    private static (MessageFlags Flags, IReadOnlyList<string> Keywords) AllowedChange(ImapSession session, StoreMode mode, MessageFlags flags,
        IReadOnlyList<string> keywords)
    {
        if (session.Selected?.SharedOwner is null)
            return (flags, keywords);
        var rights = FolderRights.OfSelected(session);
        if (mode is not (StoreMode.Add or StoreMode.Remove))
        {
            FolderRights.Require(rights, 's', "change \\Seen");
            FolderRights.Require(rights, 'w', "change flags");
            FolderRights.Require(rights, 't', "change \\Deleted");
            return (flags, keywords);
        }
        var allowed = flags;
        if (!rights.Contains('s', StringComparison.Ordinal))
            allowed &= ~MessageFlags.Seen;
        if (!rights.Contains('t', StringComparison.Ordinal))
            allowed &= ~MessageFlags.Deleted;
        var write = rights.Contains('w', StringComparison.Ordinal);
        if (!write)
            allowed &= MessageFlags.Seen | MessageFlags.Deleted;
        var allowedKeywords = write ? keywords : [];
        if (allowed == MessageFlags.None && allowedKeywords.Count == 0 && (flags != MessageFlags.None || keywords.Count > 0))
        {
            var (right, what) = flags.HasFlag(MessageFlags.Seen) && !rights.Contains('s', StringComparison.Ordinal) ? ('s', "change \\Seen")
                : flags.HasFlag(MessageFlags.Deleted) && !rights.Contains('t', StringComparison.Ordinal) ? ('t', "change \\Deleted")
                : ('w', "change flags");
            FolderRights.Require(rights, right, what);
        }
        return (allowed, allowedKeywords);
    }
}
